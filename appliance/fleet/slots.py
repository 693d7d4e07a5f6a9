"""The A/B slots and the one small state file that says which slot the box runs.

    <slots_root>/a/            a slot: app/ (the firmware), models/, bundle.json, bundle.sig
    <slots_root>/b/
    <state_dir>/state.json     which slot is active, whether it is committed, its boot counter, what each
                               slot holds and the last update's steps ([update] state_dir, default
                               <data_dir>/update: the service writes it, the slots stay read-only to it)
    <state_dir>/.lock          held (flock) by whoever reads-modifies-writes state.json
    <state_dir>/.update.lock   held by an update or a recovery from start to end

Switching the active slot is one write of state.json: a fsynced temp file renamed over it, then the folder
fsynced, so after a power cut the box has either the old state or the new one. A slot is listed in
`slots` only once every member of it is written and verified; the slot being installed is removed from
the list first, so a half-written slot is never booted.
"""

from __future__ import annotations

import dataclasses
import fcntl
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from appliance.config import Config
from appliance.fleet.errors import UpdateBusyError, UpdateError
from appliance.store.files import atomic_write, ensure_dir

SLOT_NAMES = ("a", "b")
STATE_NAME = "state.json"
LOCK_NAME = ".lock"
#: Held for a whole update or recovery (never by the boot launcher), so two never run at once.
UPDATE_LOCK_NAME = ".update.lock"


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


@dataclass
class SlotRecord:
    """A complete, verified slot: what it holds."""

    version: str
    model_version: str
    kind: str
    bundle_id: str
    key_id: str
    store_schema: int | None
    installed_at: str


@dataclass
class UpdateRecord:
    """The last (or the running) update: its steps in order, and how it ended ("" while it runs)."""

    version: str
    from_version: str
    kind: str
    slot: str
    step: str = "verify"
    outcome: str = ""
    reason: str = ""
    started_at: str = field(default_factory=now_iso)
    finished_at: str = ""
    pid: int = 0
    history: list[dict[str, Any]] = field(default_factory=list)

    def note(self, step: str, message: str) -> None:
        self.step = step
        self.history.append({"at": now_iso(), "step": step, "message": message, "audited": False})


@dataclass
class SlotState:
    #: The slot the box boots, or None on a box that never installed a bundle (it runs its factory firmware).
    active: str | None = None
    #: False while a new slot is on trial: it becomes True only after the health check passed.
    committed: bool = True
    #: The slot to go back to while the active one is on trial.
    previous: str | None = None
    #: Starts of the active slot while on trial; past [update] max_boot_attempts the box goes back.
    boot_count: int = 0
    #: The slot the last start booted (what runs now, unless the service has stopped since).
    booted: str | None = None
    slots: dict[str, SlotRecord] = field(default_factory=dict)
    update: UpdateRecord | None = None

    def inactive(self) -> str:
        """The slot an update installs into: the one not active (a on a fresh box)."""
        return next(name for name in SLOT_NAMES if name != self.active)

    def active_record(self) -> SlotRecord | None:
        return None if self.active is None else self.slots.get(self.active)

    def to_json(self) -> bytes:
        return (json.dumps(dataclasses.asdict(self), indent=1, sort_keys=True) + "\n").encode()

    @classmethod
    def from_json(cls, raw: bytes) -> SlotState:
        data = json.loads(raw)
        update = data.get("update")
        return cls(
            active=data.get("active"), committed=bool(data.get("committed", True)), previous=data.get("previous"),
            boot_count=int(data.get("boot_count", 0)), booted=data.get("booted"),
            slots={name: SlotRecord(**record) for name, record in data.get("slots", {}).items()},
            update=None if update is None else UpdateRecord(**update),
        )


@dataclass(frozen=True)
class Slots:
    """The slot folders under one root and their state file (in `state_dir`, by default beside them)."""

    root: Path
    state_dir: Path | None = None

    @property
    def state_folder(self) -> Path:
        return self.state_dir if self.state_dir is not None else self.root

    def slot_dir(self, name: str) -> Path:
        if name not in SLOT_NAMES:
            raise ValueError(f"no slot {name!r}")
        return self.root / name

    @property
    def state_path(self) -> Path:
        return self.state_folder / STATE_NAME

    def read(self) -> SlotState:
        """The state (a fresh one when the file is absent).

        Raises:
            UpdateError: the state file exists but cannot be read (it is only ever replaced whole).
        """
        try:
            return SlotState.from_json(self.state_path.read_bytes())
        except FileNotFoundError:
            return SlotState()
        except (OSError, ValueError, TypeError, KeyError) as exc:
            raise UpdateError(f"The slot state file {self.state_path} cannot be read ({exc}); call support.",
                              reason_code="update_state_unreadable") from exc

    def write(self, state: SlotState) -> None:
        """Replace the state file in one atomic, fsynced rename."""
        try:
            self._ensure_state_folder()
            atomic_write(self.state_path, state.to_json())
            _give_to_folder_owner(self.state_path)
        except OSError as exc:
            raise UpdateError(f"The slot state file {self.state_path} cannot be written ({exc.strerror}).",
                              reason_code="update_state_unwritable", detail=str(exc)) from exc

    @contextmanager
    def locked(self, *, wait: bool = True, name: str = LOCK_NAME) -> Iterator[None]:
        """Hold a lock between processes: the state lock (`LOCK_NAME`) while reading and writing the state,
        or the update lock (`UPDATE_LOCK_NAME`) for a whole update.

        Raises:
            UpdateBusyError: `wait` is False and another process holds it.
            UpdateError: the slot root cannot be created.
        """
        try:
            self._ensure_state_folder()
            fd = os.open(self.state_folder / name, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o640)
            _give_to_folder_owner(self.state_folder / name)
        except OSError as exc:
            raise UpdateError(f"The slot state folder {self.state_folder} cannot be used ({exc.strerror}).",
                              reason_code="update_slot_unwritable", detail=str(exc)) from exc
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
            except BlockingIOError as exc:
                raise UpdateBusyError("Another update is running on this box; try again when it has finished.",
                                      reason_code="update_in_progress") from exc
            yield
        finally:
            os.close(fd)

    def _ensure_state_folder(self) -> None:
        ensure_dir(self.state_folder)
        _give_to_folder_owner(self.state_folder)

    @contextmanager
    def changing(self) -> Iterator[SlotState]:
        """Read the state under the state lock, let the block change it, and write it back (not when the
        block raises)."""
        with self.locked():
            state = self.read()
            yield state
            self.write(state)


def _give_to_folder_owner(path: Path) -> None:
    """When root (the update) writes the state, it stays the service's: `path` is given to the owner of the
    folder it is in (for the state folder, the data folder, which systemd's StateDirectory= gives to the
    appliance user), so that the service can still read the state and count its starts there."""
    if os.geteuid() != 0:
        return
    owner = path.parent.stat()
    if owner.st_uid != 0 or owner.st_gid != 0:
        os.chown(path, owner.st_uid, owner.st_gid)


def slots_of(config: Config) -> Slots:
    """The box's slots as its config places them ([update] slots_root and state_dir)."""
    update = config.update
    return Slots(Path(update.slots_root),
                 Path(update.state_dir) if update.state_dir else config.data_path.absolute() / "update")
