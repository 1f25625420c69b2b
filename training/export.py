"""``faceinpaint-train export``: a run's generator as engine weights, with a model card.

The card records method, configuration, data folders and counts, steps, wall time, device and
metrics on the held-out split (crops never used for training). When the file lands in the
engine's weights folder, the manifest entry is written too.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import logging
from pathlib import Path

import numpy as np
import torch

from engine.errors import FaceInpaintError
from training.config import load_config
from training.data import build_datasets, collate
from training.io import atomic_write_text
from training.methods import TrainMethod, load_methods
from training.trainer import BEST_CHECKPOINT, CHECKPOINT

log = logging.getLogger(__name__)


def load_run(run_dir: str | Path, device: str = "cpu", *, checkpoint: str = "best") -> tuple[TrainMethod, dict]:
    """The run's method with a checkpoint loaded (``best``: the best held-out score when the run kept
    one, else the last), and the checkpoint's bookkeeping."""
    import tomllib

    run = Path(run_dir)
    config_file, ckpt_file = run / "config.toml", run / CHECKPOINT
    if checkpoint == "best" and (run / BEST_CHECKPOINT).is_file():
        ckpt_file = run / BEST_CHECKPOINT
    if not config_file.is_file() or not ckpt_file.is_file():
        raise FaceInpaintError(f"{run} is not a training run (needs config.toml and {CHECKPOINT})")
    method_name = tomllib.loads(config_file.read_text(encoding="utf-8")).get("method", "")
    methods = load_methods()
    if method_name not in methods:
        raise FaceInpaintError(f"{config_file}: unknown method {method_name!r}")
    method_cls = methods[method_name]
    cfg = load_config(method_cls.config_cls, config_file)
    method = method_cls(cfg, device)
    method.build()
    try:
        state = torch.load(ckpt_file, map_location=device, weights_only=True)
    except Exception as err:
        raise FaceInpaintError(f"{ckpt_file}: cannot read the checkpoint ({err})") from None
    method.load_state_dict(state["model"])
    method.setup_ema(cfg.ema_decay)
    method.load_ema_state_dict(state.get("ema") or {})
    method.train(False)
    return method, {"step": int(state["step"]), "wall_time_s": float(state.get("wall_time", 0.0)),
                    "checkpoint": ckpt_file.name}


def validation_metrics(method: TrainMethod, limit: int) -> tuple[dict[str, float], int]:
    """The method's metrics on up to ``limit`` held-out crops (never trained on)."""
    _, val_set, _ = build_datasets(method.cfg)
    count = min(limit, len(val_set))
    if count == 0:
        return {}, 0
    sums: dict[str, float] = {}
    val_set.keys = method.batch_keys
    for start in range(0, count, method.cfg.batch_size):
        batch = collate([val_set[i] for i in range(start, min(count, start + method.cfg.batch_size))])
        with torch.no_grad(), method.ema_swapped():
            for key, values in method.validate(method.to_device(batch)).items():
                sums[key] = sums.get(key, 0.0) + float(np.sum(values))
    return {k: v / count for k, v in sums.items()}, count


def export_run(
    run_dir: str | Path, output: str | Path, *, fp16: bool = False, notes: str | Path | None = None, overwrite: bool = False
) -> Path:
    """Weights (+ model card, + manifest entry inside the weights folder); ``notes``: Markdown for the card."""
    from engine.paths import weights_dir
    from engine.weights import save_state_dict, sha256_file, update_manifest

    run, output = Path(run_dir), Path(output)
    if output.exists() and not overwrite:
        raise FaceInpaintError(f"{output} already exists: pass --overwrite to replace it")
    try:
        notes_text = Path(notes).read_text(encoding="utf-8").strip() if notes else ""
    except (OSError, UnicodeDecodeError) as err:
        raise FaceInpaintError(f"{notes}: cannot read the notes ({err})") from None
    method, progress = load_run(run)
    tensors, architecture = method.export()
    if fp16:
        tensors = {k: v.half() if v.is_floating_point() else v for k, v in tensors.items()}
    metrics, evaluated = validation_metrics(method, method.cfg.val_eval_images)
    run_info = _read_json(run / "run.json")
    training = {
        "steps": progress["step"],
        "checkpoint": progress["checkpoint"],
        "wall_time_s": round(progress["wall_time_s"], 1),
        "images_seen": progress["step"] * method.cfg.batch_size * int(run_info.get("processes", 1)),
        "device": run_info.get("device", "unknown"),
        "precision": run_info.get("precision", "fp32"),
        "recipe": method.cfg.recipe,
        "data": data_names(method.cfg),
        "data_counts": run_info.get("data", {}),
        "held_out_evaluated": evaluated,
    }
    training["cumulative"] = cumulative(training, method.cfg.init)
    card_path = output.with_suffix(".md")
    metadata = {
        "method": method.name,
        "architecture": architecture,
        "training": training,
        "metrics": metrics,
        "card": card_path.name,
    }
    save_state_dict(output, tensors, metadata)
    atomic_write_text(card_path, model_card(method, architecture, training, metrics, output, notes_text))
    if output.resolve().parent == weights_dir().resolve():
        update_manifest(method.engine_weights_name or method.name, {
            "file": output.name, "sha256": sha256_file(output), "bytes": output.stat().st_size,
            "method": method.name, "architecture": architecture, "training": training,
            "metrics": metrics, "card": card_path.name,
        })
    log.info("wrote %s and %s", output, card_path)
    return output


