"""Draining a sync backlog to a local Orthanc, and what it costs the kiosk.

    python -m bench.sync                 # 50 exams, Debian's Orthanc on loopback, the FHIR test receiver
    python -m bench.sync --exams 200 --json

Fills a fresh store with `--exams` finished exams (two real sample photos each), starts Orthanc (DICOMweb
plugin, authentication on) and the tests' validating FHIR receiver on loopback, then reports:
- drain: seconds for the worker (one thread, its own store connection, as in `appliance serve`) to send
  every exam's DICOM study (STOW-RS) and FHIR Bundle, and exams per second. The kiosk keeps screening
  meanwhile, into the same store, so its exams join the queue and are counted with the backlog;
- kiosk: the latency of a whole exam at the kiosk (`screen`: gate, model, decision, store) idle and while
  the backlog drains, and their ratio (median and 95th percentile).
Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from appliance.config import REPO_ROOT, load_config
from appliance.devices.simulated import SAMPLES_DIR
from appliance.domain import Capture, Eye, Patient
from appliance.runtime import Appliance, open_appliance
from appliance.store import ExamStore
from appliance.sync.targets import build_worker

sys.path.insert(0, str(REPO_ROOT / "tests" / "integration" / "sync"))


def kiosk_exam_s(box: Appliance, right: bytes, left: bytes, n: int) -> float:
    start = time.perf_counter()
    box.pipeline.screen(Patient(f"BENCH-{n}"), [Capture(eye=Eye.RIGHT, image=right, source="bench"),
                                                Capture(eye=Eye.LEFT, image=left, source="bench")],
                        operator="bench")
    return time.perf_counter() - start


def summary(values: Sequence[float]) -> dict[str, float]:
    ordered = sorted(values)
    return {"n": len(ordered), "median_s": statistics.median(ordered),
            "p95_s": ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]}


def run(args: argparse.Namespace) -> dict[str, Any]:
    from fhir_receiver import running_receiver  # the tests' small validating receiver
    from orthanc_server import PASSWORD, USER, missing, running_orthanc
    from sync_exams import store_exam

    reason = missing()
    if reason:
        raise SystemExit(f"bench.sync: {reason}")
    right = sorted(SAMPLES_DIR.glob("referable_*_right.jpg"))[0].read_bytes()
    left = sorted(SAMPLES_DIR.glob("referable_*_left.jpg"))[0].read_bytes()
    with tempfile.TemporaryDirectory() as tmp, running_orthanc(Path(tmp) / "orthanc") as orthanc, \
            running_receiver() as fhir:
        data = Path(tmp) / "data"
        env = {"APPLIANCE_DATA_DIR": str(data), "APPLIANCE_MODEL_RUNNER": "onnxruntime",
               "APPLIANCE_MODEL_INTRA_OP_THREADS": str(args.threads), "APPLIANCE_SYNC_DICOMWEB_URL":
               orthanc.dicomweb_url, "APPLIANCE_SYNC_FHIR_URL": fhir.url, "APPLIANCE_SYNC_USERNAME": USER,
               "APPLIANCE_SYNC_PASSWORD": PASSWORD}
        config = load_config(env=env)
        with ExamStore.open(data) as store:
            for n in range(args.exams):
                store_exam(store, n, photos=(right, left))
        with open_appliance(config, actor="bench") as box:
            kiosk_exam_s(box, right, left, -1)  # warm-up
            idle = [kiosk_exam_s(box, right, left, n) for n in range(args.kiosk_exams)]
            with ExamStore.open(data) as sync_store:
                worker = build_worker(config.sync, sync_store)
                assert worker is not None
                done = threading.Event()
                started = time.perf_counter()
                elapsed: list[float] = []

                def drain() -> None:
                    worker.drain()
                    elapsed.append(time.perf_counter() - started)
                    done.set()

                threading.Thread(target=drain, name="sync", daemon=True).start()
                busy = []
                n = 1000
                while not done.is_set():
                    busy.append(kiosk_exam_s(box, right, left, n))
                    n += 1
                done.wait()
                backlog = [b.__dict__ for b in sync_store.outbox.backlog()]
        drain_s = elapsed[0]
        idle_s, busy_s = summary(idle), summary(busy)
        sent_exams = min(b["sent"] for b in backlog)
        return {
            "exams": args.exams, "sent_exams": sent_exams, "drain_s": drain_s,
            "exams_per_s": sent_exams / drain_s if drain_s else 0.0,
            "orthanc_instances": orthanc.statistics()["CountInstances"],
            "fhir_reports": fhir.count("DiagnosticReport"),
            "kiosk_idle": idle_s, "kiosk_while_draining": busy_s,
            "latency_ratio_median": busy_s["median_s"] / idle_s["median_s"],
            "latency_ratio_p95": busy_s["p95_s"] / idle_s["p95_s"],
            "backlog_after": [{k: v for k, v in b.items() if k in ("kind", "pending", "sent", "parked")}
                              for b in backlog],
        }


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.sync", description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--exams", type=int, default=50, help="exams in the backlog (default 50)")
    parser.add_argument("--kiosk-exams", type=int, default=8, help="idle kiosk exams to time (default 8)")
    parser.add_argument("--threads", type=int, default=2, help="model intra-op threads (default 2)")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    result = run(args)
    if args.json:
        print(json.dumps(result, indent=2, default=str))
        return 0
    extra = result["sent_exams"] - result["exams"]
    print(f"drain: {result['sent_exams']} exams ({result['exams']} in the backlog + {extra} finished at the kiosk "
          f"meanwhile) in {result['drain_s']:.1f} s = {result['exams_per_s']:.2f} exams/s "
          f"(Orthanc holds {result['orthanc_instances']} instances, the EHR {result['fhir_reports']} reports)")
    for name in ("kiosk_idle", "kiosk_while_draining"):
        figures = result[name]
        print(f"{name:>21}: median {figures['median_s'] * 1000:.0f} ms, p95 {figures['p95_s'] * 1000:.0f} ms "
              f"over {figures['n']} exams")
    print(f"latency while draining / idle: median x{result['latency_ratio_median']:.2f}, "
          f"p95 x{result['latency_ratio_p95']:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
