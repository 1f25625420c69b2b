"""DCGAN latent-space search (Sami, Khan and Rhidita 2018, after Yeh et al. 2017): inpainting by finding the right z.

A DCGAN (2.3: strided convolutions, batch norm except the generator output and the discriminator
input, leaky ReLU 0.2, tanh output, N(0, 0.02) initialisation) learns 64 x 64 faces from z in
[-1, 1]^100. To fill a hole we search z (eq. 14-20) minimising

* the weighted context loss (eq. 15-16): L1 distance to the known pixels, each weighted by the
  fraction of hole pixels in its 7 x 7 window, so pixels next to the hole matter most;
* the prior loss (eq. 19): lambda * log(1 - D(G(z))), lambda = 0.003, which keeps G(z) realistic;
* a landmark term. The thesis's thresholded landmark loss (eq. 17-18, 0.5 per coordinate more than
  3 px away) has no gradient, so it only ranks the restarts; the differentiable term compares the
  face-analysis network's heatmaps of G(z) with those of the masked input. Both are switchable and
  need the "face-analysis" weights.

z is clamped to [-1, 1] after every Adam step (3.3); a batch of restarts is searched in parallel,
each stopping on its own when its loss stops improving; the best restart of each seed is
Poisson-blended into the hole (Yeh et al.; the thesis skipped that step).

Weights that carry an encoder E (masked crop + mask -> z, trained to invert G) start the search
from E's guess plus a few random restarts, with a short budget and a tight early stop: the
search then refines a good z instead of finding one, in a second rather than ~40 s. Old files
without E, or ``SearchSettings(encoder_start=False)``, run the thesis's random-start search.
"""

from __future__ import annotations

import dataclasses
import logging
import math
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from engine.errors import CancelledError, ConfigError, WeightsError
from engine.face.align import seamless_clone
from engine.models.base import CropCompletion
from engine.models.face_analysis import heatmap_landmarks, load_face_analysis
from engine.models.settings import SearchSettings
from engine.models.torch_base import TorchInpaintModel, crop_to_network, tensor_to_image

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DCGANArchitecture:
    resolution: int = 64
    width: int = 64  # Radford et al.'s ngf / ndf
    latent_dim: int = 100
    encoder: bool = False  # the file also holds E ("encoder.*"); files from before E load without it

    def __post_init__(self) -> None:
        if self.resolution < 8 or self.resolution & (self.resolution - 1):
            raise ConfigError(f"DCGAN needs a power-of-two resolution of at least 8, got {self.resolution}")

    @property
    def stages(self) -> int:
        """Stride-2 layers between 4 x 4 and the image (4 at 64 px)."""
        return int(math.log2(self.resolution)) - 2


def dcgan_init(module: nn.Module) -> None:
    """Radford et al.: conv weights ~ N(0, 0.02), batch-norm scales ~ N(1, 0.02), zero biases.

    Not on PyTorch's meta device, where loading checks a file's shapes: there it draws nothing,
    yet ``normal_`` goes through torch's reference operators, whose first call imports
    ``torch._dynamo`` (1.6 s of a 5 s DCGAN run)."""
    if getattr(getattr(module, "weight", None), "is_meta", False):
        return
    if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d)):
        nn.init.normal_(module.weight, 0.0, 0.02)
    elif isinstance(module, nn.BatchNorm2d):
        nn.init.normal_(module.weight, 1.0, 0.02)
        nn.init.zeros_(module.bias)


