"""``faceinpaint-train ship CANDIDATE``: replace shipped weights only with measurably better ones.

The candidate and the shipped file (or, for a model not shipped yet, OpenCV Telea: the floor every
learned model must clear; for the face-analysis network, the mean face) are scored on one fixed held-out subset that no run trains on:
``--subset`` faces evenly spaced through the sorted validation folders (default ``utkface/val``
and ``celeba/val`` of ``../shared/data``), masks drawn from ``--seed``, with the method's gate
protocol. The candidate ships only when its mean PSNR over the protocol's cases is higher and its
mean SSIM is not lower; a PD-GAN must also keep its diversity (``DIVERSITY_GATED``): PSNR rewards
the mean completion, so a continuation can buy a few tenths of a dB by collapsing every seed onto one. The face-analysis network completes nothing: its gate aligns the same faces
and asks for a lower landmark NME (against dlib's landmarks) without a lower parsing accuracy. Shipping copies the file and its card into the weights folder and writes
the manifest entry: hash, size, architecture, the training record (cumulative time, images seen,
devices, data by set and split) and the gate's scores. The repository's history keeps every
version, so nothing else is kept.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import shutil
import tempfile
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
    "face-analysis": "landmarks",
}
DEFAULT_SUBSET = 120
FLOOR_MODEL = "telea"
# Methods whose point is many completions: their gate also measures the sample spread (two seeds'
# completions, mean difference in the hole) and wants at least SPREAD_KEEP of the shipped file's.
# An 18-minute PD-GAN continuation gained 0.14 dB while its spread fell from 0.19 to 0.005 grey levels.
DIVERSITY_GATED = frozenset({"pdgan"})
SPREAD_KEEP = 0.9


def default_val_folders() -> list[Path]:
    """``../shared/data/{utkface,celeba}/val`` beside the repository (where this project keeps its data)."""
    root = Path(__file__).resolve().parents[2] / "shared" / "data"
    return [root / "utkface" / "val", root / "celeba" / "val"]


@dataclass(frozen=True)
class GateMetrics:
    """The two means a gate compares: the primary must improve, the secondary (4 decimals) not worsen."""

    primary: str = "psnr"
    secondary: str = "ssim"
    primary_lower_is_better: bool = False

    def accepts(self, candidate: GateScore, reference: GateScore) -> bool:
        better = (candidate.primary < reference.primary) if self.primary_lower_is_better else (candidate.primary > reference.primary)
        return better and round(candidate.secondary, 4) >= round(reference.secondary, 4) and keeps_diversity(candidate, reference)


def keeps_diversity(candidate: GateScore, reference: GateScore) -> bool:
    """True unless the candidate is a diverse model that lost its diversity: its spread is below
    SPREAD_KEEP of the reference's, or 0 where the reference (Telea) has none to compare."""
    if candidate.spread is None:
        return True
    if reference.spread is None:
        return candidate.spread > 0.0
    return candidate.spread >= SPREAD_KEEP * reference.spread


IMAGE_METRICS = GateMetrics()
ANALYSIS_METRICS = GateMetrics("nme", "parsing_accuracy", primary_lower_is_better=True)
MEAN_FACE = "mean face"  # the face-analysis floor: the training mean shape, i.e. the untrained recipe network


@dataclass
class GateScore:
    model: str
    primary: float  # PSNR (dB), or for the face-analysis network NME
    secondary: float  # SSIM, or parsing accuracy
    per_case: dict[str, tuple[float, float]]
    spread: float | None = None  # sample spread (0-255), for DIVERSITY_GATED methods

    @property
    def psnr(self) -> float:
        return self.primary

    @property
    def ssim(self) -> float:
        return self.secondary


@dataclass
class GateResult:
    method: str
    protocol: str
    candidate: GateScore
    reference: GateScore  # the shipped file, or the floor model
    accepted: bool
    config: dict
    metrics: GateMetrics = IMAGE_METRICS

    def table(self) -> str:
        m = self.metrics
        unit = " dB" if m.primary == "psnr" else ""
        lines = [f"ship gate for {self.method}: protocol {self.protocol}, {self.config['images']} held-out faces "
                 f"({m.primary}, {m.secondary})",
                 f"{'case':<14} {'candidate':>18} {self.reference.model:>18}"]
        for case, (first, second) in self.candidate.per_case.items():
            ref = self.reference.per_case.get(case, (float('nan'), float('nan')))
            lines.append(f"{case:<14} {first:8.4g}{unit} {second:7.4f} {ref[0]:8.4g}{unit} {ref[1]:7.4f}")
        lines.append(f"{'mean':<14} {self.candidate.primary:8.4g}{unit} {self.candidate.secondary:7.4f} "
                     f"{self.reference.primary:8.4g}{unit} {self.reference.secondary:7.4f}")
        kept = [m.secondary]
        if self.candidate.spread is not None:
            ref = "n/a" if self.reference.spread is None else f"{self.reference.spread:.3f}"
            lines.append(f"{'sample spread':<14} {self.candidate.spread:18.3f} {ref:>18}")
            kept.append(f"sample spread (>= {SPREAD_KEEP:g} x the reference's; > 0 against a model with none)")
        direction = "lower" if m.primary_lower_is_better else "better"
        lines.append(f"accepted: {direction} mean {m.primary} without losing {' or '.join(kept)}" if self.accepted
                     else f"refused: not {direction} on mean {m.primary} without losing {' or '.join(kept)}")
        return "\n".join(lines)


