"""The box under load: exams while 20 signed-in kiosks poll its status and worklist (locust, loopback only).

    python bench/load.py                    # 20 pollers for 40 s, 512-px exams; `make load`
    python bench/load.py --users 20 --duration 60 --size 12MP --json

A real `appliance serve` (embedded defaults, a fresh data folder, a technician per poller made before it
starts) first runs exams alone (idle), back to back as bench/exam.py does them; then locust starts `--users`
pollers (bench/locustfile.py: /healthz, the status page, today's worklist and the open exams, each user
waiting 0.2-1 s between requests) for `--duration` seconds, and the same exams run again meanwhile.
Reported: every request of the exams (open, four photo uploads, finish: the submission) and the result
alone, median and 99th percentile, idle and under load, and their ratio; the pollers' requests, failures
and latency per endpoint; errors of either; the server's peak memory. The issue's bar: no errors, and the
submission's p99 under load within 2x idle. Prints figures; asserts nothing. Traffic goes to 127.0.0.1
only, and stops by itself.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as `python bench/load.py`: the repository root is not on the path
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from appliance.config import REPO_ROOT
from bench.box import ServerProcess, add_technicians, cookies
from bench.exam import ExamTiming, run_exam
from bench.photos import SIZES, exam_photos

LOCUSTFILE = Path(__file__).resolve().parent / "locustfile.py"


def percentile(values: Sequence[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def latencies(exams: Sequence[ExamTiming]) -> dict[str, Any]:
    requests = [r for e in exams for r in e.requests_s]
    result = [e.result_s for e in exams]
    return {
        "exams": len(exams), "requests": len(requests),
        "submission_median_s": round(statistics.median(requests), 4) if requests else None,
        "submission_p99_s": round(percentile(requests, 99), 4),
        "result_median_s": round(statistics.median(result), 4) if result else None,
        "result_p99_s": round(percentile(result, 99), 4),
        "exam_median_s": round(statistics.median(e.exam_s for e in exams), 4) if exams else None,
        "busy_answers": sum(e.busy_answers for e in exams),
    }


def locust_stats(prefix: Path) -> dict[str, Any]:
    """Requests, failures and latency (ms) per endpoint from locust's CSV."""
    with (prefix.parent / f"{prefix.name}_stats.csv").open(newline="") as f:
        rows = list(csv.DictReader(f))
    endpoints = {r["Name"]: {"requests": int(r["Request Count"]), "failures": int(r["Failure Count"]),
                             "median_ms": float(r["50%"] or 0), "p99_ms": float(r["99%"] or 0),
                             "per_s": round(float(r["Requests/s"] or 0), 1)} for r in rows}
    failures_file = prefix.parent / f"{prefix.name}_failures.csv"
    failures: list[dict[str, str]] = []
    if failures_file.is_file():
        with failures_file.open(newline="") as f:
            failures = list(csv.DictReader(f))
    return {"endpoints": endpoints, "failure_kinds": [{k: f[k] for k in ("Name", "Error", "Occurrences")}
                                                      for f in failures]}


