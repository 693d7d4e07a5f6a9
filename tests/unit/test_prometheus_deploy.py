"""deploy/prometheus/ as Debian's promtool reads it: the example scrape config and its rule file are valid,
and every alert fires (and stays silent) on the example series of alerts_test.yml as that file expects."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

DEPLOY = Path(__file__).resolve().parents[2] / "deploy" / "prometheus"
pytestmark = pytest.mark.skipif(shutil.which("promtool") is None,
                                reason="promtool is not installed (Debian package prometheus: `make .system-deps`)")


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["promtool", *args], capture_output=True, text=True, timeout=120, cwd=DEPLOY)


def test_the_scrape_config_is_valid() -> None:
    result = promtool("check", "config", "prometheus.yml")
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_alert_rules_are_valid() -> None:
    result = promtool("check", "rules", "alerts.yml")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS: 11 rules found" in result.stdout, result.stdout


def test_the_alerts_fire_on_the_example_series() -> None:
    result = promtool("test", "rules", "alerts_test.yml")
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_alert_has_an_example() -> None:
    rules = {line.split(":", 1)[1].strip() for line in (DEPLOY / "alerts.yml").read_text().splitlines()
             if line.strip().startswith("- alert:")}
    tested = {line.split(":", 1)[1].strip() for line in (DEPLOY / "alerts_test.yml").read_text().splitlines()
              if line.strip().startswith("alertname:")}
    assert rules == tested