def score(model: str, weights: Path | None, protocol: str, data: list[Path], subset: int, seed: int,
          device: str) -> tuple[GateScore, dict]:
    """Mean PSNR and SSIM of ``model`` (with ``weights``) over the protocol's cases on the subset."""
    from engine.evaluation import EvalConfig, evaluate

    diverse = model in DIVERSITY_GATED
    config = EvalConfig(data=data, protocol=protocol, models=[model], weights={model: weights} if weights else {},
                        subset=subset, seed=seed, device=device, face_backend="dlib", face_metrics=False,
                        sample_spread=diverse)
    report = evaluate(config, progress=False)
    rows = [row for row in report.rows if row["model"] == model and row.get("psnr") is not None]
    if not rows:
        raise FaceInpaintError(f"the ship gate scored no image with {model} (no faces found in {', '.join(map(str, data))}?)")
    per_case = {row["case"]: (float(row["psnr"]), float(row["ssim"])) for row in rows}
    psnr = sum(p for p, _ in per_case.values()) / len(per_case)
    ssim = sum(s for _, s in per_case.values()) / len(per_case)
    spreads = [float(row["sample_spread"]) for row in rows if row.get("sample_spread") is not None]
    spread = sum(spreads) / len(spreads) if spreads else None  # only measured when ``diverse``
    return GateScore(model, psnr, ssim, per_case, spread), report.config


def score_face_analysis(weights: Path, data: list[Path], subset: int, device: str, name: str = "") -> tuple[GateScore, dict]:
    """Landmark NME (heatmap peaks against dlib's landmarks, inter-ocular) and parsing accuracy (against
    the parsing map drawn from those landmarks) of a face-analysis network on the subset's first faces,
    aligned as every consumer aligns them."""
    import numpy as np
    import torch

    from engine.errors import NoFaceError
    from engine.evaluation import list_images, prepare_image
    from engine.face.labels import heatmap_peaks, parsing_map
    from engine.metrics import landmark_nme
    from engine.models.face_analysis import load_face_analysis

    net, arch = load_face_analysis(weights, device=device)
    net.eval()
    nme, accuracy, skipped, images = [], [], 0, list_images(data, subset=subset)
    for path in images:
        try:
            prepared = prepare_image(path, arch.resolution, "dlib", face_metrics=False)
        except NoFaceError:
            skipped += 1
            continue
        x = torch.from_numpy(prepared.crop).permute(2, 0, 1)[None].float().div(127.5).sub(1.0).to(device)
        with torch.no_grad():
            heatmaps, parsing = net(x)
        predicted = heatmap_peaks(heatmaps[0].float().cpu().numpy())
        labels = parsing[0].argmax(dim=0).cpu().numpy()
        nme.append(landmark_nme(predicted, prepared.landmarks))
        accuracy.append(float((labels == parsing_map(prepared.landmarks, labels.shape)).mean()))
    if not nme:
        raise FaceInpaintError(f"the ship gate found no face in {', '.join(map(str, data))}")
    means = (float(np.mean(nme)), float(np.mean(accuracy)))
    config = {"images": len(images), "skipped": skipped, "data": [str(d) for d in data], "protocol": "landmarks"}
    return GateScore(name or Path(weights).name, *means, {"landmarks": means}), config


def gate(candidate: Path, *, data: list[Path] | None = None, subset: int = DEFAULT_SUBSET, seed: int = 0,
         device: str = "cpu", weights_folder: Path | None = None, rescore_shipped: bool = False) -> GateResult:
    """Score ``candidate`` against what ships (or the floor); nothing is written.

    ``rescore_shipped`` scores the shipped file again instead of reading its gate record: after a
    change to the engine that alters what the file outputs (a new prefill), the record is of the
    old code, and a candidate must beat what the shipped file does now."""
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
    if method == "face-analysis":
        cand, config = score_face_analysis(candidate, data, subset, device)
        if shipped.is_file():
            reference, _ = score_face_analysis(shipped, data, subset, device, method)
        else:  # the floor: what the candidate's mean-face prior answers with untrained heads
            with tempfile.TemporaryDirectory() as folder:
                floor = _mean_face_of(candidate, Path(folder) / "mean-face.safetensors")
                reference, _ = score_face_analysis(floor, data, subset, device, MEAN_FACE)
        return GateResult(method, protocol, cand, reference, ANALYSIS_METRICS.accepts(cand, reference), config, ANALYSIS_METRICS)
    cand, config = score(method, candidate, protocol, data, subset, seed, device)
    if shipped.is_file():
        reference = None if rescore_shipped else recorded_score(method, shipped, protocol, config, subset, seed)
        if reference is None:
            reference, _ = score(method, shipped, protocol, data, subset, seed, device)
    else:
        reference, _ = score(FLOOR_MODEL, None, protocol, data, subset, seed, device)
    return GateResult(method, protocol, cand, reference, IMAGE_METRICS.accepts(cand, reference), config)


