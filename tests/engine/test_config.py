"""Typed config layers: a mapping replaces a mapping, KEY=VALUE values are typed, bad values are one line."""

from __future__ import annotations

import pytest

from engine.config import build_config, parse_dotlist
from engine.errors import ConfigError
from engine.evaluation import EvalConfig
from training.config import TrainConfig


def test_layers_apply_in_order_and_a_mapping_replaces_the_mapping():
    cfg = build_config(TrainConfig, [("file", {"mask_mix": {"preset": 1.0}, "lr": 1, "steps": 3}),
                                     ("options", parse_dotlist(["steps=5", "data=[a,b]", "masks=[m]"]))])
    assert cfg.mask_mix == {"preset": 1.0}  # not merged into the default {"block": 1.0}
    assert (cfg.lr, cfg.steps, cfg.data, cfg.masks) == (1.0, 5, ["a", "b"], ["m"]) and isinstance(cfg.lr, float)


def test_dotlist_values_are_typed():
    assert parse_dotlist(["lr=2e-4", "tasks=[i,s]", "mask_mix={block: 1.0}", 'face_analysis=""', "amp=false"]) == {
        "lr": 2e-4, "tasks": ["i", "s"], "mask_mix": {"block": 1.0}, "face_analysis": "", "amp": False}


@pytest.mark.parametrize("option, message", [
    ("lr=abc", "lr.*Float"), ("steps=1.5", "steps.*Integer"), ("warp_speed=9", "unknown option"),
    ("amp=1", "true or false"), ("batch_size=0", "batch_size"), ("novalue", "KEY=VALUE"),
])
def test_bad_options_are_one_line_config_errors(option, message):
    with pytest.raises(ConfigError, match=message):
        build_config(TrainConfig, [("options", parse_dotlist([option]))])


def test_an_eval_config_file_of_wrong_types_is_refused(tmp_path):
    path = tmp_path / "eval.toml"
    path.write_text('data = ["faces"]\nprotocol = "center-block"\nmodels = ["telea"]\nseed = "zero"\n')
    with pytest.raises(ConfigError, match="seed"):
        EvalConfig.from_toml(path)
    path.write_text('protocol = "center-block"\nmodels = ["telea"]\n')
    with pytest.raises(ConfigError, match="data"):
        EvalConfig.from_toml(path)
    path.write_text('data = ["faces"]\nprotocol = "center-block"\nmodels = ["telea"]\nsubset = 4\n')
    assert EvalConfig.from_toml(path, seed=3).subset == 4 and EvalConfig.from_toml(path, seed=3).seed == 3
