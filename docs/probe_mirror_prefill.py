"""The mirror prefills (whole crop, and kept inside the face outline) against Telea's fill, before any training, on held-out faces.

Run from the repository root (needs ../shared/data):
    python3 docs/probe_mirror_prefill.py --protocol mde-occlusions --subset 40
    python3 docs/probe_mirror_prefill.py --protocol irregular --subset 120   (masks from ../shared/data/masks/val)
Prints mean PSNR, SSIM and identity distance per case of the protocol for the three fills, then the
mirror's PSNR gain over Telea binned by a yaw proxy of the face (how far the nose tip sits from the
midpoint of the jaw's ends, in inter-ocular distances): where the mirror stops paying.
"""
import argparse
from pathlib import Path

import numpy as np

from engine.errors import FaceInpaintError
from engine.evaluation import PROTOCOLS, IrregularMasks, list_images, prepare_image
from engine.face.identity import face_descriptor, identity_distance
from engine.face.types import yaw_proxy
from engine.metrics import psnr, ssim
from engine.prefill import classical_fill, mirror_fill

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--protocol", default="mde-occlusions", choices=list(PROTOCOLS))
parser.add_argument("--subset", type=int, default=40)
parser.add_argument("--masks", type=Path, default=Path("../shared/data/masks/val"), help="for --protocol irregular")
args = parser.parse_args()
protocol = PROTOCOLS[args.protocol]
irregular = IrregularMasks(args.masks) if args.protocol == "irregular" else None
size = protocol.default_resolution
data = [Path("../shared/data/utkface/val"), Path("../shared/data/celeba/val")]
scores: dict[tuple[str, str], list[list[float]]] = {}
by_yaw: list[tuple[str, float, float, float]] = []  # (case, yaw proxy, mirror and face-mirror PSNR - Telea PSNR)
for index, path in enumerate(list_images(data, subset=args.subset)):
    try:
        prepared = prepare_image(path, size, "dlib", True)
    except FaceInpaintError:
        continue
    yaw = yaw_proxy(prepared.landmarks)
    cases = ([irregular(size, index)] if irregular else
             [(case, protocol.make_mask(case, prepared.landmarks, size, index)) for case in protocol.cases])
    for case, mask in cases:
        gains = []
        blanked = np.where(mask[..., None] > 127, 0, prepared.crop).astype(np.uint8)
        fills = (("telea", classical_fill), ("mirror", mirror_fill),
                 ("face-mirror", lambda image, hole: mirror_fill(image, hole, prepared.landmarks)))
        for name, fill in fills:
            result = np.where(mask[..., None] > 127, fill(blanked, mask), prepared.crop).astype(np.uint8)
            row = scores.setdefault((case, name), [[], [], []])
            row[0].append(psnr(prepared.crop, result))
            gains.append(row[0][-1])
            row[1].append(ssim(prepared.crop, result))
            if prepared.identity is not None:
                try:
                    row[2].append(identity_distance(face_descriptor(result, prepared.box), prepared.identity))
                except FaceInpaintError:
                    pass
        by_yaw.append((case, yaw, gains[1] - gains[0], gains[2] - gains[0]))
cases = list(protocol.cases) or sorted({case for case, _ in scores}, key=lambda bucket: int(bucket.split("-")[0]))
for (case, name), (p, s, d) in sorted(scores.items(), key=lambda item: cases.index(item[0][0])):
    print(f"{case:12} {name:11} psnr {np.mean(p):6.2f}  ssim {np.mean(s):.4f}  identity {np.mean(d) if d else float('nan'):.4f}  faces {len(p)}")
print("mirror / face-mirror PSNR - Telea PSNR by yaw proxy (faces: mean gains in dB)")
for case in cases:
    cells = []
    for low, high in ((0, 0.1), (0.1, 0.2), (0.2, 0.35), (0.35, float("inf"))):
        rows = [(g, f) for c, y, g, f in by_yaw if c == case and low <= y < high]
        cells.append(f"[{low}, {high}): {len(rows)}: {np.mean([g for g, _ in rows]):+.2f} / {np.mean([f for _, f in rows]):+.2f}"
                     if rows else f"[{low}, {high}): 0")
    print(f"{case:12} " + "   ".join(cells))
