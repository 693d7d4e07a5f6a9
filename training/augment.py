"""Batch augmentation and normalisation in torch, on the cached uint8 fundus squares.

`to_input` is the exact tensor maths of `appliance.inference.preprocess.to_tensor` (scale to 0..1,
subtract mean, divide by std, NCHW), so evaluation here matches inference on the device.
"""

from __future__ import annotations

import math
from concurrent.futures import ThreadPoolExecutor

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from appliance.inference.preprocess import FOV_LEVEL, InputSpec


def to_input(batch: torch.Tensor, spec: InputSpec) -> torch.Tensor:
    """uint8 [N, S, S, 3] RGB -> normalised float32 [N, 3, S, S]."""
    x = batch.permute(0, 3, 1, 2).float() / 255.0
    return _normalise(x, spec)


def _normalise(x: torch.Tensor, spec: InputSpec) -> torch.Tensor:
    mean = torch.tensor(spec.mean, device=x.device).view(1, 3, 1, 1)
    std = torch.tensor(spec.std, device=x.device).view(1, 3, 1, 1)
    return (x - mean) / std


def _uniform(n: int, low: float, high: float, gen: torch.Generator, device: torch.device | None = None) -> torch.Tensor:
    """Uniform draws from `gen` (on the CPU, so a seed gives the same epoch on any device), moved to `device`."""
    return (low + (high - low) * torch.rand(n, generator=gen)).to(device)


def augment(batch: torch.Tensor, spec: InputSpec, gen: torch.Generator) -> torch.Tensor:
    """Random geometry and photometry for a batch of cached squares; then normalise (see the two below)."""
    if spec.camera_normalise:
        return augment_normalised(batch, spec, gen)
    return augment_natural(batch, spec, gen)


def augment_normalised(batch: torch.Tensor, spec: InputSpec, gen: torch.Generator) -> torch.Tensor:
    """Augmentation of camera-normalised squares (detail around mid-grey, mid-grey outside the field).

    Any rotation, flips, scale 0.9..1.1 and a squash of up to 15 % on one axis (APTOS and some
    exports lose the aspect ratio); the framing of a camera whose aperture is wider than its sensor
    (a random share of photos loses a band at the top and bottom, or on all four sides, to mid-grey);
    and the spread of detail that other optics give: contrast 0.75..1.33, per-channel gain
    0.85..1.15, a small offset. Mid-grey stays mid-grey where the geometry leaves the frame.
    """
    n, dev = batch.shape[0], batch.device
    x = batch.permute(0, 3, 1, 2).float() / 255.0 - 0.5  # mid-grey -> 0: zero padding is mid-grey
    angle = _uniform(n, -math.pi, math.pi, gen)
    scale = 1.0 / _uniform(n, 0.9, 1.1, gen)
    squash = torch.exp(_uniform(n, -0.15, 0.15, gen))
    flip = torch.where(torch.rand(n, generator=gen) < 0.5, -1.0, 1.0)
    cos, sin = torch.cos(angle) * scale, torch.sin(angle) * scale
    theta = torch.stack([torch.stack([cos * flip * squash, -sin * squash, torch.zeros(n)], 1),
                         torch.stack([sin * flip, cos, torch.zeros(n)], 1)], 1).to(dev)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    x = F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    # Framing: the visible disc is 0.9 of the half-side; clip it at 0.55..0.85 of the half-side.
    size = x.shape[-1]
    pos = (torch.arange(size, dtype=torch.float32, device=dev) + 0.5) / size * 2 - 1
    clip = _uniform(n, 0.55, 0.85, gen, dev).view(n, 1, 1)
    kind = torch.rand(n, generator=gen).to(dev).view(n, 1, 1)  # < 0.15: four sides, 0.15..0.35: top/bottom
    rows = pos.view(1, size, 1).abs() > clip
    cols = pos.view(1, 1, size).abs() > clip
    cut = (rows & (kind < 0.35)) | (cols & (kind < 0.15))
    x = x * (~cut).unsqueeze(1).float()
    contrast = torch.exp(_uniform(n, -0.29, 0.29, gen, dev)).view(n, 1, 1, 1)
    gain = _uniform(3 * n, 0.85, 1.15, gen, dev).view(n, 3, 1, 1)
    offset = _uniform(n, -0.03, 0.03, gen, dev).view(n, 1, 1, 1)
    visible = (x.abs().amax(1, keepdim=True) > 0).float()
    x = (x * contrast * gain + offset * visible).clamp(-0.5, 0.5) + 0.5
    return _normalise(x, spec)


