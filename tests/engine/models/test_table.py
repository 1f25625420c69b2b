"""The model table: a row is all it takes for a model to reach the CLI, eval and the app, and a
row's settings schema is what front ends build their option widgets from."""

from __future__ import annotations

import dataclasses

import pytest

from engine.cli_inpaint import main as inpaint_main
from engine.evaluation import EvalConfig, evaluate
from engine.models import MODELS, get_spec
from engine.models.settings import MDESettings, NoSettings, SearchSettings, make_settings, settings_schema
from tests.engine.models import toy_models


@pytest.fixture
def toy_row(monkeypatch):
    toy_models.add_row(monkeypatch, toy_models.GREY)
    return "test-grey"


def test_a_row_alone_puts_a_model_in_the_cli_listing(toy_row, capsys):
    assert inpaint_main(["--list-models"]) == 0
    line = next(line for line in capsys.readouterr().out.splitlines() if line.startswith(toy_row))
    assert "Grey" in line and line.rstrip().endswith("ready")


def test_a_row_alone_puts_a_model_in_eval(toy_row, tmp_path, sample_photo):
    from PIL import Image

    Image.fromarray(sample_photo).save(tmp_path / "face.png")
    report = evaluate(EvalConfig(data=[tmp_path], protocol="center-block", models=[toy_row, "telea"]), progress=False)
    assert {row["model"] for row in report.rows} == {toy_row, "telea"}


def test_a_row_alone_puts_a_model_in_the_apps_model_list(toy_row):
    pytest.importorskip("PySide6")
    from faceinpaint_app.model_panel import model_entries

    entries = {entry.info.name: entry for entry in model_entries()}
    assert entries[toy_row].ready and entries[toy_row].info is MODELS[toy_row].info


def test_every_row_names_an_importable_model_class_with_its_own_info():
    for name, spec in MODELS.items():
        cls = spec.model_class()
        assert cls.info is spec.info and cls.settings_cls is spec.settings_cls, name


def test_settings_schemas_give_label_range_and_default():
    iterations = next(f for f in get_spec("dcgan").settings_schema() if f.name == "iterations")
    assert (iterations.type, iterations.default, iterations.min, iterations.max) == (int, 400, 1, 100_000)
    assert iterations.label == "Iterations:" and iterations.help and iterations.tunable
    assert [f.name for f in settings_schema(MDESettings)] == ["remask_ratio", "resample_steps"]
    assert get_spec("telea").settings_schema() == [] and get_spec("telea").settings_cls is NoSettings
    tunable = [f.name for f in settings_schema(SearchSettings) if f.tunable]
    assert tunable == ["iterations", "restarts", "encoder_start"]


def test_settings_from_a_front_end_are_typed_and_checked():
    assert make_settings(SearchSettings, {"iterations": 50}) == dataclasses.replace(SearchSettings(), iterations=50)
    assert make_settings(MDESettings, {"remask_ratio": 1}).remask_ratio == 1.0
    for bad in ({"iterations": 0}, {"iterations": "many"}, {"poisson": 1}, {"speed": 2}):
        with pytest.raises(ValueError):  # ConfigError, a FaceInpaintError and a ValueError
            make_settings(SearchSettings, bad)
