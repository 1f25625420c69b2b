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
    [("batch_sise = 3\n", "unknown option"), ("amp = 1\n", "true or false"), ("lr = 'fast'\n", "must be float"),
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
