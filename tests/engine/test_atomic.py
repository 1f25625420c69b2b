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
