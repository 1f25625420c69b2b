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
import json
import logging
from typing import Any, Callable, ClassVar

import torch
from torch import Tensor, nn

from engine.errors import ConfigError, WeightsError
from engine.weights import load_state_dict
from training import recipe
from training.config import TrainConfig

log = logging.getLogger(__name__)

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
    # Config fields important enough to get their own ``--flag`` on this method's command line
    # (field name -> help); every other field is reachable with ``--set KEY=VALUE``.
    cli_options: ClassVar[dict[str, str]] = {}
    # Sample keys the method reads beyond image/mask/landmarks (labels cost time to draw); None = all.
    batch_keys: ClassVar[frozenset[str] | None] = None
    # The held-out metric that picks the best checkpoint, and whether higher is better.
    best_metric: ClassVar[tuple[str, bool]] = ("psnr", True)
    # Networks whose EMA is kept (and shipped) when ``ema_decay`` > 0.
    ema_networks: ClassVar[tuple[str, ...]] = ("generator",)
    # Config values of ``--recipe quality`` for this method, on top of ``training.recipe.QUALITY``.
    quality_recipe: ClassVar[dict[str, Any]] = {}
    # Architecture flags whose modules start fresh when ``--init`` names a file trained without them.
    growable_flags: ClassVar[tuple[str, ...]] = ()
    # Architecture fields that shape no tensor: a file continues under another value (a run may
    # switch a Telea-prefilled file to the mirror prefill and let the residual adapt).
    tensorless_fields: ClassVar[tuple[str, ...]] = ("prefill",)

    def __init__(self, cfg: TrainConfig, device: torch.device | str) -> None:
        self.cfg = cfg
        self.device = torch.device(device)
        self.scaler: torch.amp.GradScaler | None = None  # set by the trainer for fp16 on CUDA
        self.precision = "fp32"  # set by the trainer (training.recipe.resolve_precision)
        self.channels_last = False
        self.progress = 0.0  # fraction of the run's budget spent, set by the trainer before each step
        self.ema: dict[str, Any] = {}

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

    def before_export(self) -> None:
        """Called by export on the loaded run before ``export``: last fixes to what ships."""

    def prepare_data(self, train_set) -> None:
        """Fit whatever the method derives from its training data before step 0 (e.g. a prior)."""

    def fit_before_training(self, train_set) -> bool:
        """Called once before step 0 of a fresh run, after --init loaded its weights: closed-form fits
        that read the starting networks (a resumed run keeps what its checkpoint holds). True when it
        changed weights, so the EMA copies restart from them."""
        return False

    def counts_for_best(self) -> bool:
        """Whether a held-out score taken now may become the run's best checkpoint."""
        return True

    def validate(self, batch: dict[str, Tensor]) -> dict[str, list[float]]:
        """Per-crop held-out metrics for the model card: PSNR and SSIM of the composite."""
        return score_composites(self.sample(batch)["composite"], batch["image"])

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
        """The run's mixed precision (bf16 where supported, fp16 on older GPUs); a no-op in fp32."""
        return recipe.autocast(self.precision, self.device)

    @property
    def adversarial_weight(self) -> float:
        """Multiplier of the adversarial/diversity terms: 0 until ``adversarial_start`` of the run."""
        return self.cfg.adversarial_scale if self.progress >= self.cfg.adversarial_start else 0.0

    # -- EMA and continuing from shipped weights ---------------------------------------------------
    def setup_ema(self, decay: float) -> None:
        self.ema = {name: recipe.EMA(unwrap(getattr(self, name)), decay)
                    for name in self.ema_networks if decay > 0 and hasattr(self, name)}

    def update_ema(self) -> None:
        for name, ema in self.ema.items():
            ema.update(unwrap(getattr(self, name)))

    def ema_state_dict(self) -> dict[str, Any]:
        return {name: ema.state_dict() for name, ema in self.ema.items()}

    def load_ema_state_dict(self, state: dict[str, Any]) -> None:
        for name, ema in self.ema.items():
            if name in state:
                ema.load_state_dict(state[name])
            else:  # a checkpoint from before EMA was on: start the average at the current weights
                ema.shadow.load_state_dict(unwrap(getattr(self, name)).state_dict())

    @contextlib.contextmanager
    def ema_swapped(self):
        """The EMA networks in place of the trained ones for the duration (samples, scores, export)."""
        saved = {name: getattr(self, name) for name in self.ema}
        for name, ema in self.ema.items():
            setattr(self, name, ema.shadow)
        self._after_swap()
        try:
            yield self
        finally:
            for name, net in saved.items():
                setattr(self, name, net)
            self._after_swap()

    def _after_swap(self) -> None:
        """Hook for methods that keep other references to a swapped network."""

    def init_from(self, path: str) -> None:
        """Continue from engine weights (an export of this method): the generator and its EMA.

        The file's architecture must be this run's; discriminators start fresh.
        """
        tensors, metadata = load_state_dict(path)
        _, architecture = self.export()
        recorded = metadata.get("architecture")
        if isinstance(recorded, str):
            recorded = json.loads(recorded)
        if not self.architecture_fits(_normalise(recorded), _normalise(architecture)):
            raise ConfigError(f"--init {path}: its architecture {recorded} is not this run's {architecture}; "
                              "train from scratch or match the options")
        try:
            self.load_export(tensors)
        except RuntimeError as err:
            raise WeightsError(f"--init {path}: the tensors do not fit ({err})") from None
        self.restart_ema()

    def restart_ema(self) -> None:
        """Every EMA copy becomes its network's current weights (after weights were loaded or fitted)."""
        for name, ema in self.ema.items():
            ema.shadow.load_state_dict(unwrap(getattr(self, name)).state_dict())

    def architecture_fits(self, recorded: Any, mine: Any) -> bool:
        """Whether weights recorded with ``recorded`` can continue this run: the same architecture,
        up to ``growable_flags`` this run switches on and ``tensorless_fields``."""
        if isinstance(recorded, dict) and isinstance(mine, dict):
            recorded = {**recorded, **{flag: True for flag in self.growable_flags if mine.get(flag)}}
            switched = {k: (recorded.get(k), mine.get(k)) for k in self.tensorless_fields
                        if k in recorded and k in mine and recorded[k] != mine[k]}
            recorded = {k: v for k, v in recorded.items() if k not in switched}
            mine = {k: v for k, v in mine.items() if k not in switched}
            if switched and recorded == mine:
                log.info("continuing a file recorded with %s", ", ".join(f"{k} {a!r}, now {b!r}" for k, (a, b) in switched.items()))
        return recorded == mine

    def load_export(self, tensors: dict[str, Tensor]) -> None:
        """The inverse of ``export``'s tensors (default: the generator's state)."""
        unwrap(self.generator).load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in tensors.items()})

    def frozen_face_analysis(self, weights: str, loss: str) -> nn.Module | None:
        """The face-analysis network behind ``loss``, frozen; without its weights the loss is left out."""
        if not weights:
            return None
        from engine.models.face_analysis import load_face_analysis

        try:
            net, _ = load_face_analysis(weights, device=self.device)
        except WeightsError as err:
            log.warning("%s trains without the %s: %s", self.name, loss, err)
            return None
        set_requires_grad(net, False)
        return net

    def shipped_state(self, name: str = "generator") -> dict[str, Tensor]:
        """The state that ships: the EMA copy when there is one, else the trained network."""
        if name in self.ema:
            return dict(self.ema[name].shadow.state_dict())
        return dict(unwrap(getattr(self, name)).state_dict())

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
        moved = {k: v.to(self.device, non_blocking=True) for k, v in batch.items()}
        if self.channels_last:
            moved = {k: v.contiguous(memory_format=torch.channels_last) if v.dim() == 4 else v for k, v in moved.items()}
        return moved


