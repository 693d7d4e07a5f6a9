"""MobileNetV3-Small in plain PyTorch, with torchvision's parameter names so ImageNet weights load strictly.

Weights: /work/shared/models/pretrained/mobilenet_v3_small_imagenet1k_tvlayout.pth (dequantised from
Google's uint8 TFLite release; BN eps 0.001; input scaled to [-1, 1]). Symmetric (k-1)//2 padding is
used rather than TF "SAME": the README measured it as fine for fine-tuning, and it exports plainly.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

_EPS = 0.001  # torchvision's MobileNetV3 BN eps, which the weights were rebuilt for

# (in, kernel, expanded, out, squeeze-excite, hardswish, stride), torchvision's mobilenet_v3_small.
_BLOCKS = ((16, 3, 16, 16, True, False, 2), (16, 3, 72, 24, False, False, 2),
           (24, 3, 88, 24, False, False, 1), (24, 5, 96, 40, True, True, 2),
           (40, 5, 240, 40, True, True, 1), (40, 5, 240, 40, True, True, 1),
           (40, 5, 120, 48, True, True, 1), (48, 5, 144, 48, True, True, 1),
           (48, 5, 288, 96, True, True, 2), (96, 5, 576, 96, True, True, 1),
           (96, 5, 576, 96, True, True, 1))


def _divisible(v: float, divisor: int = 8) -> int:
    """torchvision's _make_divisible: SE squeeze widths (e.g. 16 // 4 -> 8)."""
    new = max(divisor, int(v + divisor / 2) // divisor * divisor)
    return new + divisor if new < 0.9 * v else new


def _cna(cin: int, cout: int, kernel: int, stride: int, groups: int, act: nn.Module | None) -> nn.Sequential:
    """Conv (no bias) + BN (eps 0.001) [+ activation], keyed `.0` / `.1` like Conv2dNormActivation."""
    layers: list[nn.Module] = [nn.Conv2d(cin, cout, kernel, stride, (kernel - 1) // 2, groups=groups, bias=False),
                               nn.BatchNorm2d(cout, eps=_EPS)]
    return nn.Sequential(*layers, *([act] if act is not None else []))


class SqueezeExcitation(nn.Module):
    """avgpool -> fc1 (1x1) -> ReLU -> fc2 (1x1) -> Hardsigmoid, times the input."""

    def __init__(self, channels: int, squeeze: int) -> None:
        super().__init__()
        self.fc1 = nn.Conv2d(channels, squeeze, 1)
        self.fc2 = nn.Conv2d(squeeze, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = nn.functional.adaptive_avg_pool2d(x, 1)
        s = nn.functional.hardsigmoid(self.fc2(nn.functional.relu(self.fc1(s))))
        return x * s


class InvertedResidualV3(nn.Module):
    """[expand 1x1] -> depthwise kxk -> [SE] -> project 1x1 (linear); residual when shapes allow."""

    def __init__(self, cin: int, kernel: int, hidden: int, cout: int, se: bool, hs: bool, stride: int) -> None:
        super().__init__()
        def act() -> nn.Module:
            return nn.Hardswish() if hs else nn.ReLU()
        layers: list[nn.Module] = [] if hidden == cin else [_cna(cin, hidden, 1, 1, 1, act())]
        layers.append(_cna(hidden, hidden, kernel, stride, hidden, act()))
        if se:
            layers.append(SqueezeExcitation(hidden, _divisible(hidden // 4)))
        layers.append(_cna(hidden, cout, 1, 1, 1, None))
        self.block = nn.Sequential(*layers)
        self.residual = stride == 1 and cin == cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y: torch.Tensor = self.block(x)
        return x + y if self.residual else y


class MobileNetV3Small(nn.Module):
    """MobileNetV3-Small 1.0 (torchvision layout); `classes` outputs from `classifier.3`."""

    def __init__(self, classes: int = 1000, dropout: float = 0.2) -> None:
        super().__init__()
        blocks: list[nn.Module] = [_cna(3, 16, 3, 2, 1, nn.Hardswish())]
        blocks += [InvertedResidualV3(*cfg) for cfg in _BLOCKS]
        blocks.append(_cna(96, 576, 1, 1, 1, nn.Hardswish()))
        self.features = nn.Sequential(*blocks)
        self.classifier = nn.Sequential(nn.Linear(576, 1024), nn.Hardswish(), nn.Dropout(dropout),
                                        nn.Linear(1024, classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.features(x)
        logits: torch.Tensor = self.classifier(torch.flatten(nn.functional.adaptive_avg_pool2d(x, 1), 1))
        return logits


def referable_net_v3(pretrained: Path | None) -> MobileNetV3Small:
    """MobileNetV3-Small with ImageNet features (loaded strictly) and a fresh zero 1-logit `classifier.3`.

    Args:
        pretrained: the torchvision-layout state_dict, or None for random initialisation (tests).
    Raises:
        FileNotFoundError: `pretrained` does not exist. RuntimeError: its keys or shapes differ.
    """
    net = MobileNetV3Small(classes=1000)
    if pretrained is not None:
        net.load_state_dict(torch.load(pretrained, map_location="cpu", weights_only=True), strict=True)
    head = nn.Linear(1024, 1)
    nn.init.zeros_(head.weight)  # p = 0.5 everywhere at the start, as for MobileNetV2
    nn.init.zeros_(head.bias)
    net.classifier[3] = head
    return net
