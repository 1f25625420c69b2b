"""docs/merge_results.py: new evaluation rows replace only the models they measured, and only when
the run used the same held-out faces, seed and masks."""
import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("merge_results", ROOT / "docs" / "merge_results.py")
merge_results = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(merge_results)

CASES = ["left-eye", "mouth"]


def report(models: dict[str, float], seed: int = 0) -> dict:
    rows = [{"model": m, "case": c, "n": 3, "psnr": psnr + i, "ssim": 0.9, "l1_hole": 0.1,
             "landmark_nme": 0.05, "identity_dist": 0.3} for m, psnr in models.items() for i, c in enumerate(CASES)]
    config = {"protocol": "collagan-occlusions", "resolution": 128, "limit": None, "subset": 3, "seed": seed,
              "face_backend": "dlib", "data": ["a"], "masks": None, "images": 3, "skipped": 0, "cases": CASES,
              "models": list(models), "weights": {}, "resized_models": []}
    return {"rows": rows, "skipped": 0, "skipped_images": [], "config": config}


def test_new_rows_replace_only_their_model():
    merged = merge_results.merge(report({"collagan": 30.0, "gfc": 28.0}), report({"collagan": 31.0}))
    psnr = {(r["model"], r["case"]): r["psnr"] for r in merged["rows"]}
    assert psnr == {("collagan", "left-eye"): 31.0, ("collagan", "mouth"): 32.0,
                    ("gfc", "left-eye"): 28.0, ("gfc", "mouth"): 29.0}
    assert len(merged["rows"]) == 4 and merged["config"]["models"] == ["collagan", "gfc"]


def test_a_run_on_other_masks_is_refused():
    with pytest.raises(SystemExit, match="seed"):
        merge_results.merge(report({"collagan": 30.0}), report({"collagan": 31.0}, seed=1))


def test_readme_rows_of_the_merged_model_are_rewritten():
    text = ("intro\n\n`collagan-occlusions`, 128 px; SSIM (%) / PSNR (dB):\n\n| model | a | b |\n|---|---|---|\n"
            "| telea | 1/2 | 3/4 |\n| collagan | 0/0 | 0/0 |\n\nLandmark NME / identity distance:\n\n"
            "| model | a | b |\n|---|---|---|\n| collagan | 9/9 | 9/9 |\n\nafter\n| collagan | keep |\n")
    out = merge_results.update_readme(text, report({"collagan": 31.0}))
    assert "| collagan | 90.0/31.00 | 90.0/32.00 |" in out
    assert "| collagan | 0.050/0.300 | 0.050/0.300 |" in out
    assert "| telea | 1/2 | 3/4 |" in out and out.endswith("after\n| collagan | keep |\n")
