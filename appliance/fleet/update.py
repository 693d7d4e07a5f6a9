"""One update, start to end, and the recovery of one that was interrupted.

    verify ─▶ install into the inactive slot ─▶ (engine) ─▶ (store migration on a copy, snapshot)
        ─▶ wait for open exams ─▶ switch (one atomic state write) ─▶ restart ─▶ health ─▶ commit
                                                                         └─ not healthy ─▶ roll back

Every step is written to the state file's update record before and after it happens, and from there to the
store's audit log. A process killed at any point leaves a state from which `recover` (run at boot by
appliance-update.service, and at the start of the next update) finishes the job: a slot on trial is checked
and committed or rolled back; an update stopped before its switch is closed as interrupted.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from appliance.config import Config
from appliance.errors import ApplianceError
from appliance.fleet import journal, migration, preflight
from appliance.fleet.bundle import SignedManifest, extract_members, read_signed_manifest
from appliance.fleet.errors import BundleRefusedError, UpdateBusyError, UpdateError
from appliance.fleet.hardware import box_platform
from appliance.fleet.install import Admission, admit, write_slot
from appliance.fleet.keys import Keyring
from appliance.fleet.runner import FAULT_VARIABLE, SlotRunner, failures, is_verdict, passed_words
from appliance.fleet.slots import UPDATE_LOCK_NAME, SlotState, UpdateRecord, now_iso, slots_of

#: Test hook (faults tests only): the update SIGKILLs itself on reaching the point named in FAULT_VARIABLE.
#: Every point the fault tests kill the update at, in the order an update (or its rollback) reaches them.
KILL_POINTS = ("verified", "installing", "installed", "exams_checked", "switched", "restarted", "health",
               "committed", "rolling_back", "rolled_back_switched")
#: Pause between two health checks of a version that is not healthy yet (still starting).
HEALTH_RETRY_S = 0.5
EXAM_POLL_S = 5.0


def checkpoint(point: str) -> None:
    if os.environ.get(FAULT_VARIABLE) == point:
        os.kill(os.getpid(), signal.SIGKILL)


@dataclass
class Updater:
    """Updates of one box, as its config describes it. `say` shows progress (one line per step)."""

    config: Config
    say: Callable[[str], None] = field(default=lambda line: None)
    actor: str = "update"

    def __post_init__(self) -> None:
        update = self.config.update
        self.slots = slots_of(self.config)
        self.runner = SlotRunner(self.slots, update.restart_command)
        self.data_dir = self.config.data_path.absolute()

    # --- the update --------------------------------------------------------------------------------
    def install(self, bundle_path: Path, *, allow_downgrade: bool = False) -> UpdateRecord:
        """Install, switch to, check and commit a bundle; roll back by itself when the check fails.

        Returns the update's record (outcome "committed", "rolled_back" or "unchanged").
        Raises:
            BundleRefusedError: refused (nothing changed; recorded). UpdateBusyError: another update runs,
            or an exam stayed open (recorded; the new slot stays installed, not active). UpdateError: the
            install failed (disk full…; recorded, the active slot untouched).
        """
        with self.slots.locked(wait=False, name=UPDATE_LOCK_NAME):
            self._recover_locked()
            signed, record = self._verify(bundle_path, allow_downgrade)
            if record.outcome == "unchanged":
                return record
            checkpoint("verified")
            self._install(bundle_path, signed, record)
            self._wait_for_exams(record)
            checkpoint("exams_checked")
            self._switch(record)
            checkpoint("switched")
            return self._try_new_slot(record)

    def check(self, bundle_path: Path, *, allow_downgrade: bool = False) -> SignedManifest:
        """Whether this box would take the bundle (signature, key, every member's hash, hardware, versions);
        nothing is installed. A refusal is recorded like an update's.

        Raises:
            BundleRefusedError. UpdateBusyError: an update is running.
        """
        with self.slots.locked(wait=False, name=UPDATE_LOCK_NAME):
            signed, record = self._verify(bundle_path, allow_downgrade, start=False)
            try:
                extract_members(bundle_path, signed, None)
            except BundleRefusedError as exc:
                self._refused(bundle_path, exc, record.from_version)
                raise
            return signed

    def _verify(self, bundle_path: Path, allow_downgrade: bool, *,
                start: bool = True) -> tuple[SignedManifest, UpdateRecord]:
        """Check the bundle and whether this box may take it; with `start`, record the update as begun."""
        settings = self.config.update
        state = self.slots.read()
        active = state.active_record()
        try:
            keyring = Keyring.load(Path(settings.keyring_dir),
                                   Path(settings.revoked_keys) if settings.revoked_keys else None)
            signed = read_signed_manifest(bundle_path, keyring)
            admission = admit(signed, active, box_platform(settings.hardware, settings.jetpack),
                              journal.store_schema(self.data_dir), allow_downgrade=allow_downgrade)
        except ApplianceError as exc:
            self._refused(bundle_path, exc, active.version if active else "")
            raise
        manifest = signed.manifest
        record = UpdateRecord(version=manifest.version, from_version=admission.from_version, kind=manifest.kind,
                              slot=state.inactive(), pid=os.getpid())
        if not start:
            return signed, record
        return signed, self._start(bundle_path, signed, record, admission)

    def _start(self, bundle_path: Path, signed: SignedManifest, record: UpdateRecord,
               admission: Admission) -> UpdateRecord:
        manifest = signed.manifest
        state = self.slots.read()
        if admission.already_installed:
            record.slot = state.active or record.slot
            record.note("verify", f"{bundle_path.name}: version {manifest.version} is installed and running already; "
                                  "nothing to do")
            record.outcome, record.finished_at = "unchanged", now_iso()
            self._save_record(record)
            return record
        record.note("verify", f"{bundle_path.name}: signed by key {signed.key_id}, for this box; {manifest.kind} "
                              f"{admission.from_version or '(none)'} → {manifest.version}")
        for note in admission.notes:
            record.note("downgrade_allowed", f"{note} (by {self.actor})")
        with self.slots.changing() as state:
            state.slots.pop(record.slot, None)  # from here the slot is being written: never boot it
            state.update = record
        self.say(f"verified {bundle_path.name}: {manifest.kind} {manifest.version}, key {signed.key_id}")
        return record

    def _install(self, bundle_path: Path, signed: SignedManifest, record: UpdateRecord) -> None:
        state = self.slots.read()
        target = self.slots.slot_dir(record.slot)
        active_dir = None if state.active is None else self.slots.slot_dir(state.active)
        self._step(record, "install", f"writing slot {record.slot}")

        def member_done(name: str, count: int) -> None:
            if count == 1:
                checkpoint("installing")
            self.say(f"  {name}")

        try:
            slot = write_slot(bundle_path, signed, target, active_dir, state.active_record(), on_member=member_done)
        except ApplianceError as exc:
            self._finish(record, "refused" if isinstance(exc, BundleRefusedError) else "failed", exc.message)
            raise
        with self.slots.changing() as state:
            state.slots[record.slot] = slot
            record.note("install", f"slot {record.slot} holds {signed.manifest.kind} {signed.manifest.version}: "
                                   f"{len(signed.manifest.members)} members, every sha256 checked")
            state.update = record
        checkpoint("installed")
        self._rebuild_engine(record)
        self._check_store_migration(record)

    def _rebuild_engine(self, record: UpdateRecord) -> None:
        if not preflight.has_tensorrt():
            self._step(record, "engine", "TensorRT is not on this box: no engine to build; onnxruntime serves "
                                         "the new model")
            return
        self._step(record, "engine", "building the TensorRT engine for the new model (appliance build-engine)")
        self._or_fail(record, lambda: self._step(record, "engine", preflight.build_engine(self.runner, record.slot)))

    def _check_store_migration(self, record: UpdateRecord) -> None:
        schema = journal.store_schema(self.data_dir)
        new = self.slots.read().slots[record.slot].store_schema
        if schema is None or new is None or new <= schema:
            return
        self._step(record, "migration_check", f"the new firmware migrates a copy of the store from schema {schema} "
                                              f"to {new}")
        self._or_fail(record, lambda: self._step(record, "migration_check", preflight.try_migration(
            self.runner, record.slot, self.data_dir, new, record.version)))

    def _or_fail(self, record: UpdateRecord, step: Callable[[], None]) -> None:
        try:
            step()
        except UpdateError as exc:
            self._finish(record, "failed", exc.message)
            raise

    def _wait_for_exams(self, record: UpdateRecord) -> None:
        deadline = time.monotonic() + self.config.update.exam_wait_s
        waited = False
        while exams := journal.open_exams(self.data_dir):
            if time.monotonic() >= deadline:
                reason = (f"{len(exams)} exam(s) stayed open for {self.config.update.exam_wait_s:.0f} s; the new "
                          f"version stays installed in slot {record.slot}, not switched: run the update again "
                          "when the clinic is quiet")
                self._finish(record, "deferred", reason)
                raise UpdateBusyError(f"Not switched: {reason}.", reason_code="update_exam_open")
            if not waited:
                self._step(record, "wait", f"{len(exams)} exam(s) open: waiting for them to end "
                                           f"(at most {self.config.update.exam_wait_s:.0f} s)")
                waited = True
            time.sleep(min(EXAM_POLL_S, max(0.05, deadline - time.monotonic())))
        if waited:
            self._step(record, "wait", "no exam open any more")

    def _switch(self, record: UpdateRecord) -> None:
        with self.slots.changing() as state:
            state.previous, state.active = state.active, record.slot
            state.committed, state.boot_count = False, 0
            record.note("switch", f"active slot {record.slot} ({record.version}), on trial; previous "
                                  f"{state.previous or '(factory firmware)'}")
            state.update = record
        self.say(f"switched to slot {record.slot}")

    def _try_new_slot(self, record: UpdateRecord) -> UpdateRecord:
        """Restart into the slot on trial, check its health, then commit it or roll back."""
        problem = self._restart(record)
        checkpoint("restarted")
        if not problem:
            problem = self._wait_healthy(record)
        if not problem:
            self._commit(record)
            return record
        self._roll_back(record, problem)
        return record

    def _restart(self, record: UpdateRecord) -> str:
        self._step(record, "restart", f"restarting the service: {self.config.update.restart_command}")
        return self.runner.restart()

    def _wait_healthy(self, record: UpdateRecord) -> str:
        """"" once the slot on trial passes its health check, else why it did not within the timeout."""
        timeout = self.config.update.health_timeout_s
        self._step(record, "health", f"checking the health of {record.version} (at most {timeout:.0f} s)")

        def sent_back() -> str:
            state = self.slots.read()
            if state.active == record.slot:
                return ""
            return (state.update.reason if state.update and state.update.reason  # the boot counter
                    else "the new version kept failing to start (crash loop)")

        ok, words = self._health_within(record.slot, timeout, stop=sent_back)
        if ok:
            self._step(record, "health", "healthy: " + words)
        return "" if ok else words

    def _health_within(self, slot: str | None, timeout: float, *,
                       stop: Callable[[], str] = lambda: "") -> tuple[bool, str]:
        """Check `slot`'s health until it passes, fails with a verdict, `stop()` says why not, or `timeout`
        runs out (a server still starting is asked again). (passed, the checks passed or why not)."""
        deadline = time.monotonic() + timeout
        problem = "no health check ran"
        while True:
            if reason := stop():
                return False, reason
            left = deadline - time.monotonic()
            if left <= 0:
                return False, f"not healthy within {timeout:.0f} s: {problem}"
            health = self.runner.health(slot, timeout=left)
            checkpoint("health")
            if health.get("ok"):
                return True, passed_words(health)
            problem = "; ".join(failures(health)) or "not healthy"
            if is_verdict(health):  # not a server still starting: waiting would change nothing
                return False, problem
            time.sleep(min(HEALTH_RETRY_S, max(0.0, deadline - time.monotonic())))

    def _commit(self, record: UpdateRecord) -> None:
        with self.slots.changing() as state:
            state.committed, state.boot_count = True, 0
            record.note("commit", f"{record.version} committed in slot {record.slot}")
            record.outcome, record.finished_at = "committed", now_iso()
            state.update = record
            journal.flush_to_audit(record, self.data_dir)
        checkpoint("committed")
        self._clean_migration_files()
        self.say(f"committed {record.version}")

    def _roll_back(self, record: UpdateRecord, reason: str) -> None:
        self.say(f"rolling back: {reason}")
        checkpoint("rolling_back")
        with self.slots.changing() as state:
            if state.update is not None and state.update.started_at == record.started_at:
                record.history = state.update.history  # with what the boot launcher noted meanwhile
            if state.active == record.slot and not state.committed:
                state.active, state.previous = state.previous, None
            state.committed, state.boot_count = True, 0
            back = state.active_record()
            record.note("rollback", f"{reason}; back to {back.version if back else 'the factory firmware'} "
                                    f"(slot {state.active or '-'})")
            record.outcome, record.reason = "rolled_back", reason
            state.update = record
        checkpoint("rolled_back_switched")
        self._finish_rollback(record)

    def _finish_rollback(self, record: UpdateRecord) -> None:
        """After the switch back: the store as the old firmware can read it, the old version restarted."""
        state = self.slots.read()
        back = state.active_record()
        snapshot = migration.snapshot_path(self.data_dir, record.version)
        schema = journal.store_schema(self.data_dir)
        newer = back is not None and back.store_schema is not None and schema is not None and schema > back.store_schema
        if newer and snapshot.is_file():
            aside = migration.restore(self.data_dir, snapshot)
            self._step(record, "rollback", f"the store is back at schema {back.store_schema if back else '?'} from "
                                           f"the snapshot taken before the update; the migrated one is kept at {aside}")
        elif newer:
            self._step(record, "rollback", f"the store is at schema {schema}, newer than the previous firmware reads, "
                                           "and no snapshot was taken: call support")
        words = self._restart(record)
        if not words:  # the version gone back to is checked too: the record says whether it is healthy
            ok, checks = self._health_within(state.active, self.config.update.health_timeout_s)
            words = "healthy" if ok else checks
        with self.slots.changing() as state:
            record.note("rolled_back", f"running {back.version if back else '(none)'} again: {words}")
            record.finished_at = now_iso()
            state.update = record
            journal.flush_to_audit(record, self.data_dir)

    def roll_back_by_hand(self, reason: str) -> UpdateRecord:
        """Go back to the other slot's version (kept from the last update), health-checked like an update.

        Raises:
            UpdateError: no other complete slot, or its firmware cannot read the store's schema.
            UpdateBusyError: an update is running.
        """
        with self.slots.locked(wait=False, name=UPDATE_LOCK_NAME):
            self._recover_locked()
            state = self.slots.read()
            other, current = state.inactive(), state.active_record()
            target = state.slots.get(other)
            if target is None or current is None:
                raise UpdateError("There is no other installed version on this box to go back to.",
                                  reason_code="update_nothing_to_roll_back")
            schema = journal.store_schema(self.data_dir)
            if target.store_schema is not None and schema is not None and target.store_schema < schema:
                raise UpdateError(
                    f"Version {target.version} reads exam store schema {target.store_schema}, but the store is at "
                    f"{schema}: going back would leave the box unable to open it. Call support.",
                    reason_code="update_store_too_new")
            record = UpdateRecord(version=target.version, from_version=current.version, kind="rollback", slot=other,
                                  pid=os.getpid())
            record.note("rollback_requested", f"{reason} (by {self.actor})")
            self._save_record(record)
            self._switch(record)
            return self._try_new_slot(record)

    # --- recovery --------------------------------------------------------------------------------------
    def recover(self) -> UpdateRecord | None:
        """Finish an update that was interrupted (see the module docstring); the last update's record.

        Raises:
            UpdateBusyError: an update is running now.
        """
        with self.slots.locked(wait=False, name=UPDATE_LOCK_NAME):
            return self._recover_locked()

    def _recover_locked(self) -> UpdateRecord | None:
        state = self.slots.read()
        record = state.update
        if not state.committed and state.active is not None:  # a slot on trial: check it now
            if record is None or record.slot != state.active or record.outcome:
                version = state.slots[state.active].version if state.active in state.slots else "?"
                record = UpdateRecord(version=version, from_version="?", kind="?", slot=state.active)
            record.note("recover", f"the update stopped during '{record.step}'; checking slot {record.slot} on trial")
            self._save_record(record)
            self._try_new_slot(record)
        elif record is not None and not record.outcome:  # stopped before its switch
            self._close_interrupted(record, state)
        elif record is not None and record.outcome == "rolled_back" and not record.finished_at:
            self._finish_rollback(record)  # stopped inside the rollback (or the boot launcher rolled back)
        elif state.active is not None and state.booted != state.active:
            self._restart(record or UpdateRecord(version="?", from_version="?", kind="?", slot=state.active))
        final = self.slots.read().update
        if final is not None:
            self._save_record(final)  # the audit log gets any step still missing there
        return final

    def _close_interrupted(self, record: UpdateRecord, state: SlotState) -> None:
        if record.slot != state.active:
            self._remove_partial_slot(record.slot)
        running = state.active_record()
        reason = (f"the update stopped during '{record.step}', before the switch; the box runs "
                  f"{running.version if running else 'its factory firmware'} as before")
        self._finish(record, "interrupted", reason)

    def _remove_partial_slot(self, slot: str) -> None:
        import shutil

        if slot not in self.slots.read().slots:
            shutil.rmtree(self.slots.slot_dir(slot), ignore_errors=True)

    # --- records ---------------------------------------------------------------------------------------
    def _step(self, record: UpdateRecord, step: str, message: str) -> None:
        record.note(step, message)
        self._save_record(record)
        self.say(message)

    def _save_record(self, record: UpdateRecord) -> None:
        with self.slots.changing() as state:
            state.update = record
            journal.flush_to_audit(record, self.data_dir)

    def _finish(self, record: UpdateRecord, outcome: str, reason: str) -> None:
        record.note(outcome, reason)
        record.outcome, record.reason, record.finished_at = outcome, reason, now_iso()
        self._save_record(record)

    def _refused(self, bundle_path: Path, exc: ApplianceError, running: str) -> None:
        record = UpdateRecord(version="?", from_version=running, kind="?", slot="-", pid=os.getpid())
        self._finish(record, "refused", f"{bundle_path.name}: {exc.message}")

    def _clean_migration_files(self) -> None:
        import shutil

        shutil.rmtree(migration.check_folder(self.data_dir), ignore_errors=True)
