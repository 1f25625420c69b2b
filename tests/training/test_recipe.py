"""The quality recipe: zero residual heads, --init continues, bf16 falls back, packs match photos."""

from __future__ import annotations

import contextlib
import dataclasses

import numpy as np
import pytest
import torch

from training.config import TrainConfig
from training.losses import composite_loss
from training.recipe import EMA, QUALITY, recipe_config, resolve_precision


def test_the_residual_head_starts_at_zero_and_trains():
    from engine.models.residual_unet import ResidualUNet

    net = ResidualUNet(4, 3, width=8, depth=3)
    x = torch.randn(2, 4, 32, 32)
    assert net(x).abs().max() == 0
    loss = (net(x) - 1).square().mean()
    loss.backward()
    assert net.head.weight.grad.abs().sum() > 0  # the zero head still learns


def test_bf16_falls_back_to_fp32_where_the_processor_lacks_it(monkeypatch):
    import training.recipe as recipe

    monkeypatch.setattr(recipe, "cpu_supports_bf16", lambda: False)
    assert resolve_precision("auto", torch.device("cpu")) == "fp32"
    assert resolve_precision("bf16", torch.device("cpu")) == "fp32"
    monkeypatch.setattr(recipe, "cpu_supports_bf16", lambda: True)
    assert resolve_precision("auto", torch.device("cpu")) == "bf16"
    assert resolve_precision("fp32", torch.device("cpu")) == "fp32"


def test_composite_loss_is_zero_for_the_truth_and_grows_with_error():
    truth = torch.rand(2, 3, 32, 32) * 2 - 1
    assert composite_loss(truth, truth).item() == pytest.approx(0.0, abs=1e-5)
    assert composite_loss(truth + 0.2, truth) > composite_loss(truth + 0.05, truth) > 0


def test_ema_follows_the_weights_slowly():
    net = torch.nn.Linear(2, 2)
    ema = EMA(net, decay=0.9)
    before = ema.shadow.weight.clone()
    with torch.no_grad():
        net.weight.add_(1.0)
    ema.update(net)
    assert torch.allclose(ema.shadow.weight, before + 0.9)  # decay warms up: min(0.9, 1 / 10) at the first update
    before = ema.shadow.weight.clone()
    with torch.no_grad():
        net.weight.add_(1.0)
    ema.update(net)  # second update: decay min(0.9, 2 / 11)
    assert torch.allclose(ema.shadow.weight, before + (net.weight - before) * (1 - 2 / 11))


def test_quality_recipe_applies_to_every_method_and_paper_keeps_the_defaults():
    from training.methods import load_methods

    for name, method in load_methods().items():
        paper, quality = recipe_config(method, "paper"), recipe_config(method, "quality")
        assert paper == method.config_cls() and paper.recipe == "paper"
        assert quality.recipe == "quality" and quality.ema_decay == QUALITY["ema_decay"], name
        for key, value in method.quality_recipe.items():
            assert getattr(quality, key) == value, (name, key)


def test_a_run_continuing_from_weights_skips_the_low_resolution_phase(monkeypatch, tmp_path):
    from training import cli
    from training.methods import load_methods

    collagan = load_methods()["collagan"]
    assert recipe_config(collagan, "quality").low_resolution == QUALITY["low_resolution"] > 0
    assert recipe_config(collagan, "quality", continuing=True).low_resolution == 0
    assert recipe_config(collagan, "paper", continuing=True) == collagan.config_cls()  # the paper's stays
    # through the command line: --init alone turns it off; an explicit --set wins
    seen = []
    import training.trainer

    monkeypatch.setattr(training.trainer, "run_training", lambda method_cls, cfg, resume: seen.append(cfg) or {})
    weights = tmp_path / "w.safetensors"
    weights.write_bytes(b"")
    for extra, expected in (([], QUALITY["low_resolution"]), (["--init", str(weights)], 0),
                            (["--init", str(weights), "--set", "low_resolution=32"], 32)):
        with contextlib.suppress(Exception):  # what follows the config is not under test here
            cli.main(["collagan", "--out", str(tmp_path / f"run{len(seen)}"), "--steps", "1", *extra])
        assert seen and seen[-1].low_resolution == expected, extra


