"""Read a labelled folder: `labels.csv` with the development set's columns, images beside it.

Columns: file, dr_grade, referable, quality, source, original_name. `file` is relative to the
folder; empty cells mean unknown. Any folder with these columns works (data from other sites). An
optional `patient` column (as in `../shared/data/fundus-cameras`) keys the patient-level split;
without it the patient id is read from a dev-set file name, and a row with neither has no split.
"""

from __future__ import annotations

import csv
import os
from dataclasses import dataclass
from pathlib import Path

from appliance.config import REPO_ROOT
from appliance.errors import ApplianceError
from appliance.evaluation.split import patient_of, patient_split

REQUIRED_COLUMNS = ("file", "dr_grade", "referable", "quality", "source")


def default_data_dir() -> Path:
    """The development set: FUNDUS_DATA_DIR, else `<repo>/../shared/data/fundus`."""
    env = os.environ.get("FUNDUS_DATA_DIR")
    return Path(env) if env else REPO_ROOT.parent / "shared" / "data" / "fundus"


def default_cameras_dir() -> Path:
    """Photos of other cameras: FUNDUS_CAMERAS_DIR, else `<repo>/../shared/data/fundus-cameras`."""
    env = os.environ.get("FUNDUS_CAMERAS_DIR")
    return Path(env) if env else REPO_ROOT.parent / "shared" / "data" / "fundus-cameras"


class DatasetError(ApplianceError):
    """The labelled folder cannot be read."""

    reason_code = "dataset_invalid"
    http_status = 400


@dataclass(frozen=True)
class LabelledImage:
    path: Path
    file: str
    dr_grade: int | None
    referable: bool | None
    quality: str | None  # good / usable / reject, None if unlabelled
    source: str
    patient: str | None = None

    @property
    def split(self) -> str | None:
        """"train", "val" or "test" by the patient-level rule, or None without a patient id."""
        return None if self.patient is None else patient_split(self.patient)

    @property
    def gradable_label(self) -> bool | None:
        """Graders' view: good or usable = gradable, reject = not; None when unlabelled."""
        return None if self.quality is None else self.quality != "reject"


def read_labels(folder: Path) -> list[LabelledImage]:
    """Rows of `folder/labels.csv`, in file order.

    Raises:
        DatasetError: no labels.csv, a missing column, or a malformed grade/referable value.
    """
    path = Path(folder) / "labels.csv"
    try:
        with path.open(newline="", encoding="utf-8") as f:
            reader = csv.DictReader(f)
            missing = [c for c in REQUIRED_COLUMNS if c not in (reader.fieldnames or [])]
            if missing:
                raise DatasetError(f"{path} lacks the column(s) {', '.join(missing)}.")
            return [_row(Path(folder), n, row) for n, row in enumerate(reader, start=2)]
    except OSError as exc:
        raise DatasetError(f"Cannot read {path}: {exc.strerror or exc}.") from exc


def _row(folder: Path, line: int, row: dict[str, str]) -> LabelledImage:
    def optional_int(key: str) -> int | None:
        text = (row.get(key) or "").strip()
        if not text:
            return None
        try:
            return int(float(text))
        except ValueError as exc:
            raise DatasetError(f"labels.csv line {line}: {key} must be a number, got {text!r}.") from exc

    referable = optional_int("referable")
    quality = (row.get("quality") or "").strip().lower() or None
    return LabelledImage(
        path=folder / row["file"],
        file=row["file"],
        dr_grade=optional_int("dr_grade"),
        referable=None if referable is None else referable >= 1,
        quality=quality,
        source=(row.get("source") or "").strip() or "unknown",
        patient=(row.get("patient") or "").strip() or patient_of(row["file"]),
    )
