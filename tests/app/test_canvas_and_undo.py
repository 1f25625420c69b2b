"""Mask painting on the real canvas, undo/redo, mask operations and presets."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QPointF, Qt

from faceinpaint_app.commands import changed_rect
from faceinpaint_app.mask_tools import paint_segment


def test_brush_stroke_paints_where_drawn_and_undo_restores(loaded_window, mouse):
    win = loaded_window
    win.brush_size.setValue(20)
    mouse.drag(win.canvas, [(100, 100), (150, 100), (200, 100)])
    mask = win.document.mask
    assert mask[100, 100] > 127 and mask[100, 150] > 127 and mask[100, 200] > 127
    assert mask[100, 150 : 151].all() and not mask[130:, :].any() and not mask[:80, :].any()
    assert win.undo_stack.count() == 1 and win.undo_stack.text(0) == "Brush stroke"

    win.undo_stack.undo()
    assert not win.document.mask.any()
    win.undo_stack.redo()
    assert win.document.mask[100, 150] > 127


def test_right_button_erases_and_eraser_tool_erases(loaded_window, mouse):
    win = loaded_window
    win.brush_size.setValue(30)
    mouse.drag(win.canvas, [(100, 200), (300, 200)])
    mouse.drag(win.canvas, [(200, 200), (201, 200)], button=Qt.MouseButton.RightButton)
    assert win.document.mask[200, 120] > 127 and win.document.mask[200, 200] == 0
    win.actions_["eraser"].trigger()
    mouse.drag(win.canvas, [(120, 200), (121, 200)])
    assert win.document.mask[200, 120] == 0 and win.document.mask[200, 280] > 127
    assert win.undo_stack.count() == 3


def test_rectangle_and_polygon_tools(loaded_window, mouse):
    win = loaded_window
    win.actions_["rectangle"].trigger()
    mouse.drag(win.canvas, [(50, 60), (120, 90), (150, 160)])
    mask = win.document.mask  # (screen pixels are coarser than image pixels: allow one screen pixel)
    assert mask[62:158, 52:148].min() == 255 and mask[162:, :].max() == 0 and mask[:, 152:].max() == 0

    win.actions_["polygon"].trigger()
    for x, y in [(300, 300), (400, 300), (400, 400)]:
        mouse.click(win.canvas, x, y)
    mouse.click(win.canvas, 300, 400, double=True)
    assert win.document.mask[350, 390] == 255 and win.document.mask[310, 310] == 255
    assert win.undo_stack.count() == 2


def test_lasso_fills_the_dragged_outline(loaded_window, mouse):
    win = loaded_window
    win.actions_["lasso"].trigger()
    mouse.drag(win.canvas, [(100, 300), (200, 300), (200, 400), (100, 400), (100, 301)])
    mask = win.document.mask
    assert mask[350, 150] == 255 and mask[350, 250] == 0 and mask[250, 150] == 0
    assert win.undo_stack.text(0) == "Lasso"


def test_mask_operations_are_undoable(loaded_window):
    win = loaded_window
    win.actions_["clear"].trigger()
    assert win.undo_stack.count() == 0  # clearing an empty mask changes nothing: no history entry
    box = np.zeros_like(win.document.mask)
    box[200:300, 200:300] = 255
    win.replace_mask(box, "Box")
    win.actions_["invert"].trigger()
    assert win.document.mask[250, 250] == 0 and win.document.mask[10, 10] == 255
    win.actions_["invert"].trigger()
    step = win.prefs.grow_step
    win.actions_["grow"].trigger()
    assert win.document.mask[250, 300 + step - 1] == 255 and win.document.mask[250, 300 + step + 1] == 0
    win.actions_["shrink"].trigger()
    win.actions_["shrink"].trigger()
    assert win.document.mask[250, 300 - step] == 0 and win.document.mask[250, 250] == 255
    win.actions_["clear"].trigger()
    assert not win.document.mask.any()
    assert win.undo_stack.count() == 7
    for _ in range(6):
        win.undo_stack.undo()
    assert np.array_equal(win.document.mask, box)


def test_preset_needs_and_uses_the_detected_face(loaded_window):
    win = loaded_window
    assert win.document.faces, "the sample photo has a face"
    assert win.apply_preset("mouth")
    face = win.document.face
    mask = win.document.mask > 127
    mouth = face.landmarks[48:60].mean(axis=0).round().astype(int)
    assert mask[mouth[1], mouth[0]]
    assert not mask[: int(face.box[1])].any()  # nothing above the face
    win.undo_stack.undo()
    assert not win.document.mask.any()


def test_hold_tab_shows_the_original(loaded_window, qtbot):
    win = loaded_window
    win.document.write_image(np.zeros_like(win.document.image))
    win.activateWindow()
    qtbot.waitUntil(win.isActiveWindow, timeout=5000)
    win.canvas.setFocus()
    qtbot.keyPress(win.canvas, Qt.Key.Key_Tab)
    shown = win.canvas.image_item.pixmap().toImage()
    assert shown.pixelColor(10, 10).red() == int(win.document.original[10, 10, 0]) > 0
    qtbot.keyRelease(win.canvas, Qt.Key.Key_Tab)
    assert win.canvas.image_item.pixmap().toImage().pixelColor(10, 10).red() == 0
    assert win.canvas.hasFocus(), "Tab compared instead of moving the focus"


def test_split_view_clips_the_original_at_the_slider(loaded_window):
    win = loaded_window
    win.actions_["split"].setChecked(True)
    win.split_slider.setValue(25)
    assert win.canvas.split_clip.isVisible()
    assert win.canvas.split_clip.rect().width() == 0.25 * win.document.size[0]
    win.actions_["split"].setChecked(False)
    assert not win.canvas.split_clip.isVisible()


def test_soft_brush_keeps_its_size_at_the_engine_threshold():
    hard, soft = np.zeros((64, 64), np.uint8), np.zeros((64, 64), np.uint8)
    paint_segment(hard, QPointF(32, 32), QPointF(32, 32), 20, 1.0, erase=False)
    paint_segment(soft, QPointF(32, 32), QPointF(32, 32), 20, 0.3, erase=False)
    assert 0 < (soft > 127).sum() and abs(int((soft > 127).sum()) - int((hard > 127).sum())) < 0.25 * (hard > 127).sum()
    assert ((soft > 0) & (soft < 255)).sum() > ((hard > 0) & (hard < 255)).sum()  # a real soft edge


def test_changed_rect_is_the_bounding_box_of_the_difference():
    before = np.zeros((10, 12), np.uint8)
    after = before.copy()
    after[2, 3] = after[6, 8] = 255
    rect = changed_rect(before, after)
    assert (rect.left(), rect.top(), rect.right(), rect.bottom()) == (3, 2, 8, 6)
    assert changed_rect(before, before) is None
