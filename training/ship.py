"""``faceinpaint-train ship CANDIDATE``: replace shipped weights only with measurably better ones.

The candidate and the shipped file (or, for a model not shipped yet, OpenCV Telea: the floor every
learned model must clear) are scored on one fixed held-out subset that no run trains on:
``--subset`` faces evenly spaced through the sorted validation folders (default ``utkface/val``
and ``celeba/val`` of ``../shared/data``), masks drawn from ``--seed``, with the method's gate
protocol. The candidate ships only when its mean PSNR over the protocol's cases is higher and its
mean SSIM is not lower. Shipping copies the file and its card into the weights folder and writes
the manifest entry: hash, size, architecture, the training record (cumulative time, images seen,
devices, data by set and split) and the gate's scores. The repository's history keeps every
version, so nothing else is kept.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import shutil
from dataclasses import dataclass
from pathlib import Path

from engine.atomic import atomic_path, atomic_write_text
from engine.errors import FaceInpaintError

log = logging.getLogger(__name__)

GATE_PROTOCOLS = {
    "collagan": "collagan-occlusions",
    "gfc": "collagan-occlusions",
    "pdgan": "collagan-occlusions",
    "mde": "mde-occlusions",
    "dcgan": "center-block",
}
DEFAULT_SUBSET = 120
FLOOR_MODEL = "telea"


def default_val_folders() -> list[Path]:
    """``../shared/data/{utkface,celeba}/val`` beside the repository (where this project keeps its data)."""
    root = Path(__file__).resolve().parents[2] / "shared" / "data"
    return [root / "utkface" / "val", root / "celeba" / "val"]


@dataclass
class GateScore:
    model: str
    psnr: float
    ssim: float
    per_case: dict[str, tuple[float, float]]


@dataclass
class GateResult:
    method: str
    protocol: str
    candidate: GateScore
    reference: GateScore  # the shipped file, or the floor model
    accepted: bool
    config: dict

    def table(self) -> str:
        lines = [f"ship gate for {self.method}: protocol {self.protocol}, {self.config['images']} held-out faces",
                 f"{'case':<14} {'candidate':>18} {self.reference.model:>18}"]
        for case, (psnr, ssim) in self.candidate.per_case.items():
            ref = self.reference.per_case.get(case, (float('nan'), float('nan')))
            lines.append(f"{case:<14} {psnr:8.2f} dB {ssim:7.4f} {ref[0]:8.2f} dB {ref[1]:7.4f}")
        lines.append(f"{'mean':<14} {self.candidate.psnr:8.2f} dB {self.candidate.ssim:7.4f} "
                     f"{self.reference.psnr:8.2f} dB {self.reference.ssim:7.4f}")
        lines.append("accepted: shipped" if self.accepted else "refused: not better on mean PSNR without losing SSIM")
        return "\n".join(lines)


def score(model: str, weights: Path | None, protocol: str, data: list[Path], subset: int, seed: int,
          device: str) -> tuple[GateScore, dict]:
    """Mean PSNR and SSIM of ``model`` (with ``weights``) over the protocol's cases on the subset."""
    from engine.evaluation import EvalConfig, evaluate

    config = EvalConfig(data=data, protocol=protocol, models=[model], weights={model: weights} if weights else {},
                        subset=subset, seed=seed, device=device, face_backend="dlib", face_metrics=False)
    report = evaluate(config, progress=False)
    rows = [row for row in report.rows if row["model"] == model and row.get("psnr") is not None]
    if not rows:
        raise FaceInpaintError(f"the ship gate scored no image with {model} (no faces found in {', '.join(map(str, data))}?)")
    per_case = {row["case"]: (float(row["psnr"]), float(row["ssim"])) for row in rows}
    psnr = sum(p for p, _ in per_case.values()) / len(per_case)
    ssim = sum(s for _, s in per_case.values()) / len(per_case)
    return GateScore(model, psnr, ssim, per_case), report.config


