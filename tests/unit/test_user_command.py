"""`appliance user …`: add, list, set-pin, disable, enable, unlock; exit codes; audit."""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path

import pytest

from appliance.auth import Accounts
from appliance.cli import main
from appliance.config import AuthConfig
from appliance.errors import SignInError
from appliance.store import ExamStore


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("APPLIANCE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("APPLIANCE_CONFIG", raising=False)
    return tmp_path / "data"


def run(args: list[str], monkeypatch: pytest.MonkeyPatch, stdin: str = "") -> int:
    monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
    return main(["user", *args])


def test_add_list_and_sign_in(data_dir: Path, monkeypatch: pytest.MonkeyPatch,
                              capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["add", "amina", "--role", "technician", "--name", "Amina K.", "--pin-stdin", "--actor", "root"],
               monkeypatch, "4821\n") == 0
    assert "Added technician amina (Amina K.)" in capsys.readouterr().out
    assert run(["list", "--json"], monkeypatch) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [(r["user_id"], r["role"], r["display_name"], r["disabled"]) for r in rows] == [
        ("amina", "technician", "Amina K.", False)]
    assert set(rows[0]) == {"user_id", "display_name", "role", "disabled", "failed_attempts", "locked_until",
                            "created_at"}  # never the PIN's hash
    with ExamStore.open(data_dir) as store:
        assert Accounts(store, AuthConfig()).sign_in("amina", "4821").user.user_id == "amina"
        entry = store.audit_entries()[0]
        assert (entry.action, entry.actor) == ("user_added", "root")


def test_pin_typed_twice(data_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    typed = iter(["9876", "9876", "1111", "2222"])
    monkeypatch.setattr("getpass.getpass", lambda prompt="": next(typed))
    assert run(["add", "boss", "--role", "admin"], monkeypatch) == 0
    assert run(["set-pin", "boss"], monkeypatch) == 2
    assert "error [pin_mismatch]" in capsys.readouterr().err
    with ExamStore.open(data_dir) as store:
        Accounts(store, AuthConfig()).sign_in("boss", "9876")


def test_disable_enable_unlock_set_pin(data_dir: Path, monkeypatch: pytest.MonkeyPatch,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    run(["add", "amina", "--role", "technician", "--pin-stdin"], monkeypatch, "4821\n")
    assert run(["disable", "Amina"], monkeypatch) == 0
    assert run(["list"], monkeypatch) == 0
    assert "disabled" in capsys.readouterr().out.splitlines()[-1]
    assert run(["enable", "amina"], monkeypatch) == 0
    with ExamStore.open(data_dir) as store:
        accounts = Accounts(store, AuthConfig(max_failed_attempts=2))
        for _ in range(2):
            with pytest.raises(SignInError):
                accounts.sign_in("amina", "0000")
    assert run(["list"], monkeypatch) == 0
    assert "locked until" in capsys.readouterr().out
    assert run(["unlock", "amina"], monkeypatch) == 0
    assert run(["set-pin", "amina", "--pin-stdin"], monkeypatch, "55555\n") == 0
    with ExamStore.open(data_dir) as store:
        Accounts(store, AuthConfig()).sign_in("amina", "55555")
        assert [e.action for e in store.audit_entries()][-4:] == ["account_locked", "account_unlocked",
                                                                  "pin_changed", "signed_in"]


@pytest.mark.parametrize(("args", "stdin", "reason"), [
    (["add", "bad id", "--role", "technician", "--pin-stdin"], "1234\n", "user_invalid"),
    (["add", "amina", "--role", "technician", "--pin-stdin"], "12\n", "pin_invalid"),
    (["disable", "nobody"], "", "user_not_found"),
    (["set-pin", "nobody", "--pin-stdin"], "1234\n", "user_not_found"),
])
def test_bad_input_exits_2(data_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
                           args: list[str], stdin: str, reason: str) -> None:
    assert run(args, monkeypatch, stdin) == 2
    assert f"error [{reason}]" in capsys.readouterr().err


def test_duplicate_user_exits_2(data_dir: Path, monkeypatch: pytest.MonkeyPatch,
                                capsys: pytest.CaptureFixture[str]) -> None:
    run(["add", "amina", "--role", "technician", "--pin-stdin"], monkeypatch, "4821\n")
    assert run(["add", "AMINA", "--role", "admin", "--pin-stdin"], monkeypatch, "4821\n") == 2
    assert "error [user_exists]" in capsys.readouterr().err


def test_unusable_store_exits_3(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                capsys: pytest.CaptureFixture[str]) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("APPLIANCE_DATA_DIR", str(blocker))
    assert run(["list"], monkeypatch) == 3
    assert "error [storage_failed]" in capsys.readouterr().err


def test_role_must_be_known(data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(SystemExit) as info:
        run(["add", "amina", "--role", "doctor"], monkeypatch)
    assert info.value.code == 2
