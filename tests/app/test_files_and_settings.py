"""Opening (path, paste, drop, recent), saving with EXIF, mask import/export, remembered settings."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image
from PySide6.QtCore import QMimeData, QPoint, Qt, QUrl
from PySide6.QtGui import QDropEvent
from PySide6.QtWidgets import QApplication, QMessageBox

from faceinpaint_app.qimage import qimage_to_rgb, rgb_to_qimage


@pytest.fixture
def photo_with_exif(tmp_path, sample_photo):
    path = tmp_path / "portrait.jpg"
    exif = Image.Exif()
    exif[0x010F] = "FaceInpaint test camera"  # Make
    Image.fromarray(sample_photo).save(path, quality=95, exif=exif)
    return path


def test_qimage_round_trip_keeps_pixels():
    rgb = np.random.default_rng(0).integers(0, 256, (7, 5, 3), dtype=np.uint8)  # odd width: padded rows
    assert np.array_equal(qimage_to_rgb(rgb_to_qimage(rgb)), rgb)


def test_unreadable_file_is_reported_and_the_current_photo_kept(loaded_window, tmp_path):
    win = loaded_window
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"not a jpeg")
    before = win.document.original.copy()
    assert not win.open_path(broken)
    assert "broken.jpg" in win.last_error
    assert np.array_equal(win.document.original, before)


def test_save_keeps_exif_and_never_silently_replaces_the_input(known_faces, window, qtbot, photo_with_exif,
                                                               tmp_path, monkeypatch):
    win = window
    with qtbot.waitSignal(win.faces_ready, timeout=30_000):
        assert win.open_path(photo_with_exif)
    win.document.write_image(np.full_like(win.document.image, 7))
    out = tmp_path / "portrait_inpainted.jpg"
    assert win.files.save_to(out, confirmed_overwrite=True)
    with Image.open(out) as saved:
        assert saved.getexif()[0x010F] == "FaceInpaint test camera"
        assert np.abs(np.asarray(saved, dtype=int) - 7).max() < 4

    original_bytes = photo_with_exif.read_bytes()
    monkeypatch.setattr(QMessageBox, "warning", lambda *a, **k: QMessageBox.StandardButton.Cancel)
    assert not win.files.save_to(photo_with_exif, confirmed_overwrite=True)
    assert photo_with_exif.read_bytes() == original_bytes


def test_paste_and_drop_open_images(known_faces, window, qtbot, sample_photo, sample_photo_path):
    win = window
    small = np.ascontiguousarray(sample_photo[::2, ::2])
    QApplication.clipboard().setImage(rgb_to_qimage(small))
    with qtbot.waitSignal(win.faces_ready, timeout=30_000):
        win.actions_["paste"].trigger()
    assert win.document.size == (small.shape[1], small.shape[0])
    assert np.array_equal(win.document.original, small)

    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(sample_photo_path))])
    drop = QDropEvent(QPoint(10, 10), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                      Qt.KeyboardModifier.NoModifier)
    with qtbot.waitSignal(win.faces_ready, timeout=30_000):
        win.dropEvent(drop)
    assert win.document.path == sample_photo_path
    assert win.prefs.recent_files[0] == sample_photo_path.resolve()


def test_mask_export_then_import_round_trips(loaded_window, tmp_path, monkeypatch):
    win = loaded_window
    box = np.zeros_like(win.document.mask)
    box[100:140, 200:260] = 255
    win.replace_mask(box, "Box")
    target = tmp_path / "mask.png"
    monkeypatch.setattr("PySide6.QtWidgets.QFileDialog.getSaveFileName", lambda *a, **k: (str(target), ""))
    win.actions_["export_mask"].trigger()
    win.actions_["clear"].trigger()
    monkeypatch.setattr("PySide6.QtWidgets.QFileDialog.getOpenFileName", lambda *a, **k: (str(target), ""))
    win.actions_["import_mask"].trigger()
    assert np.array_equal(win.document.mask, box)
    assert win.undo_stack.text(win.undo_stack.count() - 1) == "Import mask.png"


def test_settings_are_remembered(known_faces, prefs, qtbot, sample_photo_path):
    from faceinpaint_app.main_window import MainWindow

    first = MainWindow(prefs, ask_before_discarding=False)
    qtbot.addWidget(first)
    with qtbot.waitSignal(first.faces_ready, timeout=30_000):
        first.open_path(sample_photo_path)
    first.brush_size.setValue(77)
    first.hardness.setValue(35)
    first.close()
    prefs.settings.sync()

    second = MainWindow(prefs, ask_before_discarding=False)
    qtbot.addWidget(second)
    assert second.brush_size.value() == 77 and second.hardness.value() == 35
    assert prefs.recent_files == [sample_photo_path.resolve()]
    second.files.fill_recent_menu()
    assert second.files.recent_menu.actions()[0].text() == sample_photo_path.name
    second.close()


def test_every_action_has_an_icon_and_a_tooltip_with_its_shortcut(window):
    for key, action in window.actions_.items():
        assert not action.icon().isNull(), key
        for sequence in action.shortcuts()[:1]:
            assert sequence.toString(sequence.SequenceFormat.NativeText) in action.toolTip(), key
