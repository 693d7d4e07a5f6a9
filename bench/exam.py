"""A whole exam through the HTTP API of a real `appliance serve`, as the kiosk does it: time, stages, memory.

    python bench/exam.py                  # 512 px, 3000×2000 and 12 MP photos, FP32 and INT8, 8 exams each
    python bench/exam.py --exams 20 --json
    python bench/exam.py --sizes 12MP --models fp32 --concurrent 4

Each scenario starts its own server (embedded defaults, onnxruntime, the demo users, a fresh data folder),
signs in as the technician, and runs exams back to back: open → four photos uploaded (two per eye,
multipart, each gated at once) → finish (model, decision, durable store, result). It reports, median and
95th percentile:
- result: the finish call, i.e. the wait for the result after the last capture was answered;
- exam: from opening to the result;
- per stage, the server's own split (its `Server-Timing` header: decode, gate, model, decision, store)
  for the result and for the whole exam;
and exams per minute back to back, the server's start-up time to ready and its peak resident memory
(VmHWM). `--concurrent N` adds a scenario per size of N exams arriving at once (N signed-in kiosks, one
exam each, started together), whose peak memory is the figure to hold against the box's budget; a 503
"busy" answer is retried after its Retry-After, as the kiosk's page does, and counted.
The photos are the shipped demo samples upscaled (bench/photos.py). Prints figures; asserts nothing.
The JSON's top level carries the headline figures: `result_latency_median_s` and `result_latency_p95_s` at
full camera resolution (12 MP, FP32), `peak_rss_mb` with the concurrent exams (12 MP), `ready_s`.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as `python bench/exam.py`: the repository root is not on the path
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from appliance import timing
from appliance.config import REPO_ROOT
from bench.box import ServerProcess, add_technicians
from bench.photos import SIZES, Photo, exam_photos
from tests.system.helpers import Kiosk, Response

MODELS = {"fp32": "models/dr-reference.toml", "int8": "models/dr-reference-int8.toml"}
#: Retries of a "busy" (503) answer before an exam counts as failed.
MAX_BUSY_RETRIES = 20


@dataclass
class ExamTiming:
    exam_s: float
    result_s: float
    stages: dict[str, float]  # the whole exam, summed over its requests
    result_stages: dict[str, float]  # the finish call only
    busy_answers: int = 0
    requests_s: list[float] = field(default_factory=list)  # each request of the exam: open, photos, finish


@dataclass
class Scenario:
    size: str
    model: str
    concurrent: int
    exams: list[ExamTiming] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    wall_s: float = 0.0
    ready_s: float = 0.0
    peak_rss_mb: float = 0.0
    photo_bytes: int = 0

    def figures(self) -> dict[str, Any]:
        result = [e.result_s for e in self.exams]
        exam = [e.exam_s for e in self.exams]
        return {
            "size": self.size, "model": self.model, "concurrent": self.concurrent, "exams": len(self.exams),
            "failures": self.failures, "busy_answers": sum(e.busy_answers for e in self.exams),
            "photo_kib": round(self.photo_bytes / 1024),
            "result_s": spread(result), "exam_s": spread(exam),
            "result_stages_median_s": stage_medians([e.result_stages for e in self.exams]),
            "exam_stages_median_s": stage_medians([e.stages for e in self.exams]),
            "exams_per_minute": round(60 * len(self.exams) / self.wall_s, 1) if self.wall_s else 0.0,
            "ready_s": round(self.ready_s, 2), "peak_rss_mb": round(self.peak_rss_mb, 1),
        }


def spread(values: Sequence[float]) -> dict[str, float]:
    if not values:
        return {"median": float("nan"), "p95": float("nan"), "max": float("nan")}
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return {"median": round(statistics.median(ordered), 3), "p95": round(p95, 3), "max": round(ordered[-1], 3)}


def stage_medians(runs: Sequence[dict[str, float]]) -> dict[str, float]:
    return {name: round(statistics.median(r.get(name, 0.0) for r in runs), 4)
            for name in timing.STAGES if any(name in r for r in runs)}


def add_stages(total: dict[str, float], answer: Response) -> None:
    for name, seconds in timing.parse_server_timing(answer.headers.get("Server-Timing", "")).items():
        total[name] = total.get(name, 0.0) + seconds


def patiently(send: Any, counter: list[int], durations: list[float]) -> Response:
    """Send, and while the box answers 503 busy, wait its Retry-After and send again; each request's time
    goes to `durations`."""
    for _ in range(MAX_BUSY_RETRIES):
        start = time.perf_counter()
        answer: Response = send()
        durations.append(time.perf_counter() - start)
        if answer.status != 503:
            return answer
        counter[0] += 1
        time.sleep(float(answer.headers.get("Retry-After", "1")))
    return answer


def run_exam(kiosk: Kiosk, photos: Sequence[Photo], patient: str) -> ExamTiming:
    """One exam as the kiosk runs it. Raises RuntimeError with the server's answer on a failure."""
    stages: dict[str, float] = {}
    busy = [0]
    durations: list[float] = []
    start = time.perf_counter()
    opened = patiently(lambda: kiosk.post("/api/exams", json_body={"patient_id": patient}), busy, durations)
    expect(opened, 201, "open")
    exam_id = opened.json()["exam_id"]
    for photo in photos:
        answer = patiently(lambda p=photo: kiosk.post(
            f"/api/exams/{exam_id}/photos", fields={"eye": p.eye.value}, files=[("photo", p.name, p.jpeg)]), busy,
            durations)
        expect(answer, 201, "photo")
        if not answer.json()["photo"]["quality"]["passed"]:
            raise RuntimeError(f"a benchmark photo failed the gate: {answer.json()['photo']['quality']}")
        add_stages(stages, answer)
    last_capture = time.perf_counter()
    result = patiently(lambda: kiosk.post(f"/api/exams/{exam_id}/finish"), busy, durations)
    end = time.perf_counter()
    expect(result, 200, "finish")
    result_stages: dict[str, float] = {}
    add_stages(result_stages, result)
    add_stages(stages, result)
    return ExamTiming(exam_s=end - start, result_s=end - last_capture, stages=stages, result_stages=result_stages,
                      busy_answers=busy[0], requests_s=durations)


