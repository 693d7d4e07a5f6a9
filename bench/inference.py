"""Latency, throughput and memory of preprocessing and of the model, FP32 vs INT8, on onnxruntime CPU.

    python -m bench.inference                      # shipped sample photos, 2 threads, batch 1 and 4
    python -m bench.inference --images DIR --repeats 50 --json

Per stage it reports the median and 95th-percentile time of one call, the time per image, and
images per second: JPEG decoding and preprocessing per photo (this process, one thread), and the
model per batch (onnxruntime CPU provider, `--threads` intra-op threads, one inter-op thread).
Each model runs in its own spawned process, so its peak resident memory (VmHWM) is its own;
`+model` is that peak minus the process's peak before the session was created. Ratios compare
INT8 with FP32 (speed-up = FP32 time / INT8 time). A missing model is reported, not fatal.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import platform
import resource
import sys
import time
import tracemalloc
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from appliance.config import REPO_ROOT, LimitsConfig
from appliance.devices.simulated import SAMPLES_DIR
from appliance.errors import ApplianceError
from appliance.imaging import decode_image
from appliance.inference.manifest import ModelManifest, load_manifest
from appliance.inference.preprocess import InputSpec, preprocess

FP32_MANIFEST = REPO_ROOT / "models" / "dr-reference.toml"
INT8_MANIFEST = REPO_ROOT / "models" / "dr-reference-int8.toml"
IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".tif", ".tiff", ".bmp"})
Images = list[npt.NDArray[np.uint8]]


@dataclass(frozen=True)
class Timing:
    """One stage's timings. `unit` images per call; latencies in milliseconds per call."""

    stage: str
    model: str
    batch: int
    median_ms: float
    p95_ms: float
    per_image_ms: float
    images_per_s: float
    calls: int
    peak_rss_mib: float | None = None
    model_rss_mib: float | None = None
    notes: dict[str, Any] = field(default_factory=dict)


def summarise(stage: str, model: str, batch: int, seconds: Sequence[float], **extra: Any) -> Timing:
    """Median, p95, per-image time and throughput of `seconds` (one entry per call of `batch` images)."""
    ms = np.asarray(seconds, np.float64) * 1000.0
    median = float(np.median(ms))
    return Timing(
        stage=stage, model=model, batch=batch, median_ms=median, p95_ms=float(np.percentile(ms, 95)),
        per_image_ms=median / batch, images_per_s=batch * len(ms) / (float(ms.sum()) / 1000.0), calls=len(ms),
        **extra,
    )


def timed(fn: Callable[[], object], repeats: int) -> list[float]:
    """Seconds of each of `repeats` calls of fn."""
    out = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        out.append(time.perf_counter() - start)
    return out


def image_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)


def bench_decode(files: list[Path], repeats: int) -> tuple[Timing, Images]:
    """Decode every photo `repeats` times (the appliance's checked decoder, at the model's size); returns the
    timings and the images."""
    limits = LimitsConfig()
    blobs = [p.read_bytes() for p in files]
    images = [decode_image(b, limits, reduced=True) for b in blobs]
    samples = [s for b in blobs for s in timed(lambda b=b: decode_image(b, limits, reduced=True),  # type: ignore[misc]
                                               repeats)]
    sizes = sorted({f"{im.shape[1]}x{im.shape[0]}" for im in images})
    return summarise("decode", "-", 1, samples, notes={"sizes": sizes}), images


def bench_preprocess(images: Images, spec: InputSpec, repeats: int) -> Timing:
    """Time preprocess() per photo; its peak Python/numpy allocation comes from one tracemalloc pass."""
    samples = [s for im in images for s in timed(lambda im=im: preprocess(im, spec), repeats)]  # type: ignore[misc]
    tracemalloc.start()
    try:
        peak = 0
        for im in images:
            tracemalloc.reset_peak()
            preprocess(im, spec)
            peak = max(peak, tracemalloc.get_traced_memory()[1])
    finally:
        tracemalloc.stop()
    notes = {"size": spec.size, "local_contrast": spec.local_contrast, "peak_alloc_mib": round(peak / 2**20, 1)}
    return summarise(f"preprocess {spec.size}px", "-", 1, samples, notes=notes)


