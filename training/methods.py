"""The interface every training method implements; the shared loop lives in ``training.trainer``.

A method owns its networks, optimisers and schedulers and does one optimisation step per batch;
it never loops, checkpoints, logs or writes files. Conventions the default implementations rely on:

* ``networks()`` maps attribute names to modules: ``{"generator": self.generator}`` means
  ``self.generator``. ``wrap_ddp`` replaces those attributes with wrapped modules, and
  ``state_dict`` stores the unwrapped ones, so checkpoints load with or without DDP.
* Losses go through ``self.backward_step(loss, optimizer)``, which applies the trainer's AMP
  grad scaler; forward passes run under ``self.autocast()``.
"""

from __future__ import annotations

import abc
import contextlib
from typing import Any, Callable, ClassVar

import torch
from torch import Tensor, nn

from training.config import TrainConfig

METHODS: dict[str, type["TrainMethod"]] = {}


def register(cls: type["TrainMethod"]) -> type["TrainMethod"]:
    """Class decorator: make a method available as ``faceinpaint-train <cls.name>``."""
    if cls.name in METHODS and METHODS[cls.name] is not cls:
        raise ValueError(f"two training methods registered as {cls.name!r}")
    METHODS[cls.name] = cls
    return cls


def unwrap(module: nn.Module) -> nn.Module:
    """The plain module inside a DistributedDataParallel wrapper (or the module itself)."""
    return getattr(module, "module", module)


class TrainMethod(abc.ABC):
    name: ClassVar[str]
    config_cls: ClassVar[type[TrainConfig]]
    engine_weights_name: ClassVar[str | None] = None  # manifest name of the export; None = ``name``
    # Config fields important enough to get their own ``--flag`` on this method's command line
    # (field name -> help); every other field is reachable with ``--set KEY=VALUE``.
    cli_options: ClassVar[dict[str, str]] = {}

    def __init__(self, cfg: TrainConfig, device: torch.device | str) -> None:
        self.cfg = cfg
        self.device = torch.device(device)
        self.scaler: torch.amp.GradScaler | None = None  # set by the trainer when AMP is on

    # -- what a method provides ----------------------------------------------------------------
    @abc.abstractmethod
    def build(self) -> None:
        """Create networks (on ``self.device``), optimisers and schedulers."""

    @abc.abstractmethod
    def train_step(self, batch: dict[str, Tensor], step: int) -> dict[str, float]:
        """One optimisation step; returns the losses to log (plain floats)."""

    @abc.abstractmethod
    def networks(self) -> dict[str, nn.Module]: ...

    @abc.abstractmethod
    def optimizers(self) -> dict[str, torch.optim.Optimizer]: ...

    def schedulers(self) -> dict[str, Any]:
        return {}

    @abc.abstractmethod
    def sample(self, batch: dict[str, Tensor]) -> dict[str, Tensor]:
        """Outputs for the sample grid, images in [-1, 1]: "output", "composite", task outputs."""

    @abc.abstractmethod
    def export(self) -> tuple[dict[str, Tensor], dict]:
        """The engine model's tensors and its architecture config (JSON-able)."""

    def validate(self, batch: dict[str, Tensor]) -> dict[str, list[float]]:
        """Per-crop held-out metrics for the model card: PSNR and SSIM of the composite."""
        from engine.metrics import psnr, ssim
        from training.visual import to_rgb

        composite = self.sample(batch)["composite"].float().cpu()
        truth = batch["image"].float().cpu()
        pairs = [(to_rgb(composite[b]), to_rgb(truth[b])) for b in range(truth.shape[0])]
        return {"psnr": [min(psnr(a, b), 100.0) for a, b in pairs], "ssim": [ssim(a, b) for a, b in pairs]}

    # -- shared machinery ----------------------------------------------------------------------
    def wrap_ddp(self, wrap: Callable[[nn.Module], nn.Module]) -> None:
        """Replace each network attribute by ``wrap(network)`` (the trainer passes DDP)."""
        for attr, net in self.networks().items():
            if any(p.requires_grad for p in net.parameters()):
                setattr(self, attr, wrap(net))

    @contextlib.contextmanager
    def unwrapped(self):
        """The plain networks for the duration (rank-0-only work such as samples must skip DDP's collectives)."""
        wrapped = {attr: net for attr, net in self.networks().items() if unwrap(net) is not net}
        for attr, net in wrapped.items():
            setattr(self, attr, unwrap(net))
        try:
            yield self
        finally:
            for attr, net in wrapped.items():
                setattr(self, attr, net)

    def state_dict(self) -> dict[str, Any]:
        return {
            "networks": {k: unwrap(v).state_dict() for k, v in self.networks().items()},
            "optimizers": {k: v.state_dict() for k, v in self.optimizers().items()},
            "schedulers": {k: v.state_dict() for k, v in self.schedulers().items()},
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        for group, items in (("networks", self.networks()), ("optimizers", self.optimizers()),
                             ("schedulers", self.schedulers())):
            saved = state.get(group, {})
            missing = sorted(set(items) - set(saved))
            if missing:
                raise KeyError(f"checkpoint lacks {group} {', '.join(missing)}")
            for key, obj in items.items():
                (unwrap(obj) if group == "networks" else obj).load_state_dict(saved[key])

    def autocast(self) -> contextlib.AbstractContextManager:
        """Mixed precision on CUDA when the trainer turned it on; a no-op elsewhere."""
        if self.scaler is not None and self.device.type == "cuda":
            return torch.autocast("cuda", dtype=torch.float16)
        return contextlib.nullcontext()

    def backward_step(self, loss: Tensor, optimizer: torch.optim.Optimizer) -> None:
        """Zero grads, backpropagate ``loss`` and step ``optimizer`` (through the AMP scaler if any)."""
        optimizer.zero_grad(set_to_none=True)
        if self.scaler is None:
            loss.backward()
            optimizer.step()
        else:
            self.scaler.scale(loss).backward()
            self.scaler.step(optimizer)

    def train(self, mode: bool = True) -> None:
        for net in self.networks().values():
            net.train(mode)

    def to_device(self, batch: dict[str, Tensor]) -> dict[str, Tensor]:
        return {k: v.to(self.device, non_blocking=True) for k, v in batch.items()}


def adam(params, cfg: TrainConfig, lr: float | None = None) -> torch.optim.Adam:
    return torch.optim.Adam(params, lr=cfg.lr if lr is None else lr, betas=(cfg.beta1, cfg.beta2))


def set_requires_grad(net: nn.Module, flag: bool) -> None:
    """Freeze a discriminator during the generator step (saves the useless weight gradients)."""
    for p in net.parameters():
        p.requires_grad_(flag)


def load_methods() -> dict[str, type[TrainMethod]]:
    """Import every method module (each registers itself) and return the registry."""
    import importlib

    for module in ("training.face_analysis", "training.collagan", "training.gfc",
                   "training.pdgan", "training.mde", "training.dcgan"):
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as err:
            if err.name != module:  # a missing dependency inside a method is a real error
                raise
    return METHODS