def expect(answer: Response, status: int, step: str) -> None:
    if answer.status != status:
        raise RuntimeError(f"{step}: HTTP {answer.status} {answer.body[:300]!r}")


def run_scenario(size: str, model: str, exams: int, concurrent: int, work: Path) -> Scenario:
    scenario = Scenario(size=size, model=model, concurrent=concurrent)
    data_dir = work / f"{size}-{model}-{concurrent}"
    photos = [exam_photos(size, seed=i) for i in range(exams if concurrent == 1 else concurrent)]
    scenario.photo_bytes = sum(len(p.jpeg) for p in photos[0]) // len(photos[0])
    users = add_technicians(data_dir, concurrent) if concurrent > 1 else []  # one sign-in per user at a time
    with ServerProcess.start(data_dir, APPLIANCE_MODEL_MANIFEST=str(REPO_ROOT / MODELS[model])) as box:
        scenario.ready_s = box.ready_s
        if concurrent == 1:
            kiosk = box.kiosk()
            run_exam(kiosk, photos[0], "BENCH-WARMUP")  # first inference and first-touch allocations
            start = time.perf_counter()
            for i in range(exams):
                try:
                    scenario.exams.append(run_exam(kiosk, photos[i], f"BENCH-{i}"))
                except RuntimeError as exc:
                    scenario.failures.append(str(exc))
            scenario.wall_s = time.perf_counter() - start
        else:
            kiosks = [box.kiosk(user, pin) for user, pin in users]
            gate = threading.Barrier(concurrent)
            lock = threading.Lock()

            def one(i: int) -> None:
                gate.wait()
                try:
                    done = run_exam(kiosks[i], photos[i], f"BENCH-C{i}")
                except RuntimeError as exc:
                    with lock:
                        scenario.failures.append(str(exc))
                    return
                with lock:
                    scenario.exams.append(done)

            threads = [threading.Thread(target=one, args=(i,)) for i in range(concurrent)]
            start = time.perf_counter()
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            scenario.wall_s = time.perf_counter() - start
        scenario.peak_rss_mb = box.peak_rss_mb()
    return scenario


