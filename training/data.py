"""The graded fundus images, split by patient and cached as preprocessed uint8 squares.

Labels come from one or more labelled folders (the dev set `../shared/data/fundus` and the other
cameras `../shared/data/fundus-cameras`), read by the appliance's own reader
(`appliance.evaluation.dataset.read_labels`, patient from the `patient` column or the EyePACS file
name). Only rows with a known `referable` are used (IDRiD segmentation photos have no grade).
Every image is decoded with OpenCV and passed through `appliance.inference.preprocess.fundus_square`,
the very function the appliance runs at inference, so training sees what the device will feed the model.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt
from tqdm import tqdm

from appliance.evaluation.dataset import read_labels
from appliance.evaluation.split import patient_split  # the one split rule, shared with evaluation
from appliance.inference.preprocess import InputSpec, fundus_square

#: Source prefix (before ":" in labels.csv's `source`) of the renderings no camera produces.
ENHANCED_SOURCE = "eyepacs-enhanced256"


@dataclass(frozen=True)
class Example:
    """One graded image: `natural` is False only for the enhanced EyePACS renderings.

    `source` is the labels.csv source's short name (before the ":"), e.g. "eyepacs", "idrid-grading".
    """

    file: str
    patient: str
    referable: int
    reject: bool
    natural: bool
    source: str = "eyepacs"
    path: Path | None = None

    @property
    def split(self) -> str:
        return patient_split(self.patient)


def read_examples(data_dirs: Path | Sequence[Path]) -> list[Example]:
    """All rows with a known `referable` of each folder's labels.csv, folder by folder in file order.

    The patient number alone (not the subset) keys the split, so a patient that appeared in two
    EyePACS subsets would still land in one split.

    Raises:
        ValueError: a graded photo has no patient id (the split would be unsafe), or a file is listed twice.
        DatasetError: a labels.csv cannot be read.
    """
    folders = [data_dirs] if isinstance(data_dirs, Path) else list(data_dirs)
    examples: list[Example] = []
    for folder in folders:
        for item in read_labels(folder):
            if item.referable is None:
                continue
            if item.patient is None:
                raise ValueError(f"no patient id for graded photo {item.file!r} in {folder}")
            source = item.source.split(":", 1)[0]
            examples.append(Example(
                file=item.file, patient=item.patient, referable=int(item.referable),
                reject=item.quality == "reject", natural=source != ENHANCED_SOURCE, source=source, path=item.path,
            ))
    if len({e.file for e in examples}) != len(examples):
        raise ValueError("a file name is listed twice across the labelled folders")
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
    sources: npt.NDArray[np.str_] | None = None

    def select(self, keep: npt.NDArray[np.bool_]) -> SplitData:
        idx = np.flatnonzero(keep)
        return SplitData(self.images[idx], self.labels[idx], self.natural[idx], self.reject[idx],
                         [self.files[i] for i in idx], None if self.sources is None else self.sources[idx])


def decode_square(path: Path, spec: InputSpec) -> npt.NDArray[np.uint8]:
    """Decode with OpenCV, BGR -> RGB, then the appliance's `fundus_square`. Raises OSError if unreadable."""
    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if bgr is None:
        raise OSError(f"cannot decode {path}")
    return fundus_square(np.asarray(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), np.uint8), spec)


def load_split(examples: list[Example], data_dir: Path, spec: InputSpec, cache_dir: Path) -> SplitData:
    """Preprocessed squares of `examples`, built once and then read from `cache_dir` (.npy + .json).

    An example's `path` locates its photo; without one it is `data_dir / file`. The cache key hashes
    the file list and the spec, so a changed subset or size never reads stale data.
    """
    keyed: list[Any] = [spec.size, spec.local_contrast, [e.file for e in examples]]
    tag = f"lc{int(spec.local_contrast)}"
    if spec.camera_normalise:  # older caches keep their names
        keyed.append("camera_normalise")
        tag = "cn"
    key = hashlib.sha256(json.dumps(keyed).encode())
    stem = cache_dir / f"s{spec.size}_{tag}_n{len(examples)}_{key.hexdigest()[:12]}"
    npy, meta = stem.with_suffix(".npy"), stem.with_suffix(".json")
    if not (npy.exists() and meta.exists()):
        cache_dir.mkdir(parents=True, exist_ok=True)
        images = np.empty((len(examples), spec.size, spec.size, 3), np.uint8)
        for i, e in enumerate(tqdm(examples, desc=f"caching {npy.name}", unit="img", mininterval=10)):
            images[i] = decode_square(e.path if e.path is not None else data_dir / e.file, spec)
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
        sources=np.array([e.source for e in examples]),
    )
