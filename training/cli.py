"""faceinpaint-train: train a method, or export a run as engine weights.

    faceinpaint-train METHOD --data DIR [--data DIR ...] [--masks DIR] --out RUN_DIR
                      [--config FILE.toml] [--steps N | --epochs N] [--batch-size B]
                      [--device D] [--resume] [--seed S] [--set KEY=VALUE ...]
    faceinpaint-train export RUN_DIR -o WEIGHTS.safetensors [--fp16] [--notes NOTES.md]

Every option is a field of the method's config dataclass (defaults = the paper's values); ``--set``
reaches the ones without a flag (``--set lr=2e-4 --set 'tasks=["i","s"]'``). Precedence: the
dataclass defaults, then the run's saved config.toml (with --resume), then --config, then flags.
Under ``torchrun --nproc_per_node N`` the run is data-parallel.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from engine.cli_common import run_main
from engine.config import parse_dotlist
from training.config import ConfigError, load_config


def build_parser(methods: dict) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="faceinpaint-train", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True, metavar="METHOD|all|pack|export|ship")
    for name in sorted(methods):
        p = sub.add_parser(name, help=f"train {name}")
        for field_name, help_text in methods[name].cli_options.items():
            p.add_argument("--" + field_name.replace("_", "-"), dest=field_name, help=help_text)
        p.add_argument("--data", action="append", help="folder of face photos (repeatable; searched recursively)")
        p.add_argument("--pack", help="a face pack (faceinpaint-train pack) to train on instead of --data folders")
        p.add_argument("--recipe", choices=("quality", "paper"),
                       help="quality (default): Telea prefill + residual, SSIM+L1, EMA, bf16...; paper: the paper's setting")
        p.add_argument("--init", help="engine weights to continue from ('shipped' = resources/weights/METHOD.safetensors)")
        p.add_argument("--minutes", type=float, help="wall-clock budget of the run")
        p.add_argument("--val-data", action="append", help="held-out folder (repeatable); default: hold out val_fraction")
        p.add_argument("--masks", action="append", help="folder of irregular masks, white = hole (repeatable)")
        p.add_argument("--out", required=True, help="run folder: config, checkpoints, samples, logs")
        p.add_argument("--config", help="TOML file with options of the method's config")
        length = p.add_mutually_exclusive_group()
        length.add_argument("--steps", type=int, help="optimisation steps (overrides epochs)")
        length.add_argument("--epochs", type=int)
        p.add_argument("--batch-size", type=int)
        p.add_argument("--lr", type=float)
        p.add_argument("--resolution", type=int)
        p.add_argument("--width", type=int, help="base channel count of the networks")
        p.add_argument("--num-workers", type=int)
        p.add_argument("--device", help="auto, cuda, cuda:N, mps or cpu")
        p.add_argument("--seed", type=int)
        p.add_argument("--no-amp", dest="amp", action="store_false", default=None, help="no mixed precision on CUDA")
        p.add_argument("--resume", action="store_true", help="continue the run in --out from its last checkpoint")
        p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="any other config option")
    p = sub.add_parser("all", help="train every learned method in turn within one wall-clock budget")
    p.add_argument("--minutes", type=float, required=True, help="the whole budget, split between the methods")
    p.add_argument("--out", required=True, help="folder of the exported weights (one file per method) and all.json")
    p.add_argument("--runs", help="folder of the run folders (checkpoints, samples); default OUT/runs")
    p.add_argument("--init", help="'shipped': continue each method from resources/weights where the architecture fits")
    p.add_argument("--methods", help="comma-separated subset (default: all; face-analysis only when none is shipped)")
    p.add_argument("--pack", help="a face pack to train on")
    p.add_argument("--data", action="append", help="folder of face photos (repeatable), instead of --pack")
    p.add_argument("--masks", action="append", help="folder of irregular masks (white = hole)")
    p.add_argument("--device", help="auto, cuda, cuda:N, mps or cpu")
    p.add_argument("--config", help="TOML file of options applied to every method")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="an option for every method that has it")
    p = sub.add_parser("pack", help="pre-align every usable face of photo folders into a compact pack")
    p.add_argument("--data", action="append", required=True, help="folder of face photos (repeatable; searched recursively)")
    p.add_argument("-o", "--output", required=True, help="new pack folder")
    p.add_argument("--resolution", type=int, default=128, help="crop size in pixels (default 128)")
    p.add_argument("--encoding", choices=("jpeg", "raw"), default="jpeg",
                   help="jpeg: compact, to travel (default); raw: uint8, memory-mapped, fastest to read")
    p.add_argument("--quality", type=int, default=90, help="JPEG quality (default 90)")
    p.add_argument("--every", type=int, default=1, help="keep every n-th photo of each folder (default 1)")
    p.add_argument("--max-mib", type=float, default=0.0, help="keep an evenly spaced subset that fits this many MiB")
    p.add_argument("--cache-dir", help="landmark cache shared with training runs (default: PACK/cache)")
    p.add_argument("--workers", type=int, default=2, help="face-detection processes (default 2)")
    p = sub.add_parser("ship", help="ship weights only when they beat the shipped ones on held-out faces")
    p.add_argument("candidate", help="exported weights (.safetensors) to consider")
    p.add_argument("--data", action="append", help="held-out folder (repeatable; default ../shared/data/{utkface,celeba}/val)")
    p.add_argument("--subset", type=int, default=120, help="faces evenly spaced through the folders (default 120)")
    p.add_argument("--seed", type=int, default=0, help="mask seed (default 0)")
    p.add_argument("--device", default="cpu", help="device for scoring (default cpu)")
    p.add_argument("--dry-run", action="store_true", help="score and print the verdict, change nothing")
    p.add_argument("--rescore-shipped", action="store_true",
                   help="score the shipped file again instead of reading its gate record (after an engine "
                        "change that alters its output, e.g. a new prefill)")
    p = sub.add_parser("export", help="write a run's generator as engine weights + model card")
    p.add_argument("run_dir")
    p.add_argument("-o", "--output", required=True,
                   help="WEIGHTS.safetensors (+ a .md model card); inside resources/weights/ the manifest is updated too")
    p.add_argument("--fp16", action="store_true", help="store float16 weights (half the size)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing weights file")
    p.add_argument("--notes", type=Path, metavar="NOTES.md",
                   help="Markdown added to the model card, e.g. where the run departs from the paper's setting")
    return parser


def main(argv: list[str] | None = None) -> int:
    return run_main("faceinpaint-train", lambda: _main(argv),
                    interrupted="the run folder keeps its last checkpoint (continue with --resume)")


def _main(argv: list[str] | None) -> int:
    from training.methods import load_methods

    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    methods = load_methods()
    args = build_parser(methods).parse_args(argv)
    if args.command == "all":
        from training.train_all import train_all

        if not args.minutes > 0:
            raise ConfigError(f"--minutes must be a positive number of minutes, got {args.minutes}")
        overrides = {"pack": args.pack, "data": args.data, "masks": args.masks, "device": args.device,
                     **parse_dotlist(args.set)}
        train_all(args.out, args.minutes, init=args.init, config_file=args.config, runs=args.runs,
                  methods=args.methods.split(",") if args.methods else None,
                  overrides={k: v for k, v in overrides.items() if v is not None})
        return 0
    if args.command == "ship":
        from training.ship import ship

        result = ship(args.candidate, dry_run=args.dry_run, data=args.data, subset=args.subset, seed=args.seed,
                      device=args.device, rescore_shipped=args.rescore_shipped)
        return 0 if result.accepted else 1
    if args.command == "pack":
        from training.pack import build_pack

        build_pack(args.data, args.output, resolution=args.resolution, encoding=args.encoding, quality=args.quality,
                   every=args.every, max_mib=args.max_mib, cache_dir=args.cache_dir, workers=args.workers)
        return 0
    if args.command == "export":
        from training.export import export_run

        export_run(args.run_dir, args.output, fp16=args.fp16, notes=args.notes, overwrite=args.overwrite)
        return 0
    return _train(methods[args.command], args)


def _init_path(method: str, init: str | None) -> str | None:
    """``--init shipped`` names the shipped weights of the method."""
    if init != "shipped":
        return init
    from engine.paths import weights_dir

    return str(weights_dir() / f"{method}.safetensors")


def _train(method_cls, args) -> int:
    from training.trainer import TrainingDiverged, run_training

    if args.steps is not None and args.steps < 1:  # in the config, steps = 0 means "run for epochs"
        raise ConfigError(f"--steps must be at least 1, got {args.steps} (or give --epochs N)")
    overrides = {
        "data": args.data, "val_data": args.val_data, "masks": args.masks, "out": args.out,
        "steps": args.steps, "epochs": args.epochs, "batch_size": args.batch_size, "lr": args.lr,
        "resolution": args.resolution, "width": args.width, "num_workers": args.num_workers,
        "device": args.device, "seed": args.seed, "amp": args.amp, "pack": args.pack, "minutes": args.minutes,
        "init": _init_path(method_cls.name, args.init), **parse_dotlist(args.set),
        **{name: getattr(args, name) for name in method_cls.cli_options},
    }
    if args.epochs is not None:
        overrides["steps"] = 0
    saved = Path(args.out) / "config.toml"
    if args.resume and saved.is_file():
        base = load_config(method_cls.config_cls, saved)
    else:
        from training.recipe import recipe_config

        base = recipe_config(method_cls, args.recipe or "quality", continuing=bool(overrides["init"]))
    cfg = load_config(method_cls.config_cls, args.config, overrides, base=base)
    try:
        outcome = run_training(method_cls, cfg, resume=args.resume)
    except TrainingDiverged as err:
        print(f"faceinpaint-train: {err}", file=sys.stderr)
        return 3
    if not outcome.finished:
        print(f"faceinpaint-train: stopped at step {outcome.step}; continue with --resume", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