def run(args: argparse.Namespace) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="bench-load-") as tmp:
        work = Path(tmp)
        data_dir = work / "var"
        *pollers, technician = add_technicians(data_dir, args.users + 1)  # (no demo users then)
        photos = [exam_photos(args.size, seed=i) for i in range(2)]
        errors: list[str] = []
        with ServerProcess.start(data_dir) as box:
            kiosk = box.kiosk(*technician)
            run_exam(kiosk, photos[0], "LOAD-WARMUP")

            def exams(label: str, until: float, at_least: int, at_most: int) -> list[ExamTiming]:
                done: list[ExamTiming] = []
                while len(done) < at_most and (len(done) < at_least or time.perf_counter() < until):
                    try:
                        done.append(run_exam(kiosk, photos[len(done) % 2], f"LOAD-{label}-{len(done)}"))
                    except RuntimeError as exc:
                        errors.append(f"{label}: {exc}")
                        if len(errors) > 5:
                            break
                return done

            idle = exams("idle", 0.0, args.exams, args.exams)
            sessions = work / "sessions.json"
            sessions.write_text(json.dumps([cookies(box.kiosk(user, pin)) for user, pin in pollers]))
            prefix = work / "locust"
            env = {**os.environ, "BENCH_LOAD_SESSIONS": str(sessions)}
            locust = subprocess.Popen(
                [sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--headless", "--users", str(args.users),
                 "--spawn-rate", str(args.users), "--run-time", f"{args.duration}s", "--host", box.base,
                 "--csv", str(prefix), "--only-summary", "--stop-timeout", "5", "--loglevel", "WARNING"],
                env=env, cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
            time.sleep(2.0)  # every poller started
            loaded = exams("load", time.perf_counter() + args.duration - 4.0, args.exams, 10 * args.exams)
            output, _ = locust.communicate(timeout=args.duration + 60)
            peak_rss_mb = box.peak_rss_mb()
        polls = locust_stats(prefix)
    total = polls["endpoints"].get("Aggregated", {"requests": 0, "failures": 0})
    idle_figures, load_figures = latencies(idle), latencies(loaded)
    ratio = (load_figures["submission_p99_s"] / idle_figures["submission_p99_s"]
             if idle_figures["submission_p99_s"] else float("nan"))
    return {
        "users": args.users, "duration_s": args.duration, "size": args.size,
        "idle": idle_figures, "under_load": load_figures,
        "submission_p99_ratio": round(ratio, 2),
        "result_p99_ratio": round(load_figures["result_p99_s"] / idle_figures["result_p99_s"], 2)
        if idle_figures["result_p99_s"] else None,
        "exam_errors": errors, "poll_requests": total["requests"], "poll_failures": total["failures"],
        "polls": polls, "peak_rss_mb": round(peak_rss_mb, 1),
        "locust_exit": locust.returncode, "locust_tail": output.decode(errors="replace")[-600:] if locust.returncode
        else "",
        "bar": {"errors": 0, "submission_p99_ratio_at_most": 2.0},
    }


def render(f: dict[str, Any]) -> str:
    lines = [f"{f['users']} pollers for {f['duration_s']} s, {f['size']} exams; server peak RSS {f['peak_rss_mb']} MiB"]
    for phase in ("idle", "under_load"):
        p = f[phase]
        lines.append(f"  {phase:>10}: {p['exams']} exams ({p['requests']} requests): submission median "
                     f"{p['submission_median_s']} s, p99 {p['submission_p99_s']} s; result median "
                     f"{p['result_median_s']} s, p99 {p['result_p99_s']} s; exam median {p['exam_median_s']} s"
                     + (f"; {p['busy_answers']} busy answers" if p["busy_answers"] else ""))
    lines.append(f"  p99 under load / idle: submission {f['submission_p99_ratio']}x, result {f['result_p99_ratio']}x"
                 " (bar: 2x)")
    lines.append(f"  pollers: {f['poll_requests']} requests, {f['poll_failures']} failures; exam errors: "
                 f"{len(f['exam_errors'])}")
    for name, e in f["polls"]["endpoints"].items():
        lines.append(f"    {name:<28} {e['requests']:>6} req {e['per_s']:>6}/s  median {e['median_ms']:.0f} ms  "
                     f"p99 {e['p99_ms']:.0f} ms  failures {e['failures']}")
    for failure in f["polls"]["failure_kinds"] + [{"exam": e} for e in f["exam_errors"]]:
        lines.append(f"    FAILED: {failure}")
    if f["locust_tail"]:
        lines.append(f"  locust exited {f['locust_exit']}: {f['locust_tail']}")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--users", type=int, default=20, help="polling kiosks (default 20)")
    parser.add_argument("--duration", type=int, default=40, help="seconds of load (default 40)")
    parser.add_argument("--exams", type=int, default=12, help="exams idle, and at least as many under load")
    parser.add_argument("--size", choices=list(SIZES), default="512px")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    figures = run(args)
    print(json.dumps(figures, indent=2) if args.json else render(figures))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
