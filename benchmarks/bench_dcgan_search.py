"""How many latent-search iterations does DCGAN inpainting need? Loss and hole PSNR vs iterations and time.

    python benchmarks/bench_dcgan_search.py --weights dcgan.safetensors --images DIR [DIR ...]
        [--count 8] [--iterations 1000] [--restarts 8] [--every 25] [--device auto] [--json out.json]
    python benchmarks/bench_dcgan_search.py --compare --weights dcgan.safetensors --images DIR [DIR ...]
        [--count 16] [--process-runs 5] [--encoder-iterations N] [--encoder-restarts N] [--encoder-patience N]

``--compare`` puts the two starts side by side on the same crops (centre block, the engine's
``inpaint_crop`` with Poisson blending off so the PSNR is the search's): the random-start search
(``SearchSettings(encoder_start=False)``: the thesis's 400 iterations x 8 restarts with its early
stop) and the encoder start (E's z plus random restarts, short budget: ``SearchSettings``'
``encoder_*`` defaults unless given); per start the mean hole PSNR and seconds per crop, and the
whole-process time of completing the 512 px sample photo's mouth as ``faceinpaint-inpaint`` does
(median of ``--process-runs``), which also pays for Python, torch and face detection.

The photos are ``--count`` held-out face photos (never the training folders) spread evenly over
the DIRs and evenly spaced in each (sorted by name; a photo without a detectable face gives way to
the next). The face is aligned to the model's crop, a centre block covering the nose and mouth is removed, and the search
runs with early stopping switched off so every checkpoint is reached. At every ``--every``
iterations the restarts' mean best loss, the PSNR inside the hole of the leading restart against
the true face, and the wall time are recorded; the table shows their means over the photos, from which the default
``SearchSettings.iterations`` is chosen (where PSNR stops rising, at the time it costs).
Without --weights a random network runs: the timings hold, the losses and PSNRs mean nothing.
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from skimage.metrics import peak_signal_noise_ratio

from engine.face import align_face, detect_faces
from engine.imageio import read_image
from engine.models import create_model
from engine.models.dcgan import DCGANArchitecture, DCGANNet, LatentSearch, SearchSettings
from engine.models.torch_base import image_to_tensor, tensor_to_image
from engine.paths import sample_photo
from engine.weights import save_state_dict

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_startup import BARE

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp"}


def evenly_spaced_faces(folders: list[Path] | None, count: int, size: int) -> list[tuple[Path, np.ndarray]]:
    """(photo, aligned crop) for ``count`` photos spread evenly over ``folders`` and within each."""
    if not folders:
        return first_faces([sample_photo()], size)
    found = []
    for number, folder in enumerate(folders):
        wanted = count // len(folders) + (number < count % len(folders))
        paths = sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
        bounds = [*np.linspace(0, len(paths), wanted, endpoint=False).astype(int), len(paths)]
        for first, stop in itertools.pairwise(bounds):
            found += first_faces(paths[first:stop], size)
    return found


def first_faces(paths: list[Path], size: int) -> list[tuple[Path, np.ndarray]]:
    """The first of ``paths`` with a detectable face and its aligned crop ([] if none has one)."""
    for path in paths:
        image = read_image(path)
        faces = detect_faces(image, backend="dlib")
        if faces:
            return [(path, align_face(image, faces[0], size).crop)]
    return []


def shown_path(path: Path) -> str:
    """``path`` relative to the working directory where it can be (no machine paths in outputs)."""
    return os.path.relpath(path) if path.is_absolute() else str(path)


def centre_block(size: int) -> np.ndarray:
    """Nose and mouth of the canonical crop (template: nose tip at 0.565 S, mouth at 0.735 S)."""
    mask = np.zeros((size, size), np.uint8)
    mask[int(0.5 * size) : int(0.85 * size), int(0.3 * size) : int(0.7 * size)] = 255
    return mask


def trace_search(model, crop: np.ndarray, mask: np.ndarray, settings: SearchSettings) -> list[dict]:
    """(iteration, seconds, mean best loss over restarts, hole PSNR of the leader) per preview step."""
    device = next(model.net.parameters()).device
    hole_np = mask > 127
    hole = torch.from_numpy(hole_np.astype(np.float32)).to(device)[None, None]
    records, start = [], time.perf_counter()

    def record(fraction: float, message: str, latent: torch.Tensor) -> None:
        with torch.no_grad():
            face = tensor_to_image(model.net.generator(latent)[0])
        records.append({"seconds": time.perf_counter() - start,
                        "hole_psnr": peak_signal_noise_ratio(crop[hole_np], face[hole_np], data_range=255)})

    search = LatentSearch(model.net, settings, model.face_analysis)
    result = search.run(image_to_tensor(crop, device), hole, [0], progress=record)
    return [{"iteration": step, "loss": loss, **r} for (step, loss), r in zip(result.history, records)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--weights", type=Path, help="trained DCGAN weights (.safetensors)")
    parser.add_argument("--images", type=Path, nargs="+", help="folders of held-out face photos (default: the sample photo)")
    parser.add_argument("--count", type=int, default=8)
    parser.add_argument("--iterations", type=int, default=1000)
    parser.add_argument("--restarts", type=int, default=8)
    parser.add_argument("--every", type=int, default=25)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--json", type=Path, help="also write the per-photo traces here")
    parser.add_argument("--compare", action="store_true", help="random start vs encoder start, side by side")
    parser.add_argument("--process-runs", type=int, default=5, help="--compare: whole-process runs per start")
    defaults = SearchSettings()
    parser.add_argument("--encoder-iterations", type=int, default=defaults.encoder_iterations, help="--compare")
    parser.add_argument("--encoder-restarts", type=int, default=defaults.encoder_restarts, help="--compare")
    parser.add_argument("--encoder-patience", type=int, default=defaults.encoder_patience, help="--compare")
    args = parser.parse_args(argv)
    if args.compare:
        return compare_starts(args)

    with tempfile.TemporaryDirectory() as tmp:
        weights = args.weights
        if weights is None:
            print("no --weights: a RANDOM DCGAN runs; only the timings mean something")
            weights = Path(tmp) / "random.safetensors"
            arch = DCGANArchitecture()
            save_state_dict(weights, DCGANNet(arch).state_dict(), {"method": "dcgan", "architecture": dataclasses.asdict(arch)})
        model = create_model("dcgan", device=args.device, weights=weights)
        model.load()
    size = model.arch.resolution
    crops = [crop for _, crop in evenly_spaced_faces(args.images, args.count, size)]
    if not crops:
        parser.error(f"no detectable face in {args.images}")
    mask = centre_block(size)
    settings = dataclasses.replace(SearchSettings(), iterations=args.iterations, restarts=args.restarts,
                                   preview_every=args.every, patience=args.iterations + 1)
    traces = []
    for number, crop in enumerate(crops, 1):  # report and save as we go: a cut-off run keeps its photos
        traces.append(trace_search(model, crop, mask, settings))
        last = traces[-1][-1]
        print(f"photo {number}/{len(crops)}: {last['iteration']} iterations in {last['seconds']:.1f} s, "
              f"hole PSNR {last['hole_psnr']:.2f} dB", flush=True)
        if args.json:
            write_traces(args, model, traces)

    steps = min(len(t) for t in traces)
    print(f"{len(crops)} photo(s), {args.restarts} restarts, {size} px, {model.device}, "
          f"landmark ranking {'on' if model.face_analysis is not None and settings.rank_by_landmarks else 'off'}, "
          f"heatmap term {'on' if model.face_analysis is not None and settings.heatmap_loss else 'off'}")
    print(f"{'iteration':>9} {'seconds':>8} {'loss':>10} {'hole PSNR':>10}")
    for k in range(steps):
        rows = [t[k] for t in traces]
        mean = {key: float(np.mean([r[key] for r in rows])) for key in ("seconds", "loss", "hole_psnr")}
        print(f"{rows[0]['iteration']:>9} {mean['seconds']:>8.1f} {mean['loss']:>10.3f} {mean['hole_psnr']:>10.2f}")
    return 0


def hole_psnr(truth: np.ndarray, completed: np.ndarray, mask: np.ndarray) -> float:
    hole = mask > 127
    return float(peak_signal_noise_ratio(truth[hole], completed[hole], data_range=255))


def compare_starts(args: argparse.Namespace) -> int:
    """Hole PSNR and time of the random-start and the encoder-start search on the same crops."""
    if args.weights is None:
        raise SystemExit("--compare needs --weights (a DCGAN with an encoder)")
    model = create_model("dcgan", device=args.device, weights=args.weights)
    model.load()
    if model.net.encoder is None:
        raise SystemExit(f"{args.weights} has no encoder: only the random start can run")
    size = model.arch.resolution
    photos = evenly_spaced_faces(args.images, args.count, size)
    mask = centre_block(size)
    defaults = SearchSettings()
    budget = {"encoder_iterations": args.encoder_iterations, "encoder_restarts": args.encoder_restarts,
              "encoder_patience": args.encoder_patience}
    starts = {f"random start ({defaults.iterations} x {defaults.restarts}, patience {defaults.patience})":
              {"encoder_start": False},
              f"encoder start (E + {args.encoder_restarts - 1} random, <= {args.encoder_iterations} iterations, "
              f"patience {args.encoder_patience})": {"encoder_start": True, **budget}}
    rows = {}
    for name, settings in starts.items():
        psnrs, seconds = [], []
        for _, crop in photos:
            began = time.perf_counter()
            completed = model.inpaint_crop(crop, mask, seed=0, settings={**settings, "poisson": False})[0].image
            seconds.append(time.perf_counter() - began)
            psnrs.append(hole_psnr(crop, completed, mask))
        rows[name] = {"hole_psnr": psnrs, "seconds": seconds}
        print(f"{name}: {np.mean(psnrs):.2f} dB, {np.mean(seconds):.2f} s a crop", flush=True)
    processes = process_seconds(args.weights, list(starts.values()), args.process_runs)
    for row, times in zip(rows.values(), processes):
        row["process_seconds"] = times
    bare = processes[-1]
    load = os.getloadavg()
    print(f"\n{len(photos)} held-out crops ({', '.join(shown_path(f) for f in args.images or [])}), {size} px, "
          f"centre block, {model.device}, load average {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f}")
    print("| search | hole PSNR (dB) | search s / crop | whole process s / photo (512 px sample) | x bare Telea script |")
    print("|---|---:|---:|---:|---:|")
    for name, row in rows.items():
        whole = float(np.median(row["process_seconds"]))
        print(f"| {name} | {np.mean(row['hole_psnr']):.2f} | {np.mean(row['seconds']):.2f} | {whole:.2f} | "
              f"{whole / np.median(bare):.1f} |")
    print(f"| bare Telea script (cv2 + dlib, bench_startup.py), for scale | - | - | {np.median(bare):.2f} | 1.0 |")
    random_row, encoder_row = rows.values()
    print(f"encoder start - random start: {np.mean(encoder_row['hole_psnr']) - np.mean(random_row['hole_psnr']):+.2f} dB")
    if args.json:
        args.json.write_text(json.dumps({"weights": shown_path(args.weights), "photos": [shown_path(p) for p, _ in photos],
                                         "load_average": load, "rows": rows, "bare_script_seconds": bare}, indent=2))
    return 0


PHOTO_RUN = """
import json
import sys
from engine.face.beside import detect_faces_beside
from engine.imageio import read_image
from engine.imagesave import save_image
from engine.masks.presets import preset_mask
from engine.models import create_model
from engine.models.base import InpaintRequest
photo, weights, settings, out = sys.argv[1], sys.argv[2], json.loads(sys.argv[3]), sys.argv[4]
image = read_image(photo)
faces, model = detect_faces_beside(image, "dlib", lambda: create_model("dcgan", weights=weights))
face = faces[0]
mask = preset_mask("mouth", face.landmarks, image.shape[:2], seed=0)
result = model.inpaint(InpaintRequest(image, mask, seed=0, face=face, settings=settings))[0]
save_image(out, result.image, overwrite=True)
"""


def process_seconds(weights: Path, starts: list[dict], runs: int) -> list[list[float]]:
    """Wall times of fresh processes completing the sample photo's mouth with the DCGAN under each
    of ``starts``' settings, as ``faceinpaint-inpaint --preset mouth`` does (read, detect, search,
    paste, write; dlib detects in a forked child while torch and the weights load), and last of the bare Telea script (the machine's pace); interleaved ``runs``
    rounds, so a change of load hits every row alike."""
    repo = Path(__file__).resolve().parents[1]
    env = dict(os.environ, PYTHONPATH=str(repo))
    times: list[list[float]] = [[] for _ in range(len(starts) + 1)]
    with tempfile.TemporaryDirectory() as tmp:
        photo, out = str(sample_photo()), str(Path(tmp) / "out.png")
        commands = [[sys.executable, "-c", PHOTO_RUN, photo, str(weights), json.dumps(s), out] for s in starts]
        commands.append([sys.executable, "-c", BARE, photo, out])
        for _ in range(runs):
            for command, row in zip(commands, times):
                began = time.perf_counter()
                done = subprocess.run(command, cwd=repo, env=env, capture_output=True, text=True, check=False)
                row.append(time.perf_counter() - began)
                if done.returncode != 0:
                    raise SystemExit(f"the photo run failed: {done.stderr[-1500:]}")
    return times


def write_traces(args: argparse.Namespace, model, traces: list[list[dict]]) -> None:
    args.json.write_text(json.dumps({"device": model.device, "machine": platform.machine(), "restarts": args.restarts,
                                     "weights": shown_path(args.weights), "images": [shown_path(f) for f in args.images or []],
                                     "traces": traces}, indent=2))


if __name__ == "__main__":
    raise SystemExit(main())
