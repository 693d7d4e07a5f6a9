"""A tiny conv net as ONNX, built with onnx.helper (no torch), shaped like the real one's ends.

image [N, 3, 32, 32] -> Conv 3x3 (8, bias) -> Relu -> depthwise Conv 3x3 -> Add (residual) ->
Clip(0, 6) -> GlobalAveragePool -> Flatten -> Gemm (8 -> 1) -> Sigmoid -> [N, 1].
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from model_fakes import manifest_fields, to_toml
from onnx import TensorProto, helper, numpy_helper, save

SIZE = 32
INPUT, OUTPUT = "image", "referable_probability"


def tiny_conv_onnx(path: Path, *, seed: int = 0, opset: int = 17) -> Path:
    """Write the tiny model to `path` (fixed random weights from `seed`) and return `path`."""
    rng = np.random.default_rng(seed)

    def init(name: str, shape: tuple[int, ...], scale: float = 0.3) -> object:
        return numpy_helper.from_array((rng.standard_normal(shape) * scale).astype(np.float32), name)

    inits = [
        init("w1", (8, 3, 3, 3)), init("b1", (8,), 0.1),
        init("w2", (8, 1, 3, 3)), init("b2", (8,), 0.1),
        init("fc_w", (1, 8), 1.0), init("fc_b", (1,), 0.1),
        numpy_helper.from_array(np.array(0.0, np.float32), "clip_lo"),
        numpy_helper.from_array(np.array(6.0, np.float32), "clip_hi"),
    ]
    nodes = [
        helper.make_node("Conv", [INPUT, "w1", "b1"], ["c1"], name="/features/0/Conv", pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c1"], ["r1"], name="/features/0/Relu"),
        helper.make_node("Conv", ["r1", "w2", "b2"], ["c2"], name="/features/1/Conv", pads=[1, 1, 1, 1], group=8),
        helper.make_node("Add", ["r1", "c2"], ["a2"], name="/features/1/Add"),
        helper.make_node("Clip", ["a2", "clip_lo", "clip_hi"], ["k2"], name="/features/1/Clip"),
        helper.make_node("GlobalAveragePool", ["k2"], ["pool"], name="/GlobalAveragePool"),
        helper.make_node("Flatten", ["pool"], ["flat"], name="/Flatten", axis=1),
        helper.make_node("Gemm", ["flat", "fc_w", "fc_b"], ["logit"], name="/classifier/Gemm", transB=1),
        helper.make_node("Sigmoid", ["logit"], [OUTPUT], name="/Sigmoid"),
    ]
    graph = helper.make_graph(
        nodes, "tiny-conv",
        [helper.make_tensor_value_info(INPUT, TensorProto.FLOAT, ["batch", 3, SIZE, SIZE])],
        [helper.make_tensor_value_info(OUTPUT, TensorProto.FLOAT, ["batch", 1])],
        initializer=inits,  # type: ignore[arg-type]
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 8
    save(model, str(path))
    return path


def fp32_manifest(folder: Path, *, threshold: float = 0.5, model_name: str = "dr-tiny-0.1.0.onnx",
                  seed: int = 0) -> Path:
    """Write the tiny model (weights from `seed`) and an FP32 manifest for it into `folder`; return its path."""
    import hashlib

    model = tiny_conv_onnx(folder / model_name, seed=seed)
    digest = hashlib.sha256(model.read_bytes()).hexdigest()
    fields = manifest_fields(model_name, digest, size=SIZE)
    fields["name"], fields["threshold"]["operating"] = "dr-tiny", threshold
    fields["training"] = {"data": "synthetic test photos", "split": "patient-level hash"}
    text = to_toml(fields)
    path = folder / "dr-tiny.toml"
    path.write_text(text)
    return path


def fundus_photo(rng: np.random.Generator, side: int = 160, *, natural: bool = True) -> np.ndarray:
    """A colour disc with texture on a black surround, RGB uint8 (what decode_image accepts as a photo)."""
    yy, xx = np.mgrid[:side, :side]
    disc = (yy - side / 2) ** 2 + (xx - side / 2) ** 2 < (0.45 * side) ** 2
    base = np.array([170, 80, 40] if natural else [120, 140, 90], np.float64)
    noise = rng.normal(0, 25, (side, side, 3))
    image = np.clip(base + noise, 0, 255) * disc[..., None]
    return image.astype(np.uint8)


def write_devset(folder: Path, patients: int = 60, *, seed: int = 0) -> Path:
    """A tiny dev set in the real layout: labels.csv + images/eyepacs_<nat|enh>_<id>_<eye>.jpg, both eyes.

    Patient p is natural colour when p % 3 == 0, referable when p % 4 == 0; one photo in 10 is EyeQ reject.
    """
    import cv2

    rng = np.random.default_rng(seed)
    (folder / "images").mkdir(parents=True)
    rows = ["file,dr_grade,referable,quality,source,original_name"]
    n = 0
    for p in range(1000, 1000 + patients):
        natural = p % 3 == 0
        referable = p % 4 == 0
        for eye in ("left", "right"):
            name = f"images/eyepacs_{'nat' if natural else 'enh'}_{p}_{eye}.jpg"
            rgb = fundus_photo(rng, natural=natural)
            cv2.imwrite(str(folder / name), np.ascontiguousarray(rgb[:, :, ::-1]))
            quality = "reject" if n % 10 == 9 else "good"
            source = "eyepacs:suraj038/train1" if natural else "eyepacs-enhanced256:navjotk/diabetic-dissert"
            rows.append(f"{name},{2 if referable else 0},{int(referable)},{quality},{source},x/{p}_{eye}.jpeg")
            n += 1
    (folder / "labels.csv").write_text("\n".join(rows) + "\n")
    return folder
