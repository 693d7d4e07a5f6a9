"""Image files: content address, fsync of file and folder before use, dedupe, temp cleanup."""

from __future__ import annotations

import os
import sqlite3
import stat
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from store_fixtures import build_exam, files_under, jpeg, save_exam

from appliance.store import ExamStore
from appliance.store.files import extension_for, is_temp_name


def stored_file(store: ExamStore, sha256: str) -> Path:
    """Where a JPEG with this hash lives: `images/<sha[:2]>/<sha256>.jpg` under the data folder."""
    return store.data_dir / "images" / sha256[:2] / f"{sha256}.jpg"


def _photo_paths(store: ExamStore, exam_id: str) -> list[str]:
    """The paths the exam's session photos and result images point at (relative to the data folder)."""
    raw = sqlite3.connect(store.db_path)
    try:
        photos = [r[0] for r in raw.execute("SELECT path FROM session_photos WHERE exam_id = ? ORDER BY photo_id",
                                            (exam_id,))]
        images = [r[0] for r in raw.execute("SELECT path FROM images WHERE exam_id = ? ORDER BY position",
                                            (exam_id,))]
    finally:
        raw.close()
    assert photos == images
    return photos


def _record_fs_calls(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, object]]:
    """Record every os.fsync (as inode + is-folder) and os.replace (as names), in order."""
    events: list[tuple[str, object]] = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd: int) -> None:
        st = os.fstat(fd)
        events.append(("fsync", (st.st_ino, stat.S_ISDIR(st.st_mode))))
        real_fsync(fd)

    def replace(src: str | os.PathLike[str], dst: str | os.PathLike[str]) -> None:
        events.append(("replace", (Path(src).name, Path(dst).name)))
        real_replace(src, dst)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace)
    return events


def test_each_image_is_fsynced_renamed_from_a_temp_name_then_its_folder_fsynced(
    store: ExamStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    events = _record_fs_calls(monkeypatch)
    save_exam(store, build_exam("exam-1"), actor="tech-1")
    monkeypatch.undo()

    for image in store.get_exam("exam-1").images:
        path = stored_file(store, image.sha256)
        assert _photo_paths(store, "exam-1")[image.photo.photo_id - 1] == f"images/{image.sha256[:2]}/{path.name}"
        file_sync = ("fsync", (path.stat().st_ino, False))
        rename = next(e for e in events if e[0] == "replace" and e[1][1] == path.name)  # type: ignore[index]
        dir_sync = ("fsync", (path.parent.stat().st_ino, True))
        assert is_temp_name(rename[1][0])  # type: ignore[index]
        # The data reaches the disk before the name points at it, and the name before the row.
        assert events.index(file_sync) < events.index(rename) < events.index(dir_sync)


def test_identical_images_are_stored_once_and_reused(
    store: ExamStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    save_exam(store, build_exam("exam-1", seed=7), actor="tech-1")
    events = _record_fs_calls(monkeypatch)
    save_exam(store, build_exam("exam-2", seed=7, minutes=1), actor="tech-1")
    monkeypatch.undo()

    second = store.get_exam("exam-2")
    assert _photo_paths(store, "exam-1") == _photo_paths(store, "exam-2")
    assert len(files_under(store.data_dir / "images")) == 2
    assert not [e for e in events if e[0] == "replace"]  # nothing rewritten
    # ...but the reused file and its folder are fsynced again before the new rows point at them.
    for image in second.images:
        path = stored_file(store, image.sha256)
        assert ("fsync", (path.stat().st_ino, False)) in events
        assert ("fsync", (path.parent.stat().st_ino, True)) in events


def test_a_damaged_file_under_the_right_name_is_rewritten_not_reused(store: ExamStore) -> None:
    save_exam(store, build_exam("exam-1", seed=3), actor="tech-1")
    path = stored_file(store, store.get_exam("exam-1").images[0].sha256)
    path.write_bytes(b"garbage")
    save_exam(store, build_exam("exam-2", seed=3), actor="tech-1")
    assert path.read_bytes() == jpeg(6)
    assert store.image_bytes(store.get_exam("exam-2").images[0].sha256) == jpeg(6)


def test_extension_comes_from_the_magic_bytes() -> None:
    pixels = np.zeros((8, 8, 3), dtype=np.uint8)
    assert extension_for(jpeg(1)) == "jpg"
    assert extension_for(cv2.imencode(".png", pixels)[1].tobytes()) == "png"
    assert extension_for(cv2.imencode(".tiff", pixels)[1].tobytes()) == "tif"
    assert extension_for(b"%PDF-1.4 a report") == "pdf"
    assert extension_for(b"GIF89a not screened") == "bin"
    assert extension_for(b"") == "bin"


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_open_removes_temp_files_of_dead_writers_only(tmp_path: Path) -> None:
    shard = tmp_path / "images" / "ab"
    shard.mkdir(parents=True)
    dead = shard / f".tmp-{_dead_pid()}-0123456789abcdef"
    alive = shard / f".tmp-{os.getpid()}-0123456789abcdef"
    other = shard / "notes.txt"
    for path in (dead, alive, other):
        path.write_bytes(b"partial")
    assert is_temp_name(dead.name) and not is_temp_name(other.name)

    ExamStore.open(tmp_path).close()

    assert not dead.exists()
    assert alive.exists()  # its writer (this process) may be about to rename it
    assert other.exists()
