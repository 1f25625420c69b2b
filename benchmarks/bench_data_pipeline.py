"""Can the face data pipeline keep collaGAN fed? Batches/s of the loader alone vs the training step.

    python benchmarks/bench_data_pipeline.py [--data DIR ...] [--batch-size 16] [--workers 2]
        [--resolution 128] [--width 64] [--batches 20] [--steps 3] [--device auto] [--json out.json]

The loader is timed alone (DataLoader with ``--workers`` processes, augmentation and block masks
on, landmark cache warm: the first scan is excluded), then ``CollaGANMethod.train_step`` on one
fixed batch at the paper's size. The pipeline should deliver images at least 3x as fast as the
step consumes them. Without --data, copies of the bundled sample photo are used.
"""

from __future__ import annotations

import argparse
import json
import platform
import tempfile
import time
from pathlib import Path

import torch
from PIL import Image
from torch.utils.data import DataLoader

from engine.device import select_device
from engine.paths import sample_photo
from training.collagan import CollaGANConfig, CollaGANMethod
from training.data import build_datasets, collate


def sample_folder(root: Path, copies: int = 32) -> Path:
    """Copies of the sample photo with small rotations, so the benchmark runs anywhere."""
    with Image.open(sample_photo()) as im:
        base = im.convert("RGB").resize((256, 256), Image.BILINEAR)
    for k in range(copies):
        base.rotate(-8 + 0.5 * k, resample=Image.BILINEAR).save(root / f"face_{k:03d}.jpg", quality=92)
    return root


def time_loader(cfg: CollaGANConfig, batches: int) -> float:
    train, _, _ = build_datasets(cfg)  # fills the landmark cache; not timed
    loader = DataLoader(train, batch_size=cfg.batch_size, shuffle=True, num_workers=cfg.num_workers,
                        collate_fn=collate, drop_last=True, persistent_workers=cfg.num_workers > 0)
    produced, start = 0, None
    while produced < batches + 1:
        for _ in loader:
            produced += 1
            if produced == 1:
                start = time.perf_counter()  # after the workers' start-up
            if produced == batches + 1:
                break
    return batches * cfg.batch_size / (time.perf_counter() - start)


def time_step(cfg: CollaGANConfig, steps: int, device: torch.device) -> float:
    train, _, _ = build_datasets(cfg)
    batch = collate([train[i % len(train)] for i in range(cfg.batch_size)])
    method = CollaGANMethod(cfg, device)
    method.build()
    method.train()
    batch = method.to_device(batch)
    method.train_step(batch, 0)  # warm-up
    if device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    for step in range(steps):
        method.train_step(batch, step + 1)
    if device.type == "cuda":
        torch.cuda.synchronize()
    return steps * cfg.batch_size / (time.perf_counter() - start)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", action="append", help="face photo folder (repeatable)")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--resolution", type=int, default=128)
    parser.add_argument("--width", type=int, default=64)
    parser.add_argument("--batches", type=int, default=20)
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--json", type=Path, help="also write the numbers here")
    args = parser.parse_args(argv)
    device = select_device(args.device)
    with tempfile.TemporaryDirectory() as tmp:
        data = args.data or [str(sample_folder(Path(tmp)))]
        cfg = CollaGANConfig(data=data, out=str(Path(tmp) / "run"), batch_size=args.batch_size,
                             num_workers=args.workers, resolution=args.resolution, width=args.width,
                             val_fraction=0.0, device=str(device))
        loader_rate = time_loader(cfg, args.batches)
        step_rate = time_step(cfg, args.steps, device)
    result = {
        "loader_images_per_s": round(loader_rate, 1),
        "train_step_images_per_s": round(step_rate, 1),
        "ratio": round(loader_rate / step_rate, 2),
        "batch_size": args.batch_size, "workers": args.workers, "resolution": args.resolution,
        "width": args.width, "device": str(device), "torch_threads": torch.get_num_threads(),
        "machine": platform.processor() or platform.machine(),
    }
    print(f"loader     {loader_rate:8.1f} images/s ({args.workers} workers)")
    print(f"train step {step_rate:8.1f} images/s (collaGAN M*_isd, {args.resolution} px, width {args.width}, {device})")
    print(f"ratio      {loader_rate / step_rate:8.2f}x  ({'OK' if loader_rate >= 3 * step_rate else 'BELOW'} the 3x target)")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
