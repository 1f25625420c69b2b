"""Refuse to start on a Qt binding that corrupts Python's reference counts.

PySide6 6.12.0 on CPython 3.11 returns ``None`` (and ``emit()``'s bool) without taking a
reference: every call of a void method such as ``setValue`` drops one reference to ``None``
until the interpreter aborts with "none_dealloc" a few thousand calls later, mid-session.
A short probe at start-up turns that into a clear message.
"""

from __future__ import annotations

import sys

PROBE_CALLS = 64


def binding_drops_references() -> bool:
    """True when a void PySide6 method loses a reference to ``None`` on each call."""
    from PySide6.QtCore import QObject

    probe = QObject()
    before = sys.getrefcount(None)
    for _ in range(PROBE_CALLS):
        probe.setObjectName("probe")
    lost = before - sys.getrefcount(None)
    return lost >= PROBE_CALLS // 2


def broken_binding_message() -> str:
    import PySide6

    return (
        f"PySide6 {PySide6.__version__} on Python {sys.version.split()[0]} corrupts reference counts and would "
        "crash mid-session. Install another version: python3 -m pip install 'PySide6-Essentials>=6.6,!=6.12.0'"
    )
