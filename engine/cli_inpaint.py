"""``faceinpaint-inpaint``: complete the masked part of a photo, or of a whole folder, from the command line.

    faceinpaint-inpaint photo.jpg --preset left-eye -o done.png
    faceinpaint-inpaint photo.jpg --mask hole.png --model telea --samples 4 --seed 7 -o outdir/
    faceinpaint-inpaint photos/ --preset both-eyes --faces all -o done/      # a batch, one model load
    faceinpaint-inpaint photos/ --mask masks/ --model collagan -o done/     # masks named like the photos
    faceinpaint-inpaint --list-models

Bad input (a missing file, a wrong-size mask, an unknown preset, model or device, an output that
would overwrite the input or cannot be written) prints one line on stderr and exits with status 2
before any work; never a traceback. Outside the mask the saved file holds the photo's own samples
(alpha, 16-bit depth, colour profile and EXIF included) unless the output format cannot store them,
which is said in one "warning:" line each.

A batch completes every photo of a folder into ``OUTDIR/<name>.png`` with one model load, skips
photos whose output already exists (so an interrupted batch resumes where it stopped), reports a
photo that fails in one line and goes on, and exits 2 at the end if any photo failed.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import sys
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from tqdm import tqdm

from engine.cli_common import EXIT_BAD_INPUT, run_main
from engine.device import DEVICE_CHOICES, check_device
from engine.errors import FaceInpaintError, ImageReadError, ImageWriteError, MaskError, NoFaceError, WeightsError
from engine.face import detect_faces, pick_face_for_mask
from engine.face.detection import dlib_can_run
from engine.imageio import IMAGE_SUFFIXES, ImageLossWarning, LoadedImage, image_files, read_image_with_info, read_mask
from engine.imagesave import check_save_target, save_completion
from engine.maskops import flatten
from engine.masks.presets import PRESETS, preset_mask
from engine.models import MODELS, create_model, get_spec
from engine.models.base import InpaintModel, InpaintRequest, InpaintResult, draw_seed

PROG = "faceinpaint-inpaint"
FACE_BACKENDS = ("auto", "fan", "dlib")
FACE_CHOICES = ("largest", "all")
MAX_SAMPLES = 1000  # completions of one photo; each is a file
SAMPLES_PER_CALL = 8  # completions held in memory at once (each is a full-size photo)
BATCH_SUFFIX = ".png"  # lossless: keeps alpha, 16 bits, the profile and EXIF outside the hole


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=PROG, description="Complete the masked part of a face photo, or of a folder.")
    parser.add_argument("image", nargs="?", type=Path, help="the photo to complete, or a folder of photos")
    hole = parser.add_mutually_exclusive_group()
    hole.add_argument("--mask", type=Path, help="mask image the size of the photo (white = complete this); "
                      "for a folder of photos, a folder of masks named like the photos")
    hole.add_argument("--preset", help="a landmark preset from engine.masks.PRESETS, e.g. left-eye, mouth")
    parser.add_argument("--faces", choices=FACE_CHOICES, default="largest",
                        help="which detected faces a --preset is drawn on (default: the largest)")
    parser.add_argument("--model", default="telea", help="registered model name (see --list-models)")
    parser.add_argument("--weights", type=Path, help="a .safetensors file instead of the shipped weights")
    parser.add_argument("--samples", type=int, default=1,
                        help=f"completions to make, 1 to {MAX_SAMPLES} (diverse models only)")
    parser.add_argument("--seed", type=int, help="base seed; sample k uses seed + k (default: random)")
    parser.add_argument("--device", default="auto", help=f"one of {', '.join(DEVICE_CHOICES)} or cuda:N")
    parser.add_argument("--poisson", action="store_true", help="blend the pasted face with Poisson editing")
    parser.add_argument("--face-backend", choices=FACE_BACKENDS, default="auto", help="face detector")
    parser.add_argument("--overwrite", action="store_true", help="replace existing output files (a batch "
                        "then redoes photos it would skip)")
    parser.add_argument("-o", "--output", type=Path, help="output file; a folder when --samples > 1 or IMAGE is a folder")
    parser.add_argument("--list-models", action="store_true", help="print the registered models and exit")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.list_models:
        print(models_table())
        return 0
    if args.image is None or args.output is None or (args.mask is None and args.preset is None):
        parser.error("give IMAGE (or a folder), one of --mask or --preset, and -o OUT (or --list-models)")
    if not 1 <= args.samples <= MAX_SAMPLES:
        parser.error(f"--samples must be between 1 and {MAX_SAMPLES}, got {args.samples}")
    if args.image.is_dir():
        return run_main(PROG, lambda: run_batch(args),
                        interrupted="finished photos are saved; run the same command again to resume")
    return run_main(PROG, lambda: print_paths(run(args)))


def print_paths(paths: list[Path]) -> None:
    for path in paths:
        print(path)


# -- the checks made before any work --------------------------------------------------------------
def check_common(args: argparse.Namespace) -> None:
    """What does not depend on the photo: model, preset, device, weights, seed."""
    spec = get_spec(args.model)
    if args.preset is not None and args.preset not in PRESETS:
        raise MaskError(f"unknown preset {args.preset!r}; known presets: {', '.join(PRESETS)}")
    args.device = check_device(args.device)
    if args.weights is not None and spec.info.weights_name is None:
        raise WeightsError(f"{args.model} uses no weights: drop --weights (or pick a learned model, see --list-models)")
    status = spec.weights_status(args.weights)
    if not status.ready:
        raise WeightsError(f"{args.model} cannot run: {status.reason}")
    if args.face_backend == "auto" and spec.info.weights_name is None and dlib_can_run():
        args.face_backend = "dlib"  # a classical fill never loads torch: FAN's landmarks would
    if args.seed is not None and not 0 <= args.seed <= 2**63 - 1 - MAX_SAMPLES:
        raise FaceInpaintError(f"--seed must be between 0 and 2^63 - {MAX_SAMPLES + 1}, got {args.seed}")


def check_writable_folder(folder: Path, *, create: bool = False) -> Path:
    """``folder`` exists (or, with ``create``, is made inside an existing one) and can be written."""
    if folder.exists() and not folder.is_dir():
        raise ImageWriteError(f"the output {folder} is a file; this writes into a folder")
    if not folder.exists():
        if not create or not folder.parent.is_dir():
            raise ImageWriteError(f"the output folder {folder} does not exist")
        try:
            folder.mkdir()
        except OSError as err:
            raise ImageWriteError(f"cannot create the output folder {folder} ({err.strerror or err})") from None
    if not os.access(folder, os.W_OK | os.X_OK):
        raise ImageWriteError(f"cannot write in the output folder {folder} (permission denied)")
    return folder


# -- one photo ------------------------------------------------------------------------------------
@dataclass
class Completion:
    """A photo, the mask that was completed (the union over its faces) and its completions."""

    loaded: LoadedImage
    mask: np.ndarray
    results: list[InpaintResult] = field(default_factory=list)


def chosen_faces(image: np.ndarray, which: str, backend: str, source: Path, faces: list | None = None) -> list:
    faces = detect_faces(image, backend=backend) if faces is None else faces  # largest first
    if not faces:
        raise NoFaceError(f"no face found in {source}: a landmark preset needs one; paint a --mask instead")
    return faces if which == "all" else faces[:1]


def face_for_mask(image: np.ndarray, mask: np.ndarray, backend: str, source: Path, faces: list | None = None):
    faces = detect_faces(image, backend=backend) if faces is None else faces
    if not faces:
        raise NoFaceError(f"no face found in {source}; face models need one (try --model telea)")
    return pick_face_for_mask(faces, flatten(mask))


def holes_of(photo: Path, mask_file: Path | None, image: np.ndarray, args, needs_face: bool,
             faces: list | None = None) -> list[tuple]:
    """The (face or None, mask) pairs to complete in turn: one per face for a preset on face models.

    ``faces``: the photo's detected faces when they are already known (else detected here).
    """
    if args.preset is not None:
        faces = chosen_faces(image, args.faces, args.face_backend, photo, faces)
        masks = [preset_mask(args.preset, face.landmarks, image.shape[:2], seed=args.seed) for face in faces]
        if needs_face:
            return list(zip(faces, masks))
        return [(None, np.maximum.reduce(masks))]  # region models fill every hole in one pass
    mask = read_mask(mask_file, image.shape[:2])
    return [(face_for_mask(image, mask, args.face_backend, photo, faces) if needs_face else None, mask)]


def complete_photo(model: InpaintModel, photo: Path, mask_file: Path | None, seeds: list[int], args,
                   progress=None, *, loaded: LoadedImage | None = None, faces: list | None = None) -> Completion:
    """Read ``photo`` (unless ``loaded``), complete each of its holes for every seed (face after
    face), and return it all. ``faces``: its detected faces, when already known."""
    loaded = read_image_with_info(photo) if loaded is None else loaded
    holes = holes_of(photo, mask_file, loaded.pixels, args, model.info.needs_face, faces)
    (face, mask), rest = holes[0], holes[1:]
    request = InpaintRequest(loaded.pixels, mask, seeds=seeds, face=face, poisson=args.poisson, progress=progress)
    results = model.inpaint(request)
    for face, mask in rest:  # the next face is completed in each sample's result, with that sample's seed
        results = [
            model.inpaint(InpaintRequest(r.image, mask, seeds=[r.seed], face=face, poisson=args.poisson))[0]
            for r in results
        ]
    union = np.maximum.reduce([mask for _, mask in holes])
    return Completion(loaded, union, results)


def save_quietly(path: Path, completion: Completion, result: InpaintResult, *, overwrite: bool, protect: Path,
                 warn: Callable[[str], None]) -> Path:
    """``save_completion``, each ``ImageLossWarning`` handed to ``warn`` as one line."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ImageLossWarning)
        save_completion(path, result.image, completion.mask, completion.loaded, overwrite=overwrite,
                        protect=None if overwrite else protect)
    for item in caught:
        if issubclass(item.category, ImageLossWarning):
            warn(f"{PROG}: warning: {item.message}")
        else:
            warnings.warn_explicit(item.message, item.category, item.filename, item.lineno)
    return path


