"""Preferences, the shortcut sheet, picking one of several faces, panning and themes."""

from __future__ import annotations

import copy

import numpy as np
from PySide6.QtCore import QEvent, QPointF, Qt
from PySide6.QtGui import QColor, QMouseEvent, QPalette
from PySide6.QtWidgets import QApplication, QTableWidget

from faceinpaint_app.preferences import PreferencesDialog
from faceinpaint_app.shortcuts import ShortcutSheet
from faceinpaint_app.theme import apply_theme


def test_preferences_dialog_stores_device_theme_and_mask_look(window, prefs):
    dialog = PreferencesDialog(prefs, window)
    dialog.device.setCurrentIndex(dialog.device.findData("cpu"))
    dialog.theme.setCurrentIndex(dialog.theme.findData("dark"))
    dialog.color = QColor("#00ff00")
    dialog.opacity.setValue(70)
    dialog.store(prefs)
    assert (prefs.device, prefs.theme, prefs.mask_color.name(), prefs.mask_opacity) == ("cpu", "dark", "#00ff00", 0.7)


def test_shortcut_sheet_lists_actions_and_gestures(window):
    sheet = ShortcutSheet(window.actions_, window)
    table = sheet.findChild(QTableWidget)
    rows = {table.item(r, 0).text(): table.item(r, 1).text() for r in range(table.rowCount())}
    assert rows["Brush"] == "B" and rows["Run"] == "Ctrl+R"
    assert "Hold Tab" in rows.values()


def test_clicking_a_face_picks_it_for_the_models(monkeypatch, sample_face, window, qtbot, sample_photo_path, mouse):
    second = copy.deepcopy(sample_face)
    second.box = (10.0, 10.0, 90.0, 100.0)
    monkeypatch.setattr("engine.face.detect_faces", lambda image, backend="auto": [sample_face, second])
    with qtbot.waitSignal(window.faces_ready, timeout=30_000):
        window.open_path(sample_photo_path)
    assert window.document.selected_face == 0 and len(window.canvas.face_items) == 2
    window.actions_["pick_face"].trigger()
    mouse.click(window.canvas, 50, 50)
    assert window.document.face is second
    window.actions_["brush"].trigger()
    mouse.drag(window.canvas, [(50, 50), (60, 60)])
    window.engine.start = lambda job: setattr(window, "started_job", job) or 0
    window.engine.current = None
    window.run_models(["telea"])
    assert window.started_job.face is second


def test_middle_button_drag_pans(loaded_window):
    canvas = loaded_window.canvas
    canvas.zoom_by(4)
    bar = canvas.horizontalScrollBar()
    start = bar.value()
    viewport = canvas.viewport()
    for kind, x, buttons in ((QEvent.Type.MouseButtonPress, 300, Qt.MouseButton.MiddleButton),
                             (QEvent.Type.MouseMove, 200, Qt.MouseButton.MiddleButton),
                             (QEvent.Type.MouseButtonRelease, 200, Qt.MouseButton.NoButton)):
        event = QMouseEvent(kind, QPointF(x, 200), QPointF(viewport.mapToGlobal(QPointF(x, 200))),
                            Qt.MouseButton.MiddleButton, buttons, Qt.KeyboardModifier.NoModifier)
        QApplication.sendEvent(viewport, event)
    assert bar.value() == start + 100
    assert not loaded_window.document.mask.any(), "panning paints nothing"


def test_dark_and_light_themes(qapp):
    apply_theme(qapp, "dark")
    assert qapp.palette().color(QPalette.ColorRole.Window).lightness() < 100
    apply_theme(qapp, "light")
    assert qapp.palette().color(QPalette.ColorRole.Window).lightness() > 150


def test_status_bar_shows_size_zoom_and_device(loaded_window):
    win = loaded_window
    w, h = win.document.size
    assert win.size_label.text() == f"{w} × {h} px"
    win.canvas.actual_size()
    assert win.zoom_label.text() == "Zoom 100%"
    assert win.device_label.text().startswith("Device: ")
    assert np.isclose(win.canvas.zoom, 1.0)


def listed_models(panel) -> list[str]:
    return [panel.list.item(row).data(Qt.ItemDataRole.UserRole) for row in range(panel.list.count())]


def test_rescan_lists_newly_registered_models_and_greys_unready_ones(window, slow_model):
    assert slow_model.info.name not in listed_models(window.model_panel)
    window.actions_["rescan_models"].trigger()
    assert slow_model.info.name in listed_models(window.model_panel)
    unready = [name for name, entry in window.model_panel.entries.items() if not entry.ready]
    for name in unready:
        window.model_panel.select(name)
        assert not window.actions_["run"].isEnabled()
        assert window.model_panel.entries[name].reason in window.model_panel.details.text()
