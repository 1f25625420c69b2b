"""Run configuration as dataclasses: defaults are the paper's values, TOML files and CLI flags override.

Every run saves its full configuration as ``config.toml`` in the run folder, so a run can be
resumed or exported without repeating a single flag.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, TypeVar

from engine.config import build_config, read_toml
from engine.device import check_device
from engine.errors import ConfigError, FaceInpaintError
from engine.weights import ARCHITECTURE_LIMITS

RESOLUTION_STEP = 8  # every network halves its input at least three times


@dataclass
class TrainConfig:
    """Options common to every method."""

    method: str = ""
    data: list[str] = field(default_factory=list)  # folders of face photos, searched recursively
    val_data: list[str] = field(default_factory=list)  # held-out folders; empty = hold out val_fraction
    val_fraction: float = 0.02
    masks: list[str] = field(default_factory=list)  # folders of irregular masks (white = hole)
    out: str = ""
    cache_dir: str = ""  # landmark cache; empty = <out>/cache
    resolution: int = 128
    width: int = 64  # base channel count of the networks (tests shrink it)
    batch_size: int = 16
    steps: int = 0  # 0 = run for ``epochs``
    epochs: int = 20
    lr: float = 2e-4
    beta1: float = 0.5
    beta2: float = 0.999
    seed: int = 0
    device: str = "auto"
    amp: bool = True  # mixed precision, used on CUDA only
    num_workers: int = 2
    checkpoint_every: int = 1000
    sample_every: int = 500
    log_every: int = 50
    # Mask generators and their mixing weights: block, pattern, noise, strokes, irregular
    # (from ``masks``), channel (channel-wise, MDE).
    mask_mix: dict[str, float] = field(default_factory=lambda: {"block": 1.0})
    block_size: int = 64  # at 128 px; scaled with the resolution
    # Relative weights of the landmark presets a "preset" mask is drawn from (training.data's
    # PRESET_CASES; a case not named weighs 1): a hard case can be drawn more often.
    preset_weights: dict[str, float] = field(default_factory=dict)
    aligned: bool = True
    augment: bool = True
    # Scale of the geometric augmentation (shift, rotation, zoom; flips stay): 1 = training.data's
    # ranges, 0 = none. Under the mirror prefill keep it 0: the engine completes crops aligned so the
    # face's axis is the centre column, and a shifted or tilted crop teaches the network that the
    # mirror is wrong (collaGAN run 4, trained jittered, blurred even frontal faces' mirrored eyes).
    jitter: float = 1.0
    channel_mode: str = "REC"  # channel-wise masks (engine.masks.CHANNEL_MODES)
    channel_area: float = 0.1  # their kept area fraction S
    val_samples: int = 8  # rows of the sample grid
    val_eval_images: int = 200  # held-out crops scored by ``export``
    # -- the quality recipe (training/recipe.py); the defaults here are the papers' settings ------
    recipe: str = "paper"  # the recipe the run was configured with: "quality" or "paper"
    pack: str = ""  # a face pack (faceinpaint-train pack) to read instead of the photo folders
    minutes: float = 0.0  # wall-clock budget; > 0 stops the run there (and paces the learning rate)
    init: str = ""  # engine weights to continue from (generator and its EMA; discriminators fresh)
    precision: str = "auto"  # auto (bf16 where supported), fp32, bf16, fp16 (CUDA)
    channels_last: bool = False
    ema_decay: float = 0.0  # > 0 keeps an EMA of the generator, which is what export ships
    lr_schedule: str = "constant"  # or "linear": to zero over the run's steps or minutes
    prefill: str = "paper"  # what the hole holds at the input: the paper's, or "telea" / "mirror" / "face-mirror" (+ residual)
    rec_loss: str = "paper"  # the paper's reconstruction loss, or "ssim-l1" on the composite
    adversarial_start: float = 0.0  # fraction of the run before adversarial/diversity terms enter
    adversarial_scale: float = 1.0  # their weights are multiplied by this
    val_every: int = 0  # steps between held-out scores; > 0 keeps the best as checkpoints/best.pt
    device_batches: bool = False  # with a pack: keep it on the device and draw batches there (training.device_batches)
    checkpoint_minutes: float = 0.0  # > 0: also checkpoint every this many minutes
    low_resolution: int = 0  # > 0: train at this size until ``low_resolution_until`` of the run (progressive)
    low_resolution_until: float = 0.75

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Refuse values no run can use, whichever entry point built the config (CLI, TOML, 'all',
        tests), before any data is read or network built; one ``ConfigError`` naming the option."""
        for name, (low, high) in ARCHITECTURE_LIMITS.items():  # the sizes a weights file may record
            value = getattr(self, name, None)
            if value is not None and not (isinstance(value, int) and low <= value <= high):
                raise ConfigError(f"option {name} must be a whole number from {low} to {high}, got {value!r}")
        for name in ("resolution", "low_resolution"):
            value = getattr(self, name)
            if value and value % RESOLUTION_STEP:
                raise ConfigError(f"option {name} must be a multiple of {RESOLUTION_STEP} (the networks halve it "
                                  f"several times), e.g. 64, 96 or 128; got {value}")
        if self.low_resolution and not RESOLUTION_STEP <= self.low_resolution <= self.resolution:
            raise ConfigError(f"option low_resolution must be 0 or from {RESOLUTION_STEP} to resolution "
                              f"({self.resolution}), got {self.low_resolution}")
        at_least = {"batch_size": 1, "epochs": 1, "steps": 0, "num_workers": 0, "checkpoint_every": 1,
                    "sample_every": 1, "log_every": 1, "val_samples": 0, "val_eval_images": 0, "val_every": 0,
                    "block_size": 1}
        for name, low in at_least.items():
            if getattr(self, name) < low:
                raise ConfigError(f"option {name} must be at least {low}, got {getattr(self, name)}")
        if not (math.isfinite(self.lr) and self.lr > 0):
            raise ConfigError(f"option lr must be a positive number, got {self.lr}")
        below_one = ("val_fraction", "beta1", "beta2", "ema_decay")  # 1 would never move, or hold out everything
        for name in (*below_one, "channel_area", "low_resolution_until", "jitter"):
            value = getattr(self, name)
            if not (math.isfinite(value) and 0.0 <= value and (value < 1.0 if name in below_one else value <= 1.0)):
                bound = "below 1" if name in below_one else "1"
                raise ConfigError(f"option {name} must be a fraction from 0 to {bound}, got {value}")
        for name in ("minutes", "checkpoint_minutes"):
            if not (math.isfinite(getattr(self, name)) and getattr(self, name) >= 0):
                raise ConfigError(f"option {name} must be 0 (off) or a positive number of minutes, got {getattr(self, name)}")
        try:
            self.device = check_device(self.device)
        except FaceInpaintError as err:
            raise ConfigError(f"option device: {err}") from None


