"""Regression tests of issue 11 for training, each reproducing a failure found with hostile inputs.

The fixes live in training/cli.py, training/trainer.py and training/data.py, which the lead owns:
a test still waiting for its fix is marked xfail (strict) with the change it waits for.
"""

from __future__ import annotations

import contextlib
import io
import shutil
import tomllib
from pathlib import Path

import pytest
import torch

import training.trainer as trainer_module
from training.cli import main
from training.trainer import CHECKPOINT


@pytest.fixture
def common(face_folder, landmark_cache):
    return ["--data", str(face_folder), "--batch-size", "2", "--resolution", "64", "--num-workers", "0",
            "--device", "cpu", "--seed", "5", "--set", f"cache_dir={landmark_cache}", "--set", "val_fraction=0.3",
            "--set", "val_eval_images=2", "--set", "checkpoint_every=100", "--set", "sample_every=100"]


def train_cli(argv: list[str]) -> tuple[int, str]:
    err = io.StringIO()
    try:
        with contextlib.redirect_stderr(err):
            code = main([str(a) for a in argv])
    except SystemExit as exit_:  # argparse
        code = exit_.code
    return code, err.getvalue()


@pytest.fixture
def no_training(monkeypatch):
    """Fails the test if training starts: the bad input must be refused before any work."""

    def refuse(self):
        raise AssertionError("training started before the bad input was refused")

    monkeypatch.setattr(trainer_module.Trainer, "run", refuse)


@pytest.fixture(scope="module")
def width_16_run(tmp_path_factory, face_folder, landmark_cache) -> Path:
    run = tmp_path_factory.mktemp("w16") / "run"
    code, err = train_cli(["collagan", "--out", run, "--steps", "2", "--width", "16", "--data", face_folder,
                           "--batch-size", "2", "--resolution", "64", "--num-workers", "0", "--device", "cpu",
                           "--set", f"cache_dir={landmark_cache}", "--set", "val_fraction=0.3"])
    assert code == 0, err
    return run


# -- defect 2: a failed --resume damages the run --------------------------------------------------
def test_a_failed_resume_leaves_the_run_as_it_was(width_16_run, tmp_path):
    run = Path(shutil.copytree(width_16_run, tmp_path / "run"))
    config_before = (run / "config.toml").read_bytes()
    code, err = train_cli(["collagan", "--out", run, "--steps", "3", "--resume", "--width", "8"])
    assert code == 2 and "Traceback" not in err and "width" in err
    assert (run / "config.toml").read_bytes() == config_before
    assert tomllib.loads(config_before.decode())["width"] == 16
    code, err = train_cli(["collagan", "--out", run, "--steps", "3", "--resume"])  # the plain resume still works
    assert code == 0, err


# -- defect 3: resume is not exact ----------------------------------------------------------------
def test_three_steps_then_resume_three_equal_six_steps_bit_for_bit(tmp_path, common):
    straight, split = tmp_path / "straight", tmp_path / "split"
    paper = ["--recipe", "paper", "--width", "8", *common]
    assert train_cli(["collagan", "--out", straight, "--steps", "6", *paper])[0] == 0
    assert train_cli(["collagan", "--out", split, "--steps", "3", *paper])[0] == 0
    assert train_cli(["collagan", "--out", split, "--steps", "6", "--resume"])[0] == 0
    a = torch.load(straight / CHECKPOINT, weights_only=True)["model"]
    b = torch.load(split / CHECKPOINT, weights_only=True)["model"]
    flat_a, flat_b = _flatten(a), _flatten(b)
    assert flat_a.keys() == flat_b.keys()
    assert all(torch.equal(flat_a[k], flat_b[k]) for k in flat_a)


def test_a_run_interrupted_at_step_three_resumes_bit_for_bit_under_the_quality_recipe(tmp_path, common, monkeypatch):
    """The default recipe (EMA, linear learning rate over the run's steps, progressive resolution):
    6 steps stopped after 3 (as by Ctrl+C) and resumed end where 6 uninterrupted steps do."""
    straight, split = tmp_path / "straight", tmp_path / "split"
    quality = ["--steps", "6", "--width", "8", *common]
    assert train_cli(["collagan", "--out", straight, *quality])[0] == 0
    agreed = trainer_module.Trainer._agree
    calls = []

    def stop_after_three(self, stop, diverged, device):
        calls.append(1)
        return agreed(self, stop or len(calls) == 3, diverged, device)

    with monkeypatch.context() as patch:
        patch.setattr(trainer_module.Trainer, "_agree", stop_after_three)
        code, err = train_cli(["collagan", "--out", split, *quality])
    assert code == 130 and torch.load(split / CHECKPOINT, weights_only=True)["step"] == 3, err
    assert train_cli(["collagan", "--out", split, "--resume"])[0] == 0
    a, b = (torch.load(run / CHECKPOINT, weights_only=True) for run in (straight, split))
    for part in ("model", "ema"):
        flat_a, flat_b = _flatten(a[part]), _flatten(b[part])
        assert flat_a and flat_a.keys() == flat_b.keys()
        assert all(torch.equal(flat_a[k], flat_b[k]) for k in flat_a), part


def _flatten(state, prefix=""):
    if isinstance(state, torch.Tensor):
        return {prefix: state}
    if isinstance(state, dict):
        out = {}
        for key, value in state.items():
            out.update(_flatten(value, f"{prefix}/{key}"))
        return out
    return {}


# -- defect 6: numbers out of range are one line, before any work --------------------------------
@pytest.mark.parametrize("bad", [["--batch-size", "0"], ["--batch-size", "-2"], ["--set", "lr=-1"],
                                 ["--set", "width=0"], ["--resolution", "50"], ["--device", "nonsense"]],
                         ids=["batch-0", "batch-negative", "lr-negative", "width-0", "resolution-50", "device"])
def test_out_of_range_training_options_are_one_line_before_any_work(tmp_path, face_folder, no_training, bad):
    code, err = train_cli(["collagan", "--out", tmp_path / "run", "--data", face_folder, "--num-workers", "0", *bad])
    assert code == 2 and "Traceback" not in err and len(err.strip().splitlines()) == 1


# -- defect 8: --steps 0 / -3 --------------------------------------------------------------------
@pytest.mark.parametrize("steps", ["0", "-3"])
def test_zero_or_negative_steps_are_refused(tmp_path, face_folder, no_training, steps):
    code, err = train_cli(["collagan", "--out", tmp_path / "run", "--data", face_folder, "--steps", steps])
    assert code == 2 and "--steps" in err


# -- defect 10: stale checkpoint temporaries -------------------------------------------------------
def test_resume_removes_stale_checkpoint_temporaries(width_16_run, tmp_path):
    run = Path(shutil.copytree(width_16_run, tmp_path / "run"))
    stale = (run / CHECKPOINT).with_name(f".{CHECKPOINT.name}.dead1234.tmp")
    stale.write_bytes(b"\0" * 1024)
    code, err = train_cli(["collagan", "--out", run, "--steps", "3", "--resume"])
    assert code == 0, err
    assert not stale.exists()


# -- defect 14: training without a masks folder ---------------------------------------------------
def test_irregular_masks_without_a_masks_folder_fall_back_to_strokes(tiny_config):
    from training.data import build_datasets
    from training.pdgan import PDGANConfig

    cfg = tiny_config(PDGANConfig, masks="")
    assert "irregular" in {k for k, w in cfg.mask_mix.items() if w > 0}
    train, _, _ = build_datasets(cfg)
    holes = [train[i]["mask"] for i in range(len(train))]
    assert all(h.sum() > 0 for h in holes)