def print_warning(line: str) -> None:
    print(line, file=sys.stderr)


def seed_chunks(base: int, samples: int) -> Iterator[list[int]]:
    """Sample k uses ``base + k``; at most ``SAMPLES_PER_CALL`` full-size completions at once."""
    for start in range(0, samples, SAMPLES_PER_CALL):
        yield [base + k for k in range(start, min(samples, start + SAMPLES_PER_CALL))]


def sample_path(folder: Path, stem: str, seed: int) -> Path:
    return folder / f"{stem}_seed{seed}{BATCH_SUFFIX}"


# -- one photo from the command line --------------------------------------------------------------
def run(args: argparse.Namespace) -> list[Path]:
    """Validate everything cheap first (outputs included), then complete and save; returns the files written."""
    check_common(args)
    if args.mask is not None and args.mask.is_dir():
        raise MaskError(f"--mask {args.mask} is a folder; that works when IMAGE is a folder of photos too")
    if not args.image.is_file():
        raise ImageReadError(f"the photo {args.image} does not exist")
    spec = get_spec(args.model)
    samples = args.samples if spec.info.diverse else 1
    base = draw_seed() if args.seed is None else args.seed
    if args.samples > 1 and samples == 1:
        print(f"{PROG}: {args.model} is deterministic: one completion instead of {args.samples}", file=sys.stderr)
    targets = check_outputs(args, base, samples)
    loaded, faces = None, None
    if spec.info.needs_face and spec.info.weights_name is not None:
        # A learned face model: dlib detects in a second process while torch and the weights load.
        from engine.face.beside import detect_faces_beside  # multiprocessing: not for the baselines

        loaded = read_image_with_info(args.image)
        faces, model = detect_faces_beside(loaded.pixels, args.face_backend,
                                           lambda: create_model(args.model, device=args.device, weights=args.weights))
    else:
        model = create_model(args.model, device=args.device, weights=args.weights)
    written = []
    for seeds in seed_chunks(base, samples):
        with model_progress(model) as progress:
            completion = complete_photo(model, args.image, args.mask, seeds, args, progress, loaded=loaded, faces=faces)
        for result in completion.results:
            path = targets[result.seed] if args.samples > 1 else args.output
            written.append(save_quietly(path, completion, result, overwrite=args.overwrite, protect=args.image,
                                        warn=print_warning))
    return written


