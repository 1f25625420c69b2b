"""Atomic writes: a temporary file in the same folder, then ``os.replace``, so a crash never leaves half a file."""

from __future__ import annotations

from pathlib import Path

from engine.atomic import atomic_write, atomic_write_text

__all__ = ["atomic_save_png", "atomic_write", "atomic_write_text"]


def atomic_save_png(path: Path, image) -> None:
    """Save an H x W x 3 uint8 array as PNG atomically."""
    from PIL import Image

    atomic_write(path, lambda f: Image.fromarray(image).save(f, format="PNG"))
