"""Which photos calibrate the INT8 model (TRAIN split) and which judge it (TEST split); the recorded list.

The split is the training's own (`training.data`: patient-level, sha256 of the patient id), imported
rather than copied so the two can never drift; that module does not import torch.

Calibration photos are stratified by referable (yes / no) x source (natural colour / enhanced) with
EQUAL quotas, not in proportion to the data: natural-colour photos are ~13 % of the train split but
are what the device's camera produces, and referable photos carry the lesions (bright exudates,
dark haemorrhages) that set the extremes of activation ranges. Within a stratum the order is a
seeded sha256 of the file name, so the same data and seed always give the same list.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from pathlib import Path

from appliance.evaluation.dataset import DatasetError
from calibration.errors import CalibrationError
from training.data import Example, read_examples

#: Stratum keys in the order quotas are filled: (natural colour, referable).
STRATA: tuple[tuple[bool, bool], ...] = ((True, True), (True, False), (False, True), (False, False))


def stratum_name(natural: bool, referable: bool) -> str:
    """E.g. "natural referable", "enhanced not referable"."""
    return f"{'natural' if natural else 'enhanced'} {'referable' if referable else 'not referable'}"


def load_examples(data_dir: Path | Sequence[Path]) -> list[Example]:
    """The graded photos of one or more labelled folders (labels.csv), each with its patient-level split
    and its file's path.

    Raises:
        CalibrationError: labels.csv is missing, unreadable or malformed.
    """
    try:
        return read_examples(data_dir)
    except (OSError, KeyError, ValueError, DatasetError) as exc:
        raise CalibrationError(
            f"The labelled photos at {_names(data_dir)} cannot be read ({exc}); set FUNDUS_DATA_DIR "
            "to the folder holding labels.csv.",
            detail=repr(exc),
        ) from exc


def _names(data_dir: Path | Sequence[Path]) -> str:
    return str(data_dir) if isinstance(data_dir, Path) else " + ".join(str(d) for d in data_dir)


def photo_path(example: Example, data_dir: Path | Sequence[Path]) -> Path:
    """Where an example's photo is: its own path, else relative to the (first) folder."""
    if example.path is not None:
        return example.path
    return (data_dir if isinstance(data_dir, Path) else data_dir[0]) / example.file


def eligible(examples: Iterable[Example], split: str) -> list[Example]:
    """The photos of `split` ("train", "val", "test") whose EyeQ quality is not `reject`, in input order.

    Rejected photos are left out everywhere, as in training: their grades are unreliable.
    """
    return [e for e in examples if e.split == split and not e.reject]


def _order_key(seed: int, file: str) -> bytes:
    return hashlib.sha256(f"{seed}:{file}".encode()).digest()


def quotas(available: dict[tuple[bool, bool], int], count: int) -> dict[tuple[bool, bool], int]:
    """Equal shares of `count` over the strata, capped by what each holds; the rest goes to the others.

    Pure. Shares differ by at most one where no stratum runs short; a short stratum gives all it has.

    Raises:
        ValueError: `count` < 1 or more than the strata hold together.
    """
    total = sum(available.values())
    if count < 1 or count > total:
        raise ValueError(f"need 1 <= count <= {total} (the eligible photos), got {count}")
    taken = dict.fromkeys(available, 0)
    left = count
    while left:
        open_strata = [k for k in STRATA if k in available and taken[k] < available[k]]
        share, extra = divmod(left, len(open_strata))
        for i, key in enumerate(open_strata):
            give = min(share + (1 if i < extra else 0), available[key] - taken[key])
            taken[key] += give
            left -= give
    return taken


def select_calibration(examples: Sequence[Example], count: int, seed: int = 0) -> list[Example]:
    """`count` photos from `examples` (already restricted to the train split), stratified, sorted by file.

    Raises:
        ValueError: `count` < 1 or larger than `examples`.
    """
    groups: dict[tuple[bool, bool], list[Example]] = {key: [] for key in STRATA}
    for e in examples:
        groups[(e.natural, bool(e.referable))].append(e)
    want = quotas({k: len(v) for k, v in groups.items()}, count)
    chosen = []
    for key, members in groups.items():
        chosen += sorted(members, key=lambda e: _order_key(seed, e.file))[: want[key]]
    return sorted(chosen, key=lambda e: e.file)


def strata_counts(examples: Iterable[Example]) -> dict[str, int]:
    """Photos per stratum, by name, in STRATA order (strata with none included, as 0)."""
    counts = {stratum_name(n, r): 0 for n, r in STRATA}
    for e in examples:
        counts[stratum_name(e.natural, bool(e.referable))] += 1
    return counts


def list_text(files: Sequence[str], header: Sequence[str]) -> str:
    """The recorded list: `# ` header lines, then one relative file name a line."""
    lines = [f"# {line}" if line else "#" for line in header]
    return "\n".join([*lines, *files]) + "\n"


def write_list(path: Path, files: Sequence[str], header: Sequence[str]) -> str:
    """Write the list (see list_text) and return its sha256 (hex), as recorded in the INT8 manifest."""
    data = list_text(files, header).encode()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return hashlib.sha256(data).hexdigest()


def read_list(path: Path) -> list[str]:
    """The file names of a recorded list: blank lines and `#` comments skipped.

    Raises:
        CalibrationError: the list cannot be read or names no file.
    """
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise CalibrationError(f"The calibration list {path} cannot be read ({exc.strerror}).") from exc
    files = [line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]
    if not files:
        raise CalibrationError(f"The calibration list {path} names no photo.")
    return files
