"""The C allocator tuning of appliance serve: applied on glibc (this box), harmless to apply twice."""

from __future__ import annotations

import platform

import pytest

from appliance.memory import give_back_large_buffers


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="glibc's mallopt only")
def test_glibc_takes_the_tuning_and_takes_it_again() -> None:
    assert give_back_large_buffers()
    assert give_back_large_buffers()
