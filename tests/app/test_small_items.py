"""The small things a new user meets: presets, shortcut names, remembered settings, leftovers, feedback."""

from __future__ import annotations

import re

import numpy as np
from PySide6.QtWidgets import QTableWidget

from engine import masks

RUN_TIMEOUT_MS = 60_000


def test_landmark_presets_are_disabled_without_a_face_and_named_plainly(loaded_window):
    win = loaded_window
    actions = win._preset_actions
    assert all(action.isEnabled() for action in actions.values())
    assert not any(re.match(r"O\d", action.text()) for action in actions.values()), "no paper codes in names"
    win.document.set_faces([])
    for name, action in actions.items():
        assert action.isEnabled() is (not masks.PRESETS[name].needs_landmarks), name


def test_shortcut_sheet_lists_only_keys_a_keyboard_has(window):
    from faceinpaint_app.shortcuts import ShortcutSheet

    sheet = ShortcutSheet(window.actions_, window)
    table = sheet.findChild(QTableWidget)
    keys = [table.item(row, 1).text() for row in range(table.rowCount())]
    assert not any(re.search(r"\bF(1[3-9]|2\d|3[0-5])\b", text) for text in keys), keys
    assert not any(re.search(r"(^|, )(Undo|Redo|Copy|Paste|Open)(,|$)", text) for text in keys), keys
    sheet.deleteLater()


def test_reselecting_a_model_keeps_the_settings_typed_for_it(slow_model, window):
    panel = window.model_panel
    panel.refresh()
    panel.select(slow_model.info.name)
    panel.settings_form.editors["iterations"].setValue(7)
    panel.select("telea")
    assert panel.settings_form.editors == {}, "telea has no settings"
    panel.select(slow_model.info.name)
    assert panel.settings_form.editors["iterations"].value() == 7
    assert panel.options() == {"iterations": 7}


def test_applying_leaves_no_outline_of_a_soft_brushed_hole(loaded_window, mouse, qtbot):
    win = loaded_window
    win.hardness.setValue(0)  # the softest brush: a wide faint rim below the hole threshold
    mouse.drag(win.canvas, [(200, 230), (300, 230)])
    assert ((win.document.mask > 0) & (win.document.mask <= 127)).any(), "the stroke has a faint rim"
    with qtbot.waitSignal(win.run_finished, timeout=RUN_TIMEOUT_MS):
        win.run_models(["telea"])
    win.actions_["apply"].trigger()
    assert not win.document.mask.any()


def test_the_face_tool_says_what_it_picked_or_missed(loaded_window, mouse):
    win = loaded_window
    win.actions_["pick_face"].trigger()
    x0, y0, x1, y1 = win.document.face.box
    mouse.click(win.canvas, (x0 + x1) / 2, (y0 + y1) / 2)
    assert "Face 1 of 1 picked" in win.statusBar().currentMessage()
    mouse.click(win.canvas, 2, 2)
    assert "No face there" in win.statusBar().currentMessage()
    assert np.array_equal(win.document.mask, np.zeros_like(win.document.mask))


def test_cleared_mask_drops_the_rim_near_the_hole_and_keeps_other_strokes():
    from faceinpaint_app.commands import CLEAN_RIM_PX, cleared_mask

    mask = np.zeros((300, 400), np.uint8)
    mask[100:150, 100:200] = 255
    mask[95:100, 100:200] = 60  # a soft edge just above the hole
    mask[250:260, 300:380] = 255  # another stroke, far away, with its own soft edge
    mask[248:250, 300:380] = 60
    hole = np.zeros_like(mask, dtype=bool)
    hole[100:150, 100:200] = True  # the run completed the first stroke only
    cleared = cleared_mask(mask, hole)
    assert not cleared[90:160, 90:210].any()
    assert np.array_equal(cleared[240:270, 290:390], mask[240:270, 290:390]), "the other stroke is untouched"
    assert 250 - 150 > CLEAN_RIM_PX
