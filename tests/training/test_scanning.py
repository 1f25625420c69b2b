"""The landmark cache: detection paid once per photo, surviving copies and re-mounts, shared between runs."""

import os
from pathlib import Path

import numpy as np

import training.scanning as scanning
from training.config import TrainConfig
from training.data import build_datasets


def test_cache_skips_detection_on_the_second_scan(tiny_config, monkeypatch):
    def refuse(path):
        raise AssertionError(f"detected {path} again")

    monkeypatch.setattr(scanning, "_detect_landmarks", refuse)
    train, _, _ = build_datasets(tiny_config(TrainConfig))
    assert len(train) == 4


def _copy_cache_and_folder(tmp_path, face_folder, landmark_cache):
    import shutil

    folder = tmp_path / "faces"
    shutil.copytree(face_folder, folder)  # new modification times, same bytes
    cache = tmp_path / "cache"
    cache.mkdir()
    entries = scanning.LandmarkCache(landmark_cache).entries
    moved = scanning.LandmarkCache(cache)
    for key, value in entries.items():  # re-point the cached entries at the copied files
        path, rest = key.split("|", 1)
        moved.entries[str((folder / Path(path).relative_to(face_folder.resolve())).resolve()) + "|" + rest] = value
    moved.save()
    return folder, cache


def test_cache_survives_new_modification_times_but_not_edits(tmp_path, face_folder, landmark_cache, monkeypatch):
    folder, cache = _copy_cache_and_folder(tmp_path, face_folder, landmark_cache)
    for photo in folder.rglob("*.jpg"):
        os.utime(photo, (1_000_000, 1_000_000))
    detected = []
    real = scanning._detect_landmarks
    monkeypatch.setattr(scanning, "_detect_landmarks", lambda path: detected.append(path) or real(path))
    records, _ = scanning.scan_folders([str(folder)], cache, workers=0)
    assert detected == [] and len(records) == 6
    edited = sorted(folder.glob("face_*.jpg"))[0]
    edited.write_bytes(edited.read_bytes() + b"\0")  # same photo, different bytes
    scanning.scan_folders([str(folder)], cache, workers=0)
    assert detected == [str(edited)]


def test_caches_keyed_by_modification_time_are_migrated(tmp_path, face_folder, monkeypatch):
    import shutil

    folder = tmp_path / "faces"
    shutil.copytree(face_folder, folder)
    first = sorted(folder.glob("face_*.jpg"))[0]
    legacy = scanning.LandmarkCache(tmp_path)
    legacy.entries[scanning._legacy_cache_key(first)] = (1, np.zeros((68, 2), np.float32))  # "no face", say
    legacy.save()
    photos = [str(p) for p in folder.rglob("*.jpg")]
    monkeypatch.setattr(scanning, "_detect_landmarks", lambda path: (2, np.zeros((68, 2), np.float32)))
    _, counts = scanning.scan_folders([str(folder)], tmp_path, workers=0)
    assert counts[str(folder)].no_face == 1 and counts[str(folder)].unreadable == len(photos) - 1
    assert scanning._cache_key(first) in scanning.LandmarkCache(tmp_path).entries


def test_saves_merge_entries_of_runs_sharing_the_cache(tmp_path):
    first, second = scanning.LandmarkCache(tmp_path), scanning.LandmarkCache(tmp_path)
    first.entries["a|1|x"] = (0, np.ones((68, 2), np.float32))
    first.save()
    second.entries["b|1|y"] = (1, np.zeros((68, 2), np.float32))
    second.save()
    assert set(scanning.LandmarkCache(tmp_path).entries) == {"a|1|x", "b|1|y"}
