"""The scripted command line: ``faceinpaint IMAGE --preset ... --model ... --screenshot OUT``."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

RUN_TIMEOUT_S = 240


def run_app(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    return subprocess.run([sys.executable, "-m", "faceinpaint_app.main", *args], capture_output=True, text=True,
                          env=env, timeout=RUN_TIMEOUT_S)


@pytest.mark.slow
def test_screenshot_run_saves_the_window_and_exits_zero(sample_photo_path, tmp_path):
    out = tmp_path / "window.png"
    done = run_app(str(sample_photo_path), "--preset", "random-block", "--seed", "5", "--model", "telea",
                   "--screenshot", str(out), "--size", "1000x700")
    assert done.returncode == 0, done.stderr
    with Image.open(out) as shot:
        assert shot.size == (1000, 700), "--size gives exactly that size"
        pixels = np.asarray(shot.convert("RGB"))
    assert pixels.std() > 20, "the screenshot shows the window, not a blank"


def test_failures_exit_non_zero_with_a_message(tmp_path):
    done = run_app(str(tmp_path / "missing.jpg"), "--model", "telea", "--screenshot", str(tmp_path / "x.png"))
    assert done.returncode != 0
    assert "missing.jpg" in done.stderr
    assert not (tmp_path / "x.png").exists()


def test_scripted_runs_need_an_image():
    done = run_app("--model", "telea")
    assert done.returncode == 2 and "needs an IMAGE" in done.stderr


def test_samples_run_in_process_fills_the_browser_and_screenshots(slow_model, known_faces, qapp, tmp_path,
                                                                   sample_photo_path):
    from faceinpaint_app.main import main

    slow_model.step_seconds = 0.0
    out = tmp_path / "browser.png"
    code = main([str(sample_photo_path), "--preset", "random-block", "--seed", "4", "--model", slow_model.info.name,
                 "--samples", "3", "--screenshot", str(out), "--theme", "light"])
    assert code == 0 and out.is_file()
    with Image.open(out) as shot:
        assert shot.size[0] >= 1000


def test_scripted_run_fails_cleanly_for_an_unknown_model(known_faces, qapp, tmp_path, sample_photo_path, capsys):
    from faceinpaint_app.main import main

    code = main([str(sample_photo_path), "--preset", "random-block", "--model", "no-such-model", "--theme", "light",
                 "--screenshot", str(tmp_path / "x.png")])
    assert code == 2 and "no-such-model" in capsys.readouterr().err
    assert not (tmp_path / "x.png").exists()
