import pytest
import torch

from engine.models.collagan import CollaGANArchitecture, CollaGANGenerator
from training.collagan import LAMBDA_TABLE, CollaGANConfig, CollaGANMethod
from training.data import build_datasets, collate


@pytest.fixture(scope="module")
def batch(request):
    """One real batch of four augmented sample-photo crops with block and pattern masks."""
    tiny_config = request.getfixturevalue("tiny_config")
    train, _, _ = build_datasets(tiny_config(CollaGANConfig, mask_mix={"block": 1.0, "pattern": 1.0}))
    return collate([train[i] for i in range(4)])


@pytest.fixture(scope="module")
def tiny_config(tmp_path_factory, face_folder, landmark_cache):
    out = tmp_path_factory.mktemp("collagan")

    def make(cls, **overrides):
        values = dict(data=[str(face_folder)], out=str(out), cache_dir=str(landmark_cache), resolution=64,
                      width=8, batch_size=4, num_workers=0, device="cpu", val_fraction=0.3)
        return cls(**{**values, **overrides})

    return make


def make_method(tiny_config, **overrides) -> CollaGANMethod:
    torch.manual_seed(0)
    method = CollaGANMethod(tiny_config(CollaGANConfig, **overrides), "cpu")
    method.build()
    return method


@pytest.mark.parametrize("tasks, lambdas", [(["i"], (1.0, 100.0)), (["i", "s"], (0.8, 100.0)), (["i", "s", "d"], (0.8, 100.0))])
def test_lambda_tables_follow_section_4_2(tiny_config, tasks, lambdas):
    method = make_method(tiny_config, tasks=tasks)
    assert (method.lambda_adv["i"], method.lambda_rec["i"]) == lambdas
    assert set(method.discriminators.by_task) == set(tasks)
    if len(tasks) == 3:
        assert method.lambda_adv == {"i": 0.8, "s": 0.1, "d": 0.1} and method.lambda_rec["s"] == 200.0
    assert LAMBDA_TABLE[1]["rec"]["s"] == 1000.0


def test_config_lambdas_override_the_table(tiny_config):
    method = make_method(tiny_config, tasks=["i", "d"], lambda_rec={"d": 50.0})
    assert method.lambda_rec == {"i": 100.0, "d": 50.0} and method.lambda_adv == {"i": 0.8, "d": 0.2}


def test_generator_stacks_task_channels_and_goes_down_to_one_pixel():
    arch = CollaGANArchitecture(resolution=128, width=4)
    net = CollaGANGenerator(arch)
    assert arch.depth == 7 and len(net.down) == 7
    out = net(torch.zeros(2, 3, 128, 128), torch.zeros(2, 1, 128, 128))
    assert out.shape == (2, 3 + 8 + 5, 128, 128) and out.abs().max() <= 1
    assert CollaGANGenerator(CollaGANArchitecture(64, 4, ("i", "d"))).head[0].out_channels == 8
    with pytest.raises(ValueError):
        CollaGANArchitecture(tasks=("s", "d"))


def test_inputs_fill_block_holes_with_noise_and_pattern_holes_with_zeros(tiny_config, batch):
    method = make_method(tiny_config)
    x, mask = method._inputs(batch)
    for b, kind in enumerate(batch["mask_kind"].tolist()):
        hole = x[b][:, mask[b, 0] > 0]
        if kind == 0:  # block
            assert hole.std() > 0.3
        else:  # pattern
            assert hole.abs().max() == 0
        assert torch.equal(x[b][:, mask[b, 0] == 0], batch["image"][b][:, mask[b, 0] == 0])


@pytest.mark.parametrize("concentrated", [False, True])
def test_overfitting_one_batch_lowers_every_reconstruction_loss(tiny_config, batch, concentrated):
    method = make_method(tiny_config, lr=2e-3, concentrated=concentrated)
    method.train()
    history = [method.train_step(batch, step) for step in range(25)]
    for task in ("i", "s", "d"):
        first, last = history[0][f"rec_{task}"], min(h[f"rec_{task}"] for h in history[-5:])
        assert last < 0.7 * first, f"rec_{task}: {first:.4f} -> {last:.4f}"


def test_concentrated_l1_ignores_the_known_pixels(tiny_config, batch):
    method = make_method(tiny_config, concentrated=True)
    targets = method._targets(batch)
    mask = batch["mask"]
    outside_only = {"i": targets["i"] + (1 - mask) * 0.5, "s": targets["s"], "d": targets["d"]}
    assert method._reconstruction(outside_only, targets, mask)["i"] == 0
    plain = make_method(tiny_config, concentrated=False)
    assert plain._reconstruction(outside_only, targets, mask)["i"] > 0


def test_sample_and_export(tiny_config, batch):
    method = make_method(tiny_config)
    outputs = method.sample(batch)
    assert set(outputs) == {"output", "composite", "segmentation", "heatmaps"}
    known = batch["mask"].expand_as(batch["image"]) == 0
    assert torch.equal(outputs["composite"][known], batch["image"][known])
    tensors, arch = method.export()
    assert arch == {"resolution": 64, "width": 8, "tasks": ["i", "s", "d"]}
    assert tensors.keys() == CollaGANGenerator(CollaGANArchitecture(64, 8)).state_dict().keys()


def test_perceptual_term_prefers_detail_to_blur_and_enters_the_generator_loss(tiny_config, batch):
    recipe = {"generator": "residual-unet", "prefill": "telea", "rec_loss": "ssim-l1", "lr": 1e-3, "adversarial_start": 0.5}
    plain = make_method(tiny_config, **recipe)
    assert plain.perceptual is None
    method = make_method(tiny_config, **recipe, lambda_perceptual=0.5)
    targets = method._targets(batch)
    mask = batch["mask"][:, :1]
    blurred = torch.nn.functional.avg_pool2d(targets["i"], 5, stride=1, padding=2)
    losses = {}
    for name, image in (("truth", targets["i"]), ("blur", blurred)):
        losses[name] = method._reconstruction({**targets, "i": image}, targets, mask)
    assert losses["truth"]["perceptual"] == 0 and losses["truth"]["i"] == 0
    assert losses["blur"]["perceptual"] > 0
    assert "perceptual" not in plain._reconstruction({**targets, "i": blurred}, targets, mask)

    method.train()
    logs = method.train_step(batch, 0)
    assert logs["rec_perceptual"] > 0
    expected = logs["rec_i"] + 0.1 * (logs["rec_s"] + logs["rec_d"]) + 0.5 * logs["rec_perceptual"]
    assert logs["g"] == pytest.approx(expected, rel=1e-4)
