"""faceinpaint-eval, run in-process through ``main(argv)``."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from engine.cli_eval import main


@pytest.fixture(scope="module")
def faces_dir(tmp_path_factory, sample_photo):
    folder = tmp_path_factory.mktemp("faces")
    Image.fromarray(sample_photo).save(folder / "a.png")
    Image.fromarray(np.ascontiguousarray(sample_photo[:, ::-1])).save(folder / "b.png")
    return folder


def test_json_and_markdown(faces_dir, tmp_path, capsys):
    out_json, out_md = tmp_path / "r.json", tmp_path / "r.md"
    argv = ["--data", str(faces_dir), "--protocol", "mde-occlusions", "--models", "telea,navier-stokes", "--quiet"]
    assert main([*argv, "--json", str(out_json), "--markdown", str(out_md)]) == 0
    report = json.loads(out_json.read_text())
    assert report["skipped"] == 0 and report["config"]["resolution"] == 96
    assert {(r["model"], r["case"]) for r in report["rows"]} == {
        (m, c) for m in ("telea", "navier-stokes") for c in report["config"]["cases"]
    }
    assert all(r["n"] == 2 for r in report["rows"])
    markdown = out_md.read_text()
    assert markdown.strip() in capsys.readouterr().out
    assert "| telea |" in markdown and "| navier-stokes |" in markdown and "right-half" in markdown


def test_weights_option_reaches_the_model(faces_dir, capsys):
    argv = ["--data", str(faces_dir), "--protocol", "noise-80", "--models", "telea", "--quiet"]
    assert main([*argv, "--weights", "telea=nowhere.safetensors"]) == 2
    assert "nowhere.safetensors" in capsys.readouterr().err
    assert main([*argv, "--weights", "pdgan=x.safetensors"]) == 2
    assert "pdgan" in capsys.readouterr().err


@pytest.mark.parametrize(
    "extra, reason",
    [
        (["--protocol", "noise-80", "--models", "magic"], "magic"),
        (["--protocol", "irregular", "--models", "telea"], "--masks"),
        (["--protocol", "noise-80", "--models", "telea", "--weights", "telea"], "NAME=FILE"),
        (["--protocol", "noise-80", "--models", "telea", "--json", "/no/such/dir/r.json"], "/no/such/dir"),
    ],
)
def test_bad_input_exits_2_with_one_line(faces_dir, capsys, extra, reason):
    assert main(["--data", str(faces_dir), "--quiet", *extra]) == 2
    err = capsys.readouterr().err
    assert reason in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_missing_data_folder(tmp_path, capsys):
    assert main(["--data", str(tmp_path / "gone"), "--protocol", "noise-80", "--models", "telea", "--quiet"]) == 2
    assert "gone" in capsys.readouterr().err


@pytest.mark.shared_data
def test_limit_5_on_utkface_val(shared_data, tmp_path):
    out = tmp_path / "r.json"
    argv = ["--data", str(shared_data / "utkface" / "val"), "--protocol", "collagan-occlusions"]
    assert main([*argv, "--models", "telea", "--limit", "5", "--quiet", "--json", str(out)]) == 0
    report = json.loads(out.read_text())
    assert report["config"]["images"] == 5
    assert all(r["n"] == 5 - report["skipped"] for r in report["rows"]) and len(report["rows"]) == 6
    assert all(20 < r["psnr"] < 45 for r in report["rows"])


def test_toml_config_with_command_line_overrides(faces_dir, tmp_path):
    config = tmp_path / "eval.toml"
    config.write_text(
        f'data = ["{faces_dir}"]\nprotocol = "center-block"\nmodels = ["telea"]\nresolution = 80\nlimit = 1\n'
    )
    out = tmp_path / "r.json"
    assert main(["--config", str(config), "--resolution", "72", "--quiet", "--json", str(out)]) == 0
    report = json.loads(out.read_text())
    assert report["config"]["resolution"] == 72 and report["config"]["images"] == 1
    assert report["config"]["protocol"] == "center-block"


def test_no_face_metrics_leaves_nme_and_identity_out(faces_dir, tmp_path):
    out = tmp_path / "r.json"
    argv = ["--data", str(faces_dir), "--protocol", "center-block", "--models", "telea", "--limit", "1", "--quiet"]
    assert main([*argv, "--no-face-metrics", "--json", str(out)]) == 0
    report = json.loads(out.read_text())
    assert report["config"]["face_metrics"] is False
    assert all(r["landmark_nme"] is None and r.get("identity_dist") is None and r["psnr"] > 0 for r in report["rows"])
    assert main([*argv, "--json", str(out)]) == 0
    assert json.loads(out.read_text())["config"]["face_metrics"] is True


def test_bad_toml_config(tmp_path, capsys):
    config = tmp_path / "eval.toml"
    config.write_text('protocol = "center-block"\nspeed = "fast"\n')
    assert main(["--config", str(config)]) == 2
    assert "speed" in capsys.readouterr().err
