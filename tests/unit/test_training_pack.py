"""Training on a lent GPU machine: the pack of preprocessed squares that travels there, and a run from it."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from training.data import SplitData


def _split(natural: list[bool]) -> SplitData:
    n = len(natural)
    rng = np.random.default_rng(0)
    return SplitData(images=rng.integers(0, 255, (n, 32, 32, 3), dtype=np.uint8),
                     labels=np.arange(n, dtype=np.float32) % 2, natural=np.array(natural),
                     reject=np.zeros(n, bool), files=[f"images/{i}.jpg" for i in range(n)],
                     sources=np.array(["eyepacs" if x else "eyepacs-enhanced256" for x in natural]))


def test_every_natural_training_photo_travels_and_enhanced_ones_fill_the_budget() -> None:
    from training.pack import choose

    data = _split([True, True, True, False, False, False, False, False])
    keep = choose(data, "train", budget=2_500, natural_bytes=1_000)  # room for two enhanced squares
    assert keep[:3].all() and int(keep[3:].sum()) == 2
    assert choose(data, "train", budget=-5, natural_bytes=1_000).tolist() == [True] * 3 + [False] * 5
    assert choose(data, "val", budget=0, natural_bytes=1_000).all()  # validation travels whole


def test_webp_round_trip_is_close_and_a_damaged_entry_is_refused() -> None:
    from training.pack import decode, encode

    # A smooth square (like a camera-normalised view) survives lossy WebP within a few grey levels.
    ramp = np.linspace(60, 200, 64, dtype=np.float32)
    squares = np.stack([np.stack([np.add.outer(ramp, ramp * k) / 2 for k in (0.3, 0.5, 0.7)], -1)] * 3)
    squares = squares.clip(0, 255).astype(np.uint8)
    blob, offsets = encode(squares, quality=90)
    back = decode(blob, offsets, 64)
    assert back.shape == squares.shape and len(offsets) == 4 and offsets[-1] == len(blob)
    assert float(np.abs(back.astype(int) - squares.astype(int)).mean()) < 3.0
    broken = blob.copy()
    broken[offsets[1]:offsets[1] + 40] = 0
    with pytest.raises(RuntimeError, match="packed square 1 is damaged"):
        decode(broken, offsets, 64)


def test_camera_degradation_gives_the_same_batch_in_threads() -> None:
    torch = pytest.importorskip("torch", reason="torch is not installed (pip install -e .[train])")
    from training.augment import camera_degrade

    squares = torch.from_numpy(np.random.default_rng(1).integers(0, 255, (6, 48, 48, 3), dtype=np.uint8))
    one = camera_degrade(squares, torch.Generator().manual_seed(5), p=0.7, workers=1)
    four = camera_degrade(squares, torch.Generator().manual_seed(5), p=0.7, workers=4)
    assert torch.equal(one, four) and not torch.equal(one, squares)


@pytest.mark.devset
@pytest.mark.slow
def test_a_run_from_a_pack_records_the_packs_data_and_stops_at_its_deadline(devset: Path, tmp_path: Path) -> None:
    pytest.importorskip("torch", reason="torch is not installed (pip install -e .[train])")
    from training import pack, train
    from training.data import load_split

    out = tmp_path / "p.npz"
    args = ["--data-dir", str(devset), "--cache-dir", str(tmp_path / "cache"), "--limit", "12",
            "--eval-limit", "8", "--size", "64"]
    pack.main(["--out", str(out), "--budget-mb", "1", *args])
    splits, meta = pack.read(out)
    assert set(splits) == {"train", "val"} and len(splits["val"].labels) == 8
    assert meta["config"]["data_dir"] == [str(devset)] and meta["size"] == 64
    # The packed validation squares are the cached ones, in split order, within WebP's loss.
    targs = train.parse_args(["--no-test", *args])
    examples, _ = train.split_examples(targs)
    cached = load_split(examples["val"], devset, train.run_spec(targs), tmp_path / "cache")
    assert splits["val"].files == cached.files and np.array_equal(splits["val"].labels, cached.labels)
    assert float(np.abs(splits["val"].images.astype(int) - cached.images.astype(int)).mean()) < 4.0

    report = train.main(["--name", "packed", "--pack", str(out), "--runs-dir", str(tmp_path / "runs"),
                         "--epochs", "2", "--batch", "4", "--threads", "2", "--deadline-min", "0.0001"])
    assert report["stopped_early"] == "after epoch 1 of 2: --deadline-min 0.0001" and len(report["history"]) == 1
    assert report["config"]["data_dir"] == [str(devset)] and report["config"]["size"] == 64
    assert report["counts"]["pack"] == str(out) and "test" not in report  # the test split never travels
    assert len(np.load(tmp_path / "runs" / "packed" / "val_logits_plain.npy")) == 8
    saved = json.loads((tmp_path / "runs" / "packed" / "report.json").read_text())
    assert saved["best_epoch"] == 1

    with pytest.raises(SystemExit, match="no training photo is from those sources"):
        train.main(["--name", "none", "--pack", str(out), "--runs-dir", str(tmp_path / "runs"),
                    "--epochs", "1", "--train-sources", "no-such-camera"])
