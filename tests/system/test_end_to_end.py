"""The whole box, as a user runs it: real images through the CLI and through the HTTP server,
then the exam, its images and its audit rows found in the store."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import cv2
import numpy as np

from appliance.tomlfile import tomllib
from tests.system.helpers import Kiosk, box_env, free_port, request, run_cli, running_server, store_rows

REPO = Path(__file__).resolve().parents[2]
MANIFEST = tomllib.loads((REPO / "models" / "dr-reference.toml").read_text())
OUTCOMES = {"REFER", "NO_REFER", "UNGRADABLE"}


def assert_exam_stored(data_dir: Path, exam_id: str, images: list[bytes], via: str) -> None:
    [exam] = store_rows(data_dir, "SELECT * FROM exams WHERE exam_id = ?", exam_id)
    assert exam["model_sha256"] == MANIFEST["sha256"]
    rows = store_rows(data_dir, "SELECT * FROM images WHERE exam_id = ? ORDER BY position", exam_id)
    assert [r["sha256"] for r in rows] == [hashlib.sha256(b).hexdigest() for b in images]
    for row, content in zip(rows, images, strict=True):
        assert (data_dir / row["path"]).read_bytes() == content
    actions = [r["action"] for r in store_rows(data_dir, "SELECT action FROM audit WHERE exam_id = ? ORDER BY id",
                                               exam_id)]
    # The one-shot form is the exam session opened, filled and finished in one go.
    assert actions[:5] == ["exam_opened", *["photo_taken"] * len(images), "exam_created", "result_shown"][:5]
    assert actions[len(images) + 1:len(images) + 3] == ["exam_created", "result_shown"]
    [shown] = store_rows(data_dir, "SELECT detail_json FROM audit WHERE exam_id = ? AND action = 'result_shown'",
                         exam_id)
    assert json.loads(shown["detail_json"])["via"] == via
    loaded = store_rows(data_dir, "SELECT detail_json FROM audit WHERE action = 'model_loaded'")
    assert loaded and json.loads(loaded[-1]["detail_json"])["sha256"] == MANIFEST["sha256"]
    # One outbox item per destination: the PACS (dicom) and the EHR (fhir).
    assert store_rows(data_dir, "SELECT count(*) AS n FROM outbox WHERE exam_id = ?", exam_id)[0]["n"] == 2


def test_cli_screens_real_photos_and_stores_the_exam(tmp_path: Path, good_natural_pair: tuple[Path, Path]) -> None:
    right, left = good_natural_pair
    data = tmp_path / "var"
    done = run_cli(["screen", "--patient-id", "P-001", "--right", str(right), "--left", str(left), "--json"],
                   box_env(data))
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert summary["outcome"] in OUTCOMES
    assert summary["patient_id"] == "P-001"
    assert summary["model"]["sha256"] == MANIFEST["sha256"]
    assert summary["model"]["version"] == MANIFEST["version"]
    assert summary["thresholds"]["referable"] == MANIFEST["threshold"]["operating"]
    assert [i["eye"] for i in summary["images"]] == ["right", "left"]
    for image in summary["images"]:
        assert isinstance(image["quality"]["passed"], bool)
        assert image["quality"]["metrics"]
        assert (image["score"] is None) != image["quality"]["passed"]
    assert "not clinically validated" in summary["notice"]
    assert_exam_stored(data, summary["exam_id"], [right.read_bytes(), left.read_bytes()], via="cli")


def test_cli_text_output_names_outcome_model_and_thresholds(tmp_path: Path, sample_pair: tuple[Path, Path]) -> None:
    right, left = sample_pair
    done = run_cli(["screen", "--right", str(right), "--right", str(right), "--left", str(left)],
                   box_env(tmp_path / "var"))
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert any(f"Outcome: {o}" in out for o in OUTCOMES)
    assert MANIFEST["sha256"] in out and "Thresholds: referable if score >=" in out
    assert out.count("right: file:") == 2 and out.count("left: file:") == 1
    assert "not clinically validated" in out


def test_http_api_screens_uploads_and_camera_then_reads_back(tmp_path: Path,
                                                             good_natural_pair: tuple[Path, Path]) -> None:
    right, left = good_natural_pair
    data = tmp_path / "var"
    with running_server(box_env(data), free_port()) as base:
        assert request(base + "/api/exams/" + "0" * 32).status == 401  # nothing without a sign-in
        kiosk = Kiosk(base)
        page = kiosk.get("/")
        assert page.status == 200 and b"not clinically validated" in page.body

        # EyePACS stores some photos flipped, so the gate's left/right hint may doubt them: vouch for the labels.
        created = kiosk.post("/api/exams", fields={"patient_id": "P-002", "confirm_eyes": "1"},
                             files=[("right", right.name, right.read_bytes()), ("left", left.name, left.read_bytes())])
        assert created.status == 201, created.body
        exam = created.json()
        assert exam["outcome"] in OUTCOMES and exam["model"]["sha256"] == MANIFEST["sha256"]
        assert exam["operator"] == "demo-tech"  # the signed-in user, not a free-text operator

        again = kiosk.get(f"/api/exams/{exam['exam_id']}")
        assert again.status == 200
        assert again.json()["result"]["outcome"] == exam["outcome"]
        image = kiosk.get(f"/api/images/{exam['images'][0]['sha256']}")
        assert image.status == 200 and image.body == right.read_bytes()
        assert image.content_type == "image/jpeg"
        heatmap = kiosk.get(f"/api/images/{exam['images'][0]['sha256']}/heatmap")
        assert heatmap.status == 200 and heatmap.content_type == "image/png", heatmap.body[:200]
        view = cv2.imdecode(np.frombuffer(heatmap.body, np.uint8), cv2.IMREAD_COLOR)
        side = MANIFEST["input"]["size"]
        assert view is not None and view.shape == (side, side, 3)  # the model's view of the photo
        assert kiosk.get(f"/api/images/{'0' * 64}/heatmap").status == 404

        camera = kiosk.post("/api/exams", fields={"patient_id": "P-003", "use_camera": "1"})
        assert camera.status == 201, camera.body
        assert [i["source"].split(":")[1] for i in camera.json()["images"]] == ["simulated", "simulated"]

        listed = kiosk.get("/api/worklist").json()["exams"]
        assert {e["exam_id"] for e in listed} == {exam["exam_id"], camera.json()["exam_id"]}
        assert kiosk.get("/api/exams/nope").status == 404
    assert_exam_stored(data, exam["exam_id"], [right.read_bytes(), left.read_bytes()], via="api")


def test_http_bad_input_gets_4xx_json_and_stores_nothing(tmp_path: Path, sample_pair: tuple[Path, Path]) -> None:
    right, _ = sample_pair
    good = right.read_bytes()
    data = tmp_path / "var"
    cases = [
        ("corrupt", [("right", "r.jpg", b"\xff\xd8\xff\xe0garbage"), ("left", "l.jpg", good)], 422, "image_corrupt"),
        ("truncated", [("right", "r.jpg", good[: len(good) // 2]), ("left", "l.jpg", good)], 422, "image_truncated"),
        ("empty", [("right", "r.jpg", b""), ("left", "l.jpg", good)], 422, "image_empty"),
        ("pdf", [("right", "r.pdf", b"%PDF-1.4\n%\xe2\xe3\n1 0 obj\n"), ("left", "l.jpg", good)], 422,
         "image_not_an_image"),
        ("missing eye", [("right", "r.jpg", good)], 400, "left_eye_missing"),
        ("too big", [("right", "r.jpg", good + b"\0" * 300_000), ("left", "l.jpg", good)], 413, "image_too_large"),
    ]
    env = box_env(data, APPLIANCE_LIMITS_MAX_IMAGE_BYTES="200000")
    with running_server(env, free_port()) as base:
        kiosk = Kiosk(base)
        for name, files, status, code in cases:
            answer = kiosk.post("/api/exams", fields={"patient_id": "P-bad"}, files=files)
            assert answer.status == status, (name, answer.body)
            body = answer.json()
            assert body["error"] == code, name
            assert body["message"], name
        no_id = kiosk.post("/api/exams", fields={"patient_id": " "},
                           files=[("right", "r.jpg", good), ("left", "l.jpg", good)])
        assert no_id.status == 400 and no_id.json()["error"] == "patient_id_missing"
    assert store_rows(data, "SELECT count(*) AS n FROM exams")[0]["n"] == 0
    assert store_rows(data, "SELECT count(*) AS n FROM images")[0]["n"] == 0
    assert not list((data / "images").rglob("*.*")), "no image file may stay behind"
    rejected = store_rows(data, "SELECT count(*) AS n FROM audit WHERE action = 'exam_rejected'")[0]["n"]
    assert rejected == len(cases) + 1


def test_a_missing_or_tampered_heatmap_model_fails_alone_and_screening_goes_on(
        tmp_path: Path, sample_pair: tuple[Path, Path]) -> None:
    right, left = sample_pair
    models = tmp_path / "models"
    models.mkdir()
    (models / MANIFEST["file"]).write_bytes((REPO / "models" / MANIFEST["file"]).read_bytes())
    heat = MANIFEST["heatmap"]["file"]
    (models / heat).write_bytes((REPO / "models" / heat).read_bytes()[:-1] + b"\0")  # one byte changed
    text = (REPO / "models" / "dr-reference.toml").read_text()
    (models / "tampered.toml").write_text(text)
    (models / "none.toml").write_text(text[: text.index("[heatmap]")])
    photos = [("right", right.name, right.read_bytes()), ("left", left.name, left.read_bytes())]
    cases = (("tampered.toml", 503, "model_integrity"), ("none.toml", 404, "heatmap_unavailable"))
    for manifest, status, code in cases:
        env = box_env(tmp_path / manifest, APPLIANCE_MODEL_MANIFEST=str(models / manifest))
        with running_server(env, free_port()) as base:
            kiosk = Kiosk(base)
            created = kiosk.post("/api/exams", fields={"patient_id": "P-heat"}, files=photos)
            assert created.status == 201, created.body  # the screening model itself is intact
            answer = kiosk.get(f"/api/images/{created.json()['images'][0]['sha256']}/heatmap")
            assert answer.status == status and answer.json()["error"] == code, answer.body
            assert answer.json()["message"]
            assert kiosk.get(f"/api/exams/{created.json()['exam_id']}").status == 200
