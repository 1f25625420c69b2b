"""What you see is what you save: previews, applying once, More, and the completions grouped per hole."""

from __future__ import annotations

import numpy as np
from PIL import Image

from faceinpaint_app.results_browser import PADDING_GREY, THUMBNAIL, hole_thumbnail

RUN_TIMEOUT_MS = 60_000


def box(win, y0, y1, x0, x1) -> np.ndarray:
    mask = np.zeros_like(win.document.mask)
    mask[y0:y1, x0:x1] = 255
    win.replace_mask(mask, "Box")
    return mask > 127


def run(win, qtbot, names, **kwargs) -> None:
    with qtbot.waitSignal(win.run_finished, timeout=RUN_TIMEOUT_MS):
        assert win.run_models(names, **kwargs) is not None


def value(seed: int) -> int:
    return (37 * seed) % 256  # the slow fake model's flat colour for a seed


def test_save_writes_the_previewed_sample_the_canvas_shows(slow_model, loaded_window, qtbot, tmp_path):
    win = loaded_window
    slow_model.step_seconds = 0.0
    hole = box(win, 200, 260, 220, 300)
    run(win, qtbot, [slow_model.info.name], samples=3, seed=10)
    assert np.array_equal(win.document.image, win.document.original), "a run previews, it does not apply"
    win.results.strip.setCurrentRow(2)
    box(win, 10, 20, 10, 20)  # an edit ends the preview; clicking the completion shows it again
    assert win.canvas.preview is None
    win.results.strip.itemClicked.emit(win.results.strip.currentItem())
    assert win.canvas.badge_text().startswith("Preview")
    assert not win.canvas.mask_item.isVisible(), "the mask overlay does not hide the previewed completion"
    shown = win.canvas.displayed_image().copy()
    assert shown[hole][0, 0] == value(12)
    out = tmp_path / "saved.png"
    assert win.files.save_to(out, confirmed_overwrite=True)
    with Image.open(out) as saved:
        assert np.array_equal(np.asarray(saved.convert("RGB")), shown)
    applies = [win.undo_stack.text(i) for i in range(win.undo_stack.count()) if "Apply" in win.undo_stack.text(i)]
    assert applies == [f"Apply {slow_model.info.name} (seed 12)"]
    assert win.canvas.badge_text() == "" and not win.isWindowModified()


def test_more_samples_never_apply_and_join_the_same_hole(slow_model, loaded_window, qtbot):
    win = loaded_window
    slow_model.step_seconds = 0.0
    box(win, 200, 260, 220, 300)
    run(win, qtbot, [slow_model.info.name], samples=2, seed=10)
    win.actions_["apply"].trigger()
    applied = win.document.image.copy()
    with qtbot.waitSignal(win.run_finished, timeout=RUN_TIMEOUT_MS):
        win.results.more_button.click()
    assert np.array_equal(win.document.image, applied), "More adds samples, it applies none"
    assert len(win.results.groups) == 1 and len(win.results.entries()) == 4
    assert win.results.position.text().startswith("<b>1 of 4</b>")


def test_applying_the_same_completion_twice_adds_one_history_entry(loaded_window, qtbot):
    win = loaded_window
    box(win, 200, 260, 220, 300)
    run(win, qtbot, ["telea"])
    entry = win.results.current()
    count = win.undo_stack.count()
    assert win.results.apply_button.isEnabled()
    win.apply_entry(entry)
    assert not win.results.apply_button.isEnabled(), "nothing left to apply"
    win.apply_entry(entry)
    win.results.apply_button.click()
    assert win.undo_stack.count() == count + 1


def test_completions_are_grouped_per_hole_newest_first_and_cleared(loaded_window, qtbot):
    win = loaded_window
    box(win, 200, 260, 220, 300)
    run(win, qtbot, ["telea"])
    win.actions_["apply"].trigger()
    box(win, 100, 140, 100, 160)
    run(win, qtbot, ["telea"])
    run(win, qtbot, ["navier-stokes"])
    browser = win.results
    assert [len(g.entries) for g in browser.groups] == [2, 1], "the second hole is newest"
    assert [e.model for e in browser.entries()] == ["navier-stokes", "telea"]
    assert browser.hole_picker.count() == 2 and browser.position.text().startswith("<b>1 of 2</b>")
    browser.hole_picker.setCurrentIndex(1)
    assert [e.model for e in browser.entries()] == ["telea"] and browser.position.text().startswith("<b>1 of 1</b>")
    browser.clear_button.click()
    assert browser.entries() == [] and browser.groups == [] and win.canvas.preview is None


def test_thumbnails_are_uniform_squares_of_the_hole_without_mirroring():
    rng = np.random.default_rng(0)
    for size in ((60, 40), (400, 300), (1200, 2000)):
        image = rng.integers(0, 255, (*size, 3), dtype=np.uint8)
        mask = np.zeros(size, np.uint8)
        mask[: size[0] // 5, : size[1] // 5] = 255  # a hole in the corner
        thumb = hole_thumbnail(image, mask)
        assert thumb.shape == (THUMBNAIL, THUMBNAIL, 3)
    narrow = np.full((100, 40, 3), 200, np.uint8)  # a hole as wide as the photo: the square overhangs
    hole = np.zeros((100, 40), np.uint8)
    hole[30:70, :] = 255
    thumb = hole_thumbnail(narrow, hole)
    grey = (thumb == PADDING_GREY).all(axis=2)
    assert grey[:, :8].all() and grey[:, -8:].all(), "beyond the photo: flat grey, not mirrored pixels"
    assert (thumb[:, 40:48] == 200).all(), "the photo keeps its aspect in the middle"


def test_thumbnail_icons_do_not_tint_when_selected(loaded_window, qtbot):
    from PySide6.QtCore import QSize
    from PySide6.QtGui import QIcon

    win = loaded_window
    box(win, 200, 260, 220, 300)
    run(win, qtbot, ["telea"])
    item_icon = win.results.strip.currentItem().icon()
    size = QSize(THUMBNAIL, THUMBNAIL)
    normal = item_icon.pixmap(size, QIcon.Mode.Normal).toImage()
    selected = item_icon.pixmap(size, QIcon.Mode.Selected).toImage()
    assert normal == selected
