"""``faceinpaint-train export``: a run's generator as engine weights, with a model card.

The card records method, configuration, data folders and counts, steps, wall time, device and
metrics on the held-out split (crops never used for training). When the file lands in the
engine's weights folder, the manifest entry is written too.

Export only ever writes the weights, their card and the manifest: every target is checked before
any work (an existing one needs ``overwrite``; the run's own files and the notes never), and the
paths a run's ``config.toml`` records for its output and landmark cache are not written to (a
moved or crafted run must not make export create or fill folders elsewhere).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import logging
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np
import torch

from engine.atomic import atomic_write_text
from engine.errors import FaceInpaintError
from training.config import load_config
from training.data import build_datasets, collate
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
    # The run is where it is now, whatever its config recorded when it was trained elsewhere.
    cfg = dataclasses.replace(cfg, out=str(run))
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
    """The method's metrics on up to ``limit`` held-out crops (never trained on).

    Landmarks come from a private copy of the run's cache, so scanning writes nothing outside it.
    """
    with tempfile.TemporaryDirectory(prefix="faceinpaint-export-") as scratch:
        _, val_set, _ = build_datasets(dataclasses.replace(method.cfg, cache_dir=_private_cache(method.cfg, scratch)))
        return _score(method, val_set, limit)


def _private_cache(cfg, scratch: str) -> str:
    """A scratch cache folder seeded (read-only) with the run's landmarks when they can be found."""
    recorded = Path(cfg.cache_dir) if cfg.cache_dir else Path(cfg.out) / "cache"
    landmarks = recorded / "landmarks.npz"
    if landmarks.is_file():
        try:
            shutil.copyfile(landmarks, Path(scratch) / landmarks.name)
        except OSError as err:
            log.warning("cannot read the landmark cache %s (%s); detecting faces again", landmarks, err)
    return scratch


def _score(method: TrainMethod, val_set, limit: int) -> tuple[dict[str, float], int]:
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
    run_dir: str | Path,
    output: str | Path,
    *,
    fp16: bool = False,
    notes: str | Path | None = None,
    overwrite: bool = False,
    card_in_metadata: bool = False,
) -> Path:
    """Weights (+ model card, + manifest entry inside the weights folder); ``notes``: Markdown for the card.

    Existing targets are replaced only with ``overwrite``; the run's own files and the notes never.
    ``card_in_metadata`` folds the card into the file's metadata (``card_text``) instead of a
    ``.md`` beside it: one file per model, as a lent GPU machine returns them.
    """
    from engine.weights import save_state_dict, sha256_file, update_manifest

    run, output = Path(run_dir), Path(output)
    card_path = check_targets(run, output, notes, overwrite=overwrite)
    try:
        notes_text = Path(notes).read_text(encoding="utf-8").strip() if notes else ""
    except (OSError, UnicodeDecodeError) as err:
        raise FaceInpaintError(f"{notes}: cannot read the notes ({err})") from None
    method, progress = load_run(run)
    manifest_name = method.name
    in_weights_folder = _in_weights_folder(output)
    if in_weights_folder:
        _check_manifest_entry(manifest_name, output, overwrite=overwrite)
    method.before_export()
    tensors, architecture = method.export()
    if fp16:
        tensors = {k: v.half() if v.is_floating_point() else v for k, v in tensors.items()}
    metrics, evaluated = validation_metrics(method, method.cfg.val_eval_images)
    run_info = read_json(run / "run.json")
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
    card = model_card(method, architecture, training, metrics, output, notes_text)
    metadata = {
        "method": method.name,
        "architecture": architecture,
        "training": training,
        "metrics": metrics,
        "card": card_path.name,
        **({"card_text": card} if card_in_metadata else {}),
    }
    save_state_dict(output, tensors, metadata)
    if card_in_metadata:
        log.info("wrote %s (model card in its metadata)", output)
        return output
    try:
        atomic_write_text(card_path, card)
    except OSError as err:
        raise FaceInpaintError(f"{card_path}: the model card could not be written ({err.strerror or err}); "
                               f"the weights are in {output}") from None
    if in_weights_folder:
        update_manifest(manifest_name, {
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


def check_targets(run: Path, output: Path, notes: str | Path | None, *, overwrite: bool) -> Path:
    """Refuse, before any work, a target export must not write; returns the model card's path."""
    if output.suffix.lower() != ".safetensors":
        raise FaceInpaintError(f"{output}: the weights must go to a .safetensors file")
    card = output.with_suffix(".md")
    for target in (output, card):
        if notes is not None and _same_file(target, Path(notes)):
            raise FaceInpaintError(f"{target} is the --notes file; export to another name so the notes are kept")
        if target.is_dir():
            raise FaceInpaintError(f"{target} is a folder")
        if target.exists() and _is_inside(target, run):
            raise FaceInpaintError(f"{target} is a file of the run {run}; export to another name so the run is kept")
        if target.exists() and not overwrite:
            raise FaceInpaintError(f"{target} already exists; pass --overwrite to replace it")
    if output.parent.exists() and not output.parent.is_dir():
        raise FaceInpaintError(f"{output.parent} is a file, not a folder")
    return card


def _check_manifest_entry(name: str, output: Path, *, overwrite: bool) -> None:
    from engine.weights import read_manifest

    entry = read_manifest()["models"].get(name)
    file = entry.get("file") if isinstance(entry, dict) else None
    if entry is not None and file != output.name and not overwrite:
        raise FaceInpaintError(f"the weights manifest already has {name!r} ({file}); pass --overwrite to point it at {output.name}")


def _in_weights_folder(output: Path) -> bool:
    from engine.paths import weights_dir

    return output.resolve().parent == weights_dir().resolve()


def _same_file(a: Path, b: Path) -> bool:
    if a.exists() and b.exists():
        return os.path.samefile(a, b)
    return a.resolve() == b.resolve()


def _is_inside(path: Path, folder: Path) -> bool:
    return path.resolve().is_relative_to(folder.resolve())


def _portable(value):
    """Absolute paths of the training machine shortened to their last two parts (``…/utkface/train``
    -> ``utkface/train``): a card says what data and files a run used, not where they lay."""
    if isinstance(value, dict):
        return {k: _portable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_portable(v) for v in value]
    if isinstance(value, str) and Path(value).is_absolute():
        return "/".join(Path(value).parts[-2:])
    return value


def read_json(path: Path) -> dict:
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
    config = json.dumps(_portable(dataclasses.asdict(method.cfg)), indent=2)
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
