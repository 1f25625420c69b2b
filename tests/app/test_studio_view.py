"""The studio on a laptop screen: window size, zoom anchoring, split divider, badges, brush size."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QEvent, QPoint, QPointF, Qt
from PySide6.QtGui import QMouseEvent, QWheelEvent
from PySide6.QtWidgets import QApplication

LAPTOP = (1024, 700)


def test_window_fits_1024x700_whatever_the_model_and_keeps_run_and_stop_visible(loaded_window):
    win = loaded_window
    for model in ("dcgan", "telea", "dcgan"):
        win.model_panel.select(model)
        QApplication.processEvents()
        hint = win.minimumSizeHint()
        assert hint.width() <= LAPTOP[0] and hint.height() <= LAPTOP[1], (model, hint)
    win.resize(*LAPTOP)
    QApplication.processEvents()
    assert win.size().toTuple() == LAPTOP
    canvas = win.canvas
    shown = canvas.mapFromScene(canvas.sceneRect()).boundingRect()
    assert canvas.viewport().rect().adjusted(-1, -1, 1, 1).contains(shown), "the photo is refitted to the view"
    run_bar = win.toolbars["run_toolbar"]
    for key in ("run", "cancel"):
        button = run_bar.widgetForAction(win.actions_[key])
        assert button is not None and button.isVisible(), f"{key} is hidden at 1024 px"
    for dock in (win.models_dock, win.results_dock, win.history_dock):
        assert dock.isVisible() and win.rect().contains(dock.geometry()), dock.objectName()
    assert win.statusBar().isVisible() and win.rect().contains(win.statusBar().geometry())


def test_scripted_size_gives_exactly_that_screenshot(slow_model, known_faces, qapp, tmp_path, sample_photo_path):
    from PIL import Image

    from faceinpaint_app.main import main

    slow_model.step_seconds = 0.0
    out = tmp_path / "laptop.png"
    code = main([str(sample_photo_path), "--preset", "random-block", "--seed", "4", "--model", slow_model.info.name,
                 "--screenshot", str(out), "--size", "1024x700", "--theme", "light"])
    assert code == 0
    with Image.open(out) as shot:
        assert shot.size == LAPTOP


def wheel(canvas, at: QPointF, clicks: int) -> None:
    global_pos = QPointF(canvas.viewport().mapToGlobal(at.toPoint()))
    event = QWheelEvent(at, global_pos, QPoint(), QPoint(0, 120 * clicks), Qt.MouseButton.NoButton,
                        Qt.KeyboardModifier.NoModifier, Qt.ScrollPhase.NoScrollPhase, False)
    QApplication.sendEvent(canvas.viewport(), event)


def scene_at(canvas, at: QPointF) -> QPointF:
    return canvas.viewportTransform().inverted()[0].map(at)


@pytest.mark.parametrize("clicks", [1, -1, 3])
def test_wheel_zoom_keeps_the_point_under_the_pointer_and_the_brush_circle_follows(loaded_window, clicks):
    canvas = loaded_window.canvas
    canvas.zoom_by(3, QPointF(canvas.viewport().rect().center()))  # larger than the view: room to anchor
    pointer = QPointF(canvas.viewport().width() * 0.3, canvas.viewport().height() * 0.6)
    before = scene_at(canvas, pointer)
    wheel(canvas, pointer, clicks)
    after = canvas.viewportTransform().map(before)
    assert abs(after.x() - pointer.x()) <= 2 and abs(after.y() - pointer.y()) <= 2
    circle = canvas.mapFromScene(canvas.cursor_item.rect().center())
    assert canvas.cursor_item.isVisible()
    assert abs(circle.x() - pointer.x()) <= 2 and abs(circle.y() - pointer.y()) <= 2


def test_keyboard_zoom_stays_centred(loaded_window):
    win, canvas = loaded_window, loaded_window.canvas
    canvas.zoom_by(3, QPointF(canvas.viewport().rect().center()))
    centre = QPointF(canvas.viewport().rect().center())
    before = scene_at(canvas, centre)
    for key in ("zoom_in", "zoom_in", "zoom_out"):
        win.actions_[key].trigger()
        after = canvas.viewportTransform().map(before)
        assert abs(after.x() - centre.x()) <= 2 and abs(after.y() - centre.y()) <= 2, key


def test_split_divider_drags_on_the_canvas_without_touching_the_mask(loaded_window, mouse):
    win, canvas = loaded_window, loaded_window.canvas
    win.actions_["split"].trigger()
    width = win.document.size[0]
    history = win.undo_stack.count()
    mouse.drag(canvas, [(0.5 * width, 200), (0.4 * width, 200), (0.25 * width, 210)])
    assert canvas.split == pytest.approx(0.25, abs=0.01)
    assert win.split_slider.value() == 25
    assert not win.document.mask.any() and win.undo_stack.count() == history, "dragging the divider paints nothing"


def test_before_after_labels_and_original_badge_are_drawn(loaded_window):
    canvas = loaded_window.canvas
    plain = canvas.viewport().grab().toImage()
    canvas.show_original(True)
    assert canvas.badge_text() == "Original"
    badged = canvas.viewport().grab().toImage()
    assert badged.pixelColor(14, 20) != plain.pixelColor(14, 20), "the badge is painted in the corner"
    canvas.show_original(False)
    assert canvas.badge_text() == ""
    loaded_window.actions_["split"].trigger()
    x = round(canvas.split_x())
    labelled = canvas.viewport().grab().toImage()
    assert labelled.pixelColor(x + 12, 22) != plain.pixelColor(x + 12, 22), "After is labelled right of the line"


@pytest.mark.parametrize("modifiers", [Qt.KeyboardModifier.ShiftModifier,
                                       Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.AltModifier])
def test_brush_size_follows_the_face_and_resizes_with_a_modifier_drag(loaded_window, modifiers):
    win, canvas = loaded_window, loaded_window.canvas
    eye_gap = win.document.face.interocular
    win.brush_size.setValue(50)
    assert canvas.tool.size == pytest.approx(0.5 * eye_gap)
    assert win.tool_options.brush_pixels.text() == f"{0.5 * eye_gap:.0f} px"
    start = canvas.tool.size
    press = canvas.mapFromScene(QPointF(200, 200))
    for kind, dx, button, buttons in ((QEvent.Type.MouseButtonPress, 0, Qt.MouseButton.LeftButton,
                                       Qt.MouseButton.LeftButton),
                                      (QEvent.Type.MouseMove, 30, Qt.MouseButton.NoButton, Qt.MouseButton.LeftButton),
                                      (QEvent.Type.MouseButtonRelease, 30, Qt.MouseButton.LeftButton,
                                       Qt.MouseButton.NoButton)):
        local = QPointF(press + QPoint(dx, 0))
        QApplication.sendEvent(canvas.viewport(), QMouseEvent(kind, local, local, button, buttons, modifiers))
    assert canvas.tool.size == pytest.approx(start + 60 / canvas.zoom, rel=0.05)
    assert win.brush_size.value() == round(100 * canvas.tool.size / eye_gap)
    assert not win.document.mask.any() and win.undo_stack.count() == 0, "resizing paints nothing"


def test_pinch_zooms_around_the_fingers(loaded_window):
    from PySide6.QtGui import QNativeGestureEvent, QPointingDevice

    canvas = loaded_window.canvas
    canvas.zoom_by(3, QPointF(canvas.viewport().rect().center()))
    fingers = QPointF(canvas.viewport().width() * 0.7, canvas.viewport().height() * 0.4)
    before, zoom = scene_at(canvas, fingers), canvas.zoom
    event = QNativeGestureEvent(Qt.NativeGestureType.ZoomNativeGesture, QPointingDevice.primaryPointingDevice(), 2,
                                fingers, fingers, QPointF(canvas.viewport().mapToGlobal(fingers.toPoint())), 0.5,
                                QPointF(), 0)
    QApplication.sendEvent(canvas.viewport(), event)
    assert canvas.zoom == pytest.approx(1.5 * zoom)
    after = canvas.viewportTransform().map(before)
    assert abs(after.x() - fingers.x()) <= 2 and abs(after.y() - fingers.y()) <= 2
