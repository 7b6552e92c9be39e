"""Fitting linear probes: a softmax linear map (weight [D, C] + bias [C]) per (lr, weight decay) of a grid, all
trained together on the same features, full batch, with AdamW written out in tensor form (torch.optim.AdamW's
update, batched over the grid: one [N, D] x [D, G*C] matmul per step serves every grid point -- [D, G] for two
classes, whose softmax is the sigmoid of the logit difference --, gradients in closed form). Tests check it against
torch.optim.AdamW + autograd.

Every grid point starts from the same initial map (the prompt embeddings, or a seeded random one); decoupled weight
decay applies to the weight, not the bias. Selection on validation data is `select_on_val`.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import Sequence

import torch

from msxr_bench.metrics.classification import auroc

BETAS, EPS = (0.9, 0.999), 1e-8
OPTIMISER = ("AdamW (torch.optim.AdamW's update: betas 0.9/0.999, eps 1e-8, decoupled weight decay on the weight "
             "only, not the bias), full batch: one step per epoch over the whole training subset; loss = mean "
             "cross-entropy of the softmax over the C logits (class-weighted: weighted mean, as torch's)")


@dataclass
class ProbeFit:
    weight: torch.Tensor  # [G, D, C]
    bias: torch.Tensor  # [G, C]
    grid: list[tuple[float, float]]  # (lr, weight decay) of each grid point, lrs outer, weight decays inner
    final_loss: list[float]  # training loss of each grid point with its final weights


def grid_points(lrs: Sequence[float], weight_decays: Sequence[float]) -> list[tuple[float, float]]:
    return [(float(lr), float(wd)) for lr, wd in itertools.product(lrs, weight_decays)]


def random_init(dim: int, n_classes: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """nn.Linear's default: weight and bias uniform in +-1/sqrt(dim), from a generator seeded with `seed`."""
    g = torch.Generator().manual_seed(int(seed))
    bound = 1 / math.sqrt(dim)
    weight = (torch.rand(dim, n_classes, generator=g) * 2 - 1) * bound
    bias = (torch.rand(n_classes, generator=g) * 2 - 1) * bound
    return weight, bias


def balanced_weights(labels: torch.Tensor, n_classes: int) -> torch.Tensor:
    """n / (C * n_c) per class (scikit-learn's "balanced"); a class absent from `labels` gets weight 0."""
    counts = torch.bincount(labels, minlength=n_classes).double()
    return torch.where(counts > 0, labels.numel() / (n_classes * counts.clamp(min=1)), torch.zeros_like(counts)).float()


def adamw_step(p: torch.Tensor, g: torch.Tensor, m: torch.Tensor, v: torch.Tensor, lr: torch.Tensor, t: int,
                decay: torch.Tensor | None) -> None:
    """torch.optim.AdamW's update of `p` [G, ...] in place (lr and `decay` = 1 - lr * wd per grid point)."""
    b1, b2 = BETAS
    shape = (-1,) + (1,) * (p.ndim - 1)
    if decay is not None:
        p.mul_(decay.view(shape))
    m.mul_(b1).add_(g, alpha=1 - b1)
    v.mul_(b2).addcmul_(g, g, value=1 - b2)
    p.sub_((lr / (1 - b1 ** t)).view(shape) * m / ((v / (1 - b2 ** t)).sqrt() + EPS))


