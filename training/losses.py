"""Losses shared by the training methods (each method's own terms stay in its module)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


def gan_loss(logits: Tensor, real: bool) -> Tensor:
    """The non-saturating GAN loss (Goodfellow et al. 2014) on logits: binary cross-entropy against 1 or 0."""
    return F.binary_cross_entropy_with_logits(logits, torch.full_like(logits, 1.0 if real else 0.0))


SSIM_WEIGHT = 0.84  # Zhao et al. 2017, "Loss functions for image restoration with neural networks"


def composite_loss(composite: Tensor, truth: Tensor) -> Tensor:
    """0.84 (1 - SSIM) + 0.16 L1 of the composite against the truth (images in [-1, 1]).

    SSIM with an 11 x 11 Gaussian window, sigma 1.5 (Wang et al. 2004), as the papers' tables use.
    """
    from pytorch_msssim import ssim

    with torch.autocast(composite.device.type, enabled=False):  # SSIM's divisions overflow in bf16
        a, b = (composite.float() + 1) / 2, (truth.float() + 1) / 2
        return SSIM_WEIGHT * (1 - ssim(a, b, data_range=1.0, size_average=True)) + (1 - SSIM_WEIGHT) * (a - b).abs().mean()
