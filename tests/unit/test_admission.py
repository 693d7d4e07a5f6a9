"""Admission control: a bounded number of holders at once; the next waits, then is refused with BusyError."""

from __future__ import annotations

import threading
import time

import pytest

from appliance.admission import Admission, WorkSlots
from appliance.errors import BusyError


def test_slots_are_held_up_to_their_number_then_the_next_is_refused_busy() -> None:
    slots = WorkSlots(2, wait_s=0.0)
    with slots.held(), slots.held(), pytest.raises(BusyError) as caught, slots.held():
        pass
    assert caught.value.http_status == 503 and caught.value.reason_code == "appliance_busy"
    assert caught.value.message == "The appliance is busy: try again in a moment."
    assert caught.value.retry_after_s >= 1
    with slots.held(), slots.held():  # both came back
        pass


def test_a_slot_freed_while_waiting_is_taken() -> None:
    slots = WorkSlots(1, wait_s=5.0)
    taken = threading.Event()

    def hold_briefly() -> None:
        with slots.held():
            taken.set()
            time.sleep(0.1)

    holder = threading.Thread(target=hold_briefly)
    holder.start()
    taken.wait()
    with slots.held():  # waits for the holder, well within wait_s
        pass
    holder.join()


def test_a_block_that_raises_gives_its_slot_back() -> None:
    slots = WorkSlots(1, wait_s=0.0)
    with pytest.raises(RuntimeError), slots.held():
        raise RuntimeError("model failed")
    with slots.held():
        pass


def test_at_least_one_slot() -> None:
    with pytest.raises(ValueError):
        WorkSlots(0, wait_s=1.0)
    admission = Admission.bounded(2, 1, 3.0)
    assert (admission.photos.slots, admission.results.slots, admission.results.wait_s) == (2, 1, 3.0)
