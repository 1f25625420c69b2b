"""``faceinpaint-eval``: score models on held-out face photos with the papers' protocols.

    faceinpaint-eval --data ../shared/data/utkface/val --protocol collagan-occlusions \\
        --models telea,navier-stokes --markdown eval.md --json eval.json

Prints the tables, writes JSON and/or Markdown on request. ``--config run.toml`` reads the
same settings (``engine.evaluation.EvalConfig`` fields) from TOML; options on the command line win. Bad input exits with status 2 and one
line on stderr.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from engine.atomic import atomic_write_text
from engine.cli_common import run_main
from engine.cli_inpaint import FACE_BACKENDS
from engine.device import check_device
from engine.errors import FaceInpaintError, ImageWriteError
from engine.evaluation import PROTOCOLS, EvalConfig, evaluate

PROG = "faceinpaint-eval"
SKIPPED_SHOWN = 10  # the JSON lists them all


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=PROG, description="Evaluate inpainting models on aligned face crops.")
    parser.add_argument("--config", type=Path, help="TOML file with EvalConfig fields; options given here win")
    parser.add_argument("--data", type=Path, action="append", help="folder of face photos (repeatable)")
    parser.add_argument("--protocol", choices=PROTOCOLS, help="occlusion cases to run")
    parser.add_argument("--models", help="comma-separated model names, e.g. telea,navier-stokes")
    parser.add_argument("--weights", action="append", metavar="NAME=FILE", help="weights file for a model (repeatable)")
    parser.add_argument("--masks", type=Path, help="folder of mask PNGs for the irregular protocol")
    parser.add_argument("--resolution", type=int, help="aligned crop size (default: the protocol's paper's)")
    parser.add_argument("--limit", type=int, help="use only the first N images (sorted by path)")
    parser.add_argument("--subset", type=int, metavar="N",
                        help="use N images evenly spaced through the sorted list (a fair sample of a large folder)")
    parser.add_argument("--seed", type=int, help="mask of image i is drawn from seed + i (default 0)")
    parser.add_argument("--device", help="auto (default), cuda, mps or cpu")
    parser.add_argument("--face-backend", choices=FACE_BACKENDS, help="face detector (default auto)")
    parser.add_argument("--no-face-metrics", dest="face_metrics", action="store_false", default=None,
                        help="PSNR, SSIM and L1 only: no landmark NME or identity distance of the results "
                             "(each needs dlib on every result; the irregular targets are PSNR and SSIM)")
    parser.add_argument("--sample-spread", dest="sample_spread", action="store_true", default=None,
                        help="complete each hole twice with diverse models (PD-GAN, MDE, the DCGAN, PatchMatch) and report how much "
                             "the two completions differ (0 = the seed changes nothing)")
    parser.add_argument("--json", type=Path, help="write the results as JSON here")
    parser.add_argument("--markdown", type=Path, help="write the tables as Markdown here")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    return parser


def parse_weights(pairs: list[str]) -> dict[str, Path]:
    weights = {}
    for pair in pairs:
        name, sep, file = pair.partition("=")
        if not sep or not name or not file:
            raise FaceInpaintError(f"--weights takes NAME=FILE, got {pair!r}")
        weights[name] = Path(file)
    return weights


def make_config(args: argparse.Namespace) -> EvalConfig:
    """The EvalConfig of the options, on top of ``--config`` when given."""
    given = {
        "data": args.data,
        "protocol": args.protocol,
        "models": [m.strip() for m in args.models.split(",") if m.strip()] if args.models else None,
        "weights": parse_weights(args.weights) if args.weights else None,
        "masks": args.masks,
        "resolution": args.resolution,
        "limit": args.limit,
        "subset": args.subset,
        "seed": args.seed,
        "face_backend": args.face_backend,
        "device": args.device,
        "face_metrics": args.face_metrics,
        "sample_spread": args.sample_spread,
    }
    if args.config is not None:
        return EvalConfig.from_toml(args.config, **given)
    return EvalConfig(**{k: v for k, v in given.items() if v is not None})


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.resolution is not None and args.resolution < 16:
        parser.error("--resolution must be at least 16")
    for option in ("limit", "subset"):
        if getattr(args, option) is not None and getattr(args, option) < 1:
            parser.error(f"--{option} must be at least 1")
    if args.config is None and not (args.data and args.protocol and args.models):
        parser.error("give --data, --protocol and --models (or a --config file)")
    return run_main(PROG, lambda: run(args))


def run(args: argparse.Namespace) -> int:
    """Evaluate, write the reports asked for, print the tables and the skipped images."""
    config = make_config(args)
    config.device = check_device(config.device)
    for out in (args.json, args.markdown):
        if out is not None:
            check_report_target(out)
    report = evaluate(config, progress=not args.quiet)
    if report.skipped and not report.rows:
        first = report.skipped[0]
        raise FaceInpaintError(f"all {len(report.skipped)} images were skipped (no face found or unreadable), so "
                               f"nothing was scored; the first: {first['file']}: {first['reason']}")
    markdown = report.to_markdown()
    if args.json:
        write_text(args.json, json.dumps(report.to_json(), indent=2) + "\n")
    if args.markdown:
        write_text(args.markdown, markdown)
    print(markdown)
    if report.skipped:
        print(f"{len(report.skipped)} images skipped (no face found or unreadable):", file=sys.stderr)
        for item in report.skipped[:SKIPPED_SHOWN]:
            print(f"  {item['file']}: {item['reason']}", file=sys.stderr)
    return 0


def check_report_target(path: Path) -> None:
    """Refuse now, not after the whole evaluation, a report path that cannot be written."""
    if path.is_dir():
        raise ImageWriteError(f"cannot write {path}: it is a folder; give a file name")
    folder = path.parent
    if not folder.is_dir():
        raise ImageWriteError(f"cannot write {path}: the folder {folder} does not exist")
    if not os.access(folder, os.W_OK | os.X_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise ImageWriteError(f"cannot write {path}: permission denied")


def write_text(path: Path, text: str) -> None:
    """Atomic text write (temporary file beside it, then rename)."""
    try:
        atomic_write_text(path, text)
    except OSError as err:
        raise ImageWriteError(f"cannot write {path}: {err}") from err


if __name__ == "__main__":
    sys.exit(main())
