"""The option form is built from a settings dataclass's fields and their metadata, naming no model field."""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtWidgets import QCheckBox, QDoubleSpinBox, QSpinBox

from engine.models.settings import setting
from faceinpaint_app.settings_form import SettingsForm, model_settings_fields, tunable_fields


@dataclass(frozen=True)
class ToySettings:
    steps: int = setting(30, label="Steps:", min=1, max=500, step=10, help="How many refinement steps")
    strength: float = setting(0.25, label="Strength", min=0.0, max=1.0)
    blend: bool = True
    name: str = "not a number"  # not a number: no widget
    expert: float = setting(0.5, label="Expert:", tunable=False)  # hidden


def test_only_tunable_numbers_and_switches_get_widgets():
    assert [f.name for f in tunable_fields(ToySettings)] == ["steps", "strength", "blend"]


def test_the_dcgan_form_comes_from_its_table_row():
    names = [f.name for f in model_settings_fields("dcgan")]
    assert names[:2] == ["iterations", "restarts"] and "lr" not in names, names
    assert model_settings_fields("telea") == []


def test_form_builds_typed_editors_and_remembers_values_per_model(qtbot):
    form = SettingsForm()
    qtbot.addWidget(form)
    form.show_model("toy", tunable_fields(ToySettings))
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
    form.show_model("toy", tunable_fields(ToySettings))
    assert form.values() == {"steps": 500, "strength": 0.25, "blend": False}