def load_keeping_fresh(net: nn.Module, tensors: dict[str, Tensor], fresh_prefixes: tuple[str, ...]) -> None:
    """Load ``tensors`` into ``net`` strictly, except that a module under one of ``fresh_prefixes``
    the file lacks entirely keeps its current (freshly initialised) values: a file from before the
    module was added. A file holding part of such a module is refused like any other gap."""
    state = {k: v.float() if v.is_floating_point() else v for k, v in tensors.items()}
    own = net.state_dict()
    fresh = {k for prefix in fresh_prefixes if not any(key.startswith(prefix) for key in state)
             for k in own if k.startswith(prefix)}
    missing = set(own) - set(state) - fresh
    if missing:
        raise RuntimeError(f"missing {sorted(missing)}")
    net.load_state_dict(state | {k: own[k] for k in fresh})


def _normalise(architecture: Any) -> Any:
    """JSON round trip: tuples and lists compare equal, as they do once stored."""
    return json.loads(json.dumps(architecture)) if architecture is not None else None


def score_composites(composite: Tensor, truth: Tensor) -> dict[str, list[float]]:
    """PSNR (capped at 100 dB for identical crops) and SSIM of each composite against its truth."""
    from engine.metrics import psnr, ssim
    from training.visual import to_rgb

    pairs = [(to_rgb(composite[b].float().cpu()), to_rgb(truth[b].float().cpu())) for b in range(truth.shape[0])]
    return {"psnr": [min(psnr(a, b), 100.0) for a, b in pairs], "ssim": [ssim(a, b) for a, b in pairs]}


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
