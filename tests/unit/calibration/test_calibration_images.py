"""The calibration set: train split only, rejects out, stratified with equal quotas, deterministic; the list."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from appliance.evaluation.split import patient_split
from calibration.errors import CalibrationError
from calibration.images import (
    eligible,
    load_examples,
    quotas,
    read_list,
    select_calibration,
    strata_counts,
    write_list,
)
from training.data import Example


def example(i: int, *, natural: bool, referable: bool, reject: bool = False) -> Example:
    kind = "nat" if natural else "enh"
    return Example(file=f"images/eyepacs_{kind}_{i}_left.jpg", patient=str(i), referable=int(referable),
                   reject=reject, natural=natural)


def pool(nat_ref: int, nat_no: int, enh_ref: int, enh_no: int) -> list[Example]:
    out, i = [], 0
    for count, natural, referable in ((nat_ref, True, True), (nat_no, True, False),
                                      (enh_ref, False, True), (enh_no, False, False)):
        for _ in range(count):
            out.append(example(i, natural=natural, referable=referable))
            i += 1
    return out


def test_quotas_are_equal_when_every_stratum_has_enough() -> None:
    got = quotas({(True, True): 100, (True, False): 100, (False, True): 100, (False, False): 100}, 301)
    assert sorted(got.values()) == [75, 75, 75, 76]
    assert sum(got.values()) == 301


def test_a_short_stratum_gives_all_it_has_and_the_rest_is_shared() -> None:
    got = quotas({(True, True): 10, (True, False): 500, (False, True): 500, (False, False): 500}, 300)
    assert got[(True, True)] == 10
    assert sum(got.values()) == 300
    assert max(got.values()) - min(v for k, v in got.items() if k != (True, True)) <= 1


@pytest.mark.parametrize("count", [0, 41])
def test_quotas_refuse_an_impossible_count(count: int) -> None:
    with pytest.raises(ValueError, match="count"):
        quotas({(True, True): 10, (True, False): 10, (False, True): 10, (False, False): 10}, count)


def test_selection_is_stratified_sorted_and_deterministic() -> None:
    examples = pool(30, 200, 80, 900)
    chosen = select_calibration(examples, 100, seed=0)
    assert strata_counts(chosen) == {"natural referable": 25, "natural not referable": 25,
                                     "enhanced referable": 25, "enhanced not referable": 25}
    assert [e.file for e in chosen] == sorted(e.file for e in chosen)
    assert len({e.file for e in chosen}) == 100
    assert select_calibration(list(reversed(examples)), 100, seed=0) == chosen  # input order does not matter
    assert select_calibration(examples, 100, seed=1) != chosen  # the seed does


def test_eligible_keeps_one_split_and_drops_rejects() -> None:
    examples = [example(i, natural=i % 2 == 0, referable=False, reject=i % 5 == 0) for i in range(200)]
    train = eligible(examples, "train")
    assert train and all(patient_split(e.patient) == "train" and not e.reject for e in train)
    assert len(train) == sum(1 for e in examples if e.split == "train" and not e.reject)


def test_the_list_round_trips_and_its_sha256_is_of_the_bytes(tmp_path: Path) -> None:
    path = tmp_path / "list.txt"
    files = ["images/a.jpg", "images/b.jpg"]
    digest = write_list(path, files, ["INT8 calibration photos", "", "seed 0"])
    assert digest == hashlib.sha256(path.read_bytes()).hexdigest()
    assert path.read_text().startswith("# INT8 calibration photos\n#\n# seed 0\n")
    assert read_list(path) == files


def test_an_empty_or_missing_list_is_a_calibration_error(tmp_path: Path) -> None:
    (tmp_path / "empty.txt").write_text("# only a comment\n\n")
    with pytest.raises(CalibrationError, match="names no photo"):
        read_list(tmp_path / "empty.txt")
    with pytest.raises(CalibrationError, match="cannot be read"):
        read_list(tmp_path / "missing.txt")


def test_a_missing_devset_is_a_calibration_error(tmp_path: Path) -> None:
    with pytest.raises(CalibrationError, match="FUNDUS_DATA_DIR"):
        load_examples(tmp_path)


def test_the_real_train_split_can_give_300_stratified_photos(devset: Path) -> None:
    train = eligible(load_examples(devset), "train")
    chosen = select_calibration(train, 300, seed=0)
    counts = strata_counts(chosen)
    assert len(chosen) == 300 and min(counts.values()) >= 50, counts
    assert all(e.split == "train" and not e.reject for e in chosen)
