"""Load weights, saving defaults, the unsaved-changes question, closing during a run, scripted-run safety."""

from __future__ import annotations

import shutil
import threading

import numpy as np
import pytest
from PySide6.QtWidgets import QFileDialog, QMessageBox

from engine.models import MODELS, register_class
from engine.models.base import CropCompletion, InpaintModel, ModelInfo
from engine.paths import weights_dir

RUN_TIMEOUT_MS = 60_000


def paint(win) -> None:
    mask = np.zeros_like(win.document.mask)
    mask[200:260, 220:300] = 255
    win.replace_mask(mask, "Box")


def test_load_weights_uses_an_exported_file_for_its_model(loaded_window, tmp_path, monkeypatch):
    win = loaded_window
    exported = tmp_path / "my-gfc-run.safetensors"
    shutil.copy(weights_dir() / "gfc.safetensors", exported)
    monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *a, **k: (str(exported), ""))
    win.actions_["load_weights"].trigger()
    entry = win.model_panel.entries["gfc"]
    assert entry.ready and entry.weights == exported
    assert win.model_panel.current_model() == "gfc"
    paint(win)
    started = []
    monkeypatch.setattr(win.engine, "start", lambda job: started.append(job) or 0)
    win.actions_["run"].trigger()
    assert started and started[0].weights == {"gfc": exported}


@pytest.mark.parametrize("content, words", [(b"PK\x03\x04 not weights", "pickle"), (b"", "empty")])
def test_load_weights_refuses_a_bad_file_and_keeps_the_models(loaded_window, tmp_path, content, words):
    win = loaded_window
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(content)
    before = {name: entry.ready for name, entry in win.model_panel.entries.items()}
    assert not win.files.load_weights(bad)
    assert words in win.last_error
    assert {name: entry.ready for name, entry in win.model_panel.entries.items()} == before


def test_unavailable_models_say_why_in_plain_words(window):
    unavailable = [e for e in window.model_panel.entries.values() if not e.ready]
    if not unavailable:
        pytest.skip("every model has weights here")
    for entry in unavailable:
        assert "manifest" not in entry.reason and "Load weights" in entry.reason, entry.reason


def test_save_defaults_png_in_the_last_save_folder_and_title_marker(known_faces, window, qtbot, tmp_path,
                                                                    sample_photo, monkeypatch):
    from PIL import Image

    win = window
    photo = tmp_path / "in" / "portrait.jpg"
    photo.parent.mkdir()
    Image.fromarray(sample_photo).save(photo, quality=92)
    with qtbot.waitSignal(win.faces_ready, timeout=30_000):
        win.open_path(photo)
    assert "[*]" in win.windowTitle() and not win.isWindowModified()
    paint(win)
    assert win.isWindowModified(), "unsaved changes show in the title"
    asked = []
    chosen = tmp_path / "out" / "first.png"
    chosen.parent.mkdir()

    def dialog(parent, caption, start, filters, selected=""):
        asked.append((start, selected))
        return str(chosen), selected

    monkeypatch.setattr(QFileDialog, "getSaveFileName", dialog)
    assert win.files.save_as()
    assert asked[0][0].endswith("portrait_inpainted.png") and asked[0][1].startswith("PNG")
    assert not win.isWindowModified()
    assert win.files.save_as()
    assert asked[1][0] == str(chosen.parent.resolve() / "portrait_inpainted.png"), "the last save folder"


@pytest.mark.parametrize("answer, closes, saves", [("Save", True, True), ("Discard", True, False),
                                                    ("Cancel", False, False)])
def test_closing_with_changes_offers_save_discard_cancel(known_faces, prefs, qtbot, sample_photo_path, tmp_path,
                                                         monkeypatch, answer, closes, saves):
    from faceinpaint_app.main_window import MainWindow

    win = MainWindow(prefs)
    qtbot.addWidget(win)
    with qtbot.waitSignal(win.faces_ready, timeout=30_000):
        win.open_path(sample_photo_path)
    paint(win)
    offered = []
    buttons = QMessageBox.StandardButton

    def question(parent, title, text, options, default):
        offered.append(options)
        return getattr(buttons, answer)

    target = tmp_path / "closed.png"
    monkeypatch.setattr(QMessageBox, "question", question)
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: (str(target), ""))
    assert win.close() is closes
    assert offered and offered[0] == buttons.Save | buttons.Discard | buttons.Cancel
    assert target.exists() is saves
    if not closes:
        win.ask_before_discarding = False
        win.close()


class StubbornModel(InpaintModel):
    """Test-only: one long step that never looks at the cancel flag."""

    info = ModelInfo(name="test-stubborn", display_name="Stubborn (test only)", paper="none", resolution=0,
                     needs_face=False)
    started = threading.Event()
    release = threading.Event()

    def _inpaint_crop(self, crop, mask, *, seeds, settings, progress, cancel, landmarks=None):
        type(self).started.set()
        type(self).release.wait(30)
        return [CropCompletion(crop.copy(), seed=seed) for seed in seeds]


def test_closing_during_a_long_step_does_not_freeze(known_faces, prefs, qtbot, sample_photo_path, monkeypatch):
    from faceinpaint_app import worker
    from faceinpaint_app.main_window import MainWindow

    monkeypatch.setattr(worker, "SHUTDOWN_WAIT_MS", 50)
    register_class(StubbornModel)
    StubbornModel.started.clear()
    StubbornModel.release.clear()
    win = MainWindow(prefs, ask_before_discarding=False)
    try:
        with qtbot.waitSignal(win.faces_ready, timeout=RUN_TIMEOUT_MS):
            win.open_path(sample_photo_path)
        paint(win)
        win.run_models([StubbornModel.info.name])
        assert StubbornModel.started.wait(30)
        thread = win.engine._thread
        assert win.close(), "the window closes though the model has not stopped"
        assert thread.isRunning() and not StubbornModel.release.is_set()
        assert worker.engine_threads_running()
    finally:
        StubbornModel.release.set()
        thread.wait(30_000)
        MODELS.pop(StubbornModel.info.name, None)
    assert not worker.engine_threads_running()


def test_screenshot_onto_the_photo_itself_is_refused(qapp, tmp_path, sample_photo_path, capsys):
    from faceinpaint_app.main import main

    photo = tmp_path / "photo.png"
    shutil.copy(sample_photo_path, photo)
    before = photo.read_bytes()
    with pytest.raises(SystemExit) as exited:
        main([str(photo), "--screenshot", str(photo)])
    assert exited.value.code == 2 and "refusing to overwrite" in capsys.readouterr().err
    assert photo.read_bytes() == before


def test_a_missing_photo_is_a_user_error(qapp, tmp_path, capsys):
    from faceinpaint_app.main import main

    code = main([str(tmp_path / "missing.jpg"), "--model", "telea", "--screenshot", str(tmp_path / "x.png")])
    assert code == 2 and "missing.jpg" in capsys.readouterr().err
