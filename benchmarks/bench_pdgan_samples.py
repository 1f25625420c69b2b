"""Does drawing 8 PD-GAN samples in one batched forward cost at most 3x drawing one?

    python benchmarks/bench_pdgan_samples.py [--resolution 256] [--width 64] [--device auto]
                                             [--repeats 3] [--json bench.json]

Times ``PDGANInpainter.inpaint_crop`` (prior once, generator batched over the samples) on the bundled
sample photo with a mouth-and-chin hole, for 1, 2, 4 and 8 samples. The network is randomly
initialised with the given architecture: the cost does not depend on the weights' values.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import platform
import statistics
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
import torch

from engine.imageio import read_image
from engine.models import create_model
from engine.models.pdgan import PDGANArchitecture, PDGANNet
from engine.paths import sample_photo
from engine.weights import save_state_dict

SAMPLE_COUNTS = (1, 2, 4, 8)
BUDGET = 3.0  # 8 samples may cost at most this many times one sample


def square_crop(size: int) -> np.ndarray:
    photo = read_image(sample_photo())
    h, w = photo.shape[:2]
    side = min(h, w)
    square = photo[(h - side) // 2 : (h + side) // 2, (w - side) // 2 : (w + side) // 2]
    return cv2.resize(square, (size, size), interpolation=cv2.INTER_AREA)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--resolution", type=int, default=256)
    parser.add_argument("--width", type=int, default=64)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args(argv)

    arch = PDGANArchitecture(resolution=args.resolution, width=args.width)
    with tempfile.TemporaryDirectory() as tmp:
        weights = Path(tmp) / "pdgan.safetensors"
        save_state_dict(weights, PDGANNet(arch).state_dict(), {"method": "pdgan", "architecture": dataclasses.asdict(arch)})
        model = create_model("pdgan", device=args.device, weights=weights)
        model.load()
    crop = square_crop(model.info.resolution)
    mask = np.zeros(crop.shape[:2], np.uint8)
    s = crop.shape[0]
    mask[int(0.6 * s) : int(0.95 * s), int(0.25 * s) : int(0.75 * s)] = 255

    def run(samples: int) -> None:
        model.inpaint_crop(crop, mask, samples=samples, seed=0)
        if model.device.startswith("cuda"):
            torch.cuda.synchronize()

    run(1)  # warm-up
    seconds = {}
    for n in SAMPLE_COUNTS:
        times = []
        for _ in range(args.repeats):
            start = time.perf_counter()
            run(n)
            times.append(time.perf_counter() - start)
        seconds[n] = statistics.median(times)
    ratio = seconds[8] / seconds[1]
    result = {
        "architecture": dataclasses.asdict(arch),
        "device": model.device,
        "torch_threads": torch.get_num_threads(),
        "machine": platform.processor() or platform.machine(),
        "seconds": {str(n): round(t, 4) for n, t in seconds.items()},
        "ratio_8_to_1": round(ratio, 2),
        "within_budget": ratio <= BUDGET,
    }
    for n, t in seconds.items():
        print(f"{n} sample(s): {1000 * t:8.1f} ms  ({t / seconds[1]:.2f}x one sample)")
    print(f"8 samples / 1 sample = {ratio:.2f} (budget {BUDGET}x): {'OK' if ratio <= BUDGET else 'OVER BUDGET'} on {model.device}")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
