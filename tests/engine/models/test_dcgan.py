"""DCGAN latent search, engine side: eq. 15 weights, the search itself, cancellation, weights round trip."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from engine.errors import CancelledError
from engine.models import create_model
from engine.models.base import CancelToken
from engine.models.dcgan import (
    DCGANArchitecture,
    DCGANNet,
    LatentAdam,
    LatentSearch,
    SearchSettings,
    importance_weights,
    poisson_blend,
    thresholded_landmark_loss,
    torch_threads,
)
from engine.weights import save_state_dict

REPO = Path(__file__).resolve().parents[3]
TINY = DCGANArchitecture(resolution=16, width=8)
QUICK = SearchSettings(iterations=30, restarts=2, preview_every=5)


@pytest.fixture(scope="module")
def tiny_weights(tmp_path_factory):
    torch.manual_seed(0)
    net = DCGANNet(TINY)
    with torch.no_grad():  # settle batch norm's running statistics, so that z shows in eval mode
        for _ in range(30):
            net.generator(torch.rand(64, TINY.latent_dim) * 2 - 1)
    path = tmp_path_factory.mktemp("dcgan") / "dcgan.safetensors"
    save_state_dict(path, net.state_dict(), {"method": "dcgan", "architecture": dataclasses.asdict(TINY)})
    return path


@pytest.fixture(scope="module")
def face_crop(sample_square):
    return sample_square(64)


def square_hole(size, lo, hi):
    hole = torch.zeros(1, 1, size, size)
    hole[..., lo:hi, lo:hi] = 1
    return hole


def test_importance_weights_favour_known_pixels_next_to_the_hole():
    hole = square_hole(32, 10, 22)
    w = importance_weights(hole, 7)[0, 0]
    assert torch.all(w[hole[0, 0] > 0] == 0)
    assert w[16, 9] > w[16, 8] > w[16, 7] > 0  # nearer the hole counts more
    assert w[16, 6] == 0 and w[2, 2] == 0  # beyond the 7 x 7 window counts nothing
    assert w.max() <= 1


def test_thresholded_landmark_loss_counts_half_a_point_per_far_coordinate():
    target = torch.zeros(1, 68, 2)
    found = target.clone()
    found[0, 0] = torch.tensor([4.0, 1.0])  # x off by 4 (> 3), y by 1
    found[0, 1] = torch.tensor([-5.0, 5.0])  # both off
    assert thresholded_landmark_loss(found, target, 3.0).tolist() == [1.5]


def test_architecture_follows_radford_et_al():
    net = DCGANNet(TINY)
    g_layers, d_layers = list(net.generator.net), list(net.discriminator.net)
    assert isinstance(g_layers[-1], torch.nn.Tanh) and isinstance(g_layers[-2], torch.nn.ConvTranspose2d)
    assert isinstance(d_layers[1], torch.nn.LeakyReLU)  # no batch norm after the input layer
    assert net.generator(torch.zeros(3, 100)).shape == (3, 3, 16, 16)
    assert net.discriminator(torch.zeros(3, 3, 16, 16)).shape == (3,)
    weights = torch.cat([m.weight.detach().flatten() for m in net.modules() if isinstance(m, torch.nn.Conv2d)])
    assert 0.015 < float(weights.std()) < 0.025


def test_search_lowers_the_loss_and_keeps_z_in_the_unit_cube():
    torch.manual_seed(1)
    net = DCGANNet(TINY).eval()
    target = net.generator(torch.rand(1, 100) * 2 - 1).detach()
    hole = square_hole(16, 4, 12)
    search = LatentSearch(net, QUICK)
    seen = []
    result = search.run(target, hole, [3], progress=lambda f, m, latent: seen.append(latent))
    first, last = result.history[0][1], result.history[-1][1]
    assert last < first
    assert all(latent.abs().max() <= 1.0 for latent in seen)
    assert result.images.shape == (1, 3, 16, 16)


def test_a_seed_s_result_does_not_depend_on_the_other_seeds():
    torch.manual_seed(2)
    net = DCGANNet(TINY).eval()
    image, hole = torch.rand(1, 3, 16, 16) * 2 - 1, square_hole(16, 4, 12)
    both = LatentSearch(net, QUICK).run(image, hole, [7, 8])
    alone = LatentSearch(net, QUICK).run(image, hole, [8])
    assert torch.allclose(both.images[1], alone.images[0], atol=1e-4)
    assert not torch.allclose(both.images[0], both.images[1], atol=1e-3)


def test_search_stops_when_asked():
    net = DCGANNet(TINY).eval()
    calls = iter(range(100))
    with pytest.raises(CancelledError):
        LatentSearch(net, QUICK).run(torch.zeros(1, 3, 16, 16), square_hole(16, 4, 12), [0], should_cancel=lambda: next(calls) >= 3)


def test_poisson_blend_changes_only_the_hole_and_its_rim():
    rng = np.random.default_rng(0)
    target = rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)
    source = np.full_like(target, 200)
    hole = np.zeros((32, 32), bool)
    hole[8:20, 0:14] = True  # touches the left border
    blended = poisson_blend(source, target, hole)
    rim = np.zeros_like(hole)
    rim[3:25, 0:19] = True  # the hole grown by the 5 px the blend works on
    assert np.array_equal(blended[~rim], target[~rim])
    assert not np.array_equal(blended[hole], target[hole])


def test_poisson_blend_takes_its_boundary_from_the_known_pixels_not_the_blanked_hole():
    # The engine blanks the hole (zeros) before a model sees it; OpenCV reads its boundary a few
    # pixels inside the region it is given, which once turned every completion black.
    target = np.full((64, 64, 3), 200, np.uint8)
    hole = np.zeros((64, 64), bool)
    hole[20:34, 16:48] = True
    target[hole] = 0
    source = np.full_like(target, 150)
    blended = poisson_blend(source, target, hole)
    assert np.abs(blended[hole].astype(float) - 200).max() <= 3  # flat source: the boundary's level


def test_engine_model_returns_diverse_results_identical_outside_the_mask(tiny_weights, face_crop):
    model = create_model("dcgan", device="cpu", weights=tiny_weights)
    mask = np.zeros((64, 64), np.uint8)
    mask[28:50, 16:48] = 255
    previews = []
    results = model.inpaint_crop(face_crop, mask, samples=2, seed=4, settings=QUICK,
                                 progress=lambda f, m="", p=None: previews.append(p))
    hole = mask > 127
    assert [r.seed for r in results] == [4, 5]
    for r in results:
        assert np.array_equal(r.image[~hole], face_crop[~hole])
    assert not np.array_equal(results[0].image, results[1].image)
    assert any(p is not None and p.shape == face_crop.shape for p in previews)


def test_landmark_terms_join_the_search_with_a_face_analysis_network():
    from engine.models.face_analysis import FaceAnalysisArchitecture, FaceAnalysisNet

    torch.manual_seed(3)
    net = DCGANNet(TINY).eval()
    analysis = FaceAnalysisNet(FaceAnalysisArchitecture(resolution=16, width=4, depth=2)).eval()
    image, hole = torch.rand(1, 3, 16, 16) * 2 - 1, square_hole(16, 4, 12)
    search = LatentSearch(net, dataclasses.replace(QUICK, heatmap_loss=True), analysis)
    z = search.initial_latents([0])
    weights = importance_weights(hole)
    with torch.no_grad():
        target = search.heatmaps(image * (1 - hole))
        with_landmarks = search.loss(z, image, weights, target)
        without = LatentSearch(net, dataclasses.replace(QUICK, heatmap_loss=False), analysis).loss(z, image, weights, target)
    assert torch.all(with_landmarks > without)
    result = search.run(image, hole, [0])
    assert torch.isfinite(result.losses).all()


def test_cancel_stops_the_search_between_iterations(tiny_weights, face_crop):
    model = create_model("dcgan", device="cpu", weights=tiny_weights)
    mask = np.zeros((64, 64), np.uint8)
    mask[28:50, 16:48] = 255
    token = CancelToken()
    with pytest.raises(CancelledError, match="iteration 6"):  # progress comes every 5th iteration
        model.inpaint_crop(face_crop, mask, seed=0, cancel=token, settings={"iterations": 30, "preview_every": 5},
                           progress=lambda f, m="", p=None: token.cancel() if p is not None and f > 0 else None)


# -- the encoder start (issue 13) -----------------------------------------------------------------
TINY_E = dataclasses.replace(TINY, encoder=True)


def test_encoder_maps_a_masked_crop_and_its_hole_to_a_latent_in_the_box():
    encoder = DCGANNet(TINY_E).encoder
    z = encoder(torch.rand(5, 3, 16, 16) * 2 - 1, square_hole(16, 4, 12).expand(5, -1, -1, -1))
    assert z.shape == (5, TINY.latent_dim) and z.abs().max() <= 1.0
    assert DCGANNet(TINY).encoder is None and not any(k.startswith("encoder.") for k in DCGANNet(TINY).state_dict())


def test_the_encoder_never_sees_the_hole_s_pixels():
    encoder = DCGANNet(TINY_E).encoder
    image, hole = torch.rand(1, 3, 16, 16), square_hole(16, 4, 12)
    changed = torch.where(hole.bool(), torch.rand(1, 3, 16, 16), image)
    assert torch.equal(encoder(image, hole), encoder(changed, hole))


def test_the_start_latent_is_the_first_restart_of_every_seed():
    net = DCGANNet(TINY).eval()
    start = torch.full((1, TINY.latent_dim), 0.25)
    search = LatentSearch(net, QUICK)
    latents = search.initial_latents([4, 9], start)
    assert torch.equal(latents[0], start[0]) and torch.equal(latents[QUICK.restarts], start[0])
    assert torch.equal(latents[1], search.initial_latents([4])[1])  # the random restarts are unchanged


def test_a_search_from_the_right_latent_stops_early_and_fits_better_than_random_starts():
    torch.manual_seed(3)
    net = DCGANNet(TINY).eval()
    truth = torch.rand(1, TINY.latent_dim) * 2 - 1
    with torch.no_grad():
        image = net.generator(truth)
    hole = square_hole(16, 4, 12)
    settings = SearchSettings(iterations=150, restarts=1, patience=5, preview_every=1)
    started = LatentSearch(net, settings).run(image, hole, [0], start=truth, progress=lambda *a: None)
    random = LatentSearch(net, settings).run(image, hole, [0], progress=lambda *a: None)
    assert started.history[-1][0] < settings.iterations - 1  # stopped by patience, not by the budget
    assert float(started.losses[0]) < float(random.losses[0])


def test_a_search_whose_loss_plateaus_stops_after_its_patience_not_its_budget():
    net = DCGANNet(TINY).eval()
    hole = torch.ones(1, 1, 16, 16)  # nothing known: the context loss is 0 whatever z is
    settings = SearchSettings(iterations=500, restarts=3, patience=7, prior_weight=0.0)
    search = LatentSearch(net, settings)
    evaluated = []
    original = search.loss
    search.loss = lambda *args: evaluated.append(1) or original(*args)
    result = search.run(torch.zeros(1, 3, 16, 16), hole, [0])
    # step 0 sets the best loss, the next ``patience`` steps fail to improve it, the one after stops
    assert len(evaluated) == settings.patience + 2
    assert torch.equal(result.losses, torch.zeros(1))


def test_the_latent_optimiser_takes_torch_s_adam_steps():
    torch.manual_seed(5)
    mine = torch.rand(6, 10)
    reference = mine.clone().requires_grad_(True)
    ours, theirs = LatentAdam(mine, lr=0.01), torch.optim.Adam([reference], lr=0.01)
    for _ in range(25):
        gradient = torch.randn(6, 10) * torch.rand(1) * 3
        ours.step(gradient)
        reference.grad = gradient.clone()
        theirs.step()
    assert torch.allclose(mine, reference.detach(), atol=1e-6)


def test_the_search_runs_on_the_threads_it_is_given_and_leaves_torch_s_count_as_it_was():
    before = torch.get_num_threads()
    torch.set_num_threads(2)  # as on a 2-core machine, whatever OMP_NUM_THREADS the tests run under
    seen = []
    net = DCGANNet(TINY).eval()
    search = LatentSearch(net, dataclasses.replace(QUICK, iterations=2, cpu_threads=1))
    original = search.loss
    search.loss = lambda *args: seen.append(torch.get_num_threads()) or original(*args)
    search.run(torch.zeros(1, 3, 16, 16), square_hole(16, 4, 12), [0])
    after = torch.get_num_threads()
    with torch_threads(0):
        unchanged = torch.get_num_threads()
    torch.set_num_threads(before)
    assert seen == [1, 1] and after == 2 and unchanged == 2


def test_a_completion_in_a_fresh_process_never_imports_torch_s_compiler(tiny_weights, tmp_path):
    """torch._dynamo costs ~1.7 s to import, a third of a whole DCGAN run: neither loading (the
    initialisation on the meta device) nor the search (torch.optim) may pull it in."""
    code = f"""
