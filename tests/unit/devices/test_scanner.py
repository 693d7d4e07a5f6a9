"""The barcode scanner over a real pseudo-terminal pair: codes as patient ids checked against the pattern, noise
and non-ASCII refused with a sentence, an unplug and a replug, scans nobody asked for dropped."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from serial_sim import SimulatedScanner

from appliance.devices import scanner as scanner_module
from appliance.devices.scanner import DEFAULT_PATTERN, BarcodeScanner, compile_pattern, read_code
from appliance.errors import ConfigError


@pytest.fixture
def device(tmp_path: Path) -> SimulatedScanner:
    sim = SimulatedScanner(tmp_path / "barcode")
    yield sim
    sim.unplug()


def wait_until(condition: object, seconds: float = 5.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition() and time.monotonic() < deadline:  # type: ignore[operator]
        time.sleep(0.02)


def test_scans_become_patient_ids_and_others_are_refused(device: SimulatedScanner) -> None:
    reader = BarcodeScanner(str(device.link), pattern=r"P-[0-9]{4}")
    reader.start()
    try:
        wait_until(reader.connected)
        assert reader.connected() and reader.state().state == "Listening."
        device.scan("P-1234")
        device.send(b"\r\n\x00\xff\xfe\r\n")
        device.send(b"P-56")  # a code in two pieces
        time.sleep(0.1)
        device.send(b"78\r")
        device.send(b"\n")
        device.scan("NOT AN ID")
        assert reader.next_scan(2).as_dict() == {"patient_id": "P-1234", "refused": ""}  # type: ignore[union-attr]
        noise = reader.next_scan(2)
        assert noise is not None and noise.patient_id is None and "not a barcode" in noise.refused
        assert reader.next_scan(2).patient_id == "P-5678"  # type: ignore[union-attr]
        refused = reader.next_scan(2)
        assert refused is not None and refused.patient_id is None
        assert "not a patient id of this clinic" in refused.refused
        assert reader.next_scan(0.2) is None
    finally:
        reader.close()


def test_the_scanner_is_opened_again_after_an_unplug(device: SimulatedScanner,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(scanner_module, "REOPEN_S", 0.1)
    reader = BarcodeScanner(str(device.link))
    reader.start()
    try:
        wait_until(reader.connected)
        device.unplug()
        wait_until(lambda: "was disconnected" in reader.state().state)  # the reader saw its port fail
        assert not reader.connected() and "cannot be used" in reader.state().state
        device.replug()
        wait_until(reader.connected)
        device.scan("AB-12.3")
        assert reader.next_scan(3).patient_id == "AB-12.3"  # type: ignore[union-attr]
    finally:
        reader.close()


def test_a_scan_nobody_took_in_time_is_dropped(device: SimulatedScanner, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(scanner_module, "SCAN_TTL_S", 0.2)
    reader = BarcodeScanner(str(device.link))
    reader.start()
    try:
        wait_until(reader.connected)
        device.scan("OLD-1")
        time.sleep(0.5)
        assert reader.next_scan(0.1) is None
    finally:
        reader.close()


def test_the_pattern_and_the_codes() -> None:
    pattern = compile_pattern(DEFAULT_PATTERN)
    assert read_code(b"  MRN-00012  ", pattern).patient_id == "MRN-00012"  # type: ignore[union-attr]
    assert read_code(b"", pattern) is None
    assert read_code(b"x" * 65, pattern).refused  # type: ignore[union-attr]
    assert read_code(b"-leading-dash", pattern).refused  # type: ignore[union-attr]
    with pytest.raises(ConfigError, match="not a regular expression"):
        compile_pattern("([")
    unset = BarcodeScanner("")
    assert not unset.configured and not unset.connected() and "keyboard-wedge" in unset.state().state
    unset.start()  # nothing to read
    assert unset.next_scan(0.01) is None
