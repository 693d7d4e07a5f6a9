"""MobileNetV2 in plain PyTorch, torchvision parameter names, so ImageNet weights load strictly.

The network maps a normalised RGB batch [N, 3, S, S] to one logit per image; `ProbabilityHead`
wraps it for export so the graph itself outputs the probability of referable DR.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from appliance.inference.preprocess import InputSpec

_WEIGHTS = Path("/work/shared/models/pretrained")
#: ImageNet-1k weights in torchvision's key layout, per backbone (see that folder's README.md).
PRETRAINED = {"mobilenet_v2": _WEIGHTS / "mobilenet_v2_imagenet1k_tvlayout.pth",
              "mobilenet_v3_small": _WEIGHTS / "mobilenet_v3_small_imagenet1k_tvlayout.pth"}
BACKBONES = tuple(PRETRAINED)
#: Input normalisation (mean, std on 0..1 RGB) each backbone was pretrained with: ImageNet mean/std
#: for the torchvision V2, [-1, 1] for the TensorFlow-trained V3-Small.
NORMALISATION = {"mobilenet_v2": ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225)),
                 "mobilenet_v3_small": ((0.5, 0.5, 0.5), (0.5, 0.5, 0.5))}

# (expansion t, output channels c, repeats n, first stride s), as in the MobileNetV2 paper.
_STAGES = ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2),
           (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1))


def _cna(cin: int, cout: int, kernel: int = 3, stride: int = 1, groups: int = 1) -> nn.Sequential:
    """Conv (no bias) + BatchNorm + ReLU6, keyed `.0` / `.1` like torchvision's Conv2dNormActivation."""
    conv = nn.Conv2d(cin, cout, kernel, stride, (kernel - 1) // 2, groups=groups, bias=False)
    return nn.Sequential(conv, nn.BatchNorm2d(cout), nn.ReLU6(inplace=True))


class InvertedResidual(nn.Module):
    """Expand (1x1) -> depthwise 3x3 -> project (1x1, linear); residual when shapes allow."""

    def __init__(self, cin: int, cout: int, stride: int, expansion: int) -> None:
        super().__init__()
        hidden = cin * expansion
        layers: list[nn.Module] = [] if expansion == 1 else [_cna(cin, hidden, kernel=1)]
        layers += [
            _cna(hidden, hidden, stride=stride, groups=hidden),
            nn.Conv2d(hidden, cout, 1, bias=False),
            nn.BatchNorm2d(cout),
        ]
        self.conv = nn.Sequential(*layers)
        self.residual = stride == 1 and cin == cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y: torch.Tensor = self.conv(x)
        return x + y if self.residual else y


class MobileNetV2(nn.Module):
    """MobileNetV2 1.0 (torchvision layout); `classes` outputs from `classifier.1`."""

    def __init__(self, classes: int = 1000, dropout: float = 0.2) -> None:
        super().__init__()
        blocks: list[nn.Module] = [_cna(3, 32, stride=2)]
        cin = 32
        for t, c, n, s in _STAGES:
            for i in range(n):
                blocks.append(InvertedResidual(cin, c, s if i == 0 else 1, t))
                cin = c
        blocks.append(_cna(cin, 1280, kernel=1))
        self.features = nn.Sequential(*blocks)
        self.classifier = nn.Sequential(nn.Dropout(dropout), nn.Linear(1280, classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.features(x)
        logits: torch.Tensor = self.classifier(torch.flatten(nn.functional.adaptive_avg_pool2d(x, 1), 1))
        return logits


def referable_net(pretrained: Path | None = PRETRAINED["mobilenet_v2"]) -> MobileNetV2:
    """MobileNetV2 with ImageNet features (loaded strictly) and a fresh 1-logit head.

    Args:
        pretrained: the torchvision-layout state_dict, or None for random initialisation (tests).
    Raises:
        FileNotFoundError: `pretrained` does not exist. RuntimeError: its keys or shapes differ.
    """
    net = MobileNetV2(classes=1000)
    if pretrained is not None:
        state = torch.load(pretrained, map_location="cpu", weights_only=True)
        net.load_state_dict(state, strict=True)
    head = nn.Linear(1280, 1)
    nn.init.zeros_(head.weight)  # start at p = 0.5 for every image: no random ranking to unlearn
    nn.init.zeros_(head.bias)
    net.classifier[1] = head
    return net


def make_net(backbone: str, pretrained: Path | None) -> nn.Module:
    """The 1-logit referable-DR network for `backbone` (one of BACKBONES).

    Raises:
        ValueError: unknown backbone. FileNotFoundError / RuntimeError: as `referable_net`.
    """
    if backbone == "mobilenet_v2":
        return referable_net(pretrained)
    if backbone == "mobilenet_v3_small":
        from training.nets_v3 import referable_net_v3  # local: V2-only users need not load it

        return referable_net_v3(pretrained)
    raise ValueError(f"unknown backbone {backbone!r}; expected one of {BACKBONES}")


def input_spec(backbone: str, size: int, local_contrast: bool, camera_normalise: bool = False) -> InputSpec:
    """The appliance's InputSpec for `backbone` at `size` px (its own normalisation)."""
    mean, std = NORMALISATION[backbone]
    return InputSpec(size=size, mean=mean, std=std, local_contrast=local_contrast, camera_normalise=camera_normalise)


class ProbabilityHead(nn.Module):
    """Wraps the logit network so the exported graph outputs a probability [N, 1] in 0..1.

    Args:
        scale, bias: Platt calibration of the logit, `sigmoid(scale * z + bias)` (1, 0: none).
        hflip: average the logits of the image and its horizontal mirror (flip test-time augmentation,
            in the graph, so every backend and the INT8 twin run it the same way).
    """

    def __init__(self, net: nn.Module, scale: float = 1.0, bias: float = 0.0, hflip: bool = False) -> None:
        super().__init__()
        self.net, self.scale, self.bias, self.hflip = net, float(scale), float(bias), hflip

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        if self.hflip:  # one pass over [images; mirrors]: one copy of the network in the graph
            both: torch.Tensor = self.net(torch.cat([image, torch.flip(image, dims=[3])], 0))
            logit = 0.5 * (both[: image.shape[0]] + both[image.shape[0]:])
        else:
            logit = self.net(image)
        if self.scale != 1.0 or self.bias != 0.0:
            logit = logit * self.scale + self.bias
        return torch.sigmoid(logit)


class ActivationMap(nn.Module):
    """The class-activation map of a MobileNetV2 with a linear head: the head applied at every position
    of the last feature map, [N, 1, h, w] in logit units, so that its spatial mean is the logit.

    `scale`, `bias` and `hflip` as in ProbabilityHead, so the map's mean is the exported model's own
    (calibrated, flip-averaged) logit; with `hflip` the mirror's map is flipped back before averaging.
    """

    def __init__(self, net: MobileNetV2, scale: float = 1.0, bias: float = 0.0, hflip: bool = False) -> None:
        super().__init__()
        if not isinstance(net, MobileNetV2) or not isinstance(net.classifier[1], nn.Linear):
            raise ValueError("an activation map needs MobileNetV2 with a linear head")
        self.net, self.scale, self.bias, self.hflip = net, float(scale), float(bias), hflip

    def _maps(self, x: torch.Tensor) -> torch.Tensor:
        head = self.net.classifier[1]
        weight = head.weight.view(head.out_features, head.in_features, 1, 1)
        return nn.functional.conv2d(self.net.features(x), weight, head.bias)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        if self.hflip:
            both = self._maps(torch.cat([image, torch.flip(image, dims=[3])], 0))
            n = image.shape[0]
            cam = 0.5 * (both[:n] + torch.flip(both[n:], dims=[3]))
        else:
            cam = self._maps(image)
        return cam * self.scale + self.bias