def machine() -> dict[str, Any]:
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    return {"cpu": cpu, "cores": os.cpu_count(), "python": platform.python_version(),
            "load_average_1min": round(os.getloadavg()[0], 2)}


def run(args: argparse.Namespace) -> dict[str, Any]:
    scenarios: list[Scenario] = []
    with tempfile.TemporaryDirectory(prefix="bench-exam-") as tmp:
        for model in args.models:
            for size in args.sizes:
                scenarios.append(run_scenario(size, model, args.exams, 1, Path(tmp)))
                if not args.json:
                    print(render(scenarios[-1].figures()), flush=True)
        if args.concurrent > 1:
            for size in args.concurrent_sizes:
                scenarios.append(run_scenario(size, args.models[0], 1, args.concurrent, Path(tmp)))
                if not args.json:
                    print(render(scenarios[-1].figures()), flush=True)
    figures = [s.figures() for s in scenarios]
    headline = next((f for f in figures if f["size"] == "12MP" and f["concurrent"] == 1 and f["model"] == "fp32"),
                    next((f for f in figures if f["concurrent"] == 1), None))
    crowd = next((f for f in figures if f["concurrent"] > 1 and f["size"] == "12MP"),
                 next((f for f in figures if f["concurrent"] > 1), None))
    return {
        "machine": machine(),
        "result_latency_median_s": headline["result_s"]["median"] if headline else None,
        "result_latency_p95_s": headline["result_s"]["p95"] if headline else None,
        "headline_scenario": {k: headline[k] for k in ("size", "model")} if headline else None,
        "peak_rss_mb": crowd["peak_rss_mb"] if crowd else max((f["peak_rss_mb"] for f in figures), default=None),
        "ready_s": max(f["ready_s"] for f in figures) if figures else None,
        "targets": {"result_latency_s": 1.0, "peak_rss_mb": 600, "ready_s": 5.0},
        "scenarios": figures,
    }


def render(f: dict[str, Any]) -> str:
    who = f"{f['size']:>9} {f['model']:<4}" + (f" ×{f['concurrent']} at once" if f["concurrent"] > 1 else "")
    stages = " ".join(f"{k} {v * 1000:.0f}" for k, v in f["result_stages_median_s"].items())
    exam_stages = " ".join(f"{k} {v * 1000:.0f}" for k, v in f["exam_stages_median_s"].items())
    lines = [
        f"{who}: {f['exams']} exams ({f['photo_kib']} KiB a photo), {f['exams_per_minute']} exams/min, "
        f"ready {f['ready_s']:.2f} s, peak RSS {f['peak_rss_mb']:.0f} MiB"
        + (f", {f['busy_answers']} busy answers" if f["busy_answers"] else "")
        + (f", {len(f['failures'])} FAILED: {f['failures'][0]}" if f["failures"] else ""),
        f"    result after the last capture: median {f['result_s']['median']:.3f} s, p95 {f['result_s']['p95']:.3f} s"
        f"   [ms: {stages}]",
        f"    whole exam:                    median {f['exam_s']['median']:.3f} s, p95 {f['exam_s']['p95']:.3f} s"
        f"   [ms: {exam_stages}]",
    ]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--exams", type=int, default=8, help="exams per scenario, back to back (default 8)")
    parser.add_argument("--sizes", nargs="+", choices=list(SIZES), default=["512px", "3000x2000", "12MP"])
    parser.add_argument("--models", nargs="+", choices=list(MODELS), default=["fp32", "int8"])
    parser.add_argument("--concurrent", type=int, default=4, help="exams arriving at once (default 4; 1: none)")
    parser.add_argument("--concurrent-sizes", nargs="+", choices=list(SIZES), default=["12MP"])
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of lines")
    args = parser.parse_args(argv)
    figures = run(args)
    if args.json:
        print(json.dumps(figures, indent=2))
    else:
        print(f"machine: {figures['machine']}")
        print(f"headline: result {figures['result_latency_median_s']} s median, {figures['result_latency_p95_s']} s "
              f"p95 ({figures['headline_scenario']}); peak RSS {figures['peak_rss_mb']} MiB with "
              f"{args.concurrent} exams at once; ready {figures['ready_s']} s "
              f"(targets: 1 s, 600 MiB, 5 s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
