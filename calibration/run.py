"""The whole calibration: select photos, quantize each variant, compare, ship the best, report.

    appliance calibrate [--method minmax|entropy|percentile|all] ...

Steps: (1) the FP32 manifest is loaded and its model hashed; (2) `count` stratified TRAIN photos are
chosen and their list written; (3) they are decoded the appliance's way; (4) every variant is
quantized (calibrated ranges computed once per method; the FP32 layer means for bias correction once
for all); (5) the FP32 model and each variant score the VALIDATION split, where the variant to ship
is chosen (calibration.parity.best), and the TEST split, where parity is reported; (6) the chosen
variant is written beside the FP32 model with its manifest, and the report is written.
Rerunning after the FP32 model changes is this same one command.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from contextlib import redirect_stdout
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import numpy.typing as npt
import onnx
import onnxruntime as ort
from tqdm import tqdm

from appliance.checksum import sha256_file
from appliance.inference.manifest import ModelManifest, load_manifest
from appliance.inference.preprocess import InputSpec
from calibration import images as img
from calibration.bias import Means, correct_biases, input_means, layer_inputs
from calibration.errors import CalibrationError
from calibration.manifest import TomlValue, manifest_text, write_manifest
from calibration.parity import Parity, best, compare, summary_line
from calibration.quantize import (
    METHODS,
    QuantizeOptions,
    check_qdq,
    conv_macs,
    describe,
    float_share,
    prepare,
    quantize,
)
from calibration.reader import SquaresReader, batch_tensor, load_squares
from calibration.report import Candidate, TestSet, render_report

Progress = Callable[[str], None]
#: Convs of MobileNetV2's stem and first blocks (features.0 to features.4 at 192 px) kept in float by
#: the third standard variant.
STEM_CONVS = 12


def standard_variants(methods: Sequence[str], *, ablations: bool = True) -> tuple[QuantizeOptions, ...]:
    """The comparison `appliance calibrate` runs by default.

    Each method (head in float, bias corrected): fully int8; with the depthwise convs in float; and
    with the depthwise convs and the first STEM_CONVS convs in float (measured on the reference model:
    the signal-to-quantization-noise ratio falls from ~28 to ~20 dB over the first four blocks, and the
    stem's few channels leave nothing to average a rounding error out);
    with `ablations`, for the first method also the head quantized and the bias left uncorrected,
    so the report shows what those two choices are worth.
    """
    out = [QuantizeOptions(method=m, float_depthwise=dw, float_convs=stem)
           for m in methods for dw, stem in ((False, 0), (True, 0), (True, STEM_CONVS))]
    if ablations and methods:
        out += [QuantizeOptions(method=methods[0], float_head=False),
                QuantizeOptions(method=methods[0], bias_correction=False)]
    return tuple(out)


@dataclass(frozen=True)
class Request:
    """What `appliance calibrate` asked for. `out` is a path stem: `<out>.onnx` and `<out>.toml` are written."""

    fp32_manifest: Path
    out: Path
    data_dir: Path | tuple[Path, ...]
    variants: tuple[QuantizeOptions, ...] = (QuantizeOptions(),)
    count: int = 300
    seed: int = 0
    batch_size: int = 4
    parity: bool = True
    eval_limit: int | None = None
    threads: int = 2
    command: str = "appliance calibrate"
    list_path: Path | None = None
    report_path: Path | None = None

    @property
    def list_file(self) -> Path:
        return self.list_path or self.out.parent / "calibration-images.txt"

    @property
    def report_file(self) -> Path:
        return self.report_path or self.out.parent / "INT8_PARITY.md"


@dataclass
class Outcome:
    """What was shipped and how it compared (`candidates[shipped]` is the one written)."""

    manifest: ModelManifest
    candidates: list[Candidate]
    shipped: int
    report: Path
    notes: list[str] = field(default_factory=list)


def _session(model: Path, threads: int) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    return ort.InferenceSession(str(model), sess_options=options, providers=["CPUExecutionProvider"])


def score(model: Path, fp32: ModelManifest, squares: npt.NDArray[np.uint8], *, threads: int = 2,
          batch: int = 16, desc: str = "scoring") -> npt.NDArray[np.float32]:
    """The model's output (first column) for every square, in order, on onnxruntime's CPU provider."""
    session = _session(model, threads)
    out = []
    with tqdm(total=len(squares), desc=desc, unit="img", mininterval=1.0) as bar:
        for start in range(0, len(squares), batch):
            chunk = squares[start:start + batch]
            (y,) = session.run([fp32.output_name], {fp32.input_name: batch_tensor(chunk, fp32.input)})
            out.append(np.asarray(y, np.float32).reshape(len(chunk), -1)[:, 0])
            bar.update(len(chunk))
    return np.concatenate(out)


def load_split(data_dir: Path | tuple[Path, ...], split: str, spec: InputSpec, limit: int | None) -> TestSet:
    """A split's photos (EyeQ rejects excluded), decoded the appliance's way; unusable photos skipped.

    With `limit`, at most that many evenly spaced photos (a quicker, noisier estimate).
    """
    examples = img.eligible(img.load_examples(data_dir), split)
    if limit is not None and len(examples) > limit:
        picks = np.linspace(0, len(examples) - 1, limit).round().astype(int)
        examples = [examples[i] for i in sorted(set(picks.tolist()))]
    if not examples:
        raise CalibrationError(f"The development set at {data_dir} has no {split}-split photo to judge parity on.")
    loaded = load_squares([img.photo_path(e, data_dir) for e in examples], spec, strict=False, desc=f"{split} split")
    kept = [examples[i] for i in loaded.kept]
    return TestSet(
        squares=loaded.squares, labels=np.array([e.referable for e in kept], np.float32),
        natural=np.array([e.natural for e in kept], bool), skipped=loaded.skipped, limited=limit is not None,
        split=split,
    )


def parity_of(test: TestSet, fp32_scores: npt.NDArray[np.float32], int8_scores: npt.NDArray[np.float32],
              threshold: float) -> tuple[Parity, dict[str, Parity]]:
    """Overall parity and per source (natural colour, enhanced), where a source has photos."""
    overall = compare(test.labels, fp32_scores, int8_scores, threshold)
    by_source = {}
    for name, mask in (("natural", test.natural), ("enhanced", ~test.natural)):
        if mask.any():
            by_source[name] = compare(test.labels[mask], fp32_scores[mask], int8_scores[mask], threshold)
    return overall, by_source


def _replace_file(source: Path, target: Path) -> None:
    tmp = target.with_name(target.name + ".tmp")
    shutil.copyfile(source, tmp)
    os.replace(tmp, target)


def _make_variant(options: QuantizeOptions, prepared: Path, reader: SquaresReader, tmp: Path, index: int,
                  means: Callable[[], Means], macs: dict[str, int], progress: Progress) -> Candidate:
    path = tmp / f"variant-{index}.onnx"
    started = time.monotonic()
    progress(f"quantizing: {options.label}")
    with redirect_stdout(sys.stderr):  # onnxruntime's calibrators print() their progress
        excluded = quantize(prepared, path, reader, options, tmp)
    if options.bias_correction:
        model = onnx.load(str(path))
        layers = correct_biases(model, means())
        onnx.save(model, str(path))
        progress(f"  bias corrected in {layers} layers")
    model = onnx.load(str(path))
    summary = check_qdq(model)
    convs = {n.name for n in model.graph.node if n.op_type == "Conv"}
    seconds = time.monotonic() - started
    progress(f"  {describe(summary, excluded)} ({seconds:.0f} s)")
    return Candidate(options=options, path=path, excluded=excluded, summary=summary, seconds=seconds,
                     float_convs=sum(name in convs for name in excluded), float_macs=float_share(macs, excluded))


def calibrate(req: Request, progress: Progress = print) -> Outcome:
    """Run the whole calibration (see the module docstring) and return what was shipped.

    Raises:
        CalibrationError: the FP32 model, the data or a quantized variant is unusable.
        ManifestError, ModelIntegrityError: the FP32 manifest is invalid or its model altered.
    """
    if req.count < 1 or req.batch_size < 1 or not req.variants:
        raise CalibrationError("Calibration needs --count >= 1, a batch size >= 1 and at least one variant.")
    if not req.parity and len(req.variants) > 1:
        raise CalibrationError("Comparing variants needs the parity run; drop --no-parity or ask for one variant.")
    fp32 = load_manifest(req.fp32_manifest)
    progress(f"FP32 model {fp32.name} {fp32.version} ({fp32.model_path.name}), input {fp32.input.size} px, "
             f"local contrast {fp32.input.local_contrast}, threshold {fp32.threshold}")

    train = img.eligible(img.load_examples(req.data_dir), "train")
    try:
        chosen = img.select_calibration(train, req.count, req.seed)
    except ValueError as exc:
        raise CalibrationError(f"Cannot choose {req.count} calibration photos: {exc}.") from exc
    strata = img.strata_counts(chosen)
    described = ", ".join(f"{k} {v}" for k, v in strata.items())
    header = [
        f"INT8 calibration photos: {len(chosen)} from the TRAIN split of the labelled folders,",
        "paths relative to each folder (FUNDUS_DATA_DIR, by default ../shared/data/fundus, and",
        "../shared/data/fundus-cameras where the command names it).",
        f"EyeQ 'reject' excluded; stratified by referable x source, equal quotas; seed {req.seed}.",
        described,
    ]
    list_sha = img.write_list(req.list_file, [e.file for e in chosen], header)
    progress(f"calibration list {req.list_file} ({len(chosen)} photos: {described})")
    calib = load_squares([img.photo_path(e, req.data_dir) for e in chosen], fp32.input, desc="calibration photos")

    candidates: list[Candidate] = []
    with tempfile.TemporaryDirectory(prefix="calibrate-") as tmp_name:
        tmp = Path(tmp_name)
        prepared = prepare(fp32.model_path, tmp / "prepared.onnx")
        cached: list[Means] = []

        def means() -> Means:  # the FP32 layer-input means, computed on first use, shared by all variants
            if not cached:
                model = onnx.load(str(prepared))
                progress("measuring the FP32 layer inputs for bias correction")
                cached.append(input_means(model, layer_inputs(model), calib.squares, fp32.input, fp32.input_name,
                                          threads=req.threads))
            return cached[0]

        macs = conv_macs(onnx.load(str(prepared)))
        reader = SquaresReader(fp32.input_name, calib.squares, fp32.input, batch_size=req.batch_size)
        try:
            for i, options in enumerate(req.variants):
                try:
                    candidates.append(_make_variant(options, prepared, reader, tmp, i, means, macs, progress))
                except CalibrationError as exc:  # one bad variant must not sink the others
                    progress(f"  variant {options.label} dropped: {exc.message} {exc.detail}".rstrip())
        finally:
            reader.close()
        if not candidates:
            raise CalibrationError("No quantized variant could be made; see the messages above.")

        test: TestSet | None = None
        shipped = 0
        if req.parity:
            test = _judge(req, fp32, candidates, progress)
            shipped = best([c.selection for c in candidates if c.selection is not None],
                           [round(1000 * c.float_macs) for c in candidates])
        chosen_c = candidates[shipped]
        onnx_path = req.out.with_name(req.out.name + ".onnx")
        manifest_path = req.out.with_name(req.out.name + ".toml")
        onnx_path.parent.mkdir(parents=True, exist_ok=True)
        _replace_file(chosen_c.path, onnx_path)
        chosen_c.path = onnx_path
    training = _training_fields(req, fp32, chosen_c, len(chosen), list_sha, manifest_path)
    text = manifest_text(fp32, name=req.out.name, model_file=onnx_path.name, sha256=sha256_file(onnx_path),
                         training=training, folder=manifest_path.parent)
    manifest = write_manifest(manifest_path, text)
    report = render_report(fp32=fp32, int8=manifest, candidates=candidates, shipped=shipped, test=test,
                           strata=strata, list_file=req.list_file, list_sha256=list_sha, command=req.command,
                           seed=req.seed)
    req.report_file.write_text(report, encoding="utf-8")
    progress(f"wrote {onnx_path}, {manifest_path} and {req.report_file}; shipped: {chosen_c.options.label}")
    return Outcome(manifest=manifest, candidates=candidates, shipped=shipped, report=req.report_file)


def _judge(req: Request, fp32: ModelManifest, candidates: list[Candidate], progress: Progress) -> TestSet:
    """Score the FP32 model and every variant on the validation (choice) and test (report) splits."""
    test = TestSet(np.empty((0,), np.uint8), np.empty(0, np.float32), np.empty(0, bool))
    for split in ("val", "test"):
        data = load_split(req.data_dir, split, fp32.input, req.eval_limit)
        fp32_scores = score(fp32.model_path, fp32, data.squares, threads=req.threads, desc=f"FP32 on {split}")
        for c in candidates:
            int8_scores = score(c.path, fp32, data.squares, threads=req.threads, desc=f"INT8 on {split}")
            overall, by_source = parity_of(data, fp32_scores, int8_scores, fp32.threshold)
            if split == "val":
                c.selection = overall
            else:
                c.parity, c.by_source = overall, by_source
            progress(f"  {split}: {c.options.label}: {summary_line(overall)}")
        if split == "test":
            test = replace(data, squares=np.empty((0,), np.uint8))  # the report needs counts, not pixels
    return test


def _rel(path: Path, start: Path) -> str:
    try:
        return os.path.relpath(path, start)
    except ValueError:  # another drive (Windows): keep it absolute
        return str(path)


def _training_fields(req: Request, fp32: ModelManifest, c: Candidate, images: int, list_sha: str,
                     manifest_path: Path) -> dict[str, TomlValue]:
    o = c.options
    fields: dict[str, TomlValue] = {
        "precision": "int8",
        "quantization": "onnxruntime quantize_static, QDQ, symmetric int8 activations and weights (zero points 0), "
                        "per-channel weights (float behind a Q/DQ pair), float biases, Q/DQ "
                        + ("on the inputs of Conv/Gemm/MatMul/Add" if o.placement == "inputs"
                           else "on every supported op"),
        "onnxruntime": ort.__version__,
        "calibration_method": o.method,
        "calibration_images": images,
        "calibration_split": "train",
        "calibration_seed": req.seed,
        "calibration_list": _rel(req.list_file, manifest_path.parent),
        "calibration_list_sha256": list_sha,
        "bias_correction": o.bias_correction,
        "float_nodes": list(c.excluded),
        "float_conv_mac_share": round(c.float_macs, 4),
        "variant": o.label,
        "fp32_manifest": _rel(req.fp32_manifest, manifest_path.parent),
        "fp32_name": fp32.name,
        "fp32_version": fp32.version,
        "fp32_sha256": fp32.sha256,
    }
    if o.method == "percentile":
        fields["calibration_percentile"] = o.percentile
    for key in ("data", "split"):
        value = fp32.training.get(key)
        if isinstance(value, str):
            fields[key] = value
    if c.parity is not None:
        p = c.parity
        fields.update({
            "parity_split": "test",
            "parity_images": p.images,
            "parity_auc_fp32": round(p.fp32_auc, 5),
            "parity_auc_int8": round(p.int8_auc, 5),
            "parity_auc_difference": round(p.auc_diff, 5),
            "parity_decision_agreement": round(p.agreement, 5),
            "parity_max_abs_score_difference": round(p.max_abs_diff, 5),
            "parity_report": _rel(req.report_file, manifest_path.parent),
        })
    fields["command"] = req.command
    fields["clinically_validated"] = False
    return fields


def parity_only(fp32_manifest: Path, int8_manifest: Path, data_dir: Path | tuple[Path, ...], report_file: Path, *,
                eval_limit: int | None = None, threads: int = 2,
                command: str = "appliance calibrate --parity-only", progress: Progress = print) -> Parity:
    """Recompute the test-split parity of an existing INT8 model against its FP32 model; rewrite the report.

    Raises:
        CalibrationError: the INT8 model is not a Q/DQ model or was made from another FP32 model.
    """
    fp32 = load_manifest(fp32_manifest)
    int8 = load_manifest(int8_manifest)
    made_from = int8.training.get("fp32_sha256")
    if made_from is not None and made_from != fp32.sha256:
        raise CalibrationError(
            f"The INT8 model {int8_manifest} was calibrated from another FP32 model (sha256 {made_from}, not "
            f"{fp32.sha256}); run `appliance calibrate` again.",
        )
    summary = check_qdq(onnx.load(str(int8.model_path)))
    test = load_split(data_dir, "test", fp32.input, eval_limit)
    fp32_scores = score(fp32.model_path, fp32, test.squares, threads=threads, desc="FP32 on test")
    int8_scores = score(int8.model_path, fp32, test.squares, threads=threads, desc="INT8 on test")
    overall, by_source = parity_of(test, fp32_scores, int8_scores, fp32.threshold)
    method = str(int8.training.get("calibration_method", "minmax"))
    float_nodes = int8.training.get("float_nodes", [])
    excluded = [str(n) for n in float_nodes] if isinstance(float_nodes, list) else []
    options = QuantizeOptions(method=method if method in METHODS else "minmax",
                              bias_correction=bool(int8.training.get("bias_correction", False)))
    candidate = Candidate(options=options, path=int8.model_path, excluded=excluded, summary=summary,
                          seconds=float("nan"), parity=overall, by_source=by_source,
                          label=str(int8.training.get("variant", options.label)))
    list_name = str(int8.training.get("calibration_list", ""))
    report = render_report(
        fp32=fp32, int8=int8, candidates=[candidate], shipped=0, test=test, strata=None,
        list_file=int8_manifest.parent / list_name if list_name else None,
        list_sha256=str(int8.training.get("calibration_list_sha256", "")), command=command,
        seed=int(int8.training.get("calibration_seed", 0)),
    )
    report_file.write_text(report, encoding="utf-8")
    progress(f"parity of {int8.name}: {summary_line(overall)}; wrote {report_file}")
    return overall


def methods_for(choice: str) -> tuple[str, ...]:
    """`--method` value -> methods to run ("all" -> the three)."""
    return tuple(METHODS) if choice == "all" else (choice,)
