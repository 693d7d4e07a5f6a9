"""Model manifests: which file is the model, its sha256, its input contract and its locked threshold.

A manifest is a small TOML file beside the model (models/dr-reference.toml). A model is loaded only
when its bytes hash to the manifest's sha256, so a corrupt or swapped file never produces a score.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from appliance.checksum import sha256_file
from appliance.domain import ModelInfo
from appliance.errors import ManifestError, ModelIntegrityError
from appliance.inference.preprocess import InputSpec
from appliance.tomlfile import read_toml

#: Model formats a runner can load from a manifest (TensorRT engines are derived, never listed).
FORMATS = ("onnx",)
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_SECTION_KEYS = {
    "input": {"name", "size", "layout", "colour", "mean", "std", "local_contrast", "camera_normalise"},
    "output": {"name", "meaning"},
    "threshold": {"operating", "chosen_on"},
}
#: The optional class-activation (heatmap) model beside the scoring model: its file, hash and output.
_HEATMAP_KEYS = {"file", "sha256", "output", "meaning"}
#: The optional score distribution on the photos the threshold was locked on (site validation compares with it).
_VALIDATION_KEYS = {"data", "quantile_levels", "not_referable_quantiles", "referable_quantiles", "n_referable",
                    "n_not_referable", "target_sensitivity", "sensitivity", "specificity"}
_TOP_KEYS = {"name", "version", "file", "sha256", "format", *_SECTION_KEYS, "training", "heatmap", "validation"}


@dataclass(frozen=True)
class HeatmapFile:
    """The explanation model of a scoring model: same input contract, output [N, 1, h, w] in logit units
    whose spatial mean is the scoring model's logit. Verified against `sha256` when first loaded."""

    path: Path
    sha256: str
    output_name: str
    meaning: str = ""


@dataclass(frozen=True)
class ValidationScores:
    """How the model scored the photos its threshold was locked on (pooled natural-colour validation).

    `*_quantiles` are the scores at `quantile_levels` (0..1, increasing) of the non-referable and
    referable photos; `target_sensitivity` is what the threshold was chosen to reach there, and
    `sensitivity` / `specificity` what it reached. A site's scores are compared with these.
    """

    data: str
    quantile_levels: tuple[float, ...]
    not_referable_quantiles: tuple[float, ...]
    referable_quantiles: tuple[float, ...]
    n_referable: int
    n_not_referable: int
    target_sensitivity: float
    sensitivity: float
    specificity: float


@dataclass(frozen=True)
class ModelManifest:
    """A locked model: its file, hash, input contract, output meaning and operating threshold.

    `threshold` is the referable-DR probability (0..1) at or above which an image counts as
    referable; `training` is free-form provenance (data, metrics) kept for the model card.
    """

    name: str
    version: str
    model_path: Path
    sha256: str
    format: str
    input_name: str
    input: InputSpec
    output_name: str
    output_meaning: str
    threshold: float
    training: dict[str, Any] = field(default_factory=dict)
    #: Where the threshold came from (e.g. "sensitivity 0.87 on the validation split").
    threshold_chosen_on: str = ""
    #: The optional class-activation model the kiosk shows on request; None when the model ships none.
    heatmap: HeatmapFile | None = None
    #: The score distribution on the threshold's validation photos; None for older manifests.
    validation: ValidationScores | None = None

    def info(self, runner_name: str) -> ModelInfo:
        """The provenance every result records: name, version, sha256 and the runner that scored."""
        return ModelInfo(name=self.name, version=self.version, sha256=self.sha256, runner=runner_name)


def check_integrity(manifest: ModelManifest, actual_sha256: str) -> None:
    """Raise ModelIntegrityError unless `actual_sha256` is the manifest's hash."""
    if actual_sha256.lower() != manifest.sha256:
        raise ModelIntegrityError(
            f"Model file {manifest.model_path} does not match its manifest (sha256 {actual_sha256}, "
            f"expected {manifest.sha256}): it may be corrupt or tampered with; reinstall the model.",
            detail=f"manifest={manifest.name} {manifest.version}",
        )


