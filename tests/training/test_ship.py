"""The ship gate: a worse candidate is refused and changes nothing; a better one is installed with its record."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from engine.models.collagan import CollaGANArchitecture, build_generator
from engine.weights import read_manifest, save_state_dict, sha256_file

ARCH = CollaGANArchitecture(resolution=128, width=8, generator="residual-unet", prefill="telea")


def weights(path, *, tint: float):
    """A recipe collaGAN: ``tint`` = 0 is exactly Telea; a tint shifts every filled pixel (worse)."""
    torch.manual_seed(0)
    net = build_generator(ARCH)
    with torch.no_grad():
        net.unet.head.bias[:3] = tint
    training = {"steps": 1, "wall_time_s": 1.0, "device": "cpu", "data": ["faces/train"]}
    save_state_dict(path, net.state_dict(), {"method": "collagan", "architecture": dataclasses.asdict(ARCH),
                                             "training": training, "metrics": {"psnr": 1.0}})
    return path


@pytest.fixture
def weights_folder(tmp_path, monkeypatch):
    folder = tmp_path / "weights"
    folder.mkdir()
    (folder / "manifest.json").write_text('{"version": 1, "models": {}}')
    monkeypatch.setenv("FACEINPAINT_WEIGHTS_DIR", str(folder))
    return folder


def install(folder, source):
    from engine.weights import update_manifest

    target = folder / "collagan.safetensors"
    target.write_bytes(source.read_bytes())
    update_manifest("collagan", {"file": target.name, "sha256": sha256_file(target), "bytes": target.stat().st_size,
                                 "method": "collagan", "architecture": dataclasses.asdict(ARCH)})
    return target


def test_a_worse_candidate_is_refused_and_nothing_changes(tmp_path, weights_folder, face_folder):
    from training.ship import ship

    shipped = install(weights_folder, weights(tmp_path / "good.safetensors", tint=0.0))
    before = (sha256_file(shipped), (weights_folder / "manifest.json").read_text())
    result = ship(weights(tmp_path / "bad.safetensors", tint=0.4), data=[face_folder], subset=3)
    assert not result.accepted and result.candidate.psnr < result.reference.psnr
    assert (sha256_file(shipped), (weights_folder / "manifest.json").read_text()) == before


def test_a_better_candidate_is_installed_with_the_gate_record(tmp_path, weights_folder, face_folder, capsys):
    from training.ship import ship

    install(weights_folder, weights(tmp_path / "bad.safetensors", tint=0.4))
    candidate = weights(tmp_path / "good.safetensors", tint=0.0)
    result = ship(candidate, data=[face_folder], subset=3)
    assert result.accepted and result.candidate.psnr > result.reference.psnr
    entry = read_manifest()["models"]["collagan"]
    assert entry["sha256"] == sha256_file(candidate) == sha256_file(weights_folder / "collagan.safetensors")
    assert entry["gate"]["psnr"] == round(result.candidate.psnr, 4) and entry["gate"]["protocol"] == "collagan-occlusions"
    assert entry["gate"]["replaced"]["psnr"] == round(result.reference.psnr, 4)
    assert entry["training"]["data"] == ["faces/train"]
    assert "shipped" in capsys.readouterr().out


def test_a_first_ship_must_beat_telea(tmp_path, weights_folder, face_folder):
    from training.ship import gate

    result = gate(weights(tmp_path / "bad.safetensors", tint=0.4), data=[face_folder], subset=3)
    assert result.reference.model == "telea" and not result.accepted


def test_missing_held_out_folders_are_one_line_errors(tmp_path, weights_folder):
    from engine.errors import FaceInpaintError
    from training.ship import gate

    with pytest.raises(FaceInpaintError, match="not found"):
        gate(weights(tmp_path / "w.safetensors", tint=0.0), data=[tmp_path / "nowhere"])


# -- the face-analysis network: lower landmark NME without a lower parsing accuracy ----------------
def analysis_weights(path, face_folder, *, shift: float):
    """A recipe face-analysis net with zero heads on the mean face of ``face_folder``'s aligned faces,
    its landmarks moved ``shift`` px to the right (0 = the real mean: better)."""
    from engine.evaluation import list_images, prepare_image
    from engine.models.face_analysis import FaceAnalysisArchitecture, FaceAnalysisNet

    arch = FaceAnalysisArchitecture(resolution=64, width=8, depth=3, mean_face_prior=True)
    points = torch.stack([torch.from_numpy(prepare_image(p, 64, "dlib", face_metrics=False).landmarks)
                          for p in list_images([face_folder], subset=3)])
    net = FaceAnalysisNet(arch)
    net.set_mean_face(points + torch.tensor([shift, 0.0]), torch.zeros(1, 64, 64, dtype=torch.long))
    save_state_dict(path, net.state_dict(), {"method": "face-analysis", "architecture": dataclasses.asdict(arch)})
    return path


def test_the_face_analysis_gate_wants_a_lower_nme(tmp_path, weights_folder, face_folder):
    from training.ship import MEAN_FACE, gate, ship

    good = analysis_weights(tmp_path / "good.safetensors", face_folder, shift=0.0)
    bad = analysis_weights(tmp_path / "bad.safetensors", face_folder, shift=6.0)
    first = gate(good, data=[face_folder], subset=3)
    assert first.reference.model == MEAN_FACE and not first.accepted  # its untrained heads add nothing to the mean face
    (weights_folder / "face-analysis.safetensors").write_bytes(bad.read_bytes())
    result = ship(good, data=[face_folder], subset=3)
    assert result.accepted and result.candidate.primary < result.reference.primary
    entry = read_manifest()["models"]["face-analysis"]
    assert entry["gate"]["protocol"] == "landmarks" and entry["gate"]["nme"] == round(result.candidate.primary, 4)
    assert not gate(bad, data=[face_folder], subset=3).accepted


def test_the_shipped_files_own_gate_record_stands_in_for_rescoring_it(tmp_path, weights_folder, face_folder, monkeypatch):
    """Once a file shipped through the gate, the next gate reads its scores from the manifest, but only
    for that very file (sha256) and the same protocol, subset, seed and held-out sets."""
    import training.ship as ship_module

    install(weights_folder, weights(tmp_path / "bad.safetensors", tint=0.4))
    first = ship_module.ship(weights(tmp_path / "good.safetensors", tint=0.0), data=[face_folder], subset=3)
    scored = []
    real_score = ship_module.score
    monkeypatch.setattr(ship_module, "score", lambda model, path, *a: scored.append(path) or real_score(model, path, *a))
    again = ship_module.gate(weights(tmp_path / "again.safetensors", tint=0.0), data=[face_folder], subset=3)
    assert len(scored) == 1  # the candidate only
    assert (again.reference.psnr, again.reference.ssim) == (round(first.candidate.psnr, 4), round(first.candidate.ssim, 4))
    ship_module.gate(weights(tmp_path / "again.safetensors", tint=0.0), data=[face_folder], subset=2)
    assert len(scored) == 3  # another subset: the shipped file is scored again
    from engine.weights import update_manifest

    replaced = weights_folder / "collagan.safetensors"
    first_sha, first_bytes = sha256_file(replaced), replaced.read_bytes()
    replaced.write_bytes((tmp_path / "bad.safetensors").read_bytes())  # by hand, keeping the old gate record
    update_manifest("collagan", {**read_manifest()["models"]["collagan"], "sha256": sha256_file(replaced)})
    ship_module.gate(weights(tmp_path / "again.safetensors", tint=0.0), data=[face_folder], subset=3)
    assert len(scored) == 5  # the record is of another file: the shipped one is scored again
    replaced.write_bytes(first_bytes)  # the shipped file back, its own record standing again
    update_manifest("collagan", {**read_manifest()["models"]["collagan"], "sha256": first_sha})
    ship_module.gate(weights(tmp_path / "again.safetensors", tint=0.0), data=[face_folder], subset=3)
    assert len(scored) == 6  # its own record again
    ship_module.gate(weights(tmp_path / "again.safetensors", tint=0.0), data=[face_folder], subset=3,
                     rescore_shipped=True)
    assert len(scored) == 8  # asked to: an engine change may have changed what the shipped file scores


def test_a_pdgan_gate_record_stands_only_while_its_collagan_prior_is_unchanged(tmp_path, weights_folder, monkeypatch):
    """PD-GAN completes on top of the shipped collaGAN: a new collaGAN makes its recorded scores stale."""
    import training.ship as ship_module
    from engine.weights import update_manifest

    prior = install(weights_folder, weights(tmp_path / "prior.safetensors", tint=0.0))
    pdgan = weights_folder / "pdgan.safetensors"
    pdgan.write_bytes(b"stand-in for PD-GAN weights")
    architecture = {"prior": "collagan", "resolution": 128}
    inputs = ship_module.shipped_inputs("pdgan", architecture)
    assert inputs == {"collagan": sha256_file(prior)} and ship_module.shipped_inputs("collagan", dataclasses.asdict(ARCH)) == {}
    record = {"protocol": "collagan-occlusions", "subset": 3, "seed": 0, "images": 3, "data": ["faces/val"],
              "psnr": 30.0, "ssim": 0.9, "per_case": {"mouth": [30.0, 0.9]}, "sha256": sha256_file(pdgan), "inputs": inputs,
              "sample_spread": 0.19}
    update_manifest("pdgan", {"file": pdgan.name, "sha256": sha256_file(pdgan), "bytes": pdgan.stat().st_size,
                              "method": "pdgan", "architecture": architecture, "gate": record})
    config = {"images": 3, "data": ["faces/val"]}
    monkeypatch.setattr(ship_module, "_set_name", lambda folder: folder)
    recorded = ship_module.recorded_score("pdgan", pdgan, "collagan-occlusions", config, 3, 0)
    assert (recorded.psnr, recorded.spread) == (30.0, 0.19)
    del record["sample_spread"]  # a record from before the gate measured diversity: scored again
    update_manifest("pdgan", {**read_manifest()["models"]["pdgan"], "gate": record})
    assert ship_module.recorded_score("pdgan", pdgan, "collagan-occlusions", config, 3, 0) is None
    record["sample_spread"] = 0.19
    update_manifest("pdgan", {**read_manifest()["models"]["pdgan"], "gate": record})
    prior.write_bytes((tmp_path / "prior.safetensors").read_bytes() + b" ")  # collaGAN replaced
    assert ship_module.recorded_score("pdgan", pdgan, "collagan-occlusions", config, 3, 0) is None


# -- diverse models: a gain bought by collapsing every seed onto one completion is refused ---------
def test_a_pdgan_that_loses_its_diversity_is_refused_however_much_psnr_it_gains():
    from training.ship import IMAGE_METRICS, SPREAD_KEEP, GateResult, GateScore

    shipped = GateScore("pdgan.safetensors", 27.08, 0.930, {}, spread=0.19)
    collapsed = GateScore("candidate", 27.22, 0.931, {}, spread=0.005)  # the 18-minute continuation's numbers
    kept = GateScore("candidate", 27.22, 0.931, {}, spread=SPREAD_KEEP * 0.19 + 1e-6)
    assert not IMAGE_METRICS.accepts(collapsed, shipped) and IMAGE_METRICS.accepts(kept, shipped)
    assert not IMAGE_METRICS.accepts(GateScore("candidate", 27.0, 0.931, {}, spread=0.3), shipped)  # still needs PSNR
    telea = GateScore("telea", 25.0, 0.9, {})  # the floor has no spread: the candidate needs some
    assert not IMAGE_METRICS.accepts(GateScore("c", 26.0, 0.92, {}, spread=0.0), telea)
    assert IMAGE_METRICS.accepts(GateScore("c", 26.0, 0.92, {}, spread=0.05), telea)
    table = GateResult("pdgan", "collagan-occlusions", collapsed, shipped, False, {"images": 120}).table()
    assert "sample spread" in table and "0.005" in table and table.splitlines()[-1].startswith("refused")


def test_the_gate_measures_the_spread_of_diversity_gated_methods_only(face_folder, monkeypatch):
    import training.ship as ship_module

    plain, _ = ship_module.score("patchmatch", None, "center-block", [face_folder], 1, 0, "cpu")
    monkeypatch.setattr(ship_module, "DIVERSITY_GATED", frozenset({"patchmatch"}))
    gated, _ = ship_module.score("patchmatch", None, "center-block", [face_folder], 1, 0, "cpu")
    assert plain.spread is None and gated.spread > 0 and gated.psnr == plain.psnr
