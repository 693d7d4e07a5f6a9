"""Types of the engine-build test fixtures (the tiny models themselves come from tests/model_fakes.py)."""

from __future__ import annotations

import types
from collections.abc import Callable
from dataclasses import dataclass

from build_fakes import FakeDevice, Recorder

from appliance.inference.manifest import ModelManifest

WriteModel = Callable[..., ModelManifest]


@dataclass
class FakeLibs:
    dev: FakeDevice
    rec: Recorder
    trt: types.ModuleType


InstallFakes = Callable[..., FakeLibs]
