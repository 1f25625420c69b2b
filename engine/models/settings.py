"""Typed run settings: one dataclass per model, whose field metadata describes each knob.

A front end builds its option widgets from ``settings_schema(cls)`` (label, range, step, help and
default of every field) and passes the values back per call; nothing outside a model names its
fields. These classes import no torch, so listing models and building widgets stay light.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from engine.errors import ConfigError


def setting(default: Any, *, label: str, help: str = "", min: float | None = None, max: float | None = None,
            step: float | None = None, tunable: bool = True) -> Any:
    """A settings field with what a front end shows: ``tunable=False`` hides expert knobs."""
    metadata = {"label": label, "help": help, "min": min, "max": max, "step": step, "tunable": tunable}
    return dataclasses.field(default=default, metadata=metadata)


@dataclass(frozen=True)
class SettingField:
    """One knob of a model, as a front end needs it to build and check a widget."""

    name: str
    type: type
    default: Any
    label: str
    help: str = ""
    min: float | None = None
    max: float | None = None
    step: float | None = None
    tunable: bool = True


def settings_schema(cls: type) -> list[SettingField]:
    """Every field of a settings dataclass, in declaration order."""
    kinds = {"int": int, "float": float, "bool": bool, "str": str}
    schema = []
    for f in dataclasses.fields(cls):
        meta = f.metadata
        kind = f.type if isinstance(f.type, type) else kinds.get(str(f.type), object)
        schema.append(SettingField(
            name=f.name, type=kind, default=f.default, label=meta.get("label", f.name.replace("_", " ").capitalize()),
            help=meta.get("help", ""), min=meta.get("min"), max=meta.get("max"), step=meta.get("step"),
            tunable=meta.get("tunable", True),
        ))
    return schema


def make_settings(cls: type, values: Any = None) -> Any:
    """An instance of ``cls`` from None (the defaults), an instance, or a mapping of field values.

    Unknown names, wrong types and values outside a field's range raise ``ConfigError``.
    """
    if values is None:
        return cls()
    if isinstance(values, cls):
        checked = values
    elif isinstance(values, Mapping):
        fields = {f.name: f for f in settings_schema(cls)}
        unknown = sorted(set(values) - set(fields))
        if unknown:
            raise ConfigError(f"unknown setting(s) {', '.join(unknown)} for {cls.__name__}; known: {', '.join(fields) or 'none'}")
        checked = cls(**{name: _coerce(fields[name], value) for name, value in values.items()})
    else:
        raise ConfigError(f"settings must be a {cls.__name__} or a mapping, got {type(values).__name__}")
    for f in settings_schema(cls):
        value = getattr(checked, f.name)
        if (f.min is not None and value < f.min) or (f.max is not None and value > f.max):
            raise ConfigError(f"{cls.__name__}.{f.name} must lie in [{f.min}, {f.max}], got {value!r}")
    return checked


def _coerce(field: SettingField, value: Any) -> Any:
    if field.type is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"setting {field.name} must be true or false, got {value!r}")
        return value
    if field.type is int and isinstance(value, int) and not isinstance(value, bool):
        return value
    if field.type is float and isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if field.type is str and isinstance(value, str):
        return value
    raise ConfigError(f"setting {field.name} must be {field.type.__name__}, got {value!r}")


@dataclass(frozen=True)
class NoSettings:
    """Models without run settings."""


@dataclass(frozen=True)
class SearchSettings:
    """The DCGAN latent search (after Yeh et al. 2017)."""

    # The thesis searches 1000 iterations; benchmarks/bench_dcgan_search.py on the shipped weights
    # (3 held-out CelebA faces, centre block, README) found the hole PSNR flat after ~400:
    # 18.97 dB at 400, 19.07 at 450, 18.98 at 550, at ~0.1 s an iteration on a 2-core CPU.
    iterations: int = setting(400, label="Iterations:", help="Steps of the latent search", min=1, max=100_000, step=50)
    restarts: int = setting(8, label="Restarts:", help="Latent codes searched per sample; the best fit is kept",
                            min=1, max=256, step=1)
    lr: float = setting(0.01, label="Learning rate:", help="Adam on z (Yeh et al.'s implementation)", min=0.0,
                        tunable=False)
    prior_weight: float = setting(0.003, label="Prior weight:", help="lambda of the prior loss (eq. 19)", min=0.0,
                                  tunable=False)
    landmark_weight: float = setting(1.0, label="Landmark weight:", help="eq. 20 weighs every term alike", min=0.0,
                                     tunable=False)
    window: int = setting(7, label="Window:", help="eq. 15's neighbourhood", min=1, tunable=False)
    patience: int = setting(100, label="Patience:", help="a restart stops after this many steps without improving",
                            min=1, tunable=False)
    min_improvement: float = setting(1e-3, label="Minimum improvement:", help="relative improvement that resets patience",
                                     min=0.0, tunable=False)
    landmark_threshold: float = setting(3.0, label="Landmark threshold:", help="eq. 17-18, pixels at 64 px", min=0.0,
                                        tunable=False)
    # Differentiable landmark term (needs face-analysis weights). Off by default: running the
    # face-analysis network forward and backward on every restart at every iteration measured
    # 2.4 s/iteration against 0.14 s without it (8 restarts, shipped weights, 2-core CPU), i.e.
    # 40 minutes a photo at 1000 iterations. The thesis's own landmark loss (eq. 17-18) only
    # ranks restarts (``rank_by_landmarks``), which stays on.
    heatmap_loss: bool = setting(False, label="Heatmap landmark loss", help="slow: ~17x per iteration", tunable=False)
    rank_by_landmarks: bool = setting(True, label="Rank restarts by landmarks",
                                      help="thresholded landmark loss when choosing the best restart", tunable=False)
    poisson: bool = setting(True, label="Poisson blending", help="blend the best restart into the hole", tunable=False)
    preview_every: int = setting(20, label="Preview every:", help="iterations between previews", min=1, tunable=False)
    # Weights with an encoder E start from E's z plus a few random restarts and stop early; the
    # budget above (the thesis's random-start search) is used without E or with this switched off.
    # benchmarks/bench_dcgan_search.py --compare chose this budget on 16 held-out crops (README,
    # Benchmarks). On the first encoder file: 10 / 20 / 40 / 60 iterations gave 19.37 / 19.58 /
    # 19.48 / 19.01 dB hole PSNR against 18.52 for the random start. On the shipped file (trained
    # further) with the new face-analysis network ranking the random start's restarts: 20
    # iterations (patience 5) 18.88, 40 (patience 10) 19.31, 80 19.55 dB, against 19.52 for the
    # random start; 3 restarts against 2 or 1 changed nothing (E's start is kept) and cost time.
    encoder_start: bool = setting(True, label="Start from the encoder",
                                  help="search briefly from the encoder's guess; off: the random-start search "
                                       "(Iterations x Restarts, ~20x slower)")
    encoder_iterations: int = setting(40, label="Encoder-start iterations:", min=1, max=100_000, step=10,
                                      help="at most this many steps when starting from the encoder", tunable=False)
    encoder_restarts: int = setting(2, label="Encoder-start restarts:", min=1, max=256, step=1,
                                    help="the encoder's z plus random latents", tunable=False)
    encoder_patience: int = setting(10, label="Encoder-start patience:", min=1, tunable=False,
                                    help="a restart stops after this many steps without improving")
    # E's refined start was the restart kept on all 16 crops, ranked by landmarks or by loss alone;
    # the ranking needs the face-analysis network (~0.5 s of a whole run to load and apply).
    encoder_rank_by_landmarks: bool = setting(False, label="Encoder start: rank by landmarks", tunable=False,
                                              help="rank_by_landmarks when starting from the encoder")
    # The search's batches are tiny (a few 64 px faces): a second CPU thread gains little, and with
    # any other load on the cores torch's threads wait on each other: one iteration measured
    # 0.93 s with 2 threads against 0.04 s with 1 (2-core CPU, load average 7).
    cpu_threads: int = setting(1, label="CPU threads:", min=0, tunable=False,
                               help="torch's threads during a search on the CPU; 0 keeps torch's own count")


@dataclass(frozen=True)
class MDESettings:
    """The Missing Data Encoder's diversity tools (Dapogny, Cord and Perez 2020, 3.1)."""

    remask_ratio: float = setting(0.75, label="Re-mask kept fraction:", min=0.05, max=1.0, step=0.05,
                                  help="S of the REC re-mask: the fraction of each channel a seed keeps visible")
    resample_steps: int = setting(1, label="Resampling steps:", min=1, max=20, step=1,
                                  help="complete, re-mask and complete again (3.1.2)")
