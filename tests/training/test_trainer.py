import json
import math

import pytest
import torch
from PIL import Image

from engine.errors import FaceInpaintError
from training.collagan import CollaGANConfig, CollaGANMethod
from training.trainer import CHECKPOINT, TrainingDiverged, run_training


def test_a_run_writes_config_checkpoint_samples_logs_and_run_info(tiny_config, tmp_path):
    cfg = tiny_config(CollaGANConfig, steps=3, sample_every=3)
    outcome = run_training(CollaGANMethod, cfg)
    run = tmp_path / "run"
    assert outcome.finished and outcome.step == 3 and outcome.images_per_second > 0
    assert torch.load(run / CHECKPOINT, weights_only=True)["step"] == 3
    assert (run / "config.toml").is_file() and any((run / "tensorboard").iterdir())
    with Image.open(run / "samples" / "step_0000003.png") as grid:
        # two held-out rows; masked | output | composite | truth | heatmaps | segmentation
        assert grid.size == (6 * 64, 2 * 64)
    info = json.loads((run / "run.json").read_text())
    assert info["steps"] == 3 and info["data"]["train"] == 4 and info["data"]["val"] == 2


def test_resume_continues_from_the_saved_step_and_data_position(tiny_config, tmp_path):
    run_training(CollaGANMethod, tiny_config(CollaGANConfig, steps=3))
    state = torch.load(tmp_path / "run" / CHECKPOINT, weights_only=True)
    assert state["sampler"] == {"epoch": 1, "position": 2}  # 2 steps per epoch of 4 faces
    with pytest.raises(FaceInpaintError, match="--resume"):
        run_training(CollaGANMethod, tiny_config(CollaGANConfig, steps=5))
    outcome = run_training(CollaGANMethod, tiny_config(CollaGANConfig, steps=5), resume=True)
    assert outcome.step == 5
    assert torch.load(tmp_path / "run" / CHECKPOINT, weights_only=True)["sampler"] == {"epoch": 2, "position": 2}


class _DivergingMethod(CollaGANMethod):
    name = "collagan"  # same name: checkpoints stay loadable by the real method

    def train_step(self, batch, step):
        losses = super().train_step(batch, step)
        return {**losses, "g": math.nan} if step == 2 else losses


def test_a_nan_loss_stops_the_run_and_keeps_the_last_good_checkpoint(tiny_config, tmp_path):
    with pytest.raises(TrainingDiverged, match="step 3") as err:
        run_training(_DivergingMethod, tiny_config(CollaGANConfig, steps=6, checkpoint_every=1))
    assert "last good state" in str(err.value)
    assert torch.load(tmp_path / "run" / CHECKPOINT, weights_only=True)["step"] == 2


def test_too_little_data_is_a_clear_error(tiny_config):
    with pytest.raises(FaceInpaintError, match="fewer than one batch"):
        run_training(CollaGANMethod, tiny_config(CollaGANConfig, batch_size=16))


def test_metrics_go_to_csv_without_tensorboard(tiny_config, tmp_path, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)  # import now raises ImportError
    run_training(CollaGANMethod, tiny_config(CollaGANConfig, steps=2))
    rows = [line.split(",") for line in (tmp_path / "run" / "metrics.csv").read_text().splitlines()]
    assert {r[0] for r in rows} == {"1", "2"} and {"rec_i", "images_per_second"} <= {r[1] for r in rows}
    assert not (tmp_path / "run" / "tensorboard").exists()
