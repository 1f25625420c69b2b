"""The quality recipe: what turns a few CPU-hours into completions that beat the classical fills.

Each piece is a config option (see ``TrainConfig``); ``--recipe paper`` keeps every paper's own
setting, ``--recipe quality`` (the default) applies ``QUALITY`` plus the method's own
``quality_recipe``. The model cards say which one shipped weights used.

* Classical prefill + zero-initialised residual (``engine.models.residual_unet``).
* Reconstruction first: 0.84 (1 - SSIM) + 0.16 L1 on the composite (Zhao et al. 2017's mix);
  the papers' adversarial/diversity terms enter late at about 0.01 of it.
* EMA of the generator (what ships), Adam decaying linearly to zero over the run's budget.
* bf16 autocast + channels_last where the processor supports bf16.
"""

from __future__ import annotations

import contextlib
import copy
import functools
import logging
from typing import Any

import torch
from torch import Tensor, nn

log = logging.getLogger(__name__)

RECIPES = ("quality", "paper")
PRECISIONS = ("auto", "fp32", "bf16", "fp16")

# Common to every method under --recipe quality; a method's ``quality_recipe`` adds its own.
QUALITY: dict[str, Any] = {
    "aligned": True,  # the engine completes aligned crops; packs hold aligned crops
    "prefill": "telea",
    "rec_loss": "ssim-l1",
    "ema_decay": 0.995,
    "lr_schedule": "linear",
    "channels_last": True,
    "num_workers": 0,
    "adversarial_start": 0.8,
    "adversarial_scale": 0.01,
    "val_every": 200,
    "low_resolution": 64,  # most steps at 64 px (a quarter of the cost), the last quarter at 128 px
    "low_resolution_until": 0.75,
    "mask_mix": {"preset": 0.45, "block": 0.15, "strokes": 0.15, "irregular": 0.25},
}

SSIM_WEIGHT = 0.84  # Zhao et al. 2017, "Loss functions for image restoration with neural networks"


def composite_loss(composite: Tensor, truth: Tensor) -> Tensor:
    """0.84 (1 - SSIM) + 0.16 L1 of the composite against the truth (images in [-1, 1]).

    SSIM with an 11 x 11 Gaussian window, sigma 1.5 (Wang et al. 2004), as the papers' tables use.
    """
    from pytorch_msssim import ssim

    with torch.autocast(composite.device.type, enabled=False):  # SSIM's divisions overflow in bf16
        a, b = (composite.float() + 1) / 2, (truth.float() + 1) / 2
        return SSIM_WEIGHT * (1 - ssim(a, b, data_range=1.0, size_average=True)) + (1 - SSIM_WEIGHT) * (a - b).abs().mean()


# -- precision ------------------------------------------------------------------------------------
@functools.cache
def cpu_supports_bf16() -> bool:
    """True on processors with native bf16 arithmetic (AVX512-BF16 or AMX); elsewhere bf16 is emulated and slow."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            flags = f.read()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def resolve_precision(precision: str, device: torch.device) -> str:
    """The precision a run really uses: ``auto`` is bf16 where the device supports it, else fp32."""
    if precision not in PRECISIONS:
        from engine.errors import FaceInpaintError

        raise FaceInpaintError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    if device.type == "cuda":
        if precision == "auto":
            return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
        return precision
    if precision == "fp16":
        log.warning("fp16 autocast is for CUDA; training in fp32 on %s", device)
        return "fp32"
    if precision == "auto" or precision == "bf16":
        if device.type == "cpu" and not cpu_supports_bf16():
            if precision == "bf16":
                log.warning("this processor has no native bf16; training in fp32")
            return "fp32"
        return "bf16" if device.type == "cpu" else "fp32"
    return "fp32"


def autocast(precision: str, device: torch.device) -> contextlib.AbstractContextManager:
    if precision == "bf16":
        return torch.autocast(device.type, dtype=torch.bfloat16)
    if precision == "fp16" and device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.float16)
    return contextlib.nullcontext()


# -- EMA ------------------------------------------------------------------------------------------
class EMA:
    """An exponential moving average of a network's weights (buffers copied as they are)."""

    def __init__(self, net: nn.Module, decay: float) -> None:
        self.decay = decay
        self.shadow = copy.deepcopy(net).eval()
        for p in self.shadow.parameters():
            p.requires_grad_(False)

    @torch.no_grad()
    def update(self, net: nn.Module) -> None:
        for ema_p, p in zip(self.shadow.parameters(), net.parameters()):
            ema_p.lerp_(p.detach(), 1.0 - self.decay)
        for ema_b, b in zip(self.shadow.buffers(), net.buffers()):
            ema_b.copy_(b)

    def state_dict(self) -> dict[str, Tensor]:
        return self.shadow.state_dict()

    def load_state_dict(self, state: dict[str, Tensor]) -> None:
        self.shadow.load_state_dict(state)


def linear_lr(optimizers, progress: float) -> None:
    """Set every parameter group's learning rate to ``initial_lr * (1 - progress)``."""
    factor = max(0.0, 1.0 - progress)
    for optimizer in optimizers:
        for group in optimizer.param_groups:
            group.setdefault("initial_lr", group["lr"])
            group["lr"] = group["initial_lr"] * factor


def recipe_config(method_cls, recipe: str):
    """The method's config with ``recipe`` applied: the dataclass defaults (the paper's), plus for
    ``quality`` the common ``QUALITY`` values and the method's own ``quality_recipe``."""
    import dataclasses

    from training.config import ConfigError, config_from_dict

    if recipe not in RECIPES:
        raise ConfigError(f"unknown recipe {recipe!r}; choose one of {', '.join(RECIPES)}")
    cls = method_cls.config_cls
    if recipe == "paper":
        return cls()
    known = {f.name for f in dataclasses.fields(cls)}
    values = {k: v for k, v in {**QUALITY, **method_cls.quality_recipe}.items() if k in known}
    return config_from_dict(cls, {**values, "recipe": "quality"}, f"the quality recipe of {method_cls.name}")
