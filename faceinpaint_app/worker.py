"""Model runs and face detection on a worker thread, so the window never blocks.

``EngineClient`` lives in the GUI thread and owns a ``QThread`` running one ``EngineWorker``.
Jobs travel to the worker as queued signals; progress, previews and outcomes travel back the
same way. Cancelling sets the job's ``CancelToken``, which every model honours between chunks of
samples and iterative ones between steps.
Models are created once per (name, device) and cached on the worker thread.
"""

from __future__ import annotations

import itertools
import logging
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from PySide6.QtCore import QObject, QThread, Signal, Slot

from engine.errors import CancelledError, FaceInpaintError
from engine.models import create_model
from engine.models.base import CancelToken, InpaintRequest, region_of_interest

log = logging.getLogger(__name__)

PROGRESS_INTERVAL_S = 0.05  # at most ~20 progress updates a second reach the GUI
PREVIEW_INTERVAL_S = 0.2  # previews cost a QImage conversion: fewer of them
SHUTDOWN_WAIT_MS = 3000  # how long closing the window waits for a model to stop
ABANDONED_THREADS: list[tuple] = []  # (thread, worker) still running after a bounded shutdown


@dataclass
class InpaintJob:
    """One request: run each of ``models`` on the same image and mask."""

    models: list[str]
    image: np.ndarray
    mask: np.ndarray
    samples: int = 1
    seed: int | None = None
    face: Any = None  # engine.face.Face the user picked, or None to let the model choose
    device: str = "auto"
    options: dict[str, Any] = field(default_factory=dict)  # run settings: fields of the model's settings class
    reference: np.ndarray | None = None  # the intact photo: when given, results are scored against it
    weights: dict[str, Any] = field(default_factory=dict)  # model -> .safetensors path loaded by the user
    job_id: int = 0
    cancel: CancelToken = field(default_factory=CancelToken)


@dataclass
class ModelOutcome:
    """What one model of a job produced: results, or a message fit to show the user."""

    model: str
    results: list = field(default_factory=list)  # engine.models.base.InpaintResult
    error: str = ""
    metrics: list[dict[str, float]] = field(default_factory=list)  # one dict per result when scored


def readable_error(model: str, err: BaseException) -> str:
    """A message a user can act on, whatever went wrong inside the engine."""
    if isinstance(err, FaceInpaintError):
        return str(err)
    if isinstance(err, MemoryError) or "out of memory" in str(err).lower():
        return f"{model} ran out of memory: try a smaller photo, fewer samples, or the CPU device"
    return f"{model} failed unexpectedly ({type(err).__name__}: {err})"


class EngineWorker(QObject):
    progress = Signal(int, str, float, str, object)  # job id, model, fraction, message, preview or None
    model_finished = Signal(int, object)  # job id, ModelOutcome
    job_finished = Signal(int, bool)  # job id, cancelled
    faces_found = Signal(int, object, str)  # request id, list of Face, error message
    device_resolved = Signal(str, str)  # preference, the device it resolves to

    def __init__(self) -> None:
        super().__init__()
        self._models: dict[tuple[str, str, Any], Any] = {}

    @Slot(object)
    def run(self, job: InpaintJob) -> None:
        cancelled = False
        for name in job.models:
            if job.cancel.cancelled:
                cancelled = True
                break
            try:
                outcome = self._run_model(name, job)
            except CancelledError:
                cancelled = True
                break
            except Exception as err:  # noqa: BLE001 -- every failure must reach the user, not kill the thread
                log.exception("model %s failed", name)
                outcome = ModelOutcome(name, error=readable_error(name, err))
            self.model_finished.emit(job.job_id, outcome)
        self.job_finished.emit(job.job_id, cancelled)

    def _run_model(self, name: str, job: InpaintJob) -> ModelOutcome:
        model = self.model(name, job.device, job.weights.get(name))
        results = model.inpaint(InpaintRequest(
            image=job.image, mask=job.mask, samples=job.samples, seed=job.seed, face=job.face,
            settings=job.options or None, progress=self._progress_reporter(job.job_id, name), cancel=job.cancel,
        ))
        outcome = ModelOutcome(name, results)
        if job.reference is not None:
            outcome.metrics = [score_result(job.reference, r.image, job.mask, job.face) for r in results]
        return outcome

    def model(self, name: str, device: str, weights=None):
        """The cached model instance for (name, device, weights), created and loaded on first use."""
        key = (name, device, weights)
        if key not in self._models:
            model = create_model(name, device=device, weights=weights)
            model.load()
            self._models[key] = model
        return self._models[key]

    def _progress_reporter(self, job_id: int, name: str):
        last = {"progress": 0.0, "preview": 0.0}

        def report(fraction: float, message: str = "", preview: np.ndarray | None = None) -> None:
            now = time.monotonic()
            if preview is not None and now - last["preview"] >= PREVIEW_INTERVAL_S:
                last["preview"] = last["progress"] = now
                self.progress.emit(job_id, name, float(fraction), message, np.array(preview, copy=True))
            elif fraction >= 1.0 or now - last["progress"] >= PROGRESS_INTERVAL_S:
                last["progress"] = now
                self.progress.emit(job_id, name, float(fraction), message, None)

        return report

    @Slot(int, object)
    def detect_faces(self, request_id: int, image: np.ndarray) -> None:
        try:
            from engine.face import detect_faces

            faces, error = detect_faces(image), ""
        except Exception as err:  # noqa: BLE001 -- a detector failure only disables face features
            log.exception("face detection failed")
            faces, error = [], readable_error("face detection", err)
        self.faces_found.emit(request_id, faces, error)

    @Slot(str)
    def resolve_device(self, preference: str) -> None:
        """Which device ``preference`` means here. It imports torch (seconds), so it runs on this
        thread: the window paints first, and the first learned model finds torch loaded."""
        from engine.device import select_device

        try:
            resolved = str(select_device(preference))
        except (ValueError, FaceInpaintError):  # a preference saved on another machine
            resolved = "cpu"
        self.device_resolved.emit(preference, resolved)


