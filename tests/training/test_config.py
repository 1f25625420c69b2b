import tomllib

import pytest

from training.collagan import CollaGANConfig
from training.config import ConfigError, TrainConfig, load_config, save_config


def test_defaults_are_the_papers(tmp_path):
    cfg = CollaGANConfig()
    assert (cfg.resolution, cfg.epochs, cfg.lr) == (128, 20, 0.01)
    assert cfg.tasks == ["i", "s", "d"] and cfg.concentrated and not cfg.aligned


def test_save_then_load_round_trips(tmp_path):
    cfg = CollaGANConfig(data=["/a b/faces", 'q"uote'], mask_mix={"block": 0.5, "irregular": 0.5}, lambda_rec={"i": 50.0})
    path = tmp_path / "config.toml"
    save_config(cfg, path)
    assert tomllib.loads(path.read_text())["mask_mix"] == {"block": 0.5, "irregular": 0.5}
    assert load_config(CollaGANConfig, path) == cfg


def test_file_then_overrides_take_precedence(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text("batch_size = 8\nlr = 1\nseed = 4\n")
    cfg = load_config(CollaGANConfig, path, {"batch_size": 2, "seed": None})
    assert (cfg.batch_size, cfg.lr, cfg.seed) == (2, 1.0, 4)  # int widened to float; None = not given


@pytest.mark.parametrize(
    "text, message",
    [("batch_sise = 3\n", "unknown option"), ("amp = 1\n", "true or false"), ("lr = 'fast'\n", "lr.*converted to Float"), ("mask_mix = 3\n", "mask_mix"),
     ("lr = = 1\n", "not valid TOML")],
)
def test_bad_files_name_the_file_and_the_problem(tmp_path, text, message):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message) as err:
        load_config(TrainConfig, path)
    assert str(path) in str(err.value)


def test_missing_file_is_a_clear_error(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_config(TrainConfig, tmp_path / "nope.toml")


@pytest.mark.parametrize("bad, option", [
    ({"batch_size": 0}, "batch_size"), ({"lr": -1.0}, "lr"), ({"lr": float("nan")}, "lr"), ({"width": 0}, "width"),
    ({"width": 3000}, "width"), ({"resolution": 50}, "resolution"), ({"resolution": 4096}, "resolution"),
    ({"low_resolution": 256}, "low_resolution"), ({"epochs": 0}, "epochs"), ({"steps": -3}, "steps"),
    ({"minutes": -1.0}, "minutes"), ({"val_fraction": 1.0}, "val_fraction"), ({"ema_decay": 1.0}, "ema_decay"),
    ({"device": "nonsense"}, "nonsense"), ({"num_workers": -1}, "num_workers"),
])
def test_values_no_run_can_use_are_refused_however_the_config_is_built(tmp_path, bad, option):
    """The checks live in TrainConfig itself: TOML files, --set, recipes and tests all meet them."""
    with pytest.raises(ConfigError, match=option):
        TrainConfig(**bad)
    toml = tmp_path / "run.toml"
    key, value = next(iter(bad.items()))
    toml.write_text(f"{key} = {value!r}\n".replace("'", '"'))
    with pytest.raises(ConfigError, match=option):
        load_config(TrainConfig, toml)


def test_sane_values_and_every_method_default_pass_the_checks():
    from training.methods import load_methods

    TrainConfig(resolution=96, low_resolution=64, width=8, batch_size=1, device="cuda:1", minutes=0.5)
    for method in load_methods().values():
        method.config_cls()