class DCGANGenerator(nn.Module):
    """z (B, latent) -> 4 x 4 -> transposed stride-2 convs -> tanh image."""

    def __init__(self, arch: DCGANArchitecture = DCGANArchitecture()) -> None:
        super().__init__()
        n = arch.stages
        widths = [arch.width * 2 ** (n - 1 - i) for i in range(n)]
        layers = [nn.ConvTranspose2d(arch.latent_dim, widths[0], 4, 1, 0, bias=False), nn.BatchNorm2d(widths[0]), nn.LeakyReLU(0.2, inplace=True)]
        for cin, cout in zip(widths, widths[1:]):
            layers += [nn.ConvTranspose2d(cin, cout, 4, 2, 1, bias=False), nn.BatchNorm2d(cout), nn.LeakyReLU(0.2, inplace=True)]
        layers += [nn.ConvTranspose2d(widths[-1], 3, 4, 2, 1), nn.Tanh()]  # no batch norm on the output
        self.net = nn.Sequential(*layers)
        self.apply(dcgan_init)

    def forward(self, z: Tensor) -> Tensor:
        return self.net(z[:, :, None, None])


class DCGANDiscriminator(nn.Module):
    """Image -> stride-2 convs (no batch norm on the input layer) -> one real/fake logit."""

    def __init__(self, arch: DCGANArchitecture = DCGANArchitecture()) -> None:
        super().__init__()
        widths = [arch.width * 2**i for i in range(arch.stages)]
        layers = [nn.Conv2d(3, widths[0], 4, 2, 1), nn.LeakyReLU(0.2, inplace=True)]
        for cin, cout in zip(widths, widths[1:]):
            layers += [nn.Conv2d(cin, cout, 4, 2, 1, bias=False), nn.BatchNorm2d(cout), nn.LeakyReLU(0.2, inplace=True)]
        layers += [nn.Conv2d(widths[-1], 1, 4, 1, 0)]
        self.net = nn.Sequential(*layers)
        self.apply(dcgan_init)

    def forward(self, image: Tensor) -> Tensor:
        return self.net(image).flatten()


class DCGANEncoder(nn.Module):
    """E: the masked image and its hole (4 channels) -> z in [-1, 1]^latent_dim, G's inverse.

    The discriminator's shape without batch norm (E runs on one crop at inference, where batch
    statistics do not exist), a linear head and tanh onto the latent box the search clamps to.
    """

    def __init__(self, arch: DCGANArchitecture = DCGANArchitecture()) -> None:
        super().__init__()
        widths = [arch.width * 2**i for i in range(arch.stages)]
        layers: list[nn.Module] = []
        for cin, cout in zip([4, *widths], widths):
            layers += [nn.Conv2d(cin, cout, 4, 2, 1), nn.LeakyReLU(0.2, inplace=True)]
        self.features = nn.Sequential(*layers)
        self.head = nn.Linear(widths[-1] * 16, arch.latent_dim)

    def forward(self, image: Tensor, hole: Tensor) -> Tensor:
        """``image`` (B, 3, S, S) in [-1, 1], ``hole`` (B, 1, S, S) with 1 = missing."""
        known = torch.cat([image * (1.0 - hole), hole], dim=1)
        return torch.tanh(self.head(self.features(known).flatten(1)))


class DCGANNet(nn.Module):
    """The networks as exported ("generator.*", "discriminator.*", "encoder.*" when the
    architecture has E): the prior loss needs D, the search's start needs E."""

    def __init__(self, arch: DCGANArchitecture = DCGANArchitecture()) -> None:
        super().__init__()
        self.arch = arch
        self.generator = DCGANGenerator(arch)
        self.discriminator = DCGANDiscriminator(arch)
        self.encoder = DCGANEncoder(arch) if arch.encoder else None