def recorded_score(method: str, shipped: Path, protocol: str, config: dict, subset: int, seed: int) -> GateScore | None:
    """The shipped file's scores as its own gate recorded them, when that record is for this very file
    (the sha256 the gate scored) and the same protocol, subset, seed and held-out sets: scoring it
    again would give the same numbers (``tests/resources/test_shipped_quality.py`` checks that it
    does) at the cost of a second evaluation."""
    from engine.weights import read_manifest, sha256_file

    manifest = read_manifest()
    entry = manifest.get("models", {}).get(method)
    gate_record = entry.get("gate") if isinstance(entry, dict) else None
    if not isinstance(gate_record, dict) or gate_record.get("sha256") != sha256_file(shipped):
        return None
    if gate_record.get("inputs", {}) != shipped_inputs(method, entry.get("architecture"), manifest):
        return None  # a shipped file it reads (PD-GAN's collaGAN prior) changed since: its scores did too
    same = (gate_record.get("protocol") == protocol and gate_record.get("subset") == subset
            and gate_record.get("seed") == seed and gate_record.get("images") == config["images"]
            and gate_record.get("data") == [_set_name(d) for d in config["data"]])
    if not same or not isinstance(gate_record.get("per_case"), dict):
        return None
    if method in DIVERSITY_GATED and gate_record.get("sample_spread") is None:
        return None  # recorded before the gate measured diversity
    per_case = {case: (float(p), float(q)) for case, (p, q) in gate_record["per_case"].items()}
    log.info("the shipped %s's scores come from its gate record (%s)", method, gate_record.get("date", "undated"))
    spread = gate_record.get("sample_spread")
    return GateScore(shipped.name, float(gate_record["psnr"]), float(gate_record["ssim"]), per_case,
                     float(spread) if spread is not None else None)


def shipped_inputs(method: str, architecture, manifest: dict | None = None) -> dict[str, str]:
    """sha256 of the other shipped files whose weights this model's completions read: PD-GAN's
    frozen collaGAN prior. A gate record is reused only while they are unchanged."""
    from engine.paths import weights_dir
    from engine.weights import read_manifest, sha256_file

    if method == "pdgan" and _json(architecture).get("prior") == "collagan":
        entry = (manifest if manifest is not None else read_manifest()).get("models", {}).get("collagan")
        path = weights_dir() / entry["file"] if isinstance(entry, dict) and entry.get("file") else None
        return {"collagan": sha256_file(path) if path is not None and path.is_file() else "missing"}
    return {}


def _mean_face_of(candidate: Path, path: Path) -> Path:
    """``path``: the candidate with its heads zeroed, i.e. what its mean-face prior answers alone."""
    from engine.weights import load_state_dict, save_state_dict

    tensors, metadata = load_state_dict(candidate)
    if "mean_landmarks" not in tensors:
        raise FaceInpaintError(f"{candidate}: no face-analysis network ships yet and this one has no mean-face "
                               "prior to compare with (train it with --recipe quality)")
    heads = {k: v * 0 if k.startswith(("heatmap_head.", "parsing_head.")) else v for k, v in tensors.items()}
    save_state_dict(path, heads, {k: v for k, v in metadata.items() if k in ("method", "architecture")})
    return path


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
            result.metrics.primary: round(result.candidate.primary, 4),
            result.metrics.secondary: round(result.candidate.secondary, 4),
            "per_case": {c: [round(p, 4), round(s, 4)] for c, (p, s) in result.candidate.per_case.items()},
            **({"sample_spread": round(result.candidate.spread, 4)} if result.candidate.spread is not None else {}),
            "replaced": {"model": result.reference.model, result.metrics.primary: round(result.reference.primary, 4),
                         result.metrics.secondary: round(result.reference.secondary, 4),
                         **({"sample_spread": round(result.reference.spread, 4)} if result.reference.spread is not None else {})},
            "date": f"{dt.datetime.now(dt.UTC):%Y-%m-%d}",
            "sha256": sha256_file(target),  # the file these scores are of
            "inputs": shipped_inputs(result.method, metadata.get("architecture")),  # and the files it reads
        },
    })
    print(f"shipped {candidate.name} as {target}")
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
