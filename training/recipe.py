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
import dataclasses
import functools
import logging
from typing import Any

import torch
from torch import Tensor, nn

from engine.errors import ConfigError
from training.config import config_from_dict

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
    "checkpoint_minutes": 10.0,  # a killed CPU run loses at most ten minutes
    "low_resolution": 64,  # most steps at 64 px (a quarter of the cost), the last quarter at 128 px
    "low_resolution_until": 0.75,
    "mask_mix": {"preset": 0.45, "block": 0.15, "strokes": 0.15, "irregular": 0.25},
}

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
        raise ConfigError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
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
UPDATES_KEY = "_ema_updates"

class EMA:
    """An exponential moving average of a network's weights (buffers copied as they are).

    The decay warms up as min(decay, (1 + n) / (10 + n)) after n updates, so a short run's average
    is not stuck near its starting weights.
    """

    def __init__(self, net: nn.Module, decay: float) -> None:
        self.decay = decay
        self.updates = 0
        self.shadow = copy.deepcopy(net).eval()
        for p in self.shadow.parameters():
            p.requires_grad_(False)

    @torch.no_grad()
    def update(self, net: nn.Module) -> None:
        decay = min(self.decay, (1 + self.updates) / (10 + self.updates))
        self.updates += 1
        for ema_p, p in zip(self.shadow.parameters(), net.parameters()):
            ema_p.lerp_(p.detach(), 1.0 - decay)
        for ema_b, b in zip(self.shadow.buffers(), net.buffers()):
            ema_b.copy_(b)

    def state_dict(self) -> dict[str, Tensor]:
        return {**self.shadow.state_dict(), UPDATES_KEY: torch.tensor(self.updates)}

    def load_state_dict(self, state: dict[str, Tensor]) -> None:
        state = dict(state)
        self.updates = int(state.pop(UPDATES_KEY, torch.tensor(0)))
        self.shadow.load_state_dict(state)


def linear_lr(optimizers, progress: float) -> None:
    """Set every parameter group's learning rate to ``initial_lr * (1 - progress)``."""
    factor = max(0.0, 1.0 - progress)
    for optimizer in optimizers:
        for group in optimizer.param_groups:
            group.setdefault("initial_lr", group["lr"])
            group["lr"] = group["initial_lr"] * factor


# A quality run that continues from weights (--init) skips the low-resolution phase: measured on
# collaGAN, 200 steps at 64 px took the shipped 128 px network's held-out PSNR from 25.28 to
# 24.69 dB, which the last quarter at 128 px then has to win back. The face-analysis network keeps
# its BatchNorm statistics (the ridge-fitted landmark regressor reads them). Options given to the
# run win.
CONTINUING: dict[str, Any] = {"low_resolution": 0, "freeze_batchnorm": True}


def recipe_config(method_cls, recipe: str, *, continuing: bool = False):
    """The method's config with ``recipe`` applied: the dataclass defaults (the paper's), plus for
    ``quality`` the common ``QUALITY`` values and the method's own ``quality_recipe`` (and
    ``CONTINUING`` when the run starts from trained weights)."""
    if recipe not in RECIPES:
        raise ConfigError(f"unknown recipe {recipe!r}; choose one of {', '.join(RECIPES)}")
    cls = method_cls.config_cls
    if recipe == "paper":
        return cls()
    known = {f.name for f in dataclasses.fields(cls)}
    chosen = {**QUALITY, **method_cls.quality_recipe, **(CONTINUING if continuing else {})}
    values = {k: v for k, v in chosen.items() if k in known}
    return config_from_dict(cls, {**values, "recipe": "quality"}, f"the quality recipe of {method_cls.name}")
