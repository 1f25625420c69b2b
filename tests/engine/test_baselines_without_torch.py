"""Issue 13, item 2: the classical baselines' command-line paths import neither torch nor a learned
model module (torch alone costs seconds of start-up). Each CLI runs in a fresh interpreter that
reports, at exit, which heavy modules were loaded.

The dlib face backend is named: "auto" prefers FAN landmarks, which are a torch network.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
LEARNED = ("torch", "engine.models.torch_base", "engine.models.collagan", "engine.models.dcgan", "engine.models.gfc",
           "engine.models.pdgan", "engine.models.mde", "engine.models.face_analysis")
REPORTER = """
import atexit, runpy, sys
heavy = {learned!r}
atexit.register(lambda: print("HEAVY", sorted(m for m in sys.modules if m in heavy), file=sys.stderr))
sys.argv = [{module!r}, *{args!r}]
runpy.run_module({module!r}, run_name="__main__")
"""


def loaded_heavy_modules(module: str, args: list[str]) -> list[str]:
    code = REPORTER.format(learned=LEARNED, module=module, args=[str(a) for a in args])
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=300, check=False)
    assert out.returncode == 0, out.stderr[-2000:]
    line = [line for line in out.stderr.splitlines() if line.startswith("HEAVY")][-1]
    return eval(line.removeprefix("HEAVY "))  # a list literal printed by the child above


def baselines() -> list[str]:
    from engine.models import MODELS

    return [name for name in ("telea", "navier-stokes", "patchmatch") if name in MODELS]


@pytest.mark.parametrize("model", baselines())
def test_inpainting_a_photo_with_a_baseline_imports_no_torch(model, sample_photo_path, tmp_path):
    heavy = loaded_heavy_modules("engine.cli_inpaint", [sample_photo_path, "--preset", "mouth", "--model", model,
                                                        "--face-backend", "dlib", "-o", tmp_path / "out.png"])
    assert (tmp_path / "out.png").is_file()
    assert heavy == []


def test_evaluating_the_baselines_imports_no_torch(sample_photo_path, tmp_path):
    (tmp_path / "faces").mkdir()
    (tmp_path / "faces" / "face.png").write_bytes(Path(sample_photo_path).read_bytes())
    heavy = loaded_heavy_modules("engine.cli_eval", ["--data", tmp_path / "faces", "--protocol", "center-block",
                                                     "--models", ",".join(baselines()), "--face-backend", "dlib",
                                                     "--json", tmp_path / "r.json", "--quiet"])
    assert (tmp_path / "r.json").is_file()
    assert heavy == []


def test_the_reporter_sees_torch_when_a_learned_model_runs(tmp_path):
    """The check can fail: running a learned model's module loads torch and the shared torch base."""
    heavy = loaded_heavy_modules("engine.models.dcgan", [])
    assert "torch" in heavy and "engine.models.torch_base" in heavy
