"""Training losses against hand computations in numpy, and GLoRIA's loss being the parity-tested one."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from msxr_bench.models import gloria_attention
from msxr_bench.training import losses


def _numpy_infonce(img: np.ndarray, txt: np.ndarray, tau: float, lam: float) -> float:
    img = img / np.linalg.norm(img, axis=1, keepdims=True)
    txt = txt / np.linalg.norm(txt, axis=1, keepdims=True)
    logits = img @ txt.T / tau
    n = len(img)
    row = -np.mean([logits[i, i] - np.log(np.exp(logits[i]).sum()) for i in range(n)])
    col = -np.mean([logits[i, i] - np.log(np.exp(logits[:, i]).sum()) for i in range(n)])
    return lam * row + (1 - lam) * col


@pytest.fixture
def pairs() -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    return torch.randn(5, 7, generator=g, dtype=torch.float64), torch.randn(5, 7, generator=g, dtype=torch.float64)


def test_convirt_loss_is_the_asymmetric_infonce_of_the_paper(pairs):
    img, txt = pairs
    got = losses.convirt_loss(img, txt)["loss"].item()
    assert got == pytest.approx(_numpy_infonce(img.numpy(), txt.numpy(), 0.1, 0.75), rel=1e-5)
    assert (losses.CONVIRT_TAU, losses.CONVIRT_LAMBDA) == (0.1, 0.75)


def test_image_to_text_weight_one_keeps_only_the_image_rows(pairs):
    img, txt = pairs
    out = losses.contrastive_loss(img, txt, 0.3, image_to_text_weight=1.0)
    assert out["loss"].item() == pytest.approx(_numpy_infonce(img.numpy(), txt.numpy(), 0.3, 1.0), rel=1e-5)
    assert out["loss"].item() == pytest.approx(out["image_to_text"].item(), rel=1e-6)
    assert out["image_to_text"].item() != pytest.approx(out["text_to_image"].item(), rel=1e-3)


def test_biovil_loss_is_symmetric_global_alignment_plus_mlm(pairs):
    img, txt = pairs
    logits = torch.randn(5, 4, 11, dtype=torch.float64)
    labels = torch.full((5, 4), -100)
    labels[0, 1], labels[3, 2] = 4, 9
    out = losses.biovil_loss(img, txt, logits, labels)
    ga = _numpy_infonce(img.numpy(), txt.numpy(), 0.5, 0.5)
    lp = logits.numpy()
    mlm = -np.mean([lp[0, 1, 4] - np.log(np.exp(lp[0, 1]).sum()), lp[3, 2, 9] - np.log(np.exp(lp[3, 2]).sum())])
    assert out["global_alignment"].item() == pytest.approx(ga, rel=1e-5)
    assert out["mlm"].item() == pytest.approx(mlm, rel=1e-5)
    assert out["loss"].item() == pytest.approx(ga + mlm, rel=1e-5)
    swapped = losses.contrastive_loss(txt, img, 0.5, 0.5)["loss"].item()
    assert swapped == pytest.approx(ga, rel=1e-6)  # λ_GA = 0.5: both directions count the same


def test_mlm_loss_without_masked_positions_is_zero_but_differentiable():
    logits = torch.randn(2, 3, 5, requires_grad=True)
    loss = losses.mlm_loss(logits, torch.full((2, 3), -100))
    loss.backward()
    assert loss.item() == 0.0 and logits.grad is not None


def test_contrastive_loss_rejects_unpaired_batches():
    with pytest.raises(ValueError, match="paired"):
        losses.contrastive_loss(torch.randn(4, 3), torch.randn(5, 3), 0.1)


def test_gloria_loss_is_the_parity_tested_upstream_function():
    assert losses.gloria_loss is gloria_attention.gloria_loss