def augment_natural(batch: torch.Tensor, spec: InputSpec, gen: torch.Generator) -> torch.Tensor:
    """Random flips, any rotation, scale 0.9..1.1, brightness/contrast/gamma jitter; then normalise.

    Args:
        batch: uint8 [N, S, S, 3] RGB squares from the cache.
        gen: the only randomness used, so a seeded generator reproduces an epoch exactly.
    Returns:
        float32 [N, 3, S, S], normalised like `to_input`.
    """
    n, dev = batch.shape[0], batch.device
    x = batch.permute(0, 3, 1, 2).float() / 255.0
    # Rotation, scale and flips in one resampling: a fundus has no canonical orientation, and
    # EyePACS holds mirrored (left/right) and some inverted photos.
    angle = _uniform(n, -math.pi, math.pi, gen)
    scale = 1.0 / _uniform(n, 0.9, 1.1, gen)
    flip = torch.where(torch.rand(n, generator=gen) < 0.5, -1.0, 1.0)
    cos, sin = torch.cos(angle) * scale, torch.sin(angle) * scale
    theta = torch.stack([torch.stack([cos * flip, -sin, torch.zeros(n)], 1),
                         torch.stack([sin * flip, cos, torch.zeros(n)], 1)], 1).to(dev)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    x = F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    # Photometric jitter inside the field only; the black surround stays black as on the device.
    field = (x.amax(1, keepdim=True) > FOV_LEVEL / 255.0).float()
    mean = (x * field).sum((1, 2, 3), keepdim=True) / (3 * field.sum((1, 2, 3), keepdim=True) + 1e-6)
    contrast = _uniform(n, 0.8, 1.2, gen, dev).view(n, 1, 1, 1)
    brightness = _uniform(n, 0.8, 1.2, gen, dev).view(n, 1, 1, 1)
    gamma = torch.exp(_uniform(n, -0.2, 0.2, gen, dev)).view(n, 1, 1, 1)
    x = ((x - mean) * contrast + mean) * brightness
    x = x.clamp(0.0, 1.0).pow(gamma) * field
    return _normalise(x, spec)


def camera_degrade(batch: torch.Tensor, gen: torch.Generator, p: float = 0.3, workers: int = 1) -> torch.Tensor:
    """Other-camera degradations on uint8 [N, S, S, 3] squares: JPEG re-encoding (quality 30-90) and
    Gaussian blur (sigma 0.3-1.5 px), each applied to a random `p` share of the batch.

    Cheap insurance for images from cameras that compress harder or focus softer than EyePACS;
    returns a new uint8 tensor (the cache is never modified).
    """
    out = batch.numpy().copy()
    n = out.shape[0]
    jpeg = (torch.rand(n, generator=gen) < p).tolist()
    quality = torch.randint(30, 91, (n,), generator=gen).tolist()
    blur = (torch.rand(n, generator=gen) < p).tolist()
    sigma = _uniform(n, 0.3, 1.5, gen).tolist()

    def degrade(i: int) -> None:  # every draw was made above: the threads' order cannot change the result
        if jpeg[i]:
            ok, buf = cv2.imencode(".jpg", out[i], [cv2.IMWRITE_JPEG_QUALITY, int(quality[i])])
            if ok:  # channel order is irrelevant to a round trip: encode and decode as-is
                out[i] = cv2.imdecode(buf, cv2.IMREAD_COLOR)
        if blur[i]:
            out[i] = cv2.GaussianBlur(out[i], (0, 0), sigma[i])

    if workers > 1:  # OpenCV releases the GIL: a GPU step would otherwise wait on this loop
        with ThreadPoolExecutor(workers) as pool:
            list(pool.map(degrade, range(n)))
    else:
        for i in range(n):
            degrade(i)
    return torch.from_numpy(np.ascontiguousarray(out))