def _rss_mib() -> float:
    """Peak resident memory of this process so far, MiB.

    Linux's VmHWM belongs to the process's current address space, which exec() replaces; ru_maxrss
    does not reset at exec and so carries the parent's peak into a spawned child (a 340 MiB parent
    made every model look like 340 MiB). ru_maxrss (KiB) is the fallback where /proc is missing.
    """
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024.0
    except (OSError, ValueError, IndexError):
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def bench_model(
    manifest_path: Path, tensors: npt.NDArray[np.float32], batches: Sequence[int], repeats: int, warmup: int,
    threads: int,
) -> list[dict[str, Any]]:
    """Time the model on onnxruntime's CPU provider for each batch size (run in a fresh process by main).

    Returns per batch: the seconds of each call, the process's peak RSS and its growth since
    before the session was created (MiB), and the model file's name and version.
    """
    import onnxruntime as ort

    manifest = load_manifest(manifest_path)
    before = _rss_mib()
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    session = ort.InferenceSession(str(manifest.model_path), sess_options=options,
                                   providers=["CPUExecutionProvider"])
    rows = []
    for batch in batches:
        index = np.arange(batch) % tensors.shape[0]
        x = np.ascontiguousarray(tensors[index])
        feed = {manifest.input_name: x}
        for _ in range(warmup):
            session.run([manifest.output_name], feed)
        samples = timed(lambda feed=feed: session.run([manifest.output_name], feed), repeats)  # type: ignore[misc]
        peak = _rss_mib()
        rows.append({"batch": batch, "seconds": samples, "peak": peak, "growth": peak - before,
                     "file": manifest.model_path.name, "version": manifest.version, "sha256": manifest.sha256})
    return rows


def merge_rounds(label: str, rounds: Sequence[list[dict[str, Any]]]) -> list[Timing]:
    """One Timing per batch from the raw results of every round: calls pooled, memory the largest seen."""
    out = []
    for per_batch in zip(*rounds, strict=True):
        first = per_batch[0]
        seconds = [s for r in per_batch for s in r["seconds"]]
        out.append(summarise(
            "model", label, first["batch"], seconds, peak_rss_mib=round(max(r["peak"] for r in per_batch), 1),
            model_rss_mib=round(max(r["growth"] for r in per_batch), 1),
            notes={"file": first["file"], "version": first["version"], "sha256": first["sha256"],
                   "rounds": len(per_batch)},
        ))
    return out


def machine() -> dict[str, Any]:
    """What the figures were measured on."""
    import onnxruntime as ort

    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    affinity = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return {
        "cpu": cpu, "arch": platform.machine(), "logical_cpus": os.cpu_count(), "usable_cpus": affinity,
        "load_average_1m": round(os.getloadavg()[0], 2), "python": platform.python_version(),
        "onnxruntime": ort.__version__, "numpy": np.__version__, "os": platform.platform(terse=True),
    }


def load_models(paths: dict[str, Path]) -> tuple[dict[str, ModelManifest], dict[str, str]]:
    """The manifests that load; the others with the reason they are missing."""
    found, missing = {}, {}
    for label, path in paths.items():
        if not path.is_file():
            missing[label] = f"{path} not found"
            continue
        try:
            found[label] = load_manifest(path)
        except ApplianceError as exc:
            missing[label] = exc.message
    return found, missing


def run(args: argparse.Namespace) -> dict[str, Any]:
    """The whole benchmark as a JSON-ready dict."""
    files = image_files(args.images)
    if not files:
        raise SystemExit(f"no photos in {args.images}")
    paths = {"fp32": Path(args.fp32), "int8": Path(args.int8)}
    manifests, missing = load_models(paths)
    decode, images = bench_decode(files, args.repeats)
    rows = [decode]
    specs = {m.input for m in manifests.values()} or {InputSpec()}
    tensors_by_spec = {spec: np.stack([preprocess(im, spec) for im in images]) for spec in specs}
    rows += [bench_preprocess(images, spec, args.repeats) for spec in sorted(specs, key=lambda s: s.size)]
    context = multiprocessing.get_context("spawn")
    raw: dict[str, list[list[dict[str, Any]]]] = {label: [] for label in manifests}
    # Models alternate round by round, so a change in the machine's load hits both alike.
    for _ in range(args.rounds):
        for label, manifest in manifests.items():
            job = (paths[label], tensors_by_spec[manifest.input], args.batches, args.repeats, args.warmup,
                   args.threads)
            if args.in_process:
                raw[label].append(bench_model(*job))
            else:
                with context.Pool(1) as pool:
                    raw[label].append(pool.apply(bench_model, job))
    for label, rounds in raw.items():
        rows += merge_rounds(label, rounds)
    return {
        "machine": machine(), "threads": args.threads, "repeats": args.repeats, "warmup": args.warmup,
        "rounds": args.rounds,
        "images": {"folder": str(args.images), "count": len(files), "sizes": decode.notes["sizes"]},
        "memory_measured_in": "this process" if args.in_process else "one spawned process per model",
        "rows": [asdict(r) for r in rows], "ratios": ratios(rows), "missing": missing,
        "end_to_end_ms": end_to_end(rows, {label: m.input.size for label, m in manifests.items()}),
    }


def end_to_end(rows: Sequence[Timing], sizes: dict[str, int]) -> dict[str, float]:
    """Median decode + preprocess + model (batch 1) per photo, per model: one photo screened alone."""
    stage = {(r.stage, r.model, r.batch): r.median_ms for r in rows}
    out = {}
    for label, size in sizes.items():
        parts = [stage.get(("decode", "-", 1)), stage.get((f"preprocess {size}px", "-", 1)),
                 stage.get(("model", label, 1))]
        if all(p is not None for p in parts):
            out[label] = round(sum(p for p in parts if p is not None), 2)
    return out