def test_init_continues_from_exported_weights(tiny_config, tmp_path):
    """Export a short run, start a new one from it: the new run's generator and EMA equal the file."""
    from training.export import export_run
    from training.methods import load_methods
    from training.trainer import run_training

    method_cls = load_methods()["collagan"]
    base = recipe_config(method_cls, "quality")
    cfg = tiny_config(type(base), **{k: v for k, v in dataclasses.asdict(base).items()
                                     if k not in ("data", "out", "cache_dir", "resolution", "width", "batch_size", "steps",
                                                  "num_workers", "device", "val_fraction", "val_samples", "val_eval_images",
                                                  "seed", "checkpoint_every", "sample_every", "log_every", "masks")})
    cfg = dataclasses.replace(cfg, steps=2, val_every=0, low_resolution=0)
    run_training(method_cls, cfg)
    weights = tmp_path / "first.safetensors"
    export_run(cfg.out, weights)
    second = method_cls(dataclasses.replace(cfg, out=str(tmp_path / "second"), init=str(weights)), "cpu")
    second.build()
    second.setup_ema(cfg.ema_decay)
    second.init_from(str(weights))
    from engine.weights import load_state_dict

    tensors, _ = load_state_dict(weights)
    for key, value in second.generator.state_dict().items():
        assert torch.equal(value, tensors[key].float()), key
    assert all(torch.equal(a, b) for a, b in zip(second.ema["generator"].state_dict().values(),
                                                   second.generator.state_dict().values()))
    mismatch = method_cls(dataclasses.replace(cfg, width=4), "cpu")
    mismatch.build()
    from engine.errors import ConfigError

    with pytest.raises(ConfigError, match="architecture"):
        mismatch.init_from(str(weights))
    # the prefill shapes no tensor: a Telea-prefilled file continues under the mirror prefill, and exports as such
    mirrored = method_cls(dataclasses.replace(cfg, prefill="mirror"), "cpu")
    mirrored.build()
    mirrored.init_from(str(weights))
    assert all(torch.equal(v, tensors[k].float()) for k, v in mirrored.generator.state_dict().items())
    assert mirrored.export()[1]["prefill"] == "mirror"
    mirrored_wider = method_cls(dataclasses.replace(cfg, prefill="mirror", width=4), "cpu")
    mirrored_wider.build()
    with pytest.raises(ConfigError, match="architecture"):
        mirrored_wider.init_from(str(weights))


def test_pack_samples_equal_photo_samples(tmp_path, face_folder, landmark_cache):
    """A raw pack gives the held-out samples the photo loader gives (same crop, labels and mask)."""
    from training.data import build_datasets
    from training.pack import build_pack

    build_pack([str(face_folder)], tmp_path / "pack", resolution=64, encoding="raw", cache_dir=landmark_cache, workers=0)
    common = dict(out=str(tmp_path / "run"), cache_dir=str(landmark_cache), resolution=64, val_fraction=0.3,
                  mask_mix={"block": 1.0, "preset": 1.0}, aligned=True)
    _, photo_val, _ = build_datasets(TrainConfig(data=[str(face_folder)], **common))
    _, pack_val, _ = build_datasets(TrainConfig(pack=str(tmp_path / "pack"), **common))
    assert len(photo_val) == len(pack_val) > 0
    by_name = {r.path.rsplit("/", 1)[-1]: i for i, r in enumerate(photo_val.records)}
    for j, record in enumerate(pack_val.records):
        a, b = photo_val[by_name[record.path]], pack_val[j]
        assert torch.equal(a["image"], b["image"])
        assert torch.equal(a["mask"], b["mask"]) and torch.equal(a["parsing"], b["parsing"])
        assert torch.allclose(a["landmarks"], b["landmarks"], atol=1e-3)


