"""``faceinpaint_app.signals.emit`` keeps reference counts right whatever the PySide6 version."""

from __future__ import annotations

import sys

from PySide6.QtCore import QObject, Signal

from faceinpaint_app.signals import emit


class Sender(QObject):
    changed = Signal(int)


def test_many_emits_leave_the_bool_reference_counts_alone():
    sender = Sender()
    received = []
    sender.changed.connect(received.append)
    before = sys.getrefcount(True) + sys.getrefcount(False)
    for value in range(2000):
        emit(sender.changed, value)
    assert received == list(range(2000))
    assert abs(sys.getrefcount(True) + sys.getrefcount(False) - before) < 50
