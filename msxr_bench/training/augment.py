"""Image augmentations for training, batched in torch (one `affine_grid` + `grid_sample` per batch, on the
training device), so they stay cheap on a CPU.

Input: the dataset's pre-resized square grey images, uint8 [B, R, R] (R = the recipe's resize, after the
model's own resize/letterbox). Output: float [B, 3, crop, crop] in [0, 1]. Geometric part: a crop window
(random position; random area for ConVIRT's random-resized crop), then rotation / scale / translation / shear
about the window centre and an optional horizontal flip, all composed into one sampling grid (bilinear,
zeros outside), plus an optional elastic displacement field added to that grid (torchvision's ElasticTransform:
uniform noise in [-1, 1] blurred with sigma, times alpha pixels). Intensity part: brightness and contrast factors
(torchvision's definitions), a Gaussian blur, additive Gaussian noise and occlusion (torchvision's RandomErasing:
a rectangle of a random area fraction and aspect ratio set to 0). The extras draw random numbers only when enabled,
after the others, so recipes without them get exactly the images they always got.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F


@dataclass(frozen=True)
class Augmentation:
    """Ranges of the random transforms; the defaults transform nothing (a centre crop)."""

    crop_area: tuple[float, float] = (1.0, 1.0)  # window area relative to the centre-crop window (crop/R)^2
    random_crop: bool = False  # place the crop window uniformly (else centred)
    rotation: float = 0.0  # degrees, uniform in [-rotation, rotation]
    translate: float = 0.0  # fraction of the side, uniform in [-translate, translate] per axis
    scale: tuple[float, float] = (1.0, 1.0)
    shear: float = 0.0  # degrees along x
    hflip: float = 0.0  # probability (mirrors laterality: off for the toy world's tiny configs)
    brightness: tuple[float, float] = (1.0, 1.0)  # multiplicative factor
    contrast: tuple[float, float] = (1.0, 1.0)  # blend factor with the image mean
    blur_sigma: tuple[float, float] | None = None  # Gaussian sigma in output pixels
    blur_probability: float = 0.0
    elastic: tuple[float, float] | None = None  # (sigma, alpha) in output pixels (BioViL's SimCLR: (4, 34))
    elastic_probability: float = 0.0
    noise_std: float = 0.0  # additive Gaussian noise on [0, 1] intensities
    occlusion_scale: tuple[float, float] | None = None  # erased area fraction (SimCLR: (0.15, 0.4))
    occlusion_ratio: tuple[float, float] = (0.3, 3.3)  # aspect-ratio range, log-uniform (either order)
    occlusion_probability: float = 0.0

    def to_dict(self) -> dict:
        return asdict(self)


def _uniform(low: float, high: float, n: int, g: torch.Generator) -> torch.Tensor:
    return low + (high - low) * torch.rand(n, generator=g)


def elastic_offsets(n: int, crop: int, sigma: float, alpha: float, g: torch.Generator) -> torch.Tensor:
    """[n, crop, crop, 2] displacements in grid_sample units: U(-1, 1) noise per pixel and axis, Gaussian-blurred
    with `sigma` pixels, times `alpha` pixels (torchvision's ElasticTransform)."""
    noise = torch.rand(2 * n, 1, crop, crop, generator=g) * 2 - 1
    blurred = gaussian_blur(noise, torch.full((2 * n,), float(sigma))) * alpha
    return (blurred.reshape(n, 2, crop, crop) * 2 / crop).permute(0, 2, 3, 1)


def occlude(x: torch.Tensor, aug: Augmentation, g: torch.Generator) -> torch.Tensor:
    """RandomErasing per image with `occlusion_probability`: a rectangle of area fraction in occlusion_scale and
    log-uniform aspect ratio in occlusion_ratio, at a uniform position, set to 0 (10 tries, as torchvision)."""
    n, _, h, w = x.shape
    apply = torch.rand(n, generator=g) < aug.occlusion_probability
    lo, hi = sorted(aug.occlusion_ratio)
    for i in range(n):
        area = _uniform(*aug.occlusion_scale, 10, g) * h * w
        ratio = torch.exp(_uniform(math.log(lo), math.log(hi), 10, g))
        eh, ew = (area * ratio).sqrt().round().long(), (area / ratio).sqrt().round().long()
        fits = ((eh < h) & (ew < w) & (eh > 0) & (ew > 0)).nonzero().flatten()
        corner = torch.rand(2, generator=g)
        if not apply[i] or fits.numel() == 0:
            continue
        k = int(fits[0])
        top, left = int(corner[0] * (h - int(eh[k]) + 1)), int(corner[1] * (w - int(ew[k]) + 1))
        x[i, :, top:top + int(eh[k]), left:left + int(ew[k])] = 0
    return x


def sampling_grid(n: int, size: int, crop: int, aug: Augmentation, g: torch.Generator) -> torch.Tensor:
    """[n, crop, crop, 2] grid_sample coordinates into an [size, size] input (align_corners=False)."""
    base = crop / size  # side of the default (centre-crop) window in normalised units
    area = _uniform(*aug.crop_area, n, g)
    side = (base * area.sqrt()).clamp(max=1.0)  # window side as a fraction of the input
    if aug.random_crop:
        cx, cy = ((1 - side) * (2 * torch.rand(n, generator=g) - 1), (1 - side) * (2 * torch.rand(n, generator=g) - 1))
    else:
        cx = cy = torch.zeros(n)
    angle = torch.deg2rad(_uniform(-aug.rotation, aug.rotation, n, g))
    shear = math.radians(1) * _uniform(-aug.shear, aug.shear, n, g)
    scale = _uniform(*aug.scale, n, g)
    tx, ty = (2 * _uniform(-aug.translate, aug.translate, n, g), 2 * _uniform(-aug.translate, aug.translate, n, g))
    flip = torch.where(torch.rand(n, generator=g) < aug.hflip, -1.0, 1.0)
    # output point p -> window point: flip, inverse scale, rotation, shear, translation (all in window units)
    cos, sin = torch.cos(angle), torch.sin(angle)
    a = torch.stack([torch.stack([cos, -sin + torch.tan(shear) * cos], -1),
                     torch.stack([sin, cos + torch.tan(shear) * sin], -1)], -2)  # [n, 2, 2]
    a = a / scale[:, None, None] * torch.stack([flip, torch.ones(n)], -1)[:, None, :]
    theta = torch.zeros(n, 2, 3)
    theta[:, :, :2] = a * side[:, None, None]
    theta[:, 0, 2] = cx + tx * side
    theta[:, 1, 2] = cy + ty * side
    return F.affine_grid(theta, [n, 1, crop, crop], align_corners=False)


def gaussian_blur(images: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
    """Per-image separable Gaussian blur of [B, 1, H, W] with sigmas [B] (reflect padding)."""
    radius = max(1, int(math.ceil(3 * float(sigma.max()))))
    x = torch.arange(-radius, radius + 1, dtype=images.dtype, device=images.device)
    kernel = torch.exp(-(x[None] ** 2) / (2 * sigma[:, None].to(images) ** 2))
    kernel = kernel / kernel.sum(dim=1, keepdim=True)  # [B, K]
    b = images.shape[0]
    out = images.reshape(1, b, *images.shape[2:])
    out = F.conv2d(F.pad(out, (radius, radius, 0, 0), mode="reflect"), kernel[:, None, None, :], groups=b)
    out = F.conv2d(F.pad(out, (0, 0, radius, radius), mode="reflect"), kernel[:, None, :, None], groups=b)
    return out.reshape_as(images)


def augment_batch(images: torch.Tensor, crop: int, aug: Augmentation, generator: torch.Generator) -> torch.Tensor:
    """uint8 [B, R, R] -> float [B, 3, crop, crop] in [0, 1] with the random transforms of `aug`.

    Random numbers come from `generator` (CPU), so the result depends only on its seed, not on the device.
    """
    if images.ndim != 3 or images.shape[1] != images.shape[2]:
        raise ValueError(f"expected square grey images [B, R, R], got {tuple(images.shape)}")
    n, size = images.shape[0], images.shape[1]
    x = images.float().div_(255).unsqueeze(1)
    grid = sampling_grid(n, size, crop, aug, generator)
    if aug.elastic is not None and aug.elastic_probability > 0:
        chosen = (torch.rand(n, generator=generator) < aug.elastic_probability)[:, None, None, None]
        grid = grid + elastic_offsets(n, crop, *aug.elastic, generator) * chosen
    grid = grid.to(x.device)
    x = F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    brightness = _uniform(*aug.brightness, n, generator).to(x.device)[:, None, None, None]
    contrast = _uniform(*aug.contrast, n, generator).to(x.device)[:, None, None, None]
    x = (x * brightness).clamp(0, 1)
    mean = x.mean(dim=(2, 3), keepdim=True)
    x = (contrast * x + (1 - contrast) * mean).clamp(0, 1)
    if aug.blur_sigma is not None and aug.blur_probability > 0:
        sigma = _uniform(*aug.blur_sigma, n, generator)
        apply = torch.rand(n, generator=generator) < aug.blur_probability
        if apply.any():
            idx = apply.nonzero().flatten().to(x.device)
            x[idx] = gaussian_blur(x[idx], sigma[apply].to(x.device))
    if aug.noise_std > 0:
        x = (x + aug.noise_std * torch.randn(x.shape, generator=generator).to(x.device)).clamp(0, 1)
    if aug.occlusion_scale is not None and aug.occlusion_probability > 0:
        x = occlude(x, aug, generator)
    return x.expand(-1, 3, -1, -1).contiguous()


def centre_view(images: torch.Tensor, crop: int) -> torch.Tensor:
    """uint8 [B, R, R] -> float [B, 3, crop, crop]: the centre crop, no randomness (validation)."""
    size = images.shape[1]
    top = int(round((size - crop) / 2.0))
    x = images[:, top:top + crop, top:top + crop].float().div_(255)
    return x.unsqueeze(1).expand(-1, 3, -1, -1).contiguous()
