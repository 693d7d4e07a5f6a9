"""Export a run's best checkpoint to ONNX, check it against torch, choose the threshold, write the manifest.

    python -m training.export --run training/runs/ref192

The operating threshold is chosen on the VALIDATION split only, from the exported ONNX's own
outputs, on the photos `--threshold-on` names: `natural` (the default) pools the natural-colour
photos of every camera, never the enhanced renderings no camera produces. It is the highest
threshold reaching `--target-sensitivity` there, then the highest specificity; Platt scaling is
fitted on the same photos. The test split is only reported.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import onnxruntime as ort
import torch

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

from appliance.checksum import sha256_file
from appliance.evaluation.metrics import binary_metrics
from appliance.evaluation.report import metrics_dict
from appliance.inference.preprocess import InputSpec, to_tensor
from training.card import write_card
from training.data import SplitData, load_split
from training.metrics import Operating, at_threshold, choose_threshold, roc_auc
from training.nets import ActivationMap, ProbabilityHead, make_net
from training.temperature import fit_platt
from training.train import args_from_config, run_spec, scores, split_examples, subsets

INPUT, OUTPUT, OPSET = "image", "referable_probability", 17
MIN_SENSITIVITY = 0.87
#: Score quantiles recorded in the manifest's [validation] section (0, 0.05, ..., 1).
QUANTILE_LEVELS = tuple(round(0.05 * k, 2) for k in range(21))
REPO = Path(__file__).resolve().parents[1]


def export_onnx(model: ProbabilityHead, size: int, path: Path) -> None:
    """Write `model` (the net with its probability head) as ONNX: input `image` float32
    [N,3,size,size], output [N,1], opset 17."""
    model = model.eval()
    path.parent.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():
        # The torch.export-based exporter needs onnxscript, which is not installed; the TorchScript
        # exporter (deprecated, still supported) handles this plain CNN exactly.
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.onnx.export(
            model, (torch.zeros(1, 3, size, size),), str(path), dynamo=False, opset_version=OPSET,
            input_names=[INPUT], output_names=[OUTPUT],
            dynamic_axes={INPUT: {0: "batch"}, OUTPUT: {0: "batch"}},
        )


def onnx_predict(path: Path, x: npt.NDArray[np.float32], batch: int = 64) -> npt.NDArray[np.float32]:
    """Run the ONNX on a normalised batch [N,3,S,S] with onnxruntime (CPU); returns [N,1]."""
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    outs = [session.run([OUTPUT], {INPUT: x[s:s + batch]})[0] for s in range(0, len(x), batch)]
    return np.concatenate(outs).astype(np.float32)


def max_difference(model: ProbabilityHead, path: Path, x: npt.NDArray[np.float32]) -> float:
    """Largest |onnxruntime - torch| probability on `x`."""
    with torch.no_grad():
        expected = model.eval()(torch.from_numpy(x)).numpy()
    return float(np.abs(onnx_predict(path, x) - expected).max())


def normalised(data: SplitData, spec: InputSpec) -> npt.NDArray[np.float32]:
    """The cached squares through the device's own `preprocess.to_tensor`, stacked to [N, 3, S, S]."""
    return np.stack([to_tensor(square, spec) for square in data.images]).astype(np.float32)


def _q(text: str) -> str:
    return json.dumps(text)  # a JSON string is a valid TOML basic string for this text


def manifest_text(name: str, version: str, onnx_file: str, digest: str, spec: InputSpec,
                  threshold: float, data: str, val_auc: float, test_auc: float, command: str,
                  scoring: str = "plain sigmoid of the logit",
                  chosen_on: str = f"validation split: sensitivity >= {MIN_SENSITIVITY}, then highest specificity",
                  ) -> str:
    """The manifest TOML, in exactly the schema the appliance's inference helper reads."""
    floats = ", ".join
    camera = "camera_normalise = true\n" if spec.camera_normalise else ""
    return f"""name = {_q(name)}
version = {_q(version)}
file = {_q(onnx_file)}
sha256 = {_q(digest)}
format = "onnx"

[input]
name = {_q(INPUT)}
size = {spec.size}
layout = "NCHW"
colour = "RGB"
mean = [{floats(str(v) for v in spec.mean)}]
std = [{floats(str(v) for v in spec.std)}]
local_contrast = {str(spec.local_contrast).lower()}
{camera}
[output]
name = {_q(OUTPUT)}
meaning = "probability of referable diabetic retinopathy (ICDR grade >= 2) for one image, 0..1"

[threshold]
operating = {threshold}
chosen_on = {_q(chosen_on)}

[training]
data = {_q(data)}
split = "patient-level, hash of patient id, 70/15/15"
validation_auc = {val_auc:.3f}
test_auc = {test_auc:.3f}
scoring = {_q(scoring)}
command = {_q(command)}
clinically_validated = false
"""


