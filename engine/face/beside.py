"""Face detection in a forked child while this process loads torch and a model.

A learned model's whole-process cost is mostly two waits that do not depend on each other:
importing torch (about 1.5 s here) and dlib's detector and 68-point predictor (about 1 s). Both
hold Python's GIL, so a thread gains nothing; a forked child detecting on the second core does.
Only dlib detection is moved (FAN would itself import torch in the child), only on Linux, where
fork is safe before torch is loaded, and only while torch is not yet imported (otherwise there is
nothing to overlap). Any failure in the child falls back to detecting here, so errors read as
they always do.

The child sends its faces back as JSON (boxes, landmarks, scores): nothing is unpickled.
"""

from __future__ import annotations

import json
import logging
import multiprocessing
import os
import sys
from collections.abc import Callable
from typing import TypeVar

import numpy as np

from engine.errors import FaceInpaintError
from engine.face.detection import _backend_order, detect_faces
from engine.face.types import Face

log = logging.getLogger(__name__)

T = TypeVar("T")


def can_detect_beside(backend: str) -> bool:
    """True when ``detect_faces_beside`` would fork: Linux, torch not loaded, dlib the only landmarker."""
    if not sys.platform.startswith("linux") or "torch" in sys.modules or (os.cpu_count() or 1) < 2:
        return False
    try:
        return _backend_order(backend) == ["dlib"]
    except (ValueError, FaceInpaintError):  # the backend cannot run: detecting here reports why
        return False


def faces_to_json(faces: list[Face]) -> bytes:
    return json.dumps([{"box": [float(v) for v in face.box], "landmarks": np.asarray(face.landmarks).tolist(),
                        "score": float(face.score), "backend": face.backend} for face in faces]).encode()


def faces_from_json(data: bytes) -> list[Face]:
    return [Face(box=tuple(item["box"]), landmarks=np.asarray(item["landmarks"], np.float32),
                 score=float(item["score"]), backend=str(item["backend"])) for item in json.loads(data)]


def _detect_in_child(connection, image: np.ndarray, backend: str) -> None:
    try:
        connection.send_bytes(faces_to_json(detect_faces(image, backend=backend)))
    except BaseException:  # noqa: BLE001 -- any failure: the parent detects again and reports it itself
        os._exit(1)
    connection.close()
    os._exit(0)  # no atexit handlers or buffers of the parent's are run twice


def detect_faces_beside(image: np.ndarray, backend: str, work: Callable[[], T]) -> tuple[list[Face], T]:
    """``detect_faces(image, backend)`` and ``work()`` side by side; both results, as if run in turn."""
    if not can_detect_beside(backend):
        result = work()
        return detect_faces(image, backend=backend), result
    context = multiprocessing.get_context("fork")
    receiver, sender = context.Pipe(duplex=False)
    child = context.Process(target=_detect_in_child, args=(sender, image, backend), daemon=True)
    child.start()
    sender.close()
    try:
        result = work()
        try:
            faces = faces_from_json(receiver.recv_bytes())
        except (EOFError, OSError, ValueError, KeyError, TypeError):
            log.debug("the detection child failed; detecting here")
            faces = detect_faces(image, backend=backend)
    except BaseException:
        child.kill()  # work() failed or was interrupted: the faces are not wanted
        raise
    finally:
        receiver.close()
        child.join(timeout=5)
        if child.is_alive():
            child.kill()
            child.join()
    return faces, result
