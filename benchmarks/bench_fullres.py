"""Does the cost grow with the hole or with the photo? One photo at 1 MP and at 24 MP, the same mouth hole.

    python benchmarks/bench_fullres.py [--models telea,collagan] [--repeats 3] [--json out.json]

The sample photo is enlarged to 1000 x 1000 (1 MP) and 4899 x 4899 (24 MP) and the mouth preset
is drawn from its landmarks at each size, so the hole covers the same fraction of both (24x the
pixels). Each row times ``model.inpaint`` on an already loaded model with the face given (photo in,
completed photo out: alignment, the model, the paste at full resolution), median of ``--repeats``.
Issue 13's target: time(24 MP) / time(1 MP) at most the ratio of hole pixels.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from pathlib import Path

import cv2
import numpy as np

from engine.face import Face, detect_faces
from engine.imageio import read_image
from engine.masks.presets import preset_mask
from engine.models import create_model
from engine.models.base import InpaintRequest
from engine.paths import sample_photo

SIDES = {"1 MP": 1000, "24 MP": 4899}


def scaled_photo(image: np.ndarray, face: Face, side: int) -> tuple[np.ndarray, Face, np.ndarray]:
    scale = side / image.shape[1]
    big = cv2.resize(image, (side, side), interpolation=cv2.INTER_CUBIC)
    scaled = Face(box=tuple(v * scale for v in face.box), landmarks=face.landmarks * scale)
    return big, scaled, preset_mask("mouth", scaled.landmarks, big.shape[:2], seed=0)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", default="telea,collagan")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)

    image = read_image(sample_photo())
    face = detect_faces(image, backend="dlib")[0]
    photos = {name: scaled_photo(image, face, side) for name, side in SIDES.items()}
    holes = {name: int((mask > 127).sum()) for name, (_, _, mask) in photos.items()}
    hole_ratio = holes["24 MP"] / holes["1 MP"]
    rows = {}
    for name in args.models.split(","):
        model = create_model(name, device=args.device)
        model.load()
        seconds = {}
        for size, (photo, scaled, mask) in photos.items():
            request = InpaintRequest(photo, mask, seed=0, face=scaled)
            model.inpaint(request)  # warm-up: first-call allocations are not what we measure
            times = []
            for _ in range(args.repeats):
                began = time.perf_counter()
                model.inpaint(request)
                times.append(time.perf_counter() - began)
            seconds[size] = statistics.median(times)
        rows[name] = seconds | {"ratio": seconds["24 MP"] / seconds["1 MP"]}
    print(f"hole pixels: 1 MP {holes['1 MP']}, 24 MP {holes['24 MP']} (ratio {hole_ratio:.1f}); "
          f"median of {args.repeats}, load average {os.getloadavg()[0]:.1f}")
    print("| model | 1 MP s | 24 MP s | ratio 24 MP / 1 MP | hole-pixel ratio |\n|---|---|---|---|---|")
    for name, row in rows.items():
        print(f"| {name} | {row['1 MP']:.3f} | {row['24 MP']:.3f} | {row['ratio']:.1f} | {hole_ratio:.1f} |")
    if args.json:
        args.json.write_text(json.dumps({"holes": holes, "rows": rows}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
