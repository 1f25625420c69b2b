"""Fixtures for the desktop app: an isolated window and a slow, cancellable fake model."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

import numpy as np
import pytest

pytest.importorskip("PySide6")

from PySide6.QtCore import QEvent, QPoint, QPointF, QSettings, Qt  # noqa: E402
from PySide6.QtGui import QMouseEvent  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

from engine.models import MODELS, register_class  # noqa: E402
from engine.models.base import CropCompletion, InpaintModel, ModelInfo  # noqa: E402
from engine.models.settings import setting  # noqa: E402
from faceinpaint_app.qt_check import binding_drops_references, broken_binding_message  # noqa: E402

BROKEN_BINDING = binding_drops_references()


@pytest.fixture(autouse=True)
def _sound_qt_binding(request):
    """On a binding that corrupts reference counts the interpreter would abort mid-suite, taking
    every other test with it: skip the app tests then, and let test_qt_binding fail with the fix."""
    if BROKEN_BINDING and request.node.module.__name__ != "test_qt_binding":
        pytest.skip(broken_binding_message())


@dataclass(frozen=True)
class SlowSettings:
    iterations: int = setting(60, label="Iterations", help="steps of the fake search", min=1, max=10_000)


class SlowFakeModel(InpaintModel):
    """Test-only iterative sampler: fills the hole with a seed-dependent flat colour, step by step.

    Each step sleeps (releasing the GIL like a real torch or OpenCV step) and honours cancel.
    Its ``settings.iterations`` is a tunable run setting, like DCGAN's search.
    """

    info = ModelInfo(
        name="test-slow",
        display_name="Slow fake (test only)",
        paper="none",
        resolution=0,
        diverse=True,
        iterative=True,
        needs_face=False,
    )
    step_seconds = 0.03
    steps_done = 0
    started = threading.Event()

    def _inpaint_crop(self, crop, mask, *, seeds, settings, progress, cancel, landmarks=None):
        type(self).steps_done = 0
        type(self).started.set()
        steps = settings.iterations
        for step in range(steps):
            cancel.check(f"after {step} steps")
            time.sleep(self.step_seconds)
            type(self).steps_done = step + 1
            progress((step + 1) / steps, f"step {step + 1}", crop)
        return [CropCompletion(np.full_like(crop, (37 * seed) % 256), seed=seed) for seed in seeds]


@pytest.fixture
def slow_model():
    register_class(SlowFakeModel, SlowSettings)
    SlowFakeModel.started.clear()
    SlowFakeModel.step_seconds = 0.03
    yield SlowFakeModel
    MODELS.pop(SlowFakeModel.info.name, None)


@pytest.fixture
def prefs(tmp_path):
    from faceinpaint_app.preferences import Preferences

    return Preferences(QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat))


@pytest.fixture
def window(qtbot, prefs):
    from faceinpaint_app.main_window import MainWindow

    win = MainWindow(prefs, ask_before_discarding=False)
    qtbot.addWidget(win)
    win.resize(1200, 800)
    win.show()
    yield win
    win.close()


@pytest.fixture
def known_faces(monkeypatch, sample_face):
    """Face detection answers from the session's one real detection of the sample photo (fast)."""
    monkeypatch.setattr("engine.face.detect_faces", lambda image, backend="auto": [sample_face])


@pytest.fixture
def loaded_window(known_faces, window, qtbot, sample_photo_path):
    """The window with the sample photo open and its face found."""
    with qtbot.waitSignal(window.faces_ready, timeout=60_000):
        assert window.open_path(sample_photo_path)
    return window


# -- synthetic mouse input (QTest.mouseMove cannot hold a button down) ---------------------------
def _send(view, kind: QEvent.Type, pos: QPoint, button: Qt.MouseButton, buttons: Qt.MouseButton) -> None:
    viewport = view.viewport()
    local = QPointF(pos)
    event = QMouseEvent(kind, local, QPointF(viewport.mapToGlobal(pos)), button, buttons,
                        Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(viewport, event)


def drag(canvas, image_points: list[tuple[float, float]], button=Qt.MouseButton.LeftButton) -> None:
    """Press at the first image point, move through the others, release at the last."""
    points = [canvas.mapFromScene(QPointF(x, y)) for x, y in image_points]
    _send(canvas, QEvent.Type.MouseButtonPress, points[0], button, button)
    for point in points[1:]:
        _send(canvas, QEvent.Type.MouseMove, point, Qt.MouseButton.NoButton, button)
    _send(canvas, QEvent.Type.MouseButtonRelease, points[-1], button, Qt.MouseButton.NoButton)


def click(canvas, x: float, y: float, button=Qt.MouseButton.LeftButton, double: bool = False) -> None:
    point = canvas.mapFromScene(QPointF(x, y))
    _send(canvas, QEvent.Type.MouseButtonPress, point, button, button)
    _send(canvas, QEvent.Type.MouseButtonRelease, point, button, Qt.MouseButton.NoButton)
    if double:
        _send(canvas, QEvent.Type.MouseButtonDblClick, point, button, button)
        _send(canvas, QEvent.Type.MouseButtonRelease, point, button, Qt.MouseButton.NoButton)


class Mouse:
    drag = staticmethod(drag)
    click = staticmethod(click)


@pytest.fixture
def mouse() -> Mouse:
    return Mouse()