def load_manifest(path: Path, *, verify: bool = True) -> ModelManifest:
    """Read and validate a model manifest; with `verify`, hash the model file against it.

    Args:
        path: the manifest TOML; its `file` is taken relative to the manifest's folder.
        verify: hash the model file now (False only where the caller hashes the bytes it loads).

    Raises:
        ManifestError: the manifest is missing, unreadable, has a missing, unknown or ill-typed
            key, or the model file it names does not exist.
        ModelIntegrityError: the model file's sha256 differs from the manifest's.
    """
    path = Path(path)
    data = _read_toml(path)
    where = str(path)
    _reject_unknown(data, _TOP_KEYS, where, "")
    for section, keys in _SECTION_KEYS.items():
        _reject_unknown(_section(data, section, where), keys, where, section)
    inp = _section(data, "input", where)
    out = _section(data, "output", where)
    thr = _section(data, "threshold", where)

    sha256 = _str(data, "sha256", where).lower()
    if not _SHA256.match(sha256):
        raise ManifestError(f"Model manifest {where}: 'sha256' must be 64 hexadecimal characters.")
    fmt = _str(data, "format", where)
    if fmt not in FORMATS:
        raise ManifestError(f"Model manifest {where}: 'format' must be one of {FORMATS}, not {fmt!r}.")
    if _str(inp, "layout", where, "input") != "NCHW":
        raise ManifestError(f"Model manifest {where}: [input] 'layout' must be \"NCHW\".")
    if _str(inp, "colour", where, "input") != "RGB":
        raise ManifestError(f"Model manifest {where}: [input] 'colour' must be \"RGB\".")
    size = _get(inp, "size", int, where, "input")
    if size < 8:
        raise ManifestError(f"Model manifest {where}: [input] 'size' must be at least 8 pixels.")
    std = _triple(inp, "std", where)
    if min(std) <= 0:
        raise ManifestError(f"Model manifest {where}: [input] 'std' values must be positive.")
    threshold = _number(thr, "operating", where, "threshold")
    if not 0.0 <= threshold <= 1.0:
        raise ManifestError(f"Model manifest {where}: [threshold] 'operating' must be in [0, 1].")

    model_path = path.parent / _str(data, "file", where)
    if not model_path.is_file():
        raise ManifestError(
            f"Model file {model_path} named by manifest {where} is missing; reinstall the model.",
        )
    manifest = ModelManifest(
        name=_str(data, "name", where),
        version=_str(data, "version", where),
        model_path=model_path,
        sha256=sha256,
        format=fmt,
        input_name=_str(inp, "name", where, "input"),
        input=InputSpec(
            size=size,
            mean=_triple(inp, "mean", where),
            std=std,
            local_contrast=_get(inp, "local_contrast", bool, where, "input"),
            camera_normalise=(_get(inp, "camera_normalise", bool, where, "input")
                              if "camera_normalise" in inp else False),
        ),
        output_name=_str(out, "name", where, "output"),
        output_meaning=_str(out, "meaning", where, "output"),
        threshold=threshold,
        training=dict(_section(data, "training", where, required=False)),
        threshold_chosen_on=_str(thr, "chosen_on", where, "threshold") if "chosen_on" in thr else "",
        heatmap=_heatmap(data, path, where),
        validation=_validation(data, where),
    )
    if verify:
        try:
            actual = sha256_file(model_path)
        except OSError as exc:
            raise ManifestError(f"Model file {model_path} cannot be read: {exc.strerror}.") from exc
        check_integrity(manifest, actual)
    return manifest


def _heatmap(data: Mapping[str, Any], path: Path, where: str) -> HeatmapFile | None:
    """The [heatmap] section, if any (its file is hashed when the heatmap model is first loaded)."""
    if "heatmap" not in data:
        return None
    table = _section(data, "heatmap", where)
    _reject_unknown(table, _HEATMAP_KEYS, where, "heatmap")
    digest = _str(table, "sha256", where, "heatmap").lower()
    if not _SHA256.match(digest):
        raise ManifestError(f"Model manifest {where}: [heatmap] 'sha256' must be 64 hexadecimal characters.")
    meaning = _str(table, "meaning", where, "heatmap") if "meaning" in table else ""
    return HeatmapFile(path.parent / _str(table, "file", where, "heatmap"), digest,
                       _str(table, "output", where, "heatmap"), meaning)


