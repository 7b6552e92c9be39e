"""Batched training augmentations: the identity is the centre crop, flips mirror, intensity factors follow
torchvision's definitions, draws depend on the generator's seed only; and the (epoch, index)-keyed sampler."""

from __future__ import annotations

import torch

from msxr_bench.training.augment import Augmentation, augment_batch, centre_view, gaussian_blur
from msxr_bench.training.data import EpochBatchSampler


def _images(n: int = 3, size: int = 40) -> torch.Tensor:
    g = torch.Generator().manual_seed(0)
    return torch.randint(0, 256, (n, size, size), generator=g, dtype=torch.uint8)


def test_no_augmentation_is_the_centre_crop():
    images = _images()
    out = augment_batch(images, 32, Augmentation(), torch.Generator().manual_seed(1))
    assert out.shape == (3, 3, 32, 32)
    torch.testing.assert_close(out, centre_view(images, 32), atol=1e-5, rtol=0)
    torch.testing.assert_close(centre_view(images, 32)[:, 0], images[:, 4:36, 4:36].float() / 255)


def test_flip_mirrors_left_and_right():
    images = _images()
    out = augment_batch(images, 40, Augmentation(hflip=1.0), torch.Generator().manual_seed(0))
    torch.testing.assert_close(out[:, 0], images.flip(-1).float() / 255, atol=1e-5, rtol=0)


def test_brightness_and_contrast_factors():
    images = torch.full((2, 8, 8), 100, dtype=torch.uint8)
    images[:, :, :4] = 50
    bright = augment_batch(images, 8, Augmentation(brightness=(1.5, 1.5)), torch.Generator().manual_seed(0))
    torch.testing.assert_close(bright[:, 0], images.float() * 1.5 / 255, atol=1e-5, rtol=0)
    flat = augment_batch(images, 8, Augmentation(contrast=(0.0, 0.0)), torch.Generator().manual_seed(0))
    torch.testing.assert_close(flat[:, 0], torch.full((2, 8, 8), 75 / 255), atol=1e-5, rtol=0)  # the image mean


def test_blur_keeps_a_constant_image_and_smooths_an_edge():
    flat = torch.full((1, 1, 16, 16), 0.4)
    torch.testing.assert_close(gaussian_blur(flat, torch.tensor([2.0])), flat)
    edge = torch.zeros(1, 1, 16, 16)
    edge[..., 8:] = 1.0
    blurred = gaussian_blur(edge, torch.tensor([1.5]))[0, 0, 0]
    assert 0 < blurred[7] < 0.5 < blurred[8] < 1 and torch.all(blurred[1:] >= blurred[:-1])


def test_random_transforms_depend_on_the_seed_only():
    aug = Augmentation(crop_area=(0.6, 1.0), random_crop=True, rotation=20, translate=0.1, scale=(0.9, 1.1),
                       brightness=(0.6, 1.4), contrast=(0.6, 1.4), blur_sigma=(0.1, 2.0), blur_probability=0.5)
    images = _images()
    a = augment_batch(images, 32, aug, torch.Generator().manual_seed(7))
    b = augment_batch(images, 32, aug, torch.Generator().manual_seed(7))
    c = augment_batch(images, 32, aug, torch.Generator().manual_seed(8))
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert a.min() >= 0 and a.max() <= 1


def test_sampler_shards_cover_the_epoch_once_and_resume_skips_whole_batches():
    full = list(EpochBatchSampler(20, 3, epoch=2, seed=5))
    assert len(full) == 6 and all(key[0] == 2 for batch in full for key in batch)
    shards = [list(EpochBatchSampler(20, 3, epoch=2, seed=5, rank=r, world_size=2)) for r in range(2)]
    indices = [key[1] for shard in shards for batch in shard for key in batch]
    assert len(indices) == len(set(indices)) == 18
    assert list(EpochBatchSampler(20, 3, epoch=2, seed=5, skip_batches=4)) == full[4:]
    assert full != list(EpochBatchSampler(20, 3, epoch=3, seed=5))  # a new order each epoch
