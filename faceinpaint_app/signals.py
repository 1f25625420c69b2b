"""Emit Qt signals from Python without PySide6 6.12.0's reference-count bug.

PySide6 6.12.0's ``SignalInstance.emit()`` returns ``True``/``False`` without a new reference.
On CPython 3.11 (where bools are not immortal) each emit silently drops one reference to a bool,
and after a few thousand emits (a long brush stroke) the interpreter aborts with
"bool_dealloc: deallocating True or False". ``emit`` below gives the reference back, only when
a probe at import shows that this PySide6 has the bug.
"""

from __future__ import annotations

import ctypes
import sys

from PySide6.QtCore import QObject, Signal, SignalInstance

_PROBES = 16


class _Probe(QObject):
    fired = Signal()


def _emit_drops_a_reference() -> bool:
    probe = _Probe()
    before = sys.getrefcount(True) + sys.getrefcount(False)
    results = [probe.fired.emit() for _ in range(_PROBES)]
    dropped = before - (sys.getrefcount(True) + sys.getrefcount(False)) + len(results)
    for result in results:  # the probe's own losses are given back too
        if dropped >= _PROBES:
            ctypes.pythonapi.Py_IncRef(ctypes.py_object(result))
    return dropped >= _PROBES


EMIT_DROPS_A_REFERENCE = _emit_drops_a_reference()


def emit(signal: SignalInstance, *args) -> None:
    """``signal.emit(*args)``, safe on every PySide6 version this app supports."""
    result = signal.emit(*args)
    if EMIT_DROPS_A_REFERENCE:
        ctypes.pythonapi.Py_IncRef(ctypes.py_object(result))