def ratios(rows: Sequence[Timing]) -> dict[str, float]:
    """INT8 vs FP32 per batch: speed-up of the median, throughput ratio, and peak-memory ratio."""
    by = {(r.model, r.batch): r for r in rows if r.stage == "model"}
    out = {}
    for (model, batch), fp32 in sorted(by.items()):
        int8 = by.get(("int8", batch))
        if model != "fp32" or int8 is None:
            continue
        out[f"speedup_median_b{batch}"] = round(fp32.median_ms / int8.median_ms, 2)
        out[f"throughput_ratio_b{batch}"] = round(int8.images_per_s / fp32.images_per_s, 2)
        if fp32.model_rss_mib and int8.model_rss_mib:
            out[f"model_memory_ratio_b{batch}"] = round(int8.model_rss_mib / fp32.model_rss_mib, 2)
    return out


def format_report(report: dict[str, Any]) -> str:
    """The report as a plain-text table."""
    m = report["machine"]
    lines = [
        f"Machine: {m['cpu']} ({m['arch']}), {m['usable_cpus']} usable of {m['logical_cpus']} logical CPUs, "
        f"load average {m['load_average_1m']}; onnxruntime {m['onnxruntime']} CPU, {report['threads']} threads",
        f"Photos: {report['images']['count']} from {report['images']['folder']} ({', '.join(report['images']['sizes'])}"
        f" px); {report['repeats']} timed calls each (models: after {report['warmup']} warm-up, in "
        f"{report['rounds']} alternating round(s)); memory: {report['memory_measured_in']}",
        "",
        f"{'stage':<18}{'model':<6}{'batch':>6}{'median ms':>11}{'p95 ms':>9}{'ms/image':>10}{'images/s':>10}"
        f"{'peak RSS MiB':>14}{'+model MiB':>12}",
    ]
    for r in report["rows"]:
        peak = "" if r["peak_rss_mib"] is None else f"{r['peak_rss_mib']:.0f}"
        delta = "" if r["model_rss_mib"] is None else f"{r['model_rss_mib']:.0f}"
        lines.append(f"{r['stage']:<18}{r['model']:<6}{r['batch']:>6}{r['median_ms']:>11.2f}{r['p95_ms']:>9.2f}"
                     f"{r['per_image_ms']:>10.2f}{r['images_per_s']:>10.1f}{peak:>14}{delta:>12}")
    models = {r["model"]: r["notes"] for r in report["rows"] if r["stage"] == "model"}
    for label, notes in models.items():
        lines.append(f"{label} model: {notes['file']} {notes['version']}, sha256 {notes['sha256'][:16]}…")
    for r in report["rows"]:
        if r["stage"].startswith("preprocess"):
            lines.append(f"{r['stage']}: peak numpy/Python allocation {r['notes']['peak_alloc_mib']} MiB per photo")
    lines.append("")
    for label, why in report["missing"].items():
        lines.append(f"{label.upper()} model missing: {why} (no {label.upper()} rows)")
    for label, ms in report["end_to_end_ms"].items():
        lines.append(f"One photo end to end ({label}): decode + preprocess + model batch 1 = {ms:.1f} ms (medians)")
    if report["ratios"]:
        lines.append("INT8 vs FP32: " + ", ".join(f"{k} {v}" for k, v in report["ratios"].items()))
    elif not report["missing"]:
        lines.append("INT8 vs FP32: no pair of rows to compare")
    return "\n".join(lines)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.inference", description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=Path, default=SAMPLES_DIR, help="folder of photos (default: shipped samples)")
    parser.add_argument("--fp32", type=Path, default=FP32_MANIFEST, help="FP32 model manifest")
    parser.add_argument("--int8", type=Path, default=INT8_MANIFEST, help="INT8 (Q/DQ) model manifest")
    parser.add_argument("--repeats", type=int, default=20, help="timed calls per stage and batch (default 20)")
    parser.add_argument("--warmup", type=int, default=3, help="untimed model calls first (default 3)")
    parser.add_argument("--rounds", type=int, default=1,
                        help="measure the models this many times, alternating FP32 and INT8, and pool the calls "
                             "(evens out a changing load; default 1)")
    parser.add_argument("--threads", type=int, default=2, help="onnxruntime intra-op threads (default 2)")
    parser.add_argument("--batches", type=lambda s: [int(b) for b in s.split(",")], default=[1, 4],
                        help="comma-separated batch sizes (default 1,4)")
    parser.add_argument("--in-process", action="store_true",
                        help="run the models in this process (faster start; peak memory is then not per model)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of the table")
    args = parser.parse_args(argv)
    if args.repeats < 1 or args.rounds < 1 or args.warmup < 0 or args.threads < 1 or min(args.batches) < 1:
        parser.error("--repeats, --rounds, --threads and batches must be >= 1, --warmup >= 0")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    report = run(args)
    print(json.dumps(report, indent=2) if args.json else format_report(report))
    measured = any(r["stage"] == "model" for r in report["rows"])
    return 0 if measured else 1


if __name__ == "__main__":
    sys.exit(main())
