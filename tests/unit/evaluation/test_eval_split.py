"""The appliance's copy of the dev set's patient split: its rule, and that it agrees with training's."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from appliance.evaluation.dataset import read_labels
from appliance.evaluation.split import SPLITS, file_split, patient_of, patient_split


def test_patient_ids_come_from_eyepacs_file_names_only() -> None:
    assert patient_of("images/eyepacs_nat_1002_left.jpg") == "1002"
    assert patient_of("images/eyepacs_enh_77_right.jpg") == "77"
    assert patient_of("eyepacs_orig_5_left.jpg") == "5"
    assert patient_of("images/idrid_IDRiD_01.jpg") is None
    assert patient_of("images/eyepacs_nat_1002_left.png") is None
    assert file_split("images/idrid_IDRiD_01.jpg") is None


def test_both_eyes_and_both_subsets_of_a_patient_share_a_split() -> None:
    for patient in ("1", "1002", "44021"):
        names = [f"images/eyepacs_{kind}_{patient}_{eye}.jpg" for kind in ("nat", "enh", "orig")
                 for eye in ("left", "right")]
        assert {file_split(n) for n in names} == {patient_split(patient)}


def test_split_shares_are_70_15_15() -> None:
    counts = Counter(patient_split(str(p)) for p in range(20000))
    assert set(counts) == set(SPLITS)
    assert counts["train"] / 20000 == pytest.approx(0.70, abs=0.015)
    assert counts["val"] / 20000 == pytest.approx(0.15, abs=0.015)
    assert counts["test"] / 20000 == pytest.approx(0.15, abs=0.015)


def test_agrees_with_training_on_every_dev_set_file(devset: Path) -> None:
    # The one test allowed to import training: the appliance must hold back the very patients training held back.
    data = pytest.importorskip("training.data")
    examples = data.read_examples(devset)
    assert len(examples) > 7000
    disagreements = [e.file for e in examples if file_split(e.file) != e.split]
    assert disagreements == []
    # ...and the rows training skips (no grade) are the only ones without a patient id.
    rows = read_labels(devset)
    graded = {e.file for e in examples}
    assert all(patient_of(r.file) is not None for r in rows if r.file in graded)
    assert Counter(file_split(e.file) for e in examples)["test"] > 900