def check_outputs(args: argparse.Namespace, base: int, samples: int) -> dict[int, Path]:
    """Refuse now an output that is the photo, a folder given for one file, or cannot be written."""
    out: Path = args.output
    if out.resolve() == args.image.resolve():
        raise ImageWriteError(f"the output {out} is the input photo; choose another name so the original is kept")
    if args.samples == 1:
        if out.is_dir():
            raise ImageWriteError(f"the output {out} is a folder; give a file name (or use --samples N > 1)")
        check_save_target(out, overwrite=args.overwrite, protect=args.image)
        return {}
    check_writable_folder(out, create=True)
    targets = {base + k: sample_path(out, args.image.stem, base + k) for k in range(samples)}
    clashes = [str(p) for p in targets.values() if p.exists()]
    if clashes and not args.overwrite:
        raise ImageWriteError(f"{', '.join(clashes[:3])}{' ...' if len(clashes) > 3 else ''} already exist; "
                              "pass --overwrite to replace them")
    return targets


@contextlib.contextmanager
def model_progress(model: InpaintModel) -> Iterator[Callable[..., None]]:
    """A tqdm bar on stderr for iterative models (the DCGAN search); nothing for the others."""
    with tqdm(total=100, desc=model.info.display_name, unit="%", disable=not model.info.iterative,
              file=sys.stderr) as bar:

        def progress(fraction: float, message: str = "", preview=None) -> None:
            bar.update(max(0, round(100 * fraction) - bar.n))

        yield progress


