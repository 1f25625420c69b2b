"""Pick the compute device: CUDA, then Apple MPS, then the CPU; always overridable.

torch is imported lazily so the OpenCV baselines and the CLIs start fast without it.
"""

from __future__ import annotations

import logging

from engine.errors import DeviceError

log = logging.getLogger(__name__)

DEVICE_CHOICES = ("auto", "cuda", "mps", "cpu")


def available_devices() -> list[str]:
    """Devices this machine can use now, best first (always ends with ``"cpu"``)."""
    found = []
    try:
        import torch
    except ImportError:
        return ["cpu"]
    if torch.cuda.is_available():
        found.append("cuda")
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        found.append("mps")
    found.append("cpu")
    return found


def check_device(preference: str | None) -> str:
    """``preference`` normalised ("auto", "cpu", "cuda:1", ...) or a ``DeviceError`` naming it.

    Imports no torch, so every front end can refuse a misspelt device before any work, also
    for models that never use one.
    """
    pref = (preference or "auto").strip().lower()
    kind, sep, index = pref.partition(":")
    if kind not in DEVICE_CHOICES or (sep and (kind == "auto" or not index.isdigit())):
        raise DeviceError(f"unknown device {preference!r}; choose one of {', '.join(DEVICE_CHOICES)} or cuda:N")
    return pref


def select_device(preference: str | None = "auto"):
    """Return a ``torch.device`` for ``preference`` ("auto", "cuda", "cuda:1", "mps", "cpu").

    An explicit choice that this machine lacks falls back to the best available with a warning,
    so a setting saved on a GPU machine still works on a laptop.
    """
    import torch

    pref = check_device(preference)
    have = available_devices()
    if pref == "auto":
        return torch.device(have[0])
    kind = pref.split(":")[0]
    if kind in have:
        return torch.device(pref)
    log.warning("device %s is not available here; using %s", preference, have[0])
    return torch.device(have[0])


def empty_cache() -> None:
    """Free cached GPU memory after an out-of-memory error (no-op without CUDA)."""
    try:
        import torch
    except ImportError:
        return
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
