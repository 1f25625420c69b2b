"""GFC engine side: VGG-like encoder to a bottleneck, weights round trip, completion."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from engine.errors import ConfigError
from engine.models import create_model
from engine.models.gfc import GFCArchitecture, GFCGenerator
from engine.weights import save_state_dict

TINY = GFCArchitecture(resolution=64, width=4, bottleneck=32)


@pytest.fixture(scope="module")
def tiny_weights(tmp_path_factory):
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("gfc") / "gfc.safetensors"
    save_state_dict(path, GFCGenerator(TINY).state_dict(), {"method": "gfc", "architecture": dataclasses.asdict(TINY)})
    return path


def test_encoder_follows_vgg19_to_pool3_plus_two_convs():
    net = GFCGenerator(GFCArchitecture(resolution=128, width=4, bottleneck=16))
    convs = [m for m in net.encoder if isinstance(m, torch.nn.Conv2d)]
    pools = [m for m in net.encoder if isinstance(m, torch.nn.MaxPool2d)]
    assert len(convs) == 2 + 2 + 4 + 2 and len(pools) == 4
    assert net.fc[1].out_features == 16  # the fully connected bottleneck
    assert net(torch.zeros(1, 3, 128, 128)).shape == (1, 3, 128, 128)
    with pytest.raises(ConfigError, match="divisible by 16"):
        GFCArchitecture(resolution=72)


def test_completes_the_sample_photo_only_inside_the_mask(sample_photo, sample_face, tiny_weights):
    mask = np.zeros(sample_photo.shape[:2], np.uint8)
    x0, y0, x1, y1 = map(int, sample_face.box)
    mask[y0 + 10 : (y0 + y1) // 2, x0 + 10 : x1 - 10] = 255
    (result,) = create_model("gfc", weights=tiny_weights, device="cpu").inpaint(sample_photo, mask, seed=3, face=sample_face)
    assert result.crop.shape == (128, 128, 3)
    assert np.array_equal(result.image[mask == 0], sample_photo[mask == 0])
    assert not np.array_equal(result.image[mask > 0], sample_photo[mask > 0])


def test_cli_inpaint_runs_gfc(tmp_path, sample_photo_path, tiny_weights):
    from engine.cli_inpaint import main

    out = tmp_path / "done.png"
    assert main([str(sample_photo_path), "--preset", "left-eye", "--model", "gfc", "--weights", str(tiny_weights),
                 "--device", "cpu", "--face-backend", "dlib", "-o", str(out)]) == 0
    assert out.is_file()


def test_zero_initialised_skips_change_nothing_until_trained():
    """The recipe's skips start at zero: the same weights give the same output with and without them,
    and once a projection moves, the encoder's detail reaches the output past the bottleneck."""
    torch.manual_seed(0)
    plain_arch = GFCArchitecture(resolution=64, width=4, bottleneck=8, prefill="telea", residual=True)
    plain = GFCGenerator(plain_arch)
    torch.nn.init.normal_(plain.decoder[-2].weight, std=0.1)  # a trained-looking head, not the zero start
    skipped = GFCGenerator(dataclasses.replace(plain_arch, skips=True))
    missing, unexpected = skipped.load_state_dict(plain.state_dict(), strict=False)
    assert not unexpected and missing and all(k.startswith("skips.") for k in missing)
    assert len(skipped.skips) == 4
    image, hole = torch.rand(2, 3, 64, 64) * 2 - 1, torch.zeros(2, 1, 64, 64)
    hole[:, :, 16:40, 16:40] = 1
    torch.testing.assert_close(skipped(image, hole), plain(image, hole))
    with torch.no_grad():
        skipped.skips[-1].weight.normal_(std=0.5)  # the 64 px stage
    assert not torch.allclose(skipped(image, hole), plain(image, hole))