def gate(candidate: Path, *, data: list[Path] | None = None, subset: int = DEFAULT_SUBSET, seed: int = 0,
         device: str = "cpu", weights_folder: Path | None = None) -> GateResult:
    """Score ``candidate`` against what ships (or the floor); nothing is written."""
    from engine.paths import weights_dir
    from engine.weights import load_state_dict

    candidate = Path(candidate)
    _, metadata = load_state_dict(candidate)  # verifies the file before any scoring
    method = metadata.get("method", "")
    if method not in GATE_PROTOCOLS:
        raise FaceInpaintError(f"{candidate}: the ship gate knows no protocol for method {method!r} "
                               f"(one of {', '.join(GATE_PROTOCOLS)})")
    protocol = GATE_PROTOCOLS[method]
    data = [Path(d) for d in (data or default_val_folders())]
    missing = [str(d) for d in data if not d.is_dir()]
    if missing:
        raise FaceInpaintError(f"held-out folder(s) {', '.join(missing)} not found: pass --data VAL_FOLDER")
    shipped = (weights_folder or weights_dir()) / f"{method}.safetensors"
    cand, config = score(method, candidate, protocol, data, subset, seed, device)
    if shipped.is_file():
        reference, _ = score(method, shipped, protocol, data, subset, seed, device)
    else:
        reference, _ = score(FLOOR_MODEL, None, protocol, data, subset, seed, device)
    accepted = cand.psnr > reference.psnr and round(cand.ssim, 4) >= round(reference.ssim, 4)
    return GateResult(method, protocol, cand, reference, accepted, config)


def ship(candidate: str | Path, *, dry_run: bool = False, **kwargs) -> GateResult:
    """Run the gate and, when it accepts, install the candidate as the shipped weights."""
    from engine.paths import weights_dir
    from engine.weights import load_state_dict, sha256_file, update_manifest

    candidate = Path(candidate)
    result = gate(candidate, **kwargs)
    print(result.table())
    if not result.accepted or dry_run:
        return result
    _, metadata = load_state_dict(candidate)
    folder = weights_dir()
    target = folder / f"{result.method}.safetensors"
    with atomic_path(target) as temp:
        shutil.copyfile(candidate, temp)
    card = candidate.with_suffix(".md")
    if card.is_file():
        with atomic_path(target.with_suffix(".md")) as temp:
            shutil.copyfile(card, temp)
    elif metadata.get("card_text"):  # a GPU sprint's file carries its card inside
        atomic_write_text(target.with_suffix(".md"), metadata["card_text"])
    training = _json(metadata.get("training"))
    update_manifest(result.method, {
        "file": target.name, "sha256": sha256_file(target), "bytes": target.stat().st_size,
        "method": result.method, "architecture": metadata.get("architecture"), "training": training,
        "metrics": _json(metadata.get("metrics")), "card": target.with_suffix(".md").name,
        "gate": {
            "protocol": result.protocol, "images": result.config["images"], "subset": kwargs.get("subset", DEFAULT_SUBSET),
            "seed": kwargs.get("seed", 0), "data": [_set_name(d) for d in result.config["data"]],
            "psnr": round(result.candidate.psnr, 4), "ssim": round(result.candidate.ssim, 4),
            "per_case": {c: [round(p, 4), round(s, 4)] for c, (p, s) in result.candidate.per_case.items()},
            "replaced": {"model": result.reference.model, "psnr": round(result.reference.psnr, 4),
                         "ssim": round(result.reference.ssim, 4)},
            "date": f"{dt.datetime.now(dt.UTC):%Y-%m-%d}",
        },
    })
    log.info("shipped %s as %s", candidate, target)
    return result


def _json(value) -> dict:
    if isinstance(value, dict):
        return value
    try:
        return json.loads(value) if value else {}
    except ValueError:
        return {}


def _set_name(folder: str) -> str:
    from training.pack import data_set_name

    return data_set_name(folder)
