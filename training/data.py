"""The graded fundus images, split by patient and cached as preprocessed uint8 squares.

Labels come from the dev set's labels.csv (columns file, dr_grade, referable, quality, source, ...).
Only rows with a known `referable` are used (IDRiD has no grade). Every image is decoded with
OpenCV and passed through `appliance.inference.preprocess.fundus_square`, the very function the
appliance runs at inference, so training sees what the device will feed the model.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt
from tqdm import tqdm

from appliance.evaluation.split import patient_split  # the one split rule, shared with evaluation
from appliance.inference.preprocess import InputSpec, fundus_square

_NAME = re.compile(r"eyepacs_(nat|enh|orig)_(\d+)_(left|right)\.jpg$")



@dataclass(frozen=True)
class Example:
    """One graded image: `natural` is True for natural-colour EyePACS, False for the enhanced set."""

    file: str
    patient: str
    referable: int
    reject: bool
    natural: bool

    @property
    def split(self) -> str:
        return patient_split(self.patient)


def read_examples(data_dir: Path) -> list[Example]:
    """All rows of labels.csv with a known `referable`, in file order.

    Raises:
        ValueError: a graded file's name does not carry a patient id (the split would be unsafe).
    """
    examples = []
    with open(data_dir / "labels.csv", newline="") as f:
        for row in csv.DictReader(f):
            if row["referable"] == "":
                continue
            match = _NAME.search(row["file"])
            if match is None:
                raise ValueError(f"no patient id in graded file name {row['file']!r}")
            # The patient number alone (not the subset) keys the split, so a patient that appeared in
            # two subsets would still land in one split.
            examples.append(Example(
                file=row["file"], patient=match.group(2), referable=int(row["referable"]),
                reject=row["quality"] == "reject", natural=match.group(1) != "enh",
            ))
    return examples


def subsample(examples: list[Example], limit: int | None) -> list[Example]:
    """At most `limit` examples, deterministic, keeping the positive share (at least one of each class)."""
    if limit is None or limit >= len(examples):
        return examples
    ordered = sorted(examples, key=lambda e: hashlib.sha256(e.file.encode()).digest())
    pos = [e for e in ordered if e.referable]
    neg = [e for e in ordered if not e.referable]
    k = min(len(pos), max(1, round(limit * len(pos) / len(examples))))
    return sorted(pos[:k] + neg[: limit - k], key=lambda e: e.file)


@dataclass(frozen=True)
class SplitData:
    """One split, cached: `images` uint8 [N, S, S, 3] RGB squares, and per-image metadata arrays."""

    images: npt.NDArray[np.uint8]
    labels: npt.NDArray[np.float32]
    natural: npt.NDArray[np.bool_]
    reject: npt.NDArray[np.bool_]
    files: list[str]

    def select(self, keep: npt.NDArray[np.bool_]) -> SplitData:
        idx = np.flatnonzero(keep)
        return SplitData(self.images[idx], self.labels[idx], self.natural[idx], self.reject[idx],
                         [self.files[i] for i in idx])


def decode_square(path: Path, spec: InputSpec) -> npt.NDArray[np.uint8]:
    """Decode with OpenCV, BGR -> RGB, then the appliance's `fundus_square`. Raises OSError if unreadable."""
    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if bgr is None:
        raise OSError(f"cannot decode {path}")
    return fundus_square(np.asarray(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), np.uint8), spec)


def load_split(examples: list[Example], data_dir: Path, spec: InputSpec, cache_dir: Path) -> SplitData:
    """Preprocessed squares of `examples`, built once and then read from `cache_dir` (.npy + .json).

    The cache key hashes the file list and the spec, so a changed subset or size never reads stale data.
    """
    key = hashlib.sha256(json.dumps([spec.size, spec.local_contrast, [e.file for e in examples]]).encode())
    stem = cache_dir / f"s{spec.size}_lc{int(spec.local_contrast)}_n{len(examples)}_{key.hexdigest()[:12]}"
    npy, meta = stem.with_suffix(".npy"), stem.with_suffix(".json")
    if not (npy.exists() and meta.exists()):
        cache_dir.mkdir(parents=True, exist_ok=True)
        images = np.empty((len(examples), spec.size, spec.size, 3), np.uint8)
        for i, e in enumerate(tqdm(examples, desc=f"caching {npy.name}", unit="img", mininterval=10)):
            images[i] = decode_square(data_dir / e.file, spec)
        tmp = stem.with_suffix(".tmp.npy")
        np.save(tmp, images)
        os.replace(tmp, npy)
        meta.write_text(json.dumps([e.file for e in examples]))
    if json.loads(meta.read_text()) != [e.file for e in examples]:
        raise RuntimeError(f"cache {meta} does not match its key; delete {cache_dir}")
    return SplitData(
        images=np.load(npy),
        labels=np.array([e.referable for e in examples], np.float32),
        natural=np.array([e.natural for e in examples], bool),
        reject=np.array([e.reject for e in examples], bool),
        files=[e.file for e in examples],
    )
