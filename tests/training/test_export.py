"""``faceinpaint-train export`` writes only its targets (issue 11, defects 1, 6, 7 and 9)."""

from __future__ import annotations

import hashlib
import shutil
import tomllib
from pathlib import Path

import pytest

from engine.errors import FaceInpaintError
from training import export
from training.collagan import CollaGANConfig, CollaGANMethod
from training.export import export_run
from training.trainer import CHECKPOINT, run_training


@pytest.fixture(scope="module")
def trained_run(face_folder, landmark_cache, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("collagan") / "run"
    cfg = CollaGANConfig(
        data=[str(face_folder)], out=str(out), cache_dir=str(landmark_cache), resolution=64, width=8, batch_size=2,
        steps=1, num_workers=0, device="cpu", checkpoint_every=100, sample_every=100, log_every=1, val_fraction=0.3,
        val_samples=2, val_eval_images=2, seed=3,
    )
    run_training(CollaGANMethod, cfg)
    return out


@pytest.fixture
def run(trained_run, tmp_path) -> Path:
    """A private copy of the trained run, so a test may try to damage it."""
    return Path(shutil.copytree(trained_run, tmp_path / "run"))


def digests(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(autouse=True)
def private_weights_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("FACEINPAINT_WEIGHTS_DIR", str(tmp_path / "weights"))


def test_export_onto_the_runs_checkpoint_is_refused_and_the_run_is_kept(run):
    """The original failure: ``export RUN -o RUN/checkpoints/last.pt`` replaced the checkpoint."""
    before = digests(run)
    for target in (run / CHECKPOINT, run / "config.toml"):
        for overwrite in (False, True):
            with pytest.raises(FaceInpaintError, match=r"\.safetensors"):
                export_run(run, target, overwrite=overwrite)
    assert digests(run) == before


def test_an_existing_file_is_replaced_only_with_overwrite(run, tmp_path):
    target = tmp_path / "mine.safetensors"
    target.write_bytes(b"someone else's file")
    with pytest.raises(FaceInpaintError, match="already exists; pass --overwrite"):
        export_run(run, target)
    assert target.read_bytes() == b"someone else's file"
    card = tmp_path / "other.md"
    card.write_text("someone else's card")
    with pytest.raises(FaceInpaintError, match="other.md already exists"):
        export_run(run, tmp_path / "other.safetensors")
    assert card.read_text() == "someone else's card" and not (tmp_path / "other.safetensors").exists()
    assert export_run(run, target, overwrite=True) == target
    assert target.read_bytes() != b"someone else's file"


def test_the_notes_file_is_never_overwritten(run, tmp_path):
    """The original failure: ``--notes N.md -o N.safetensors`` wrote the card over the notes."""
    notes = tmp_path / "N.md"
    notes.write_text("what this run departs from")
    for overwrite in (False, True):
        with pytest.raises(FaceInpaintError, match="is the --notes file"):
            export_run(run, tmp_path / "N.safetensors", notes=notes, overwrite=overwrite)
    assert notes.read_text() == "what this run departs from"
    assert not (tmp_path / "N.safetensors").exists()


def test_existing_files_inside_the_run_are_never_replaced(run):
    (run / "model.md").write_text("the run's own notes")
    with pytest.raises(FaceInpaintError, match="is a file of the run"):
        export_run(run, run / "model.safetensors", overwrite=True)
    assert (run / "model.md").read_text() == "the run's own notes"


def test_targets_are_checked_before_any_work(run, tmp_path, monkeypatch):
    (tmp_path / "taken.safetensors").write_bytes(b"x")
    monkeypatch.setattr(export, "load_run", lambda *a, **k: pytest.fail("the run was loaded before the checks"))
    with pytest.raises(FaceInpaintError, match="already exists"):
        export_run(run, tmp_path / "taken.safetensors")


def test_paths_recorded_in_the_runs_config_are_not_written(run, tmp_path):
    """The original failure: export recreated the cache_dir/out a (moved or crafted) config.toml named."""
    elsewhere = tmp_path / "elsewhere"
    config = run / "config.toml"
    text = config.read_text()
    recorded = tomllib.loads(text)
    text = text.replace(repr(recorded["cache_dir"]).replace("'", '"'), f'"{(elsewhere / "cache").as_posix()}"')
    text = text.replace(repr(recorded["out"]).replace("'", '"'), f'"{(elsewhere / "out").as_posix()}"')
    config.write_text(text)
    assert tomllib.loads(config.read_text())["cache_dir"] == (elsewhere / "cache").as_posix()
    before = digests(run)
    weights = export_run(run, tmp_path / "w.safetensors")
    assert weights.is_file() and weights.with_suffix(".md").is_file()
    assert not elsewhere.exists()
    assert digests(run) == before  # not even the run's own landmark cache was rewritten


def test_a_full_disk_is_one_error_and_leaves_nothing(run, tmp_path, monkeypatch):
    import safetensors.torch

    def full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(safetensors.torch, "save_file", full)
    with pytest.raises(FaceInpaintError, match="disk is full"):
        export_run(run, tmp_path / "w.safetensors")
    assert [p.name for p in tmp_path.iterdir() if p.name != "run"] == []


def test_the_manifest_entry_of_another_file_is_replaced_only_with_overwrite(run, tmp_path):
    from engine.weights import read_manifest, update_manifest

    update_manifest("collagan", {"file": "shipped.safetensors", "sha256": "0" * 64})
    with pytest.raises(FaceInpaintError, match="manifest already has 'collagan'"):
        export_run(run, tmp_path / "weights" / "mine.safetensors")
    assert read_manifest()["models"]["collagan"]["file"] == "shipped.safetensors"
    export_run(run, tmp_path / "weights" / "mine.safetensors", overwrite=True)
    assert read_manifest()["models"]["collagan"]["file"] == "mine.safetensors"


def cli_status(argv: list[str]) -> int:
    from training.cli import main

    try:
        return main(argv)
    except SystemExit as exit_:  # argparse
        return exit_.code


def test_cli_refuses_an_existing_target_in_one_line(run, tmp_path, capsys):
    target = tmp_path / "w.safetensors"
    target.write_bytes(b"keep me")
    assert cli_status(["export", str(run), "-o", str(target)]) == 2
    err = capsys.readouterr().err
    assert "--overwrite" in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert target.read_bytes() == b"keep me"


def test_cli_overwrite_flag_replaces_an_existing_target(run, tmp_path):
    target = tmp_path / "w.safetensors"
    target.write_bytes(b"replace me")
    assert cli_status(["export", str(run), "-o", str(target), "--overwrite"]) == 0
    assert target.read_bytes() != b"replace me"
