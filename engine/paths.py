"""Where bundled resources live, overridable by environment variables for tests and packagers."""

from __future__ import annotations

import os
from pathlib import Path

import resources as _resources

RESOURCES_DIR = Path(_resources.__file__).resolve().parent


def weights_dir() -> Path:
    """Folder of shipped weights and their manifest (``FACEINPAINT_WEIGHTS_DIR`` overrides)."""
    return Path(os.environ.get("FACEINPAINT_WEIGHTS_DIR", RESOURCES_DIR / "weights"))


def samples_dir() -> Path:
    return RESOURCES_DIR / "samples"


def sample_photo() -> Path:
    """The default bundled sample face photo."""
    return samples_dir() / "astronaut.png"
