"""collaGAN-style extra outputs (segmentation, heatmaps) are warped from the crop onto the photo."""

from __future__ import annotations

import numpy as np
import pytest

from engine.models import MODELS, register_class
from engine.models.base import CropCompletion, InpaintModel, ModelInfo

CROP = 64


class FakeFaceModel(InpaintModel):
    """Test-only face model: grey fill, a 'skin' label everywhere and one heatmap peak at the crop centre."""

    info = ModelInfo(name="test-face-extras", display_name="Face extras (test only)", paper="none",
                     resolution=CROP, extra_outputs=("segmentation", "heatmaps"))

    def _inpaint_crop(self, crop, mask, *, seeds, settings, progress, cancel, landmarks=None):
        heat = np.zeros((1, CROP, CROP), np.float32)
        heat[0, CROP // 2 - 3 : CROP // 2 + 3, CROP // 2 - 3 : CROP // 2 + 3] = 1.0
        extras = {"segmentation": np.ones((CROP, CROP), np.int64), "heatmaps": heat}
        return [CropCompletion(np.full_like(crop, 128), seed=seeds[0], extras=extras)]


@pytest.fixture
def face_model():
    register_class(FakeFaceModel)
    yield FakeFaceModel
    MODELS.pop(FakeFaceModel.info.name, None)


def test_segmentation_and_heatmap_overlays_land_on_the_face(face_model, loaded_window, qtbot):
    win = loaded_window
    assert not win.actions_["segmentation"].isEnabled()
    assert win.apply_preset("mouth")
    with qtbot.waitSignal(win.run_finished, timeout=60_000) as finished:
        win.run_models([face_model.info.name])
    assert finished.args == [True]
    assert win.actions_["segmentation"].isEnabled() and win.actions_["heatmaps"].isEnabled()

    win.actions_["segmentation"].setChecked(True)
    overlay = win.canvas.overlay_item.pixmap().toImage()
    assert (overlay.width(), overlay.height()) == win.document.size
    x0, y0, x1, y1 = (int(v) for v in win.document.face.box)
    centre = ((x0 + x1) // 2, (y0 + y1) // 2)
    assert overlay.pixelColor(*centre).alpha() > 0, "the face is covered by the parsing map"
    assert overlay.pixelColor(5, 5).alpha() == 0, "nothing lands far from the face"

    win.actions_["segmentation"].setChecked(False)
    win.actions_["heatmaps"].setChecked(True)
    heat = win.canvas.overlay_item.pixmap().toImage()
    alphas = np.array([[heat.pixelColor(x, y).alpha() for x in range(0, heat.width(), 4)]
                       for y in range(0, heat.height(), 4)])
    peak_y, peak_x = np.unravel_index(alphas.argmax(), alphas.shape)
    aligned_centre = np.linalg.inv(np.vstack([win.results.current().result.alignment.matrix, [0, 0, 1]]))
    expected = aligned_centre @ np.array([CROP / 2, CROP / 2, 1])
    assert abs(peak_x * 4 - expected[0]) < 12 and abs(peak_y * 4 - expected[1]) < 12
    win.actions_["heatmaps"].setChecked(False)
    assert win.canvas.overlay_item.pixmap().isNull()


def test_a_face_model_without_a_face_says_so_and_changes_nothing(face_model, monkeypatch, window, qtbot,
                                                                  sample_photo_path):
    monkeypatch.setattr("engine.face.detect_faces", lambda image, backend="auto": [])
    with qtbot.waitSignal(window.faces_ready, timeout=30_000):
        window.open_path(sample_photo_path)
    assert not window.apply_preset("mouth"), "landmark presets need a face"
    assert window.apply_preset("random-block", seed=1)
    mask_before = window.document.mask.copy()
    with qtbot.waitSignal(window.run_finished, timeout=60_000) as finished:
        window.run_models([face_model.info.name])
    assert finished.args == [False]
    assert "none was found" in window.last_error
    assert np.array_equal(window.document.image, window.document.original)
    assert np.array_equal(window.document.mask, mask_before)
