"""``faceinpaint-inpaint``: complete the masked part of one photo from the command line.

    faceinpaint-inpaint photo.jpg --preset left-eye -o done.png
    faceinpaint-inpaint photo.jpg --mask hole.png --model telea --samples 4 --seed 7 -o outdir/
    faceinpaint-inpaint --list-models

Bad input (a missing file, a wrong-size mask, an unknown preset or model, an output that would
overwrite the input) prints one line on stderr and exits with status 2; never a traceback.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from tqdm import tqdm

from engine.cli_common import run_main
from engine.device import DEVICE_CHOICES
from engine.errors import ImageWriteError, MaskError, NoFaceError, WeightsError
from engine.face import detect_faces, pick_face_for_mask
from engine.imageio import read_image, read_mask, save_image
from engine.masks.presets import PRESETS, preset_mask
from engine.models import MODELS, create_model, get_spec
from engine.models.base import InpaintModel, InpaintRequest, InpaintResult

PROG = "faceinpaint-inpaint"
FACE_BACKENDS = ("auto", "fan", "dlib")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=PROG, description="Complete the masked part of a face photo.")
    parser.add_argument("image", nargs="?", type=Path, help="the photo to complete")
    hole = parser.add_mutually_exclusive_group()
    hole.add_argument("--mask", type=Path, help="mask image the size of the photo (white = complete this)")
    hole.add_argument("--preset", help="a landmark preset from engine.masks.PRESETS, e.g. left-eye, mouth")
    parser.add_argument("--model", default="telea", help="registered model name (see --list-models)")
    parser.add_argument("--weights", type=Path, help="a .safetensors file instead of the shipped weights")
    parser.add_argument("--samples", type=int, default=1, help="completions to make (diverse models only)")
    parser.add_argument("--seed", type=int, help="base seed; sample k uses seed + k (default: random)")
    parser.add_argument("--device", default="auto", help=f"one of {', '.join(DEVICE_CHOICES)} or cuda:N")
    parser.add_argument("--poisson", action="store_true", help="blend the pasted face with Poisson editing")
    parser.add_argument("--face-backend", choices=FACE_BACKENDS, default="auto", help="face detector")
    parser.add_argument("--overwrite", action="store_true", help="replace existing output files")
    parser.add_argument("-o", "--output", type=Path, help="output file, or a folder when --samples > 1")
    parser.add_argument("--list-models", action="store_true", help="print the registered models and exit")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.list_models:
        print(models_table())
        return 0
    if args.image is None or args.output is None or (args.mask is None and args.preset is None):
        parser.error("give IMAGE, one of --mask or --preset, and -o OUT (or --list-models)")
    if args.samples < 1:
        parser.error("--samples must be at least 1")
    return run_main(PROG, lambda: print_paths(run(args)))


def print_paths(paths: list[Path]) -> None:
    for path in paths:
        print(path)


def run(args: argparse.Namespace) -> list[Path]:
    """Validate everything cheap first, then complete and save; returns the files written."""
    spec = get_spec(args.model)
    if args.preset is not None:
        check_preset_name(args.preset)
    target = check_output(args)
    status = spec.weights_status(args.weights)
    if not status.ready:
        raise WeightsError(f"{args.model} cannot run: {status.reason}")

    image = read_image(args.image)
    face = None
    if args.preset is not None:
        face = largest_face(image, args.face_backend, args.image)
        mask = preset_mask(args.preset, face.landmarks, image.shape[:2], seed=args.seed)
    else:
        mask = read_mask(args.mask, image.shape[:2])
    if spec.info.needs_face and face is None:
        face = face_for_mask(image, mask, args.face_backend, args.image)

    model = create_model(args.model, device=args.device, weights=args.weights)
    results = complete(model, image, mask, args, face)
    return save_results(results, target, args)


def check_preset_name(name: str) -> None:
    if name not in PRESETS:
        raise MaskError(f"unknown preset {name!r}; known presets: {', '.join(PRESETS)}")


def largest_face(image: np.ndarray, backend: str, source: Path):
    faces = detect_faces(image, backend=backend)
    if not faces:
        raise NoFaceError(f"no face found in {source}: a landmark preset needs one; paint a --mask instead")
    return faces[0]


def face_for_mask(image: np.ndarray, mask: np.ndarray, backend: str, source: Path):
    faces = detect_faces(image, backend=backend)
    if not faces:
        raise NoFaceError(f"no face found in {source}; face models need one (try --model telea)")
    return pick_face_for_mask(faces, mask if mask.ndim == 2 else mask.max(axis=2))


def check_output(args: argparse.Namespace) -> Path:
    """Refuse early an output that is the input photo or a folder given for a single result."""
    out: Path = args.output
    if out.resolve() == args.image.resolve():
        raise ImageWriteError(f"the output {out} is the input photo; choose another name so the original is kept")
    if args.samples == 1 and out.is_dir():
        raise ImageWriteError(f"the output {out} is a folder; give a file name (or use --samples N > 1)")
    if args.samples > 1 and out.exists() and not out.is_dir():
        raise ImageWriteError(f"the output {out} is a file; --samples {args.samples} writes into a folder")
    return out


def complete(model: InpaintModel, image, mask, args, face) -> list[InpaintResult]:
    with tqdm(total=100, desc=model.info.display_name, unit="%", disable=not model.info.iterative, file=sys.stderr) as bar:

        def progress(fraction: float, message: str = "", preview=None) -> None:
            bar.update(round(100 * fraction) - bar.n)

        request = InpaintRequest(
            image, mask, samples=args.samples, seed=args.seed, progress=progress, face=face, poisson=args.poisson
        )
        return model.inpaint(request)


def save_results(results: list[InpaintResult], out: Path, args: argparse.Namespace) -> list[Path]:
    if args.samples == 1:
        save_image(out, results[0].image, overwrite=args.overwrite, protect=None if args.overwrite else args.image)
        return [out]
    if len(results) < args.samples:
        print(f"{PROG}: {args.model} is deterministic: one completion instead of {args.samples}", file=sys.stderr)
    out.mkdir(parents=True, exist_ok=True)
    paths = [out / f"{args.image.stem}_seed{r.seed}.png" for r in results]
    clashes = [str(p) for p in paths if p.exists()]
    if clashes and not args.overwrite:
        raise ImageWriteError(f"{', '.join(clashes)} already exist; pass --overwrite to replace them")
    for path, result in zip(paths, results):
        save_image(path, result.image, overwrite=args.overwrite, protect=None if args.overwrite else args.image)
    return paths


def models_table() -> str:
    """The registry as an aligned text table, weights status included."""
    header = ("name", "display name", "paper", "resolution", "diverse", "iterative", "weights")
    rows = [header]
    for spec in MODELS.values():
        info, status = spec.info, spec.weights_status()
        rows.append(
            (
                info.name,
                info.display_name,
                info.paper,
                str(info.resolution) if info.resolution else "any",
                "yes" if info.diverse else "no",
                "yes" if info.iterative else "no",
                "ready" if status.ready else f"missing: {status.reason}",
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(header) - 1)]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(row, widths)) + "  " + row[-1] for row in rows)


if __name__ == "__main__":
    sys.exit(main())
