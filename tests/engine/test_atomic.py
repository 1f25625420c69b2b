"""engine.atomic: all-or-nothing writes with the user's usual permissions."""

from __future__ import annotations

import os
import stat

import pytest

from engine.atomic import atomic_path, atomic_write, atomic_write_text


def test_new_file_gets_the_umask_permissions_not_private_ones(tmp_path):
    old = os.umask(0o022)
    try:
        atomic_write_text(tmp_path / "manifest.json", "{}")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "manifest.json").stat().st_mode) == 0o644


def test_a_failed_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path):
    target = tmp_path / "weights.safetensors"
    target.write_bytes(b"old")

    def crash(handle):
        handle.write(b"half")
        raise OSError(28, "No space left on device")

    with pytest.raises(OSError):
        atomic_write(target, crash)
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["weights.safetensors"]


def test_atomic_path_hands_out_a_sibling_and_replaces_on_success(tmp_path):
    target = tmp_path / "sub" / "out.bin"
    with atomic_path(target) as temp:
        assert temp.parent == target.parent and temp != target
        temp.write_bytes(b"new")
    assert target.read_bytes() == b"new"
    assert [p.name for p in target.parent.iterdir()] == ["out.bin"]


SLOW_SAVE = """
import sys, time
from pathlib import Path
import numpy as np
from PIL import Image
from engine.imagesave import save_image

original = Image.Image.save
def slow_save(self, fp, *args, **kwargs):
    original(self, fp, *args, **kwargs)
    Path(sys.argv[2]).touch()  # half-way: the temporary file exists and holds data
    time.sleep(60)
Image.Image.save = slow_save
save_image(sys.argv[1], np.zeros((8, 8, 3), np.uint8))
"""


@pytest.mark.skipif(os.name != "posix", reason="SIGTERM is POSIX")
def test_sigterm_during_an_image_save_leaves_no_temporary(tmp_path):
    """Issue 11, defect 10: SIGINT cleaned up, SIGTERM left the hidden temporary file behind."""
    import signal
    import subprocess
    import sys
    import time
    from pathlib import Path

    folder = tmp_path / "out"
    folder.mkdir()
    ready = tmp_path / "ready"
    repo = Path(__file__).resolve().parents[2]
    env = {**os.environ, "PYTHONPATH": f"{repo}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    child = subprocess.Popen([sys.executable, "-c", SLOW_SAVE, str(folder / "photo.png"), str(ready)], env=env,
                             stderr=subprocess.PIPE)
    try:
        for _ in range(600):
            if ready.exists() or child.poll() is not None:
                break
            time.sleep(0.1)
        assert ready.exists(), child.stderr.read().decode() if child.poll() is not None else "the save never started"
        (temporary,) = folder.iterdir()
        assert temporary.name.endswith(".tmp")  # caught half-way
        child.send_signal(signal.SIGTERM)
        child.wait(timeout=60)
    finally:
        if child.poll() is None:
            child.kill()
    assert list(folder.iterdir()) == []


def test_sigterm_handler_is_restored_and_a_programs_own_is_left_alone(tmp_path):
    import signal

    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL
    with atomic_path(tmp_path / "a") as temp:
        assert signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL
        temp.write_text("x")
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL

    def own(signum, frame):
        pass

    signal.signal(signal.SIGTERM, own)
    try:
        with atomic_path(tmp_path / "b") as temp:
            assert signal.getsignal(signal.SIGTERM) is own
            temp.write_text("x")
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
