"""The watch-folder camera on real files: complete files only (written slowly, renamed when complete, several at
once), DICOM photos with their laterality and patient id, refused files set aside with their reason, and never a
file taken twice, across a restart too."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import pytest
from dicom_files import dicom_photo
from folder_writer import in_background, write_slowly, write_then_rename

from appliance.config import LimitsConfig
from appliance.devices import report_refusal
from appliance.devices.errors import CameraDisconnectedError, CameraTimeoutError
from appliance.devices.watch_folder import FolderSettings, WatchFolderCamera
from appliance.devices.watch_folder.ledger import LEDGER_NAME
from appliance.domain import Eye
from appliance.errors import CameraError, ImageDecodeError, ImageTooLargeError


def folder_camera(tmp_path: Path, **overrides: object) -> WatchFolderCamera:
    inbox = tmp_path / "inbox"
    inbox.mkdir(exist_ok=True)
    values: dict[str, object] = {"folder": inbox, "ledger": tmp_path / "data" / LEDGER_NAME,
                                 "limits": LimitsConfig(), "wait_s": 5.0, "settle_s": 0.3}
    values.update(overrides)
    return WatchFolderCamera(FolderSettings(**values))  # type: ignore[arg-type]


def reason_of(folder: Path, name: str) -> str:
    return (folder / "refused" / f"{name}.reason.txt").read_text().strip()


def test_a_photo_dropped_before_the_press_is_taken_and_moved_to_done(tmp_path: Path, fundus_jpeg: bytes) -> None:
    camera = folder_camera(tmp_path)
    (camera.folder / "IMG_0001.JPG").write_bytes(fundus_jpeg)
    capture = camera.capture(Eye.RIGHT)
    assert capture.image == fundus_jpeg and capture.eye is Eye.RIGHT and capture.labelled_eye is None
    assert capture.source.startswith("watch-folder:IMG_0001.JPG:")
    assert (camera.folder / "done" / "IMG_0001.JPG").read_bytes() == fundus_jpeg
    assert not (camera.folder / "IMG_0001.JPG").exists()
    assert camera.connected() and "1 taken" in camera.state().state
    camera.close()


def test_the_press_waits_for_a_file_written_slowly_and_takes_it_whole(tmp_path: Path, fundus_jpeg: bytes) -> None:
    camera = folder_camera(tmp_path, settle_s=0.5)
    writer = in_background(write_slowly, camera.folder / "slow.jpg", fundus_jpeg)
    started = time.monotonic()
    capture = camera.capture(Eye.LEFT)
    writer.join()
    assert capture.image == fundus_jpeg  # never a half-written file
    assert time.monotonic() - started >= 0.5
    camera.close()


def test_a_file_in_progress_is_taken_only_once_renamed(tmp_path: Path, fundus_jpeg: bytes) -> None:
    camera = folder_camera(tmp_path, wait_s=0.8)
    (camera.folder / "IMG_0002.jpg.part").write_bytes(fundus_jpeg[:1000])
    (camera.folder / ".IMG_0003.jpg").write_bytes(fundus_jpeg)
    with pytest.raises(CameraTimeoutError, match=r"No photo arrived .* within 0\.8 s"):
        camera.capture(Eye.RIGHT)
    write_then_rename(camera.folder / "IMG_0002.jpg", fundus_jpeg)
    assert camera.capture(Eye.RIGHT).image == fundus_jpeg
    camera.close()


def test_files_written_at_once_are_each_taken_once_in_arrival_order(tmp_path: Path, fundus_jpeg: bytes) -> None:
    camera = folder_camera(tmp_path)
    photos = [fundus_jpeg + bytes([i]) * 4 for i in range(4)]  # distinct contents (bytes after the JPEG's end)
    writers = [in_background(write_slowly, camera.folder / f"p{i}.jpg", photo, 4, 0.05 * (i + 1))
               for i, photo in enumerate(photos)]
    taken = [camera.capture(Eye.RIGHT).image for _ in photos]
    for writer in writers:
        writer.join()
    assert sorted(taken) == sorted(photos)
    assert sorted(p.name for p in (camera.folder / "done").iterdir()) == [f"p{i}.jpg" for i in range(4)]
    camera.close()


def test_two_presses_at_once_never_get_the_same_file(tmp_path: Path, fundus_jpeg: bytes) -> None:
    camera = folder_camera(tmp_path)
    for i in range(2):
        (camera.folder / f"q{i}.jpg").write_bytes(fundus_jpeg + bytes([i]))
    results: list[bytes] = []
    threads = [threading.Thread(target=lambda: results.append(camera.capture(Eye.RIGHT).image)) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(results)) == 2
    camera.close()


def test_a_dicom_photo_brings_its_laterality_and_patient(tmp_path: Path, fundus_jpeg: bytes) -> None:
    camera = folder_camera(tmp_path)
    (camera.folder / "OP0001.dcm").write_bytes(dicom_photo(fundus_jpeg, laterality="L", patient_id="P-77"))
    (camera.folder / "1.2.3.4").write_bytes(dicom_photo(fundus_jpeg, laterality="R", encapsulated=True))
    first, second = sorted((camera.capture(Eye.RIGHT) for _ in range(2)), key=lambda c: c.labelled_patient_id or "")
    assert second.labelled_eye is Eye.LEFT and second.labelled_patient_id == "P-77"
    assert second.image.startswith(b"\x89PNG")  # uncompressed pixels, written as a lossless PNG
    assert first.labelled_eye is Eye.RIGHT and first.labelled_patient_id is None
    assert first.image == fundus_jpeg  # the camera's own JPEG, not re-encoded
    camera.close()


def test_what_is_not_a_usable_photo_is_set_aside_with_its_reason(tmp_path: Path, fundus_jpeg: bytes) -> None:
    camera = folder_camera(tmp_path, wait_s=0.8, limits=LimitsConfig(max_image_bytes=100_000,
                                                                     max_image_megapixels=0.01))
    (camera.folder / "notes.txt").write_text("exported by CamSoft 2.1")
    with pytest.raises(CameraTimeoutError):
        camera.capture(Eye.RIGHT)  # a stray file is set aside, the wait goes on
    assert reason_of(camera.folder, "notes.txt").startswith("This file is not a photo")

    (camera.folder / "broken.dcm").write_bytes(b"\0" * 128 + b"DICM" + b"\x02\x00garbage" * 50)
    with pytest.raises(ImageDecodeError, match="DICOM file"):
        camera.capture(Eye.RIGHT)
    assert "DICOM file" in reason_of(camera.folder, "broken.dcm")

    (camera.folder / "huge.jpg").write_bytes(b"\xff\xd8\xff" + b"\0" * 200_000)
    (camera.folder / "huge.png").write_bytes(fundus_jpeg)  # a JPEG named .png is read by its bytes
    with pytest.raises(ImageTooLargeError):
        camera.capture(Eye.RIGHT)
    assert camera.capture(Eye.RIGHT).image == fundus_jpeg
    assert "too large" in reason_of(camera.folder, "huge.jpg") or "larger" in reason_of(camera.folder, "huge.jpg")

    with (camera.folder / "sparse.dcm").open("wb") as sparse:  # 2 GB claimed, never read
        sparse.truncate(2 * 1024**3)
    with pytest.raises(ImageTooLargeError, match="too large to be a photo"):
        camera.capture(Eye.RIGHT)

    (camera.folder / "tiny-dicom.dcm").write_bytes(dicom_photo(fundus_jpeg))
    with pytest.raises(ImageTooLargeError, match="megapixels"):
        camera.capture(Eye.RIGHT)
    assert "Last refused" in camera.state().state and "tiny-dicom" not in camera.state().state
    camera.close()


def test_a_photo_the_exam_refused_goes_to_refused_and_may_be_dropped_again(tmp_path: Path,
                                                                           fundus_jpeg: bytes) -> None:
    camera = folder_camera(tmp_path)
    (camera.folder / "wrong.jpg").write_bytes(fundus_jpeg)
    capture = camera.capture(Eye.RIGHT)
    report_refusal(camera, capture, "This photo's file is for another patient than this exam's.")
    assert not (camera.folder / "done" / "wrong.jpg").exists()
    assert reason_of(camera.folder, "wrong.jpg") == "This photo's file is for another patient than this exam's."
    (camera.folder / "wrong-again.jpg").write_bytes(fundus_jpeg)  # refused before: a deliberate new try
    assert camera.capture(Eye.RIGHT).image == fundus_jpeg
    camera.close()


def test_a_photo_taken_is_never_taken_again_across_a_restart(tmp_path: Path, fundus_jpeg: bytes) -> None:
    camera = folder_camera(tmp_path, wait_s=0.8)
    (camera.folder / "a.jpg").write_bytes(fundus_jpeg)
    camera.capture(Eye.RIGHT)
    camera.close()
    # The appliance stopped after the ledger line and before the move: the same file is back in the inbox.
    (camera.folder / "done" / "a.jpg").rename(camera.folder / "a.jpg")
    # And the camera exported the same photo a second time under another name.
    (camera.folder / "a-copy.jpg").write_bytes(fundus_jpeg)
    restarted = folder_camera(tmp_path, wait_s=0.8)
    with pytest.raises(CameraTimeoutError):
        restarted.capture(Eye.RIGHT)
    assert (restarted.folder / "done" / "a.jpg").exists()
    assert "already taken into an exam" in reason_of(restarted.folder, "a-copy.jpg")
    lines = [json.loads(line) for line in (tmp_path / "data" / LEDGER_NAME).read_text().splitlines()]
    assert [line["outcome"] for line in lines] == ["taken"]  # a duplicate leaves the content taken
    restarted.close()


def test_a_ledger_line_cut_short_by_a_power_cut_is_skipped(tmp_path: Path, fundus_jpeg: bytes) -> None:
    camera = folder_camera(tmp_path)
    (camera.folder / "b.jpg").write_bytes(fundus_jpeg)
    camera.capture(Eye.RIGHT)
    with (tmp_path / "data" / LEDGER_NAME).open("a") as ledger:
        ledger.write('{"sha256": "ab')
    restarted = folder_camera(tmp_path, wait_s=0.5)
    assert restarted.ledger.counts() == {"taken": 1, "refused": 0}


def test_a_photo_waiting_too_long_before_the_press_is_not_used(tmp_path: Path, fundus_jpeg: bytes) -> None:
    camera = folder_camera(tmp_path, wait_s=0.8, stale_s=0.5)
    (camera.folder / "old.jpg").write_bytes(fundus_jpeg)
    camera.arrivals.complete()  # the camera saw it arrive...
    time.sleep(1.0)  # ...and nobody pressed in time
    with pytest.raises(CameraTimeoutError):
        camera.capture(Eye.RIGHT)
    assert "may be another patient's" in reason_of(camera.folder, "old.jpg")


def test_no_folder_and_a_demo_kind_are_sentences(tmp_path: Path) -> None:
    camera = folder_camera(tmp_path, folder=tmp_path / "unmounted")
    assert not camera.connected() and "missing" in camera.state().state
    with pytest.raises(CameraDisconnectedError, match="not there: check that the share is mounted"):
        camera.capture(Eye.RIGHT)
    with pytest.raises(CameraError, match="real photos only"):
        camera.capture(Eye.RIGHT, kind="healthy")
    unset = folder_camera(tmp_path, folder=Path())
    assert "No folder is configured" in unset.state().state
