"""Patient data at rest, as the box reports and enforces it: `/healthz` and the status page say whether the data
folder is encrypted (here: this machine's disk, not encrypted or unknown), and with `require_encrypted_data` on
the appliance refuses to start (exit 3, one sentence) before writing anything into the folder."""

from __future__ import annotations

import html
from pathlib import Path

import pytest

from appliance.devices.simulated import SAMPLES_DIR
from appliance.store.at_rest import ENCRYPTED, phi_at_rest
from tests.integration.kiosk_app import TECH, running_kiosk, signed_in
from tests.system.helpers import box_env, run_cli


def test_healthz_and_the_status_page_say_whether_patient_data_is_encrypted(tmp_path: Path) -> None:
    with running_kiosk(tmp_path / "var") as kiosk:
        expected = phi_at_rest(kiosk.data_dir)
        health = kiosk.app.test_client().get("/healthz").get_json()
        assert health["phi_at_rest"] == {**expected.to_dict(), "required": False, "sentence": expected.sentence}
        assert str(kiosk.data_dir) not in str(health["phi_at_rest"])  # facts about the disk, not the path
        client, _ = signed_in(kiosk, TECH)
        page = client.get("/status").get_data(as_text=True)
        assert 'id="phi-at-rest"' in page and expected.sentence in html.unescape(page)


def test_the_box_refuses_to_start_on_an_unencrypted_folder_when_required(tmp_path: Path) -> None:
    data_dir = tmp_path / "var"
    if phi_at_rest(tmp_path).state == ENCRYPTED:
        pytest.skip("this machine's temporary folder is encrypted")
    photo = str(sorted(SAMPLES_DIR.glob("healthy_*_right.jpg"))[0])
    done = run_cli(["screen", "--right", photo, "--left", photo],
                   box_env(data_dir, APPLIANCE_REQUIRE_ENCRYPTED_DATA="true"))
    assert done.returncode == 3, done.stderr
    assert done.stderr.startswith("error [data_not_encrypted]: Patient data is")
    assert "require_encrypted_data" in done.stderr and len(done.stderr.strip().splitlines()) == 1
    assert not data_dir.exists()  # nothing was written