# -- a folder -------------------------------------------------------------------------------------
@dataclass
class BatchPlan:
    photos: list[Path]
    masks: dict[str, Path]  # photo stem -> its mask file (empty with --preset)
    out: Path


def plan_batch(args: argparse.Namespace) -> BatchPlan:
    """The photos, their masks and the output folder, checked before the model loads."""
    check_common(args)
    photos = image_files(args.image)
    if not photos:
        raise ImageReadError(f"the folder {args.image} holds no photos ({', '.join(sorted(IMAGE_SUFFIXES))})")
    out = args.output
    if out.exists() and out.resolve() == args.image.resolve():
        raise ImageWriteError(f"the output folder {out} is the photos' folder; choose another so no photo is replaced")
    stems: dict[str, Path] = {}
    for photo in photos:
        if photo.stem in stems:
            raise ImageReadError(f"{stems[photo.stem].name} and {photo.name} would both be saved as "
                                 f"{photo.stem}{BATCH_SUFFIX}; rename one")
        stems[photo.stem] = photo
    masks: dict[str, Path] = {}
    if args.mask is not None:
        if not args.mask.is_dir():
            raise MaskError(f"--mask {args.mask} must be a folder of masks named like the photos when IMAGE is a folder")
        if args.mask.resolve() == args.image.resolve():
            raise MaskError("the masks must be in a folder of their own, not among the photos")
        masks = {mask.stem: mask for mask in image_files(args.mask)}
    return BatchPlan(photos, masks, check_writable_folder(out, create=True))


def batch_targets(plan: BatchPlan, photo: Path, seeds: list[int], samples: int) -> list[Path]:
    if samples == 1:
        return [plan.out / f"{photo.stem}{BATCH_SUFFIX}"]
    return [sample_path(plan.out, photo.stem, seed) for seed in seeds]


def already_done(plan: BatchPlan, photo: Path, samples: int) -> bool:
    """A photo whose outputs exist was finished by an earlier (maybe interrupted) run."""
    if samples == 1:
        return (plan.out / f"{photo.stem}{BATCH_SUFFIX}").exists()
    pattern = re.compile(re.escape(photo.stem) + r"_seed\d+" + re.escape(BATCH_SUFFIX))
    return sum(1 for p in plan.out.iterdir() if pattern.fullmatch(p.name)) >= samples


def run_batch(args: argparse.Namespace) -> int:
    """Complete every photo of a folder with one model; returns 2 if any photo failed."""
    plan = plan_batch(args)
    spec = get_spec(args.model)
    samples = args.samples if spec.info.diverse else 1
    base = draw_seed() if args.seed is None else args.seed
    model = create_model(args.model, device=args.device, weights=args.weights)
    done = skipped = 0
    failed: list[tuple[Path, str]] = []
    with tqdm(plan.photos, desc=f"{PROG} ({args.model})", unit="photo", file=sys.stderr) as bar:
        for photo in bar:
            if not args.overwrite and already_done(plan, photo, samples):
                skipped += 1
                continue
            try:
                complete_batch_photo(model, plan, photo, base, samples, args, bar.write)
                done += 1
            except FaceInpaintError as err:
                failed.append((photo, str(err)))
                bar.write(f"{PROG}: {photo.name}: error: {err}", file=sys.stderr)
    summary = f"{PROG}: {done} completed, {skipped} already done (skipped), {len(failed)} failed, into {plan.out}"
    print(summary, file=sys.stderr)
    if failed:
        print(f"{PROG}: failed: {', '.join(p.name for p, _ in failed[:10])}{' ...' if len(failed) > 10 else ''}",
              file=sys.stderr)
        return EXIT_BAD_INPUT
    return 0


def complete_batch_photo(model: InpaintModel, plan: BatchPlan, photo: Path, base: int, samples: int, args,
                         write: Callable[..., None]) -> None:
    mask_file = None
    if args.mask is not None:
        mask_file = plan.masks.get(photo.stem)
        if mask_file is None:
            raise MaskError(f"no mask named {photo.stem}.* in {args.mask}")
    for seeds in seed_chunks(base, samples):
        targets = dict(zip(seeds, batch_targets(plan, photo, seeds, samples)))
        pending = [seed for seed, target in targets.items() if args.overwrite or not target.exists()]
        if not pending:
            continue  # saved by an interrupted earlier run
        for seed in pending:
            check_save_target(targets[seed], overwrite=args.overwrite, protect=photo)
        completion = complete_photo(model, photo, mask_file, pending, args)
        for result in completion.results:
            target = targets[result.seed] if samples > 1 else targets[seeds[0]]
            save_quietly(target, completion, result, overwrite=args.overwrite, protect=photo,
                         warn=lambda line: write(line, file=sys.stderr))


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
