import dataclasses

import numpy as np
import pytest
import torch

from engine.models.face_analysis import FaceAnalysisArchitecture, FaceAnalysisNet
from engine.weights import save_state_dict
from training.data import build_datasets, collate
from training.gfc import GFCConfig, GFCMethod, hole_patches


@pytest.fixture(scope="module")
def parser_weights(tmp_path_factory):
    arch = FaceAnalysisArchitecture(resolution=64, width=4, depth=3)
    path = tmp_path_factory.mktemp("parser") / "face-analysis.safetensors"
    save_state_dict(path, FaceAnalysisNet(arch).state_dict(), {"method": "face-analysis", "architecture": dataclasses.asdict(arch)})
    return path


@pytest.fixture
def batch(tiny_config):
    train, _, _ = build_datasets(tiny_config(GFCConfig))
    return collate([train[i] for i in range(4)])


def make_method(tiny_config, **overrides) -> GFCMethod:
    torch.manual_seed(0)
    values = dict(width=8, bottleneck=64, stage1_steps=2, stage2_steps=2, face_analysis="")
    method = GFCMethod(tiny_config(GFCConfig, **{**values, **overrides}), "cpu")
    method.build()
    method.train()
    return method


def test_the_three_stages_add_their_losses(tiny_config, batch, parser_weights):
    method = make_method(tiny_config, face_analysis=str(parser_weights))
    keys = [set(method.train_step(batch, step)) for step in range(5)]
    assert keys[0] == {"g", "stage", "rec"}
    assert keys[2] == keys[0] | {"d_local", "adv_local"}
    assert keys[4] == keys[2] | {"d_global", "adv_global", "parsing"}
    assert not any(p.requires_grad for p in method.parser.parameters())


def test_stage_one_leaves_the_discriminators_alone(tiny_config, batch):
    method = make_method(tiny_config, stage1_steps=5)
    before = [p.clone() for p in method.local_d.parameters()]
    method.train_step(batch, 0)
    assert all(torch.equal(a, b) for a, b in zip(before, method.local_d.parameters()))


def test_overfitting_one_batch_lowers_the_l2_loss(tiny_config, batch):
    method = make_method(tiny_config, lr=1e-3, stage1_steps=100)
    history = [method.train_step(batch, step)["rec"] for step in range(25)]
    assert min(history[-5:]) < 0.7 * history[0]


def test_local_patches_cover_each_hole():
    image = torch.arange(2 * 3 * 64 * 64, dtype=torch.float32).view(2, 3, 64, 64)
    mask = torch.zeros(2, 1, 64, 64)
    mask[0, :, 10:42, 20:52] = 1  # a 32 px square: taken as it is
    mask[1, :, 50:60, 0:4] = 1  # a small hole near the border: a square inside the image
    patches = hole_patches(image, mask, 32)
    assert patches.shape == (2, 3, 32, 32)
    assert torch.equal(patches[0], image[0, :, 10:42, 20:52])


def test_missing_parser_weights_leave_out_the_parsing_loss(tiny_config, batch, caplog, tmp_path):
    method = make_method(tiny_config, face_analysis=str(tmp_path / "absent.safetensors"), stage1_steps=0, stage2_steps=0)
    assert method.parser is None and "without the parsing loss" in caplog.text
    assert "parsing" not in method.train_step(batch, 0)


def test_export_fits_the_engine_generator(tiny_config):
    from engine.models.gfc import GFCArchitecture, GFCGenerator

    tensors, arch = make_method(tiny_config).export()
    assert arch == {"resolution": 64, "width": 8, "bottleneck": 64}
    assert tensors.keys() == GFCGenerator(GFCArchitecture(**arch)).state_dict().keys()
    assert np.isfinite(sum(float(t.float().sum()) for t in tensors.values()))


def test_recipe_skips_continue_a_file_trained_without_them(tiny_config, tmp_path):
    """--init with a pre-skips file: its weights load, the skips start at zero, EMA equals the net;
    a file whose other settings differ is still refused."""
    from engine.errors import ConfigError

    plain = make_method(tiny_config, prefill="telea")
    tensors, arch = plain.export()
    assert "skips" not in arch
    path = tmp_path / "gfc.safetensors"
    save_state_dict(path, tensors, {"method": "gfc", "architecture": arch})
    grown = make_method(tiny_config, prefill="telea", skips=True)
    assert grown.export()[1]["skips"] is True
    grown.setup_ema(0.99)
    grown.init_from(str(path))
    state = grown.generator.state_dict()
    for key, value in tensors.items():
        assert torch.equal(state[key], value.float()), key
    assert all(float(v.abs().sum()) == 0 for k, v in state.items() if k.startswith("skips."))
    assert all(torch.equal(a, b) for a, b in zip(grown.ema["generator"].state_dict().values(), state.values()))
    wider = make_method(tiny_config, prefill="telea", skips=True, bottleneck=32)
    with pytest.raises(ConfigError, match="architecture"):
        wider.init_from(str(path))


def test_a_file_holding_part_of_the_skips_is_refused(tiny_config):
    """Only a file without any skip tensors continues with fresh skips; a partial set is a broken file."""
    tensors, _ = make_method(tiny_config, prefill="telea", skips=True).export()
    partial = {k: v for k, v in tensors.items() if k != "skips.0.bias"}
    grown = make_method(tiny_config, prefill="telea", skips=True)
    with pytest.raises(RuntimeError, match="skips.0.bias"):
        grown.load_export(partial)
