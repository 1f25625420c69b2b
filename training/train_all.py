"""``faceinpaint-train all``: every learned method in turn within one wall-clock budget.

The budget is split by ``BUDGET_SHARES`` (renormalised over the methods trained); each method runs
the quality recipe in ``RUNS/METHOD`` (default ``OUT/runs``; an interrupted ``all`` resumes each
run where it stopped) and is exported to ``OUT/METHOD.safetensors`` (fp16, its model card folded
into the file's metadata), so OUT holds one file per method plus ``all.json`` (images/s, images
seen, steps per method): at most 7 files, each well under 16 MiB, which is what comes back from a
lent GPU machine. With ``--init shipped`` each method continues from the shipped weights when
their architecture is the recipe's, else it starts fresh and says so. On CUDA the ``GPU`` table
sets batch sizes for a large GPU, keeps the pack on the device (``training.device_batches``) and
checkpoints every two minutes. Shipping stays a separate, gated step (``faceinpaint-train ship``).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import time
from pathlib import Path
from typing import Any

from engine.atomic import atomic_write_text
from engine.errors import WeightsError
from training.config import ConfigError, load_config

log = logging.getLogger(__name__)

# Training order: the face-analysis network first (others read it), collaGAN before PD-GAN (its prior).
ORDER = ("face-analysis", "collagan", "gfc", "mde", "pdgan", "dcgan")
BUDGET_SHARES = {"face-analysis": 0.10, "collagan": 0.24, "gfc": 0.17, "mde": 0.17, "pdgan": 0.17, "dcgan": 0.15}
# On a large GPU: batches that fill it, the pack on the device, full resolution throughout, and a
# checkpoint every two minutes (a lent machine's command can be cut off).
GPU_COMMON = {"device_batches": True, "low_resolution": 0, "checkpoint_minutes": 2.0, "val_every": 500}
GPU_BATCH = {"face-analysis": 128, "collagan": 128, "gfc": 128, "mde": 128, "pdgan": 32, "dcgan": 256}


def shipped_weights(method: str) -> Path:
    from engine.paths import weights_dir

    return weights_dir() / f"{method}.safetensors"


def model_notes(method: str) -> Path | None:
    """``docs/model-notes/METHOD.md`` (the card's "Departures from the paper") when the checkout has it."""
    path = Path(__file__).resolve().parents[1] / "docs" / "model-notes" / f"{method}.md"
    return path if path.is_file() else None


def plan(methods: list[str] | None, minutes: float, *, include_face_analysis: bool) -> dict[str, float]:
    """Minutes per method, in training order."""
    chosen = [m for m in ORDER if (m in methods if methods else (m != "face-analysis" or include_face_analysis))]
    unknown = sorted(set(methods or []) - set(ORDER))
    if unknown:
        raise ConfigError(f"unknown method(s) {', '.join(unknown)}; choose from {', '.join(ORDER)}")
    if minutes <= 0:
        raise ConfigError(f"--minutes must be positive, got {minutes}")
    total = sum(BUDGET_SHARES[m] for m in chosen)
    return {m: minutes * BUDGET_SHARES[m] / total for m in chosen}


def train_all(
    out: str | Path,
    minutes: float,
    *,
    init: str | None = None,
    methods: list[str] | None = None,
    overrides: dict[str, Any] | None = None,
    config_file: str | None = None,
    runs: str | Path | None = None,
) -> dict[str, Any]:
    """Train each planned method for its share of ``minutes``; returns (and writes) the log."""
    from training.export import export_run, read_json
    from training.methods import load_methods
    from training.recipe import recipe_config
    from training.trainer import CHECKPOINT, run_training

    registry = load_methods()
    out = Path(out)
    runs = Path(runs) if runs else out / "runs"
    on_gpu = str((overrides or {}).get("device", "")).startswith("cuda")
    budget = plan(methods, minutes, include_face_analysis=not shipped_weights("face-analysis").is_file())
    log.info("training %s", ", ".join(f"{m} {b:.1f} min" for m, b in budget.items()))
    record: dict[str, Any] = {"minutes": minutes, "methods": {}}
    log_path = out / "all.json"
    for index, (name, share) in enumerate(budget.items(), 1):
        method_cls = registry[name]
        run_dir = runs / name
        resume = (run_dir / CHECKPOINT).is_file()
        table = {**GPU_COMMON, "batch_size": GPU_BATCH[name]} if on_gpu else {}
        values = {**table, **(overrides or {}), "out": str(run_dir), "minutes": share}
        trained_prior = out / "collagan.safetensors"
        if name == "pdgan" and trained_prior.is_file() and "prior_weights" not in values:
            values["prior_weights"] = str(trained_prior)  # PD-GAN's stage 1: the collaGAN this run trained
        init_path = str(shipped_weights(name)) if init == "shipped" else init
        if init_path and Path(init_path).is_file() and not resume:
            values["init"] = init_path
        def configured(values: dict, method_cls=method_cls, resume=resume, run_dir=run_dir):
            """Recipe (or the resumed run's config), then the config file, then ``values``."""
            base = (load_config(method_cls.config_cls, run_dir / "config.toml") if resume
                    else recipe_config(method_cls, "quality", continuing=bool(values.get("init"))))
            known = {f.name for f in dataclasses.fields(base)}
            return load_config(method_cls.config_cls, config_file, {k: v for k, v in values.items() if k in known}, base=base)

        cfg = configured(values)
        log.info("[%d/%d] %s: %.1f min%s", index, len(budget), name, share,
                 f", continuing from {cfg.init}" if cfg.init else (" (resumed)" if resume else " from scratch"))
        started = time.monotonic()
        try:
            outcome = run_training(method_cls, cfg, resume=resume)
        except (ConfigError, WeightsError) as err:
            if not cfg.init:
                raise
            log.warning("%s: cannot continue from %s (%s); training from scratch", name, cfg.init, err)
            # built again without --init: a run from scratch keeps the recipe's 64 px phase
            outcome = run_training(method_cls, configured({**values, "init": ""}), resume=False)
        weights = out / f"{name}.safetensors"
        notes = model_notes(name)
        export_run(run_dir, weights, fp16=True, overwrite=True, card_in_metadata=True, notes=notes)
        info = read_json(run_dir / "run.json")
        record["methods"][name] = {
            "minutes": round((time.monotonic() - started) / 60, 2), "steps": outcome.step,
            "images_per_second": round(outcome.images_per_second, 2), "images_seen": info.get("images_seen"),
            "device": info.get("device"), "precision": info.get("precision"), "weights": str(weights.relative_to(out)),
            "finished": outcome.finished,
        }
        atomic_write_text(log_path, json.dumps(record, indent=2))
        if not outcome.finished:
            raise KeyboardInterrupt  # a signal stopped the run: the rest waits for the next ``all``
    return record
