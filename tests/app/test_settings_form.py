"""The option form is built from a settings dataclass's fields and their metadata, naming no model field."""

from __future__ import annotations

from dataclasses import dataclass, field

from PySide6.QtWidgets import QCheckBox, QDoubleSpinBox, QSpinBox

from faceinpaint_app.settings_form import SettingsForm, schema_of


@dataclass
class ToySettings:
    steps: int = field(default=30, metadata={"label": "Steps", "min": 1, "max": 500, "step": 10,
                                              "help": "How many refinement steps"})
    strength: float = field(default=0.25, metadata={"min": 0.0, "max": 1.0})
    blend: bool = True
    name: str = "not a number"  # not a number: no widget
    expert: float = field(default=0.5, metadata={"label": "Expert:", "tunable": False})  # hidden


def test_schema_reads_labels_ranges_and_help_from_field_metadata():
    schema = {f.name: f for f in schema_of(ToySettings)}
    assert list(schema) == ["steps", "strength", "blend"]
    assert (schema["steps"].label, schema["steps"].minimum, schema["steps"].maximum) == ("Steps", 1, 500)
    assert schema["strength"].label == "Strength" and schema["blend"].kind is bool


def test_form_builds_typed_editors_and_remembers_values_per_model(qtbot):
    form = SettingsForm()
    qtbot.addWidget(form)
    form.show_model("toy", schema_of(ToySettings))
    steps, strength, blend = (form.editors[k] for k in ("steps", "strength", "blend"))
    assert isinstance(steps, QSpinBox) and isinstance(strength, QDoubleSpinBox) and isinstance(blend, QCheckBox)
    assert (steps.minimum(), steps.maximum(), steps.singleStep()) == (1, 500, 10)
    assert steps.toolTip() == "How many refinement steps"
    steps.setValue(900)
    assert steps.value() == 500, "the metadata's range holds"
    blend.setChecked(False)
    assert form.values() == {"steps": 500, "strength": 0.25, "blend": False}
    form.show_model("other", [])
    assert form.values() == {} and form.isHidden()
    form.show_model("toy", schema_of(ToySettings))
    assert form.values() == {"steps": 500, "strength": 0.25, "blend": False}