HEATMAP_OUTPUT = "referable_heatmap"


def export_heatmap(model: ActivationMap, size: int, path: Path, scoring_onnx: Path,
                   x: npt.NDArray[np.float32]) -> float:
    """Write the activation-map ONNX (output `referable_heatmap` [N, 1, h, w]) and check it: the sigmoid of
    its spatial mean must equal the scoring model's probability. Returns the largest difference.

    Raises:
        RuntimeError: the two disagree by more than 1e-4 (the map would not explain the score).
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.onnx.export(
            model.eval(), (torch.zeros(1, 3, size, size),), str(path), dynamo=False, opset_version=OPSET,
            input_names=[INPUT], output_names=[HEATMAP_OUTPUT],
            dynamic_axes={INPUT: {0: "batch"}, HEATMAP_OUTPUT: {0: "batch"}},
        )
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    maps = session.run([HEATMAP_OUTPUT], {INPUT: x})[0]
    from_maps = 1.0 / (1.0 + np.exp(-maps.mean(axis=(2, 3)).astype(np.float64)))
    diff = float(np.abs(from_maps - onnx_predict(scoring_onnx, x)).max())
    if not diff <= 1e-4:
        raise RuntimeError(f"the heatmap's mean differs from the score by {diff:.2e} (> 1e-4)")
    return diff


def heatmap_section(file: str, digest: str) -> str:
    return f"""
[heatmap]
file = {_q(file)}
sha256 = {_q(digest)}
output = {_q(HEATMAP_OUTPUT)}
meaning = "referable-DR logit per region of the model's view [N, 1, h, w]; its mean is the score's logit"
"""


def validation_section(labels: npt.NDArray[np.float32], probs: npt.NDArray[np.float64], data: str,
                       target: float, op: Operating) -> str:
    """The manifest's [validation] section: score quantiles of the threshold's photos, per class."""
    def quantiles(keep: npt.NDArray[np.bool_]) -> str:
        return ", ".join(f"{q:.6f}" for q in np.quantile(probs[keep], QUANTILE_LEVELS))
    positive = labels > 0.5
    return f"""
[validation]
data = {_q(data)}
quantile_levels = [{", ".join(str(q) for q in QUANTILE_LEVELS)}]
not_referable_quantiles = [{quantiles(~positive)}]
referable_quantiles = [{quantiles(positive)}]
n_referable = {int(positive.sum())}
n_not_referable = {int((~positive).sum())}
target_sensitivity = {target}
sensitivity = {op.sensitivity:.6f}
specificity = {op.specificity:.6f}
"""


def describe_sources(counts: dict[str, Any]) -> str:
    """'idrid-grading 355 (222 referable), ...' for a split's counts."""
    by_source = counts.get("by_source", {})
    return ", ".join(f"{src} {c['images']} ({c['positive']} referable)" for src, c in by_source.items())


def describe_data(counts: dict[str, Any]) -> str:
    parts = [f"{n}: {c['images']} images ({c['positive']} referable / {c['negative']} not; "
             f"{c['natural']} natural-colour, {c['enhanced']} enhanced; {c['patients']} patients)"
             for n, c in counts.items()]
    rejects = ", ".join(f"{n} {c['eyeq_reject_excluded']}" for n, c in counts.items())
    sources = "; ".join(f"{n} by source: {describe_sources(c)}" for n, c in counts.items() if c.get("by_source"))
    return ("EyePACS / Kaggle DR 2015 images of the fundus dev set (natural-colour and pre-enhanced "
            "subsets) and, where the run used them, the natural-colour IDRiD, APTOS 2019 and ODIR-5K photos "
            f"of ../shared/data/fundus-cameras; {'; '.join(parts)}. EyeQ 'reject' images excluded: {rejects}. "
            + (f"{sources}." if sources else ""))