def data_names(cfg) -> list[str]:
    """The training data by set and split (``utkface/train``), never a machine's absolute path."""
    from training.pack import data_set_name, load_pack

    if cfg.pack:
        try:
            return [f"{s['data']} (every {s['every']}. photo)" if s.get("every", 1) > 1 else s["data"]
                    for s in load_pack(cfg.pack).info["sources"]]
        except FaceInpaintError:
            return ["a face pack"]
    return [data_set_name(d) for d in cfg.data]


def cumulative(training: dict, init: str) -> dict:
    """Training totals over every run this one continues (``--init`` weights record their own)."""
    previous: dict = {}
    if init:
        from engine.weights import load_state_dict

        try:
            _, metadata = load_state_dict(init)
            record = json.loads(metadata.get("training", "{}"))
            previous = record.get("cumulative") or {k: record.get(k, 0) for k in ("steps", "wall_time_s", "images_seen")}
            previous.setdefault("devices", [record.get("device", "unknown")])
        except (FaceInpaintError, ValueError, AttributeError):
            previous = {}
    devices = list(dict.fromkeys([*previous.get("devices", []), training["device"]]))
    return {
        "steps": int(previous.get("steps", 0) or 0) + training["steps"],
        "wall_time_s": round(float(previous.get("wall_time_s", 0) or 0) + training["wall_time_s"], 1),
        "images_seen": int(previous.get("images_seen", 0) or 0) + training["images_seen"],
        "runs": int(previous.get("runs", 1) or 1) + 1 if init else 1,
        "devices": devices,
    }


def _read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return {}


def model_card(method: TrainMethod, architecture: dict, training: dict, metrics: dict, weights: Path, notes: str = "") -> str:
    counts = training["data_counts"]
    folders = counts.get("folders", {})
    data_lines = "\n".join(
        f"| {name} | {c['found']} | {c['usable']} | {c['no_face']} | {c['unreadable']} |" for name, c in folders.items()
    ) or "| (not recorded) | | | | |"
    metric_lines = "\n".join(f"| {k} | {v:.4f} |" for k, v in metrics.items()) or "| (no held-out crops) | |"
    config = json.dumps(dataclasses.asdict(method.cfg), indent=2)
    notes = f"\n{notes}\n" if notes else ""
    return f"""# {weights.name}

Method: **{method.name}**, exported {dt.datetime.now(dt.timezone.utc):%Y-%m-%d %H:%M} UTC.
{notes}
## Training

- recipe: {training.get('recipe', 'paper')} (see the README's training section; `--recipe paper` is the paper's setting)
- this run: {training['steps']} steps, {training.get('images_seen', '?')} images seen, {training['wall_time_s'] / 3600:.2f} h on {training['device']} ({training.get('precision', 'fp32')}), checkpoint `{training.get('checkpoint', 'last.pt')}`
- all runs behind these weights: {training.get('cumulative', {}).get('wall_time_s', training['wall_time_s']) / 3600:.2f} h, {training.get('cumulative', {}).get('images_seen', '?')} images seen, {training.get('cumulative', {}).get('runs', 1)} run(s) on {', '.join(training.get('cumulative', {}).get('devices', [training['device']]))}
- data: {', '.join(training.get('data', [])) or 'not recorded'}
- training faces: {counts.get('train', '?')}; held-out faces: {counts.get('val', '?')}

| data folder | photos | with a face | no face | unreadable |
|---|---|---|---|---|
{data_lines}

## Held-out metrics ({training['held_out_evaluated']} crops never used for training)

| metric | value |
|---|---|
{metric_lines}

## Architecture

```json
{json.dumps(architecture, indent=2)}
```

## Configuration

```json
{config}
```

Research use only: the training photos' licences (UTKFace, CelebA) forbid commercial use.
"""