import sys, numpy as np
from engine.models import create_model
model = create_model("dcgan", device="cpu", weights={str(tiny_weights)!r})
mask = np.zeros((64, 64), np.uint8)
mask[20:44, 20:44] = 255
model.inpaint_crop(np.full((64, 64, 3), 128, np.uint8), mask, seed=0, settings=dict(iterations=3, encoder_start=False))
print("DYNAMO", "torch._dynamo" in sys.modules)
"""
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "DYNAMO False" in done.stdout


def test_weights_with_an_encoder_start_from_it_and_old_weights_still_load(tmp_path, face_crop, monkeypatch):
    from engine.models import dcgan

    torch.manual_seed(4)
    with_e = tmp_path / "with-e.safetensors"
    save_state_dict(with_e, DCGANNet(TINY_E).state_dict(), {"method": "dcgan", "architecture": dataclasses.asdict(TINY_E)})
    runs = []
    original = dcgan.LatentSearch.run

    def spy(self, image, hole, seeds, **kwargs):
        runs.append((self.settings, kwargs.get("start")))
        return original(self, image, hole, seeds, **kwargs)

    monkeypatch.setattr(dcgan.LatentSearch, "run", spy)
    mask = np.zeros((64, 64), np.uint8)
    mask[20:44, 20:44] = 255
    quick = dict(iterations=4, restarts=2, encoder_iterations=3, encoder_restarts=3, poisson=False)
    for weights, encoder_start in ((with_e, True), (with_e, False), (tiny_weights_path(tmp_path), True)):
        model = create_model("dcgan", device="cpu", weights=weights)
        out = model.inpaint_crop(face_crop, mask, seed=1, settings=dict(quick, encoder_start=encoder_start))
        assert out[0].image.shape == face_crop.shape
    (used_e, start_e), (off, start_off), (old, start_old) = runs
    assert start_e is not None and start_e.shape == (1, TINY.latent_dim) and used_e.iterations == 3 and used_e.restarts == 3
    assert start_off is None and off.iterations == 4 and off.restarts == 2
    assert start_old is None and old.iterations == 4


def tiny_weights_path(folder):
    """A file as written before the encoder existed: no "encoder" in its architecture record."""
    path = folder / "old.safetensors"
    record = {k: v for k, v in dataclasses.asdict(TINY).items() if k != "encoder"}
    save_state_dict(path, DCGANNet(TINY).state_dict(), {"method": "dcgan", "architecture": record})
    return path
