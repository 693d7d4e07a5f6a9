"""`appliance calibrate`'s choice of variants and the command line it records."""

from __future__ import annotations

from pathlib import Path

import onnx
import pytest

from appliance.cli import build_parser
from appliance.commands.calibrate import record, variants
from calibration.quantize import QuantizeOptions, conv_macs, describe, float_share
from calibration.run import STEM_CONVS


def parse(*argv: str) -> object:
    return build_parser().parse_args(["calibrate", *argv])


def test_the_default_is_the_standard_comparison_with_ablations() -> None:
    got = variants(parse())
    assert len(got) == 3 * 3 + 2
    assert QuantizeOptions(method="entropy", float_depthwise=True, float_convs=STEM_CONVS) in got
    assert QuantizeOptions(method="minmax", float_head=False) in got
    assert QuantizeOptions(method="minmax", bias_correction=False) in got


def test_one_method_gets_its_three_variants_without_ablations() -> None:
    got = variants(parse("--method", "percentile"))
    assert [(o.float_depthwise, o.float_convs) for o in got] == [(False, 0), (True, 0), (True, STEM_CONVS)]
    assert {o.method for o in got} == {"percentile"}


def test_explicit_choices_make_their_product() -> None:
    got = variants(parse("--method", "minmax", "--head", "both", "--bias-correction", "off", "--float-convs", "3"))
    assert got == (QuantizeOptions(method="minmax", float_head=True, bias_correction=False, float_convs=3),
                   QuantizeOptions(method="minmax", float_head=False, bias_correction=False, float_convs=3))


def test_the_recorded_command_names_every_choice() -> None:
    args = parse("--method", "entropy", "--depthwise", "float", "--eval-limit", "50", "--data-dir", "/d")
    assert record(args) == ("appliance calibrate --method entropy --count 300 --seed 0 --depthwise float "
                            "--data-dir /d --eval-limit 50")


def test_mac_shares_of_the_tiny_model(tiny_model: Path) -> None:
    macs = conv_macs(onnx.load(str(tiny_model)))
    assert macs == {"/features/0/Conv": 8 * 3 * 9 * 32 * 32, "/features/1/Conv": 8 * 1 * 9 * 32 * 32}
    assert float_share(macs, ["/features/1/Conv", "/Sigmoid"]) == pytest.approx(0.25)
    assert float_share(macs, []) == 0.0


def test_describe_counts_many_float_nodes() -> None:
    from calibration.quantize import QdqSummary

    summary = QdqSummary(quantize_nodes=3, dequantize_nodes=3, per_channel_weights=1, opset=17)
    assert describe(summary, []).endswith("float: none")
    assert describe(summary, ["a", "b"]).endswith("float: a, b")
    assert describe(summary, ["a", "b", "c", "d"]).endswith("float: 4 nodes (a, b, ...)")
