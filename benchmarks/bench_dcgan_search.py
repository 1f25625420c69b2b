"""How many latent-search iterations does DCGAN inpainting need? Loss and hole PSNR vs iterations and time.

    python benchmarks/bench_dcgan_search.py --weights dcgan.safetensors --images DIR
        [--count 8] [--iterations 1000] [--restarts 8] [--every 25] [--device auto] [--json out.json]

For each of ``--count`` held-out face photos in DIR (never the training folders), the face is
aligned to the model's crop, a centre block covering the nose and mouth is removed, and the search
runs with early stopping switched off so every checkpoint is reached. At every ``--every``
iterations the restarts' mean best loss, the PSNR inside the hole of the leading restart against
the true face, and the wall time are recorded; the table shows their means over the photos, from which the default
``SearchSettings.iterations`` is chosen (where PSNR stops rising, at the time it costs).
Without --weights a random network runs: the timings hold, the losses and PSNRs mean nothing.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import platform
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

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp"}


def aligned_faces(folder: Path | None, count: int, size: int) -> list[np.ndarray]:
    paths = sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES) if folder else [sample_photo()]
    crops = []
    for path in paths:
        image = read_image(path)
        faces = detect_faces(image, backend="dlib")
        if faces:
            crops.append(align_face(image, faces[0], size).crop)
        if len(crops) == count:
            break
    return crops


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
    parser.add_argument("--images", type=Path, help="folder of held-out face photos (default: the sample photo)")
    parser.add_argument("--count", type=int, default=8)
    parser.add_argument("--iterations", type=int, default=1000)
    parser.add_argument("--restarts", type=int, default=8)
    parser.add_argument("--every", type=int, default=25)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--json", type=Path, help="also write the per-photo traces here")
    args = parser.parse_args(argv)

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
    crops = aligned_faces(args.images, args.count, size)
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


def write_traces(args: argparse.Namespace, model, traces: list[list[dict]]) -> None:
    args.json.write_text(json.dumps({"device": model.device, "machine": platform.machine(), "restarts": args.restarts,
                                     "weights": str(args.weights), "images": str(args.images), "traces": traces}, indent=2))


if __name__ == "__main__":
    raise SystemExit(main())