def main(argv: list[str] | None = None) -> dict[str, Any]:
    p = argparse.ArgumentParser(prog="python -m training.export", description=__doc__.split("\n")[0])
    p.add_argument("--run", type=Path, required=True, help="training/runs/<name> with best.pt, report.json")
    p.add_argument("--out", type=Path, default=REPO / "models", help="folder for .onnx, .toml, CARD.md")
    p.add_argument("--name", default="dr-reference")
    p.add_argument("--version", default="0.1.0")
    p.add_argument("--notes", type=Path, default=None, help="markdown added to CARD.md (choices, caveats)")
    p.add_argument("--calibration", choices=("none", "platt"), default="none",
                   help="platt: sigmoid(a*logit + b) with a, b fitted on the validation split only")
    p.add_argument("--heatmap", action="store_true",
                   help="also export the class-activation model (<name>-<version>-heatmap.onnx) the kiosk can show")
    p.add_argument("--threshold-on", choices=("natural", "all"), default="natural",
                   help="validation photos that choose the threshold and fit Platt scaling (default: natural: "
                        "the natural-colour photos of every camera, no enhanced rendering)")
    p.add_argument("--target-sensitivity", type=float, default=MIN_SENSITIVITY,
                   help=f"sensitivity the threshold reaches on those photos (default: {MIN_SENSITIVITY})")
    p.add_argument("--tta-hflip", action="store_true",
                   help="the graph averages the logits of the image and its mirror (2 forward passes)")
    args = p.parse_args(argv)
    report = json.loads((args.run / "report.json").read_text())
    best = torch.load(args.run / "best.pt", map_location="cpu", weights_only=True)
    config = report["config"]
    targs = args_from_config(config)
    backbone = config.get("backbone", "mobilenet_v2")  # runs before --backbone existed were V2
    spec = run_spec(targs)
    net = make_net(backbone, None)
    net.load_state_dict(best["model"])
    net.eval()

    examples, counts = split_examples(targs)
    data = {n: load_split(examples[n], targs.data_dir[0], spec, targs.cache_dir) for n in ("val", "test")}
    x_val, x_test = normalised(data["val"], spec), normalised(data["test"], spec)
    lock = data["val"].natural if args.threshold_on == "natural" else np.ones_like(data["val"].natural)
    lock_text = ("the natural-colour photos of every source (no enhanced rendering)" if args.threshold_on == "natural"
                 else "every photo")
    if len(set(data["val"].labels[lock].tolist())) < 2:  # a tiny run: no threshold can be chosen there
        lock, lock_text = np.ones_like(lock), "every photo (too few natural-colour photos of both classes)"
    scale, bias = 1.0, 0.0
    if args.calibration == "platt":  # validation only; the test split never chooses anything
        with torch.no_grad():
            model = ProbabilityHead(net, hflip=args.tta_hflip).eval()
            probs = torch.cat([model(torch.from_numpy(x_val[k:k + 64])) for k in range(0, len(x_val), 64)])
            val_logits = torch.logit(probs.double(), eps=1e-12)[:, 0].numpy()  # in batches: bounded memory
        scale, bias = fit_platt(data["val"].labels[lock].astype(np.float64), val_logits[lock])
    model = ProbabilityHead(net, scale, bias, args.tta_hflip)
    sign = "-" if bias < 0 else "+"
    scoring = (("mean logit of the image and its horizontal mirror, " if args.tta_hflip else "logit, ")
               + (f"Platt-calibrated on the validation split ({lock_text}): "
                  f"sigmoid({scale:.4f} * logit {sign} {abs(bias):.4f})"
                  if args.calibration == "platt" else "plain sigmoid"))

    onnx_file = f"{args.name}-{args.version}.onnx"
    onnx_path = args.out / onnx_file
    export_onnx(model, spec.size, onnx_path)
    diff = max_difference(model, onnx_path, x_val[:64])
    if not diff <= 1e-4:
        raise RuntimeError(f"onnxruntime differs from torch by {diff:.2e} (> 1e-4); not writing a manifest")
    heatmap_file = f"{args.name}-{args.version}-heatmap.onnx" if args.heatmap else None
    heatmap_diff = None
    if heatmap_file is not None:
        heatmap_diff = export_heatmap(ActivationMap(net, scale, bias, args.tta_hflip), spec.size,
                                      args.out / heatmap_file, onnx_path, x_val[:16])
    p_val = onnx_predict(onnx_path, x_val)[:, 0].astype(np.float64)
    p_test = onnx_predict(onnx_path, x_test)[:, 0].astype(np.float64)
    op_val = choose_threshold(data["val"].labels[lock], p_val[lock], args.target_sensitivity)
    op_test = at_threshold(data["test"].labels, p_test, op_val.threshold)
    natural_test = data["test"].natural
    op_test_natural = at_threshold(data["test"].labels[natural_test], p_test[natural_test], op_val.threshold)
    auc = {n: roc_auc(data[n].labels, pr) for n, pr in (("val", p_val), ("test", p_test))}
    by_source = {"val": scores(data["val"], p_val), "test": scores(data["test"], p_test)}
    metrics = {n: source_metrics(data[n], pr, op_val.threshold) for n, pr in (("val", p_val), ("test", p_test))}

    export_cmd = "python -m training.export " + shlex.join(argv if argv is not None else sys.argv[1:])
    command = " && ".join([*ancestry(config), report["command"], export_cmd])
    chosen_on = (f"validation split, {lock_text}: {int(lock.sum())} photos; sensitivity >= "
                 f"{args.target_sensitivity}, then highest specificity")
    text = manifest_text(args.name, args.version, onnx_file, sha256_file(onnx_path), spec, op_val.threshold,
                         describe_data(counts), auc["val"], auc["test"], command, scoring, chosen_on)
    text += validation_section(data["val"].labels[lock], p_val[lock], f"validation split, {lock_text}",
                               args.target_sensitivity, op_val)
    if heatmap_file is not None:
        text += heatmap_section(heatmap_file, sha256_file(args.out / heatmap_file))
    tomllib.loads(text)  # refuse to write a manifest that does not parse
    (args.out / f"{args.name}.toml").write_text(text)
    summary = {"onnx": str(onnx_path), "bytes": onnx_path.stat().st_size, "max_abs_diff": diff,
               "scoring": scoring, "platt": {"a": scale, "b": bias},
               "heatmap": None if heatmap_file is None else {"file": heatmap_file, "mean_vs_score": heatmap_diff},
               "auc": auc, "by_source": by_source, "metrics": metrics, "val": vars_of(op_val), "test": vars_of(op_test),
               "test_natural": vars_of(op_test_natural), "threshold_on": args.threshold_on,
               "target_sensitivity": args.target_sensitivity,
               "counts": counts}
    notes = args.notes.read_text() if args.notes else ""
    write_card(args.out / "CARD.md", args.name, args.version, spec, report, summary, command, notes)
    # Everything the card is made of, so `python -m training.card` can re-render it with new notes.
    (args.run / "export.json").write_text(json.dumps(
        {"name": args.name, "version": args.version, "spec": vars(spec) | {"mean": list(spec.mean),
                                                                          "std": list(spec.std)},
         "summary": summary, "command": command}, indent=2, default=float))
    print(json.dumps(summary, indent=2))
    return summary


def ancestry(config: dict[str, Any]) -> list[str]:
    """Training commands of the runs this one started from (`--init-from`), oldest first."""
    init = config.get("init_from")
    if not init:
        return []
    parent = Path(init).parent / "report.json"
    if not parent.exists():
        return [f"# (weights of {init}: its report.json is missing, command unknown)"]
    earlier = json.loads(parent.read_text())
    return [*ancestry(earlier["config"]), earlier["command"]]


def source_metrics(data: SplitData, probs: npt.NDArray[np.float64], threshold: float,
                   replicates: int = 1000) -> dict[str, Any]:
    """AUC, sensitivity and specificity at the locked `threshold`, with 95 % stratified bootstrap
    intervals, for all images, natural colour vs enhanced, and per source."""
    out: dict[str, Any] = {}
    for name, keep in subsets(data):
        if not keep.any():
            continue
        out[name] = metrics_dict(binary_metrics(data.labels[keep], probs[keep], threshold, replicates=replicates))
    return out


def vars_of(op: Operating) -> dict[str, float]:
    return {"threshold": op.threshold, "sensitivity": op.sensitivity, "specificity": op.specificity}


if __name__ == "__main__":
    main()
