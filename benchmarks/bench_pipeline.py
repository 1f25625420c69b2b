"""Time the photo pipeline at 1 MP and 12 MP: does a big photo cost about what a small one does?

    python benchmarks/bench_pipeline.py [--repeats 5] [--json bench.json]

Stages, each the median of ``--repeats`` runs on the bundled sample photo scaled to the size:
face detection with landmarks, alignment to a 128 px crop, Telea completion of a mouth-sized
hole (``InpaintModel.inpaint``, whole photo in and out), and ``paste_back`` of a crop into the photo.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np

from engine.face import align_face, detect_faces, paste_back
from engine.imageio import read_image
from engine.masks import preset_mask
from engine.models import create_model
from engine.paths import sample_photo

SIZES = {"1 MP": 1_000_000, "12 MP": 12_000_000}
CROP = 128


def scaled_sample(pixels: int) -> np.ndarray:
    photo = read_image(sample_photo())
    h, w = photo.shape[:2]
    factor = (pixels / (h * w)) ** 0.5
    return cv2.resize(photo, (round(w * factor), round(h * factor)), interpolation=cv2.INTER_CUBIC)


def median_ms(run: Callable[[], object], repeats: int) -> float:
    run()  # warm-up: loads predictors and fills caches, which the first photo of a session pays once
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return 1000 * statistics.median(times)


def time_stages(photo: np.ndarray, repeats: int, backend: str) -> dict[str, float]:
    faces = detect_faces(photo, backend=backend)
    if not faces:
        raise SystemExit("no face found in the scaled sample photo")
    face = faces[0]
    aligned = align_face(photo, face, CROP)
    mask = preset_mask("mouth", face.landmarks, photo.shape[:2])
    telea = create_model("telea")
    return {
        "face detection": median_ms(lambda: detect_faces(photo, backend=backend), repeats),
        "alignment": median_ms(lambda: align_face(photo, face, CROP), repeats),
        "Telea completion": median_ms(lambda: telea.inpaint(photo, mask, seed=0), repeats),
        "paste_back": median_ms(lambda: paste_back(photo, aligned.crop, aligned, mask), repeats),
    }


def markdown_table(results: dict[str, dict[str, float]]) -> str:
    small, big = SIZES
    lines = [f"| stage | {small} (ms) | {big} (ms) | {big} / {small} |", "|---|---:|---:|---:|"]
    for stage in results[small]:
        a, b = results[small][stage], results[big][stage]
        lines.append(f"| {stage} | {a:.1f} | {b:.1f} | {b / a:.1f}x |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5, help="timed runs per stage (median reported)")
    parser.add_argument("--backend", default="auto", help="face backend: auto, fan or dlib")
    parser.add_argument("--json", type=Path, help="also write the timings here")
    args = parser.parse_args(argv)

    results = {}
    for label, pixels in SIZES.items():
        photo = scaled_sample(pixels)
        results[label] = time_stages(photo, args.repeats, args.backend)
        results[label]["_size"] = f"{photo.shape[1]}x{photo.shape[0]}"
    sizes = {label: results[label].pop("_size") for label in SIZES}
    print(f"Sample photo at {', '.join(f'{k} ({v})' for k, v in sizes.items())}, median of {args.repeats} runs, "
          f"{platform.processor() or platform.machine()}, backend {args.backend}\n")
    print(markdown_table(results))
    if args.json:
        args.json.write_text(json.dumps({"sizes": sizes, "repeats": args.repeats, "ms": results}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
