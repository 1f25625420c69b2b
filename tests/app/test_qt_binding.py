"""The installed Qt binding must keep Python's reference counts intact (PySide6 6.12.0 on 3.11 does not)."""

from __future__ import annotations

from faceinpaint_app.qt_check import binding_drops_references, broken_binding_message


def test_qt_binding_keeps_reference_counts():
    assert not binding_drops_references(), broken_binding_message()
