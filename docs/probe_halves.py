"""Identity at the half-face holes: Telea, the mirror prefill, a collaGAN file, and a 50/50 blend.

Run from the repository root (needs ../shared/data):
    python3 docs/probe_halves.py --subset 40 [--weights FILE.safetensors]
Prints mean PSNR, SSIM and identity distance (dlib descriptors) per half and fill, overall and split
by a yaw proxy (frontal: under 0.2, see docs/probe_mirror_prefill.py). If the blend keeps the
network's PSNR but lowers identity distance, the network is blurring detail the mirror had.
"""
import argparse
from pathlib import Path

import numpy as np

from engine.errors import FaceInpaintError
from engine.evaluation import PROTOCOLS, _ModelRunner, list_images, prepare_image
from engine.face.identity import face_descriptor, identity_distance
from engine.face.types import yaw_proxy
from engine.metrics import psnr, ssim
from engine.models import create_model
from engine.prefill import classical_fill, mirror_fill

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--subset", type=int, default=40)
parser.add_argument("--weights", default=None, help="a collaGAN file (default: the shipped one)")
args = parser.parse_args()
protocol = PROTOCOLS["mde-occlusions"]
size = protocol.default_resolution
runner = _ModelRunner(create_model("collagan", weights=args.weights), size)
data = [Path("../shared/data/utkface/val"), Path("../shared/data/celeba/val")]
rows: dict[tuple[str, str], list[tuple[float, float, float, float]]] = {}
for index, path in enumerate(list_images(data, subset=args.subset)):
    try:
        prepared = prepare_image(path, size, "dlib", True)
    except FaceInpaintError:
        continue
    if prepared.identity is None:
        continue
    yaw = yaw_proxy(prepared.landmarks)
    for case in ("left-half", "right-half"):
        mask = protocol.make_mask(case, prepared.landmarks, size, index)
        hole = mask[..., None] > 127
        blanked = np.where(hole, 0, prepared.crop).astype(np.uint8)
        fills = {"telea": classical_fill(blanked, mask), "mirror": mirror_fill(blanked, mask),
                 "face-mirror": mirror_fill(blanked, mask, prepared.landmarks),
                 "collagan": runner(prepared.crop, mask, index, prepared.landmarks)}
        fills["blend"] = ((fills["mirror"].astype(np.float32) + fills["collagan"]) / 2).round().astype(np.uint8)
        for name, fill in fills.items():
            result = np.where(hole, fill, prepared.crop).astype(np.uint8)
            try:
                distance = identity_distance(face_descriptor(result, prepared.box), prepared.identity)
            except FaceInpaintError:
                distance = float("nan")
            rows.setdefault((case, name), []).append((psnr(prepared.crop, result), ssim(prepared.crop, result), distance, yaw))
for (case, name), values in rows.items():
    a = np.array(values)
    frontal = a[:, 3] < 0.2
    print(f"{case:11} {name:11} psnr {a[:, 0].mean():6.2f}  ssim {a[:, 1].mean():.4f}  identity {np.nanmean(a[:, 2]):.4f}"
          f"  (frontal {np.nanmean(a[frontal, 2]):.4f}, turned {np.nanmean(a[~frontal, 2]):.4f}; faces {len(a)}, frontal {frontal.sum()})")
