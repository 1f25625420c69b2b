"""The weights in resources/weights: complete, intact, within the size budget, and working.

Like spandrel, nothing is trusted by name: every file must hash to its manifest entry and load
into the network its architecture describes before a model counts as shipped.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from engine.models import create_model, list_models
from engine.paths import weights_dir
from engine.weights import read_manifest, sha256_file

MB = 1_000_000
PER_MODEL_LIMIT = 20 * MB
TOTAL_LIMIT = 50 * MB


@pytest.fixture
def manifest(monkeypatch) -> dict:
    monkeypatch.delenv("FACEINPAINT_WEIGHTS_DIR", raising=False)  # the shipped folder, not an override
    return read_manifest()["models"]


# Learned models whose weights do not ship yet, with the reason. Remove a name when its weights ship.
NOT_YET_SHIPPED: dict[str, str] = {}


def learned_models() -> list[str]:
    return [info.name for info in list_models() if info.weights_name and info.name not in NOT_YET_SHIPPED]


def test_every_learned_model_ships_weights_except_the_named_ones(manifest):
    names = {info.weights_name for info in list_models() if info.weights_name}
    missing = names - set(manifest)
    assert missing == set(NOT_YET_SHIPPED), f"shipped weights missing for {sorted(missing)}; listed as unshipped: {sorted(NOT_YET_SHIPPED)}"
    assert "face-analysis" in manifest  # GFC/PD-GAN/DCGAN losses and the DCGAN landmark term use it


def test_files_hash_to_the_manifest_and_fit_the_size_budget(manifest):
    total = 0
    for name, entry in manifest.items():
        path = weights_dir() / entry["file"]
        assert path.is_file(), name
        assert sha256_file(path) == entry["sha256"], f"{name}: file does not match its manifest hash"
        assert path.stat().st_size == entry["bytes"] <= PER_MODEL_LIMIT, name
        total += entry["bytes"]
        training = entry["training"]
        # A run may ship its start (face-analysis: a closed-form fit before step 0), never untrained weights.
        assert training["cumulative"]["steps"] > 0 and training["cumulative"]["wall_time_s"] > 0, name
        assert training["steps"] >= 0 and training["device"], name
        assert training["data"] and all("val" not in folder for folder in training["data"]), name
        assert isinstance(entry["architecture"], dict) and entry["architecture"], name
        card = (weights_dir() / entry["card"]).read_text(encoding="utf-8")
        assert "Departures from the paper" in card, f"{name}: the model card must record the reductions"
    assert total <= TOTAL_LIMIT


@pytest.mark.parametrize("name", learned_models())
def test_shipped_model_is_ready_and_completes_a_real_face(name, manifest, sample_photo, sample_face):
    model = create_model(name, device="cpu")
    assert type(model).weights_status().ready
    if name == "dcgan":  # the full search is a benchmark's business; a short one exercises the weights
        from engine.models.dcgan import SearchSettings

        model.settings = dataclasses.replace(SearchSettings(), iterations=20, restarts=2)
    mouth = np.asarray(sample_face.landmarks)[48:68]
    (x0, y0), (x1, y1) = mouth.min(axis=0).astype(int) - 6, mouth.max(axis=0).astype(int) + 6
    mask = np.zeros(sample_photo.shape[:2], np.uint8)
    mask[y0:y1, x0:x1] = 255
    hole = mask > 0
    results = model.inpaint(sample_photo, mask, samples=2, seed=1, face=sample_face)
    assert len(results) == (2 if model.info.diverse else 1)
    for result in results:
        image = result.image
        assert image.shape == sample_photo.shape and image.dtype == np.uint8
        assert np.array_equal(image[~hole], sample_photo[~hole])  # only the hole changes
        filled = image[hole].astype(float)
        assert filled.std() > 2  # not a flat fill
        # lips and skin, near the true colours: not the blanked hole, not noise
        assert np.abs(filled.mean(axis=0) - sample_photo[hole].mean(axis=0)).max() < 60
