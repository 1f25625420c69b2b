"""faceinpaint-train end to end: train, resume, export, then faceinpaint-inpaint with the exported file."""

import json
import tomllib

import pytest

from training.cli import main


@pytest.fixture
def common(face_folder, landmark_cache):
    return ["--data", str(face_folder), "--batch-size", "2", "--resolution", "64", "--width", "8",
            "--num-workers", "0", "--device", "cpu", "--set", f"cache_dir={landmark_cache}",
            "--set", "val_fraction=0.3", "--set", "val_eval_images=2", "--set", "val_every=0"]


@pytest.mark.parametrize("method, extra", [("collagan", []), ("gfc", ["--set", "bottleneck=32", "--set", "stage1_steps=1",
                                                                     "--set", 'face_analysis=""'])])
def test_train_resume_export_and_inpaint(tmp_path, common, sample_photo_path, method, extra, monkeypatch):
    from engine.cli_inpaint import main as inpaint
    from engine.weights import check_weights, load_state_dict, read_manifest

    monkeypatch.setenv("FACEINPAINT_WEIGHTS_DIR", str(tmp_path))  # export lands in the weights folder

    run = tmp_path / "run"
    assert main([method, "--out", str(run), "--steps", "2", *common, *extra]) == 0
    assert main([method, "--out", str(run), "--steps", "3", "--resume"]) == 0  # the rest comes from config.toml
    saved = tomllib.loads((run / "config.toml").read_text())
    assert (saved["steps"], saved["width"], saved["method"]) == (3, 8, method)

    weights = tmp_path / f"{method}.safetensors"
    assert main(["export", str(run), "-o", str(weights), "--fp16"]) == 0
    tensors, metadata = load_state_dict(weights)
    assert metadata["method"] == method and metadata["architecture"]["resolution"] == 64
    assert all(t.dtype.is_floating_point is False or t.dtype.itemsize == 2 for t in tensors.values())
    metrics = json.loads(metadata["metrics"])
    assert 0 < metrics["psnr"] and 0 < metrics["ssim"] <= 1
    assert json.loads(metadata["training"])["steps"] == 3
    assert "Held-out metrics (2 crops" in weights.with_suffix(".md").read_text()
    entry = read_manifest()["models"][method]
    assert (entry["file"], entry["card"], entry["method"]) == (weights.name, f"{method}.md", method)
    assert check_weights(method).ready

    out = tmp_path / "completed.png"
    assert inpaint([str(sample_photo_path), "--preset", "mouth", "--model", method, "--weights", str(weights),
                    "--device", "cpu", "--face-backend", "dlib", "-o", str(out)]) == 0
    assert out.stat().st_size > 0


def test_errors_are_reported_not_raised(tmp_path, common, capsys):
    assert main(["collagan", "--out", str(tmp_path / "a")]) == 2
    assert "--data" in capsys.readouterr().err
    assert main(["collagan", "--out", str(tmp_path / "b"), *common, "--set", "warp_speed=9"]) == 2
    assert "warp_speed" in capsys.readouterr().err
    assert main(["export", str(tmp_path), "-o", str(tmp_path / "w.safetensors")]) == 2
    assert "not a training run" in capsys.readouterr().err
    bad = tmp_path / "bad.toml"
    bad.write_text("lr = [")
    assert main(["gfc", "--out", str(tmp_path / "c"), "--config", str(bad), *common]) == 2
    assert "bad.toml" in capsys.readouterr().err


def test_method_specific_flags_reach_the_config():
    from training.cli import build_parser
    from training.methods import load_methods

    methods = load_methods()
    args = build_parser(methods).parse_args(["pdgan", "--out", "run", "--prior", "prior.safetensors"])
    assert args.prior == "prior.safetensors"
    with pytest.raises(SystemExit):  # --prior belongs to pdgan only
        build_parser(methods).parse_args(["collagan", "--out", "run", "--prior", "prior.safetensors"])
