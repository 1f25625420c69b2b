"""PD-GAN engine side: probability maps, network shapes, weights round trip, seeded diversity."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from engine.errors import CancelledError, ConfigError, WeightsError
from engine.models import create_model
from engine.models.base import CancelToken
from engine.models.pdgan import PDGANArchitecture, PDGANNet, latent_for_seed, probability_map
from engine.weights import save_state_dict

TINY = PDGANArchitecture(resolution=32, width=8)


def export_random_network(path, arch=TINY, seed=0):
    torch.manual_seed(seed)
    net = PDGANNet(arch)
    save_state_dict(path, net.state_dict(), {"method": "pdgan", "architecture": dataclasses.asdict(arch)})
    return path


@pytest.fixture(scope="module")
def tiny_weights(tmp_path_factory):
    return export_random_network(tmp_path_factory.mktemp("pdgan") / "pdgan.safetensors")


@pytest.fixture(scope="module")
def face_crop(sample_square):
    return sample_square(128)


def centre_hole(size=128):
    mask = np.zeros((size, size), np.uint8)
    mask[size // 3 : 2 * size // 3, size // 4 : 3 * size // 4] = 255
    return mask


def hole_known(size=32):
    known = torch.ones(1, 1, size, size)
    known[..., 8:24, 6:26] = 0
    return known


def test_continuous_probability_is_one_on_known_pixels_and_falls_into_the_hole():
    known = hole_known()
    prob = probability_map(known, steps=4, rule="continuous")[0, 0]
    assert torch.equal(prob[known[0, 0] > 0], torch.ones_like(prob[known[0, 0] > 0]))
    row = prob[16, 6:16]  # from the hole's left edge towards its centre
    assert torch.all(row[:-1] >= row[1:]) and row[0] > 0 and row[-1] == 0
    assert prob.min() >= 0 and prob.max() <= 1


def test_exponential_rule_gives_one_over_k_to_the_distance():
    prob = probability_map(hole_known(), steps=3, rule="exponential", k=2.0)[0, 0]
    assert torch.allclose(prob[16, 6:10], torch.tensor([0.5, 0.25, 0.125, 0.0]))


def test_continuous_rule_is_smoother_than_the_exponential_one():
    """4.2: the face paper's rule takes the count of known neighbours into account."""
    known = hole_known()
    continuous = probability_map(known, 4, "continuous").unique().numel()
    exponential = probability_map(known, 4, "exponential").unique().numel()
    assert continuous > exponential


def test_generator_upsamples_with_pixel_shuffle_not_transposed_convolutions():
    net = PDGANNet(TINY)
    assert any(isinstance(m, torch.nn.PixelShuffle) for m in net.generator.modules())
    assert not any(isinstance(m, torch.nn.ConvTranspose2d) for m in net.modules())


def test_a_sample_does_not_depend_on_its_batch():
    torch.manual_seed(0)
    net = PDGANNet(TINY).eval()
    image, known = torch.rand(1, 3, 32, 32) * 2 - 1, hole_known()
    z = torch.stack([latent_for_seed(s, TINY.latent_dim) for s in (5, 6, 7)])
    with torch.no_grad():
        batch = net(image, known, z)
        alone = net(image, known, latent_for_seed(7, TINY.latent_dim)[None])
    assert torch.allclose(batch[2], alone[0], atol=1e-5)
    assert torch.equal(latent_for_seed(7, 128), latent_for_seed(7, 128))


def test_samples_differ_inside_the_hole_and_match_outside(tiny_weights, face_crop):
    model = create_model("pdgan", device="cpu", weights=tiny_weights)
    mask = centre_hole()
    results = model.inpaint_crop(face_crop, mask, samples=4, seed=11)
    assert [r.seed for r in results] == [11, 12, 13, 14]
    hole = mask > 127
    for r in results:
        assert r.image.shape == face_crop.shape and np.array_equal(r.image[~hole], face_crop[~hole])
    for a in range(4):
        for b in range(a + 1, 4):
            diff = np.abs(results[a].image[hole].astype(int) - results[b].image[hole].astype(int)).mean()
            assert diff > 2.0, f"samples {a} and {b} are nearly identical inside the hole"


def test_a_sample_is_reproduced_from_its_seed_alone(tiny_weights, face_crop):
    model = create_model("pdgan", device="cpu", weights=tiny_weights)
    mask = centre_hole()
    third = model.inpaint_crop(face_crop, mask, samples=4, seed=20)[2]
    [again] = model.inpaint_crop(face_crop, mask, samples=1, seed=third.seed)
    # Batched and single convolutions may round differently in the last float bit.
    assert np.abs(again.image.astype(int) - third.image.astype(int)).max() <= 1


def test_weights_of_another_architecture_are_refused_naming_the_file(tmp_path, face_crop):
    wider = tmp_path / "claims_wider.safetensors"
    torch.manual_seed(0)
    save_state_dict(
        wider,
        PDGANNet(TINY).state_dict(),
        {"method": "pdgan", "architecture": dataclasses.asdict(dataclasses.replace(TINY, width=16))},
    )
    model = create_model("pdgan", device="cpu", weights=wider)
    with pytest.raises(WeightsError, match="claims_wider"):
        model.inpaint_crop(face_crop, centre_hole(), seed=0)


def test_the_original_exponential_rule_builds_a_working_network_for_comparison():
    arch = dataclasses.replace(TINY, probability="exponential", probability_k=3.0)
    net = PDGANNet(arch).eval()
    with torch.no_grad():
        out = net(torch.zeros(1, 3, 32, 32), hole_known(), torch.randn(2, arch.latent_dim))
    assert out.shape == (2, 3, 32, 32) and torch.isfinite(out).all()
    with pytest.raises(ConfigError, match="probability"):
        PDGANArchitecture(probability="nearest")


def test_cancel_stops_pdgan_after_the_current_chunk_of_samples(tiny_weights, face_crop):
    model = create_model("pdgan", device="cpu", weights=tiny_weights)
    token = CancelToken()
    fractions = []

    def progress(fraction, message="", preview=None):
        fractions.append(fraction)
        token.cancel()  # pressed while the first chunk is drawn

    with pytest.raises(CancelledError, match=f"after {model.seeds_per_chunk} of 8"):
        model.inpaint_crop(face_crop, centre_hole(), samples=8, seed=0, progress=progress, cancel=token)
    assert max(fractions) <= 0.5
