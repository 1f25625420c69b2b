"""Make the README's gallery: the same masked faces completed by every model that is ready.

Only the bundled public-domain sample photo is used, so the picture can live in the repository
(the research data sets' licences forbid that). Each row is one preset hole, each column one
model; cells show the face region of the completed photo.

    python3 docs/make_gallery.py -o docs/gallery.png
    FACEINPAINT_WEIGHTS_DIR=/path/to/weights python3 docs/make_gallery.py -o gallery.png
    python3 docs/make_gallery.py --photos VAL1.jpg VAL2.jpg VAL3.jpg VAL4.jpg -o ../val-gallery.png

With ``--photos`` each row is another photo with the next of the four holes: a look at held-out
faces. Such a picture shows research-licensed faces: keep it out of the repository.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2
import numpy as np

from engine.errors import FaceInpaintError
from engine.face import detect_faces
from engine.imageio import read_image
from engine.imagesave import save_image
from engine.masks import preset_mask
from engine.models import MODELS, create_model, list_models
from engine.paths import sample_photo

CELL = 160
PRESETS = ("left-eye", "mouth", "upper-face", "right-half")


def face_window(face, shape: tuple[int, int]) -> tuple[int, int, int, int]:
    """A square around the face (1.6x its box), clipped to the photo: what each cell shows."""
    x0, y0, x1, y1 = face.box
    cx, cy, side = (x0 + x1) / 2, (y0 + y1) / 2, 1.6 * max(x1 - x0, y1 - y0)
    h, w = shape
    left, top = int(max(0, cx - side / 2)), int(max(0, cy - side / 2))
    return top, int(min(h, top + side)), left, int(min(w, left + side))


def label(cell: np.ndarray, text: str) -> np.ndarray:
    out = cell.copy()
    cv2.rectangle(out, (0, CELL - 18), (CELL, CELL), (0, 0, 0), -1)
    cv2.putText(out, text, (4, CELL - 5), cv2.FONT_HERSHEY_SIMPLEX, 0.42, (255, 255, 255), 1, cv2.LINE_AA)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-o", "--output", type=Path, required=True)
    parser.add_argument("--photo", type=Path, default=sample_photo())
    parser.add_argument("--photos", type=Path, nargs="+", help="one row per photo, each with the next hole")
    parser.add_argument("--models", help="comma-separated (default: every ready model)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    names = args.models.split(",") if args.models else [
        info.name for info in list_models() if MODELS[info.name].weights_status().ready
    ]
    models = {name: create_model(name) for name in names}
    rows = []
    photos = args.photos or [args.photo] * len(PRESETS)
    for index, path in enumerate(photos):
        preset = PRESETS[index % len(PRESETS)]
        photo = read_image(path)
        face = detect_faces(photo, backend="dlib")[0]
        top, bottom, left, right = face_window(face, photo.shape[:2])
        mask = preset_mask(preset, face.landmarks, photo.shape[:2])
        shown = photo.copy()
        shown[mask > 0] = (255, 255, 255)
        cells = [label(cv2.resize(shown[top:bottom, left:right], (CELL, CELL), interpolation=cv2.INTER_AREA), preset)]
        for name, model in models.items():
            try:
                result = model.inpaint(photo, mask, seed=args.seed, face=face)[0].image
                cell = cv2.resize(result[top:bottom, left:right], (CELL, CELL), interpolation=cv2.INTER_AREA)
            except FaceInpaintError as err:
                print(f"{name} on {preset}: {err}", file=sys.stderr)
                cell = np.full((CELL, CELL, 3), 64, np.uint8)
            cells.append(label(cell, name))
        rows.append(np.hstack(cells))
    save_image(args.output, np.vstack(rows), overwrite=True)
    print(f"wrote {args.output}: {len(rows)} holes x {len(models)} models ({', '.join(models)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