def test_jpeg_pack_is_compact_and_close_to_the_photos(tmp_path, face_folder, landmark_cache):
    from training.pack import build_pack, load_pack, pack_bytes

    build_pack([str(face_folder)], tmp_path / "raw", resolution=64, encoding="raw", cache_dir=landmark_cache, workers=0)
    build_pack([str(face_folder)], tmp_path / "jpeg", resolution=64, encoding="jpeg", cache_dir=landmark_cache, workers=0)
    raw, jpeg = load_pack(tmp_path / "raw"), load_pack(tmp_path / "jpeg")
    assert pack_bytes(tmp_path / "jpeg") < pack_bytes(tmp_path / "raw") / 2
    assert np.abs(raw.crops.astype(int) - jpeg.crops.astype(int)).mean() < 4  # JPEG q90
    assert jpeg.info["sources"][0]["data"].endswith(face_folder.name)  # named by set and split only
    assert not any(str(tmp_path) in str(s["data"]) for s in jpeg.info["sources"])


def test_all_falls_back_to_scratch_with_the_low_resolution_phase(monkeypatch, tmp_path):
    """`all --init FILE` whose FILE does not fit trains from scratch, and then with the recipe's 64 px phase."""
    import training.trainer
    from engine.errors import WeightsError
    from training.train_all import train_all

    weights = tmp_path / "w.safetensors"
    weights.write_bytes(b"")
    seen = []

    class Stop(Exception):
        pass

    def fake_run(method_cls, cfg, resume):
        seen.append(cfg)
        if cfg.init:
            raise WeightsError("does not fit")
        raise Stop

    monkeypatch.setattr(training.trainer, "run_training", fake_run)
    with pytest.raises(Stop):
        train_all(tmp_path / "out", 1.0, init=str(weights), methods=["collagan"])
    assert [c.init for c in seen] == [str(weights), ""]
    assert seen[0].low_resolution == 0 and seen[1].low_resolution == QUALITY["low_resolution"]


@pytest.mark.parametrize("name, generate", [("collagan", lambda m, b: m._inputs(b)), ("gfc", lambda m, b: m._complete(b))])
def test_the_face_mirror_prefill_reads_each_training_crops_landmarks(tiny_config, monkeypatch, name, generate):
    """In training as in the engine, the face-mirror prefill keeps the mirror inside the outline of
    the crop's own landmarks (which follow its flip and jitter)."""
    import importlib

    from engine.models.residual_unet import mirror_prefill
    from training.data import build_datasets, collate
    from training.methods import load_methods

    method_cls = load_methods()[name]
    cfg = tiny_config(method_cls.config_cls, **{**method_cls.quality_recipe, "prefill": "face-mirror", "jitter": 0.0,
                                                 "resolution": 64, "width": 8, "batch_size": 2, "low_resolution": 0})
    train, _, _ = build_datasets(cfg)
    batch = collate([train[i] for i in range(2)])
    method = method_cls(cfg, "cpu")
    method.build()
    module = importlib.import_module(f"training.{name}")
    seen, real = [], module.prefill
    monkeypatch.setattr(module, "prefill", lambda *a, **k: seen.append((a, k)) or real(*a, **k))
    with torch.no_grad():
        generate(method, batch)
    [(args, kwargs)] = seen
    assert args[2] == "face-mirror" and torch.equal(kwargs["landmarks"], batch["landmarks"])
    image, hole = batch["image"], batch["mask"][:, :1]
    assert torch.equal(real(*args, **kwargs), mirror_prefill(image, hole, batch["landmarks"]))


def test_a_collagan_prior_is_handed_pdgans_landmarks():
    from engine.models.pdgan import PDGANArchitecture, PDGANNet

    net = PDGANNet(PDGANArchitecture(resolution=16, width=4, prior="collagan", latent_dim=8, residual=True))
    seen = []
    net.external_prior = lambda image, known, landmarks: seen.append(landmarks) or image
    landmarks = torch.rand(1, 68, 2) * 16
    net(torch.zeros(1, 3, 16, 16), torch.ones(1, 1, 16, 16), torch.zeros(2, 8), landmarks)
    assert seen == [landmarks]
