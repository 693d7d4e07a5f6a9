"""Every framing made from real photos of two cameras (IDRiD, ODIR) and of EyePACS, measured per
source. Skipped where the data sets are absent (FUNDUS_CAMERAS_DIR, FUNDUS_DATA_DIR).

A photo the gate passes as its camera framed it must still pass when reframed the way another
camera would frame it: clipped on four sides with only the corners dark (the camera of issue 8:
760x570, a green date/time stamp at the top right), cropped to the inscribed rectangle or in
between, letterboxed to 16:9, with a notch, with stamps inside or outside the field. The full
figures (every photo) are in docs/QUALITY.md; here a spread sample per source keeps it quick.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

from appliance.config import LimitsConfig, QualityConfig
from appliance.imaging import decode_image
from appliance.quality import assess
from appliance.quality.field_of_view import find_field
from appliance.quality.framings import FRAMINGS

pytestmark = pytest.mark.devset

THRESHOLDS = QualityConfig()
PER_SOURCE = 24


def spread(files: list[str], count: int = PER_SOURCE) -> list[str]:
    files = sorted(files)
    return files[:: max(1, len(files) // count)][:count]


def passing(folder: Path, files: list[str]) -> list[npt.NDArray[np.uint8]]:
    """The photos the gate passes as they are (the framings are judged against those)."""
    photos = [decode_image((folder / f).read_bytes(), LimitsConfig()) for f in files]
    return [p for p in photos if assess(p, THRESHOLDS).passed]


@pytest.fixture(scope="module")
def sources(cameras_set: Path, cameras_rows: list[dict[str, str]], devset: Path,
            devset_rows: list[dict[str, str]]) -> dict[str, list[npt.NDArray[np.uint8]]]:
    out = {name: passing(cameras_set, spread([r["file"] for r in cameras_rows if r["source"].startswith(name)]))
           for name in ("idrid-grading", "odir5k-512")}
    out["eyepacs-natural-good"] = passing(devset, spread(
        [r["file"] for r in devset_rows if r["quality"] == "good" and "eyepacs_nat_" in r["file"]]))
    for name, photos in out.items():
        if len(photos) < PER_SOURCE // 2:
            pytest.skip(f"too few photos of {name} pass as they are")
    return out


@pytest.mark.parametrize("framing", sorted(FRAMINGS))
def test_every_framing_keeps_the_photos_that_pass(sources: dict[str, list[npt.NDArray[np.uint8]]],
                                                   framing: str) -> None:
    for name, photos in sources.items():
        reports = [assess(FRAMINGS[framing](p, find_field(p)), THRESHOLDS) for p in photos]
        share = float(np.mean([r.passed for r in reports]))
        # Over every photo see docs/QUALITY.md; on a sample of ~20 a borderline photo or two (dark
        # share or disc offset a hair over its threshold after the crop) may tip over.
        assert share >= 0.85, (framing, name, share, [r.reason_codes for r in reports if not r.passed])
        # A field that fades to dark towards its rim can lose the rim's slivers in the corners to
        # the surround when cropped (odir_4104_right, green-cast, as corners-only): one at most.
        assert sum(r.reason_codes == ("not_fundus",) for r in reports) <= 1, (framing, name)


def test_the_reported_camera_is_no_longer_refused(sources: dict[str, list[npt.NDArray[np.uint8]]]) -> None:
    """Issue 8: corners-only 760x570 with a green date/time stamp; 100 % refused as not_fundus before."""
    for name, photos in sources.items():
        framed = [FRAMINGS["stamp-inside"](p, find_field(p)) for p in photos]
        assert all(f.shape == (570, 760, 3) for f in framed)
        fields = [find_field(f) for f in framed]
        assert all(f.found and f.framing == "clipped" and f.radius > 380 for f in fields), name
        assert all(f.stamps is not None and f.stamps.any() for f in fields), name
        assert np.mean([assess(f, THRESHOLDS).passed for f in framed]) >= 0.85, name


def test_idrid_and_odir_photos_pass_as_their_cameras_framed_them(cameras_set: Path,
                                                                cameras_rows: list[dict[str, str]]) -> None:
    """Measured over every photo (docs/QUALITY.md): IDRiD 98.8 %, ODIR 95.8 % passed (held-out
    patients 99.0 %, 95.4 %); graders graded all. On a sample of 60, a few may tip over."""
    for name, floor in (("idrid-grading", 0.93), ("odir5k-512", 0.9)):
        files = spread([r["file"] for r in cameras_rows if r["source"].startswith(name)], 60)
        photos = [decode_image((cameras_set / f).read_bytes(), LimitsConfig()) for f in files]
        reports = [assess(p, THRESHOLDS) for p in photos]
        assert np.mean([r.passed for r in reports]) >= floor, name
        assert sum(r.reason_codes == ("not_fundus",) for r in reports) <= 0.03 * len(reports), name


@pytest.mark.slow
def test_the_default_profile_keeps_95_percent_of_every_camera_on_held_out_patients(cameras_set: Path,
                                                                                 devset: Path) -> None:
    """Issue 8's target for `default`, fitted on the tune patients of EyePACS natural, IDRiD and
    ODIR (docs/QUALITY.md: 99.0 %, 95.4 %, 95.5 % held out). Graders graded every IDRiD and ODIR
    photo; for EyePACS the gradable photos are EyeQ's good and usable. The rejects it catches are
    few (50 %, the target of 85 % is not met): the floor only guards against losing more."""
    from appliance.evaluation.dataset import read_labels
    from appliance.evaluation.quality import run_gate, select

    limits = LimitsConfig()
    for source in ("idrid-grading", "odir5k-512"):
        images = select(read_labels(cameras_set), sources=source, split="heldout")
        verdicts = run_gate(images, THRESHOLDS, limits, progress=False)
        assert len(verdicts) > 100 and np.mean([v.passed for v in verdicts]) >= 0.95, source
    natural = select(read_labels(devset), sources="eyepacs:suraj038", split="heldout")
    verdicts = run_gate([i for i in natural if i.quality], THRESHOLDS, limits, progress=False)
    gradable = [v.passed for v in verdicts if v.quality in ("good", "usable")]
    caught = [not v.passed for v in verdicts if v.quality == "reject"]
    assert len(gradable) > 50 and np.mean(gradable) >= 0.95
    assert len(caught) > 20 and np.mean(caught) >= 0.4
