"""Option widgets generated from a model's run-settings dataclass, so the app names no model field.

``settings_schema(name)`` is the one adapter to the engine: it reads the fields of the model's
settings dataclass and their metadata (``label``, ``min``, ``max``, ``step``, ``help``; all
optional; ``tunable=False`` hides a field). ``SettingsForm`` turns a schema into spin boxes and check boxes, and remembers what
the user typed per model, so selecting a model again keeps its values.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from PySide6.QtWidgets import QCheckBox, QDoubleSpinBox, QFormLayout, QLabel, QSpinBox, QWidget

from engine.inpainter import create_model

INT_RANGE = (0, 1_000_000)
FLOAT_RANGE = (0.0, 1e6)


@dataclass(frozen=True)
class SettingField:
    """One tunable run setting as the option panel shows it."""

    name: str
    kind: type  # int, float or bool
    default: Any
    label: str
    minimum: float | None = None
    maximum: float | None = None
    step: float | None = None
    help: str = ""


def schema_of(settings_cls: type) -> list[SettingField]:
    """The int, float and bool fields of a settings dataclass, described by their metadata."""
    fields = []
    for spec in dataclasses.fields(settings_cls):
        kind = {"int": int, "float": float, "bool": bool}.get(getattr(spec.type, "__name__", spec.type))
        meta = spec.metadata
        hidden = spec.name.startswith("_") or meta.get("tunable", True) is False  # expert knobs stay out
        if kind is None or hidden or spec.default is dataclasses.MISSING:
            continue
        fields.append(SettingField(
            name=spec.name, kind=kind, default=spec.default,
            label=meta.get("label", spec.name.replace("_", " ").capitalize()).rstrip(":"),
            minimum=meta.get("min"), maximum=meta.get("max"), step=meta.get("step"), help=meta.get("help", ""),
        ))
    return fields


def settings_class(name: str) -> type | None:
    """The model's settings dataclass (today read from an unloaded instance: no weights are read)."""
    settings = getattr(create_model(name, device="cpu"), "settings", None)
    return type(settings) if dataclasses.is_dataclass(settings) else None


def settings_schema(name: str) -> list[SettingField]:
    cls = settings_class(name)
    return schema_of(cls) if cls is not None else []


def make_editor(field: SettingField) -> QWidget:
    if field.kind is bool:
        editor = QCheckBox()
        editor.setChecked(bool(field.default))
    elif field.kind is int:
        editor = QSpinBox()
        low, high = INT_RANGE
        editor.setRange(int(field.minimum if field.minimum is not None else low),
                        int(field.maximum if field.maximum is not None else high))
        editor.setSingleStep(int(field.step or 1))
        editor.setValue(int(field.default))
    else:
        editor = QDoubleSpinBox()
        low, high = FLOAT_RANGE
        editor.setDecimals(4)
        editor.setRange(field.minimum if field.minimum is not None else low,
                        field.maximum if field.maximum is not None else high)
        editor.setSingleStep(field.step or max(abs(field.default) / 10, 1e-4))
        editor.setValue(float(field.default))
    editor.setObjectName(field.name)
    editor.setToolTip(field.help)
    return editor


def editor_value(editor: QWidget) -> Any:
    return editor.isChecked() if isinstance(editor, QCheckBox) else editor.value()


def set_editor_value(editor: QWidget, value: Any) -> None:
    if isinstance(editor, QCheckBox):
        editor.setChecked(bool(value))
    else:
        editor.setValue(value)


class SettingsForm(QWidget):
    """The current model's settings as a form; values typed for a model survive switching away."""

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.form = QFormLayout(self)
        self.form.setContentsMargins(0, 0, 0, 0)
        self.model: str | None = None
        self.editors: dict[str, QWidget] = {}
        self._remembered: dict[str, dict[str, Any]] = {}

    def show_model(self, name: str, schema: list[SettingField]) -> None:
        self._remember()
        while self.form.rowCount():
            self.form.removeRow(0)
        self.model, self.editors = name, {}
        remembered = self._remembered.get(name, {})
        for field in schema:
            editor = make_editor(field)
            if field.name in remembered:
                set_editor_value(editor, remembered[field.name])
            label = QLabel(f"{field.label}:")
            label.setToolTip(field.help)
            self.form.addRow(label, editor)
            self.editors[field.name] = editor
        self.setVisible(bool(schema))

    def values(self) -> dict[str, Any]:
        return {key: editor_value(editor) for key, editor in self.editors.items()}

    def _remember(self) -> None:
        if self.model is not None:
            self._remembered[self.model] = self.values()