def _validation(data: Mapping[str, Any], where: str) -> ValidationScores | None:
    """The [validation] section, if any: quantile lists of equal length, levels increasing in [0, 1]."""
    if "validation" not in data:
        return None
    table = _section(data, "validation", where)
    _reject_unknown(table, _VALIDATION_KEYS, where, "validation")

    def numbers(key: str) -> tuple[float, ...]:
        value = _get(table, key, list, where, "validation")
        if not value or any(isinstance(v, bool) or not isinstance(v, (int, float)) for v in value):
            raise ManifestError(f"Model manifest {where}: [validation] '{key}' must be a list of numbers.")
        return tuple(float(v) for v in value)

    levels = numbers("quantile_levels")
    not_ref, ref = numbers("not_referable_quantiles"), numbers("referable_quantiles")
    if (len(not_ref) != len(levels) or len(ref) != len(levels) or list(levels) != sorted(levels)
            or not 0.0 <= levels[0] <= levels[-1] <= 1.0):
        raise ManifestError(f"Model manifest {where}: [validation] quantile lists must match 'quantile_levels' "
                            "(increasing, within [0, 1]).")
    rates = {k: _number(table, k, where, "validation") for k in ("target_sensitivity", "sensitivity", "specificity")}
    if any(not 0.0 <= v <= 1.0 for v in rates.values()):
        raise ManifestError(f"Model manifest {where}: [validation] sensitivities and specificity must be in [0, 1].")
    return ValidationScores(
        data=_str(table, "data", where, "validation"), quantile_levels=levels, not_referable_quantiles=not_ref,
        referable_quantiles=ref, n_referable=_get(table, "n_referable", int, where, "validation"),
        n_not_referable=_get(table, "n_not_referable", int, where, "validation"), **rates,
    )


def _read_toml(path: Path) -> dict[str, Any]:
    return read_toml(path, ManifestError, f"Model manifest {path} is missing; reinstall the model.",
                     f"Model manifest {path} cannot be read")


def _key_name(section: str, key: str) -> str:
    return f"[{section}] '{key}'" if section else f"'{key}'"


def _reject_unknown(table: Mapping[str, Any], allowed: set[str], where: str, section: str) -> None:
    # A typo ("treshold") must not silently fall back to nothing.
    unknown = sorted(set(table) - allowed)
    if unknown:
        raise ManifestError(f"Model manifest {where}: unknown key {_key_name(section, unknown[0])}.")


def _section(data: Mapping[str, Any], name: str, where: str, *, required: bool = True) -> Mapping[str, Any]:
    if name not in data:
        if required:
            raise ManifestError(f"Model manifest {where} lacks the [{name}] section.")
        return {}
    value = data[name]
    if not isinstance(value, Mapping):
        raise ManifestError(f"Model manifest {where}: '{name}' must be a [{name}] section.")
    return value


def _get(table: Mapping[str, Any], key: str, kind: type, where: str, section: str = "") -> Any:
    if key not in table:
        raise ManifestError(f"Model manifest {where} lacks the key {_key_name(section, key)}.")
    value = table[key]
    # bool is an int in Python; `size = true` must not pass as 1.
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise ManifestError(
            f"Model manifest {where}: {_key_name(section, key)} must be {kind.__name__}, not {value!r}."
        )
    return value


def _str(table: Mapping[str, Any], key: str, where: str, section: str = "") -> str:
    value: str = _get(table, key, str, where, section)
    if not value.strip():
        raise ManifestError(f"Model manifest {where}: {_key_name(section, key)} must not be empty.")
    return value


def _number(table: Mapping[str, Any], key: str, where: str, section: str) -> float:
    if key not in table:
        raise ManifestError(f"Model manifest {where} lacks the key {_key_name(section, key)}.")
    value = table[key]
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ManifestError(
            f"Model manifest {where}: {_key_name(section, key)} must be a number, not {value!r}."
        )
    return float(value)


def _triple(table: Mapping[str, Any], key: str, where: str) -> tuple[float, float, float]:
    value = _get(table, key, list, where, "input")
    if len(value) != 3 or any(isinstance(v, bool) or not isinstance(v, (int, float)) for v in value):
        raise ManifestError(f"Model manifest {where}: [input] '{key}' must be three numbers (R, G, B).")
    return float(value[0]), float(value[1]), float(value[2])
