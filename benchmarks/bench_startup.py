"""Start-up cost: the classical baselines through FaceInpaint against a bare script, and the app's first window.

    python benchmarks/bench_startup.py [--photo PHOTO] [--repeats 5] [--no-app | --screenshot] [--json out.json]

Each row is a whole process, timed from launch to exit, median of ``--repeats`` runs:

* ``bare script``: read the photo with OpenCV, detect the face and its 68 landmarks with dlib,
  mask the mouth (landmarks 48-67, grown), ``cv2.inpaint`` (Telea), write a PNG: the floor any
  front end pays for the same work;
* ``faceinpaint-inpaint --model telea``: the same photo with ``--preset mouth``, once with the dlib
  face backend (no torch anywhere on the path) and once with ``auto`` (which prefers FAN landmarks,
  a torch network, when its weights are present);
* ``faceinpaint --screenshot``: the desktop app offscreen, from launch until its first window is
  painted, saved and closed (torch loads only afterwards, on the engine thread); and with the
  photo opened, once its faces are found (the ``auto`` face backend's FAN imports torch there).
  ``--screenshot`` times these two rows alone.

Issue 13's targets: the CLI within 1.5x of the bare script, the app's first window within 2 s.
Run it on an idle machine: every row starts a fresh interpreter, so other load inflates each alike.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

BARE = r"""
import importlib.util, sys
from pathlib import Path
import cv2, dlib, numpy as np
models = Path(next(iter(importlib.util.find_spec("face_recognition_models").submodule_search_locations))) / "models"
photo, out = sys.argv[1], sys.argv[2]
image = cv2.imread(photo)
rgb = cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
box = dlib.get_frontal_face_detector()(rgb, 1)[0]
points = dlib.shape_predictor(str(models / "shape_predictor_68_face_landmarks.dat"))(rgb, box)
mouth = np.array([[points.part(i).x, points.part(i).y] for i in range(48, 68)], np.int32)
mask = np.zeros(image.shape[:2], np.uint8)
cv2.fillConvexPoly(mask, cv2.convexHull(mouth), 255)
grow = max(3, int(0.25 * np.ptp(mouth[:, 0])))
mask = cv2.dilate(mask, np.ones((2 * grow + 1, 2 * grow + 1), np.uint8))
cv2.imwrite(out, cv2.inpaint(image, mask, 5, cv2.INPAINT_TELEA))
"""


def timed(command: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    done = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{done.stderr[-2000:]}")
    return seconds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--photo", type=Path, default=REPO / "resources" / "samples" / "astronaut.png")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--no-app", action="store_true", help="skip the desktop app rows")
    parser.add_argument("--screenshot", action="store_true", help="only the desktop app rows")
    parser.add_argument("--json", type=Path, help="also write the timings here")
    args = parser.parse_args(argv)

    env = dict(os.environ, PYTHONPATH=str(REPO), QT_QPA_PLATFORM=os.environ.get("QT_QPA_PLATFORM", "offscreen"))
    py = sys.executable
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        rows = {} if args.screenshot else {
            "bare script (cv2 + dlib)": [py, "-c", BARE, str(args.photo), str(out / "bare.png")],
            "faceinpaint-inpaint telea, dlib": [py, "-m", "engine.cli_inpaint", str(args.photo), "--preset", "mouth",
                                                "--model", "telea", "--face-backend", "dlib", "--overwrite",
                                                "-o", str(out / "cli-dlib.png")],
            "faceinpaint-inpaint telea, auto": [py, "-m", "engine.cli_inpaint", str(args.photo), "--preset", "mouth",
                                                "--model", "telea", "--overwrite", "-o", str(out / "cli-auto.png")],
        }
        if not args.no_app:
            rows["faceinpaint --screenshot (first window)"] = [py, "-m", "faceinpaint_app.main",
                                                                "--screenshot", str(out / "first.png")]
            rows["faceinpaint PHOTO --screenshot (faces found)"] = [py, "-m", "faceinpaint_app.main", str(args.photo),
                                                                     "--screenshot", str(out / "photo.png")]
        timings: dict[str, list[float]] = {name: [] for name in rows}
        for _ in range(args.repeats):  # interleaved, so a change of load hits every row alike
            for name, command in rows.items():
                timings[name].append(timed(command, env))
    medians = {name: statistics.median(t) for name, t in timings.items()}
    bare = medians.get("bare script (cv2 + dlib)")
    load = os.getloadavg()
    print(f"{args.photo.name}, median of {args.repeats}, {os.cpu_count()} CPUs, load average "
          f"{load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f} (1 / 5 / 15 min)")
    print("| run | seconds | x bare script |\n|---|---|---|")
    for name, seconds in medians.items():
        print(f"| {name} | {seconds:.2f} | {f'{seconds / bare:.2f}' if bare else '-'} |")
    if args.json:
        photo = os.path.relpath(args.photo, REPO)
        args.json.write_text(json.dumps({"photo": photo, "repeats": args.repeats, "load_average": load,
                                         "timings": timings, "medians": medians}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
