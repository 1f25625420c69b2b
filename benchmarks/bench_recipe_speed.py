"""Training images/s per method: the paper's setting against the quality recipe's, side by side.

    python benchmarks/bench_recipe_speed.py --pack PACK [--methods collagan,gfc,mde,pdgan] [--steps 4]

For each method, two short runs on the same face pack and the same machine, one after the other:
``--recipe paper`` (fp32, each paper's networks and losses) and ``--recipe quality`` (bf16 autocast
+ channels_last where the processor supports bf16, the recipe's networks, no adversarial work in
the reconstruction phase). Each run's first step (warm-up) is excluded; images/s = batch x timed
steps / seconds. Both use the pack's samples, so the difference is the step itself; the pack vs
photo-loader difference is ``bench_data_pipeline.py``'s.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import platform
import tempfile
import time
from pathlib import Path

import torch

from training.data import build_datasets, collate
from training.methods import load_methods
from training.recipe import recipe_config, resolve_precision


def images_per_second(method_cls, recipe: str, pack: str, steps: int, batch_size: int) -> tuple[float, str]:
    cfg = recipe_config(method_cls, recipe)
    with tempfile.TemporaryDirectory() as tmp:
        cfg = dataclasses.replace(cfg, pack=pack, out=str(Path(tmp) / "run"), batch_size=batch_size, aligned=True,
                                  num_workers=0, masks=[], low_resolution=0, device="cpu")
        train, _, _ = build_datasets(cfg)
        train.keys = method_cls.batch_keys
        device = torch.device("cpu")
        method = method_cls(cfg, device)
        method.precision = resolve_precision(cfg.precision, device)
        method.build()
        if cfg.channels_last:
            method.channels_last = True
            for net in method.networks().values():
                net.to(memory_format=torch.channels_last)
        method.setup_ema(cfg.ema_decay)
        method.train()
        batches = [method.to_device(collate([train[i] for i in range(k * batch_size, (k + 1) * batch_size)]))
                   for k in range(steps + 1)]
        method.train_step(batches[0], 0)  # warm-up
        start = time.perf_counter()
        for k, batch in enumerate(batches[1:], 1):
            method.train_step(batch, k)
            method.update_ema()
        return batch_size * steps / (time.perf_counter() - start), method.precision


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pack", required=True, help="a face pack (faceinpaint-train pack)")
    parser.add_argument("--methods", default="collagan,gfc,mde,pdgan")
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--json", type=Path, help="also write the numbers here")
    args = parser.parse_args(argv)
    torch.set_num_threads(2)
    registry = load_methods()
    rows = []
    print(f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} threads, batch {args.batch_size}, "
          f"{args.steps} timed steps")
    print("| method | paper (img/s) | quality recipe (img/s) | recipe / paper |\n|---|---:|---:|---:|")
    for name in args.methods.split(","):
        paper, _ = images_per_second(registry[name], "paper", args.pack, args.steps, args.batch_size)
        quality, precision = images_per_second(registry[name], "quality", args.pack, args.steps, args.batch_size)
        rows.append({"method": name, "paper": paper, "quality": quality, "precision": precision})
        print(f"| {name} | {paper:.2f} | {quality:.2f} ({precision}) | {quality / paper:.1f}x |", flush=True)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