def _gradients(x: torch.Tensor, xt: torch.Tensor, y: torch.Tensor, scale: torch.Tensor, w: torch.Tensor,
               b: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(grad w [G, C, D], grad b [G, C]) of the weighted mean cross-entropy; x [N, D], xt = x.T contiguous.
    Products are [G*C, D] x [D, N] and [G*C, N] x [N, D]: the fast orientation for few columns."""
    g_n, n_classes, dim = w.shape
    if n_classes == 2:  # softmax over two logits = sigmoid of their difference: half the matmul, no softmax
        d = ((w[:, 1] - w[:, 0]) @ xt).add_((b[:, 1] - b[:, 0])[:, None])  # [G, N]
        r = torch.sigmoid_(d).sub_(y[None]).mul_(scale[None])
        gw, gb = r @ x, r.sum(1)
        return torch.stack([-gw, gw], dim=1), torch.stack([-gb, gb], dim=1)
    logits = torch.addmm(b.reshape(-1, 1), w.reshape(-1, dim), xt).view(g_n, n_classes, -1)
    p = torch.softmax(logits, dim=1)
    p[:, y, torch.arange(y.numel())] -= 1
    r = p.mul_(scale)
    return (r.reshape(g_n * n_classes, -1) @ x).view(g_n, n_classes, dim), r.sum(2)


def _loss(xt: torch.Tensor, y: torch.Tensor, sample_w: torch.Tensor, w: torch.Tensor, b: torch.Tensor) -> list[float]:
    g_n, n_classes, dim = w.shape
    logits = torch.addmm(b.reshape(-1, 1), w.reshape(-1, dim), xt).view(g_n, n_classes, -1)
    picked = torch.log_softmax(logits, dim=1)[:, y, torch.arange(y.numel())]  # [G, N]
    return (-(picked * sample_w[None]).sum(1) / sample_w.sum()).tolist()


def fit_linear_probe(x: torch.Tensor, y: torch.Tensor, init_weight: torch.Tensor, init_bias: torch.Tensor,
                     lrs: Sequence[float], weight_decays: Sequence[float], epochs: int,
                     class_weights: torch.Tensor | None = None) -> ProbeFit:
    """Train one softmax probe per (lr, weight decay) on features x [N, D] and labels y [N] (0 .. C-1)."""
    if x.ndim != 2 or y.shape != (x.shape[0],):
        raise ValueError(f"need features [N, D] and labels [N], got {tuple(x.shape)} and {tuple(y.shape)}")
    dim, n_classes = init_weight.shape
    if x.shape[1] != dim:
        raise ValueError(f"features have {x.shape[1]} dimensions, the initial map {dim}")
    grid = grid_points(lrs, weight_decays)
    x, y = x.float().contiguous(), y.long()
    xt = x.T.contiguous()
    sample_w = torch.ones(x.shape[0]) if class_weights is None else class_weights.float()[y]
    scale = sample_w / sample_w.sum()  # d(weighted mean loss) / d(logits) = (p - onehot) * scale
    lr = torch.tensor([p[0] for p in grid])
    decay = 1 - lr * torch.tensor([p[1] for p in grid])
    w = init_weight.float().T[None].repeat(len(grid), 1, 1).contiguous()  # [G, C, D]: rows are class vectors
    b = init_bias.float()[None].repeat(len(grid), 1).contiguous()  # [G, C]
    state = [torch.zeros_like(w), torch.zeros_like(w), torch.zeros_like(b), torch.zeros_like(b)]
    target = y.float() if n_classes == 2 else y
    for t in range(1, epochs + 1):
        grad_w, grad_b = _gradients(x, xt, target, scale, w, b)
        adamw_step(w, grad_w, state[0], state[1], lr, t, decay)
        adamw_step(b, grad_b, state[2], state[3], lr, t, None)
    return ProbeFit(w.transpose(1, 2).contiguous(), b, grid, _loss(xt, y, sample_w, w, b))


def positive_probability(x: torch.Tensor, fit: ProbeFit) -> torch.Tensor:
    """[G, N]: softmax probability of class 1 (positive) under every grid point's map."""
    logits = torch.einsum("nd,gdc->gnc", x.float(), fit.weight) + fit.bias[:, None, :]
    return torch.softmax(logits, dim=-1)[..., 1]


def select_on_val(val_scores: torch.Tensor, val_labels: torch.Tensor) -> tuple[int, torch.Tensor]:
    """(grid point with the highest validation AUROC — the first on ties, grid order —, AUROC of every point)."""
    areas = auroc(val_scores.double(), val_labels.double().expand_as(val_scores), warn=False)
    if torch.isnan(areas).all():
        raise ValueError("validation AUROC is undefined (one class only in the validation set)")
    best = int(torch.nan_to_num(areas, nan=-1.0).argmax())
    return best, areas