C = TypeVar("C", bound=TrainConfig)


def config_from_dict(cls: type[C], values: Mapping[str, Any], source: str = "options") -> C:
    """Build ``cls`` from a mapping, refusing unknown keys and wrong types with a clear message."""
    return build_config(cls, [(source, values)])


def load_config(
    cls: type[C], toml_path: str | Path | None = None, overrides: Mapping[str, Any] | None = None, *, base: C | None = None
) -> C:
    """``base`` (default: the defaults of ``cls``), then the TOML file (if any), then ``overrides`` (None = not given)."""
    layers = []
    if toml_path is not None:
        layers.append((str(toml_path), read_toml(toml_path)))
    if overrides:
        layers.append(("options", {k: v for k, v in overrides.items() if v is not None}))
    return build_config(cls, layers, base=base)


def save_config(cfg: TrainConfig, path: str | Path) -> None:
    """Write ``cfg`` as TOML (tomli-w when installed, else the small writer below), atomically."""
    data = dataclasses.asdict(cfg)
    try:
        import tomli_w

        text = tomli_w.dumps(data)
    except ImportError:
        text = _dump_toml(data)
    from engine.atomic import atomic_write_text

    atomic_write_text(Path(path), text)


def _dump_toml(data: Mapping[str, Any]) -> str:
    """TOML for a flat config: scalars and lists first, then one table per dict."""
    lines, tables = [], []
    for key, value in data.items():
        if isinstance(value, Mapping):
            tables.append((key, value))
        else:
            lines.append(f"{key} = {_toml_value(value)}")
    for key, table in tables:
        lines.append(f"\n[{key}]")
        lines.extend(f"{_toml_key(k)} = {_toml_value(v)}" for k, v in table.items())
    return "\n".join(lines) + "\n"


def _toml_key(key: str) -> str:
    return key if key.replace("_", "").replace("-", "").isalnum() else _toml_value(key)


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
        return f'"{escaped}"'
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    raise ConfigError(f"cannot write {value!r} to TOML")