def score_result(reference: np.ndarray, completed: np.ndarray, mask: np.ndarray, face: Any) -> dict[str, float]:
    """PSNR and SSIM around the hole, and landmark NME, of a completion against the intact photo.

    Pixels outside the mask are identical by contract, so image scores over the whole photo
    would mostly measure its size; they are taken over the hole's bounding box plus a margin.
    NME compares landmarks detected on the completion with those of the original face; it is
    left out when no face is found in either.
    """
    from engine import metrics
    from engine.face import detect_faces
    y0, y1, x0, x1 = region_of_interest(mask, margin=16)
    ref_part, out_part = reference[y0:y1, x0:x1], completed[y0:y1, x0:x1]
    scores = {"PSNR": metrics.psnr(ref_part, out_part), "SSIM": metrics.ssim(ref_part, out_part)}
    try:
        reference_faces = [face] if face is not None else detect_faces(reference)
        completed_faces = detect_faces(completed)
    except FaceInpaintError as err:  # no detector here: the image scores still stand
        log.warning("landmark error left out: %s", err)
        return scores
    if reference_faces and completed_faces:
        ref68 = reference_faces[0].landmarks
        nearest = min(completed_faces, key=lambda f: float(np.abs(f.landmarks - ref68).mean()))
        scores["NME"] = metrics.landmark_nme(nearest.landmarks, ref68)
    return scores


class EngineClient(QObject):
    """The GUI thread's handle on the worker: start, cancel, and shut down cleanly."""

    progress = Signal(int, str, float, str, object)
    model_finished = Signal(int, object)
    job_finished = Signal(int, bool)
    faces_found = Signal(int, object, str)
    device_resolved = Signal(str, str)
    _submit = Signal(object)
    _detect = Signal(int, object)
    _resolve = Signal(str)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._ids = itertools.count(1)
        self._thread = QThread()
        self._thread.setObjectName("faceinpaint-engine")
        self.worker = EngineWorker()
        self.worker.moveToThread(self._thread)
        self._submit.connect(self.worker.run)
        self._detect.connect(self.worker.detect_faces)
        self._resolve.connect(self.worker.resolve_device)
        self.worker.device_resolved.connect(self.device_resolved)
        self.worker.progress.connect(self.progress)
        self.worker.model_finished.connect(self.model_finished)
        self.worker.job_finished.connect(self._on_job_finished)
        self.worker.faces_found.connect(self.faces_found)
        self._thread.finished.connect(self.worker.deleteLater)
        self._thread.start()
        self.current: InpaintJob | None = None

    @property
    def busy(self) -> bool:
        return self.current is not None

    def start(self, job: InpaintJob) -> int:
        """Queue ``job`` (one at a time) and return its id."""
        if self.busy:
            raise RuntimeError("a model is already running")
        job.job_id = next(self._ids)
        self.current = job
        self._submit.emit(job)
        return job.job_id

    def detect_faces(self, image: np.ndarray) -> int:
        request_id = next(self._ids)
        self._detect.emit(request_id, image)
        return request_id

    def resolve_device(self, preference: str) -> None:
        """Answer with ``device_resolved`` once the worker thread has imported torch."""
        self._resolve.emit(preference)

    def cancel(self) -> None:
        if self.current is not None:
            self.current.cancel.cancel()

    def _on_job_finished(self, job_id: int, cancelled: bool) -> None:
        if self.current is not None and self.current.job_id == job_id:
            self.current = None
        self.job_finished.emit(job_id, cancelled)

    def shutdown(self, wait_ms: int | None = None) -> bool:
        """Cancel any run and wait (at most ``wait_ms``) for the thread to end; True if it ended.

        Models that poll the cancel flag stop within a step. One that does not (a long single
        step) would freeze a window closing on it, so the wait is bounded: the thread is then left
        to finish in the background and kept referenced, because destroying a QThread that still
        runs aborts the process; ``main`` ends such a process without waiting for it.
        """
        self.cancel()
        self._thread.quit()
        if self._thread.wait(SHUTDOWN_WAIT_MS if wait_ms is None else wait_ms):
            return True
        log.warning("the engine thread is still busy; leaving it to finish in the background")
        self._thread.setParent(None)
        ABANDONED_THREADS.append((self._thread, self.worker))
        return False


def engine_threads_running() -> bool:
    """True while a thread left behind by a bounded shutdown still runs."""
    return any(thread.isRunning() for thread, _ in ABANDONED_THREADS)
