"""Option widgets generated from a model's run-settings dataclass, so the app names no model field.

The schema comes from the model's row in ``engine.models.MODELS`` (its settings class and the
fields' metadata: label, range, step, help), read without importing the model or torch. Fields
that are not int, float or bool, or that are marked ``tunable=False``, get no widget.
``SettingsForm`` remembers what the user typed per model, so selecting a model again keeps it.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtWidgets import QCheckBox, QDoubleSpinBox, QFormLayout, QLabel, QSpinBox, QWidget

from engine.models import get_spec
from engine.models.settings import SettingField, settings_schema

INT_RANGE = (0, 1_000_000)
FLOAT_RANGE = (0.0, 1e6)
WIDGET_TYPES = (int, float, bool)


def tunable_fields(settings_cls: type) -> list[SettingField]:
    """The fields of a settings class that the option panel shows."""
    return [f for f in settings_schema(settings_cls) if f.tunable and f.type in WIDGET_TYPES]


def model_settings_fields(name: str) -> list[SettingField]:
    return tunable_fields(get_spec(name).settings_cls)


def bounds(field: SettingField, default: tuple[float, float]) -> tuple[float, float]:
    """The field's range, each missing end taken from ``default``."""
    return (default[0] if field.min is None else field.min, default[1] if field.max is None else field.max)


def make_editor(field: SettingField) -> QWidget:
    if field.type is bool:
        editor = QCheckBox()
        editor.setChecked(bool(field.default))
    elif field.type is int:
        editor = QSpinBox()
        low, high = bounds(field, INT_RANGE)
        editor.setRange(int(low), int(high))
        editor.setSingleStep(int(field.step or 1))
        editor.setValue(int(field.default))
    else:
        editor = QDoubleSpinBox()
        editor.setDecimals(4)
        editor.setRange(*bounds(field, FLOAT_RANGE))
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
            label = QLabel(f"{field.label.rstrip(':')}:")
            label.setToolTip(field.help)
            self.form.addRow(label, editor)
            self.editors[field.name] = editor
        self.setVisible(bool(schema))

    def values(self) -> dict[str, Any]:
        return {key: editor_value(editor) for key, editor in self.editors.items()}

    def _remember(self) -> None:
        if self.model is not None:
            self._remembered[self.model] = self.values()