# -- the search -----------------------------------------------------------------------------------
def importance_weights(hole: Tensor, window: int = 7) -> Tensor:
    """Eq. 15: each known pixel weighs the fraction of hole pixels in its window; hole pixels 0."""
    near_hole = F.avg_pool2d(hole, window, stride=1, padding=window // 2, count_include_pad=True)
    return near_hole * (1.0 - hole)


def thresholded_landmark_loss(found: Tensor, target: Tensor, threshold: float) -> Tensor:
    """Eq. 17-18 per image: 0.5 for each x and each y more than ``threshold`` pixels off."""
    return 0.5 * ((found - target).abs() > threshold).float().sum(dim=(1, 2))


class LatentAdam:
    """Adam (Kingma and Ba 2015) on the one latent tensor, as ``torch.optim.Adam`` computes it.

    ``torch.optim``'s first optimiser imports ``torch._dynamo``: 1.7 s of a 5 s process that
    completes one photo with the encoder start (measured, 2-core CPU), for ten lines of arithmetic.
    ``tests/engine/models/test_dcgan.py`` checks the steps against ``torch.optim.Adam``.
    """

    def __init__(self, param: Tensor, lr: float, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8) -> None:
        self.param, self.lr, self.betas, self.eps = param, lr, betas, eps
        self.mean = torch.zeros_like(param)
        self.square = torch.zeros_like(param)
        self.steps = 0

    @torch.no_grad()
    def step(self, gradient: Tensor) -> None:
        beta1, beta2 = self.betas
        self.steps += 1
        self.mean.lerp_(gradient, 1 - beta1)
        self.square.mul_(beta2).addcmul_(gradient, gradient, value=1 - beta2)
        denominator = (self.square.sqrt() / math.sqrt(1 - beta2**self.steps)).add_(self.eps)
        self.param.addcdiv_(self.mean, denominator, value=-self.lr / (1 - beta1**self.steps))


@dataclass
class SearchResult:
    images: Tensor  # (N, 3, S, S) in [-1, 1], the best restart per seed
    losses: Tensor  # (N,) their total differentiable loss
    history: list[tuple[int, float]]  # (iteration, mean best loss over restarts), every preview


class LatentSearch:
    """Searches z for a batch of seeds x restarts; each restart only ever depends on its own seed."""

    def __init__(self, net: DCGANNet, settings: SearchSettings, face_analysis: nn.Module | None = None) -> None:
        self.net = net.eval()
        self.settings = settings
        self.face_analysis = face_analysis.eval() if face_analysis is not None else None

    def initial_latents(self, seeds: list[int], start: Tensor | None = None) -> Tensor:
        """Uniform in [-1, 1] (3.3), ``restarts`` per seed, each block a function of its seed alone;
        with ``start`` (1, latent_dim), e.g. the encoder's z, each block's first restart is ``start``."""
        dim, r = self.net.arch.latent_dim, self.settings.restarts
        blocks = []
        for s in seeds:
            block = torch.rand(r, dim, generator=torch.Generator().manual_seed(int(s))) * 2 - 1
            if start is not None:
                block[0] = start.detach().reshape(dim).cpu().clamp(-1.0, 1.0)
            blocks.append(block)
        return torch.cat(blocks)

    def run(self, image: Tensor, hole: Tensor, seeds: list[int], *, progress=None, should_cancel=None,
            start: Tensor | None = None) -> SearchResult:
        """``image`` (1, 3, S, S) in [-1, 1] and ``hole`` (1, 1, S, S), 1 = missing, at the net's size;
        ``start``: a latent to search from besides the random restarts (the encoder's guess)."""
        trainable = [p for p in self.net.parameters() if p.requires_grad]
        for p in trainable:  # only z is optimised; no weight gradients to compute or leave behind
            p.requires_grad_(False)
        threads = self.settings.cpu_threads if image.device.type == "cpu" else 0
        try:
            # callers often score under no_grad; the search needs z's gradient
            with torch.enable_grad(), torch_threads(threads):
                return self._search(image, hole, seeds, progress, should_cancel, start)
        finally:
            for p in trainable:
                p.requires_grad_(True)

    def _search(self, image: Tensor, hole: Tensor, seeds: list[int], progress, should_cancel, start=None) -> SearchResult:
        cfg, device = self.settings, image.device
        weights = importance_weights(hole, cfg.window)
        target_heatmaps = target_points = None
        if self.face_analysis is not None:
            with torch.no_grad():
                target_heatmaps = self.heatmaps(image * (1.0 - hole))
                target_points = heatmap_landmarks(target_heatmaps)
        z = self.initial_latents(seeds, start).to(device).requires_grad_(True)
        optimizer = LatentAdam(z, lr=cfg.lr)
        best_loss = torch.full((z.shape[0],), math.inf, device=device)
        best_z = z.detach().clone()
        stale = torch.zeros(z.shape[0], dtype=torch.long, device=device)
        history = []
        for step in range(cfg.iterations):
            if should_cancel is not None and should_cancel():
                raise CancelledError(f"latent search cancelled at iteration {step}")
            loss = self.loss(z, image, weights, target_heatmaps)
            with torch.no_grad():
                active = stale < cfg.patience
                # The prior term makes losses negative at times: improvement is relative to |best|.
                improved = active & (best_loss - loss > cfg.min_improvement * best_loss.abs().nan_to_num(posinf=0.0))
                best_loss = torch.where(improved, loss.detach(), best_loss)
                best_z[improved] = z.detach()[improved]
                stale = torch.where(improved, torch.zeros_like(stale), stale + active.long())
            if not bool(active.any()):
                break
            (gradient,) = torch.autograd.grad(loss.sum(), z)  # a sum keeps each restart's gradient its own
            optimizer.step(gradient)
            with torch.no_grad():
                z.clamp_(-1.0, 1.0)
            if progress is not None and step % cfg.preview_every == 0:
                history.append((step, float(best_loss.mean())))
                leader = best_z[best_loss[: cfg.restarts].argmin()][None]  # the first seed's best so far
                progress(step / cfg.iterations, f"iteration {step}: loss {float(best_loss.min()):.3f}", leader)
        with torch.no_grad():
            candidates = self.net.generator(best_z)
            score = best_loss.clone()
            if target_points is not None and cfg.rank_by_landmarks:
                found = heatmap_landmarks(self.heatmaps(candidates))
                scale = image.shape[-1] / 64.0  # the threshold is in pixels of the thesis's 64 px images
                score = score + thresholded_landmark_loss(found, target_points, cfg.landmark_threshold * scale)
            best = score.view(len(seeds), cfg.restarts).argmin(dim=1) + torch.arange(len(seeds), device=device) * cfg.restarts
        return SearchResult(candidates[best], best_loss[best], history)

    def loss(self, z: Tensor, image: Tensor, weights: Tensor, target_heatmaps: Tensor | None) -> Tensor:
        """Per-restart loss (eq. 20): context + prior (+ heatmap landmark term)."""
        generated = self.net.generator(z)
        context = (weights * (generated - image)).abs().sum(dim=(1, 2, 3))
        # log(1 - D(G(z))) with D = sigmoid(logit) is -softplus(logit), computed stably.
        prior = -F.softplus(self.net.discriminator(generated))
        loss = context + self.settings.prior_weight * prior
        if target_heatmaps is not None and self.settings.heatmap_loss:
            diff = self.heatmaps(generated) - target_heatmaps
            loss = loss + self.settings.landmark_weight * diff.pow(2).sum(dim=(2, 3)).mean(dim=1)
        return loss

    def heatmaps(self, images: Tensor) -> Tensor:
        size = self.face_analysis.arch.resolution
        if images.shape[-1] != size:
            images = F.interpolate(images, size=(size, size), mode="bilinear", align_corners=False)
        heatmaps, _ = self.face_analysis(images)
        return heatmaps


@contextmanager
def torch_threads(count: int) -> Iterator[None]:
    """torch's intra-op CPU threads at most ``count`` inside the block, as before after it (0: unchanged)."""
    before = torch.get_num_threads()
    if 0 < count < before:
        torch.set_num_threads(count)
    try:
        yield
    finally:
        if torch.get_num_threads() != before:
            torch.set_num_threads(before)


def encoder_budget(settings: SearchSettings) -> SearchSettings:
    """The search from E's start: the encoder-start budget in place of the random-start one."""
    return dataclasses.replace(settings, iterations=settings.encoder_iterations, restarts=settings.encoder_restarts,
                               patience=settings.encoder_patience, rank_by_landmarks=settings.encoder_rank_by_landmarks)


def poisson_blend(source: np.ndarray, target: np.ndarray, hole: np.ndarray) -> np.ndarray:
    """Blend ``source`` into ``target``'s hole by Poisson editing (Yeh et al. 2017's last step).

    OpenCV takes its boundary values a few pixels *inside* the region it is given (a hole dilated
    by 1-2 px came back black: the blanked hole pixels were the boundary), so the region is the
    hole grown by 5 px, and the target's hole holds the source so no blanked pixel is a boundary.
    """
    grow = 5
    filled = np.where(hole[:, :, None], source, target).astype(target.dtype)
    region = cv2.dilate(hole.astype(np.uint8), np.ones((2 * grow + 1, 2 * grow + 1), np.uint8)) > 0
    return np.where(region[:, :, None], seamless_clone(source, filled, region), target)


class DCGANInpainter(TorchInpaintModel):
    """Latent search per request; the landmark network loads on the first run whose settings use it."""

    def __init__(self, device=None, weights=None, settings: SearchSettings | None = None, face_analysis_weights=None) -> None:
        super().__init__(device=device, weights=weights)
        self.settings = settings or SearchSettings()
        self.face_analysis_weights = face_analysis_weights
        self.face_analysis: nn.Module | None = None
        self._face_analysis_tried = False

    network_cls = DCGANNet
    architecture_cls = DCGANArchitecture
    # Seeds searched together: each brings ``restarts`` latents, so ``--samples 10000`` must not
    # become one batch of 80,000 images (issue 11); 16 keeps Cancel prompt too.
    seeds_per_chunk = 16

    def _face_analysis_for(self, settings: SearchSettings) -> nn.Module | None:
        """The landmark terms' network if ``settings`` use it, loaded once; None without its weights."""
        if not (settings.heatmap_loss or settings.rank_by_landmarks):
            return None
        if not self._face_analysis_tried:
            self._face_analysis_tried = True
            self.face_analysis = self._load_face_analysis()
        return self.face_analysis

    def _load_face_analysis(self) -> nn.Module | None:
        """Without the face-analysis weights the search runs on context and prior only."""
        try:
            net, _ = load_face_analysis(self.face_analysis_weights or "face-analysis", device=self.device)
        except WeightsError as err:
            if self.face_analysis_weights is not None:
                raise
            log.info("DCGAN search without landmark terms: %s", err)
            return None
        return net

    def _networks(self) -> list[nn.Module]:
        return [self.net] + ([self.face_analysis] if self.face_analysis is not None else [])

    def _inpaint_crop(self, crop, mask, *, seeds, settings, progress, cancel, landmarks=None) -> list[CropCompletion]:
        device = self.net_device
        size = self.arch.resolution
        image, hole = crop_to_network(crop, mask, size, device)

        def preview(fraction: float, message: str, latent: Tensor) -> None:
            with torch.no_grad():
                shown = self.to_crop(self.net.generator(latent), crop.shape[:2])[0]
            progress(0.95 * fraction, message, np.where(mask[:, :, None] > 127, shown, crop))

        start = None
        if settings.encoder_start and self.net.encoder is not None:
            settings, start = encoder_budget(settings), self.encode(image, hole)
        search = LatentSearch(self.net, settings, self._face_analysis_for(settings))
        result = search.run(image, hole, seeds, progress=preview, should_cancel=cancel.is_set, start=start)
        outputs = []
        for generated, seed in zip(self.to_crop(result.images, crop.shape[:2]), seeds):
            if settings.poisson:
                generated = poisson_blend(generated, crop, mask > 127)
            outputs.append(CropCompletion(generated, seed))
        return outputs

    @torch.no_grad()
    def encode(self, image: Tensor, hole: Tensor) -> Tensor:
        """E's guess of z for the masked crop (1, latent_dim)."""
        return self.net.encoder(image, hole)

    @staticmethod
    def to_crop(images: Tensor, shape: tuple[int, int]) -> list[np.ndarray]:
        if images.shape[-2:] != tuple(shape):
            images = F.interpolate(images, size=shape, mode="bilinear", align_corners=False)
        return [tensor_to_image(img) for img in images]
