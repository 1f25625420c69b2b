"""PD-GAN for faces (Shi, Wang and Zhang, after Liu et al. 2021): diverse completions from a prior.

Two networks travel in one weights file:

* ``prior``: a partial-convolution U-Net (Liu et al. 2018) whose coarse completion is the prior;
* ``generator``: a latent ``z`` (128-d, section 5.1) mapped to a 4 x 4 feature map and grown by
  SPDNorm residual blocks and PixelShuffle upsampling (4.1). SPDNorm modulates the ``z`` features by
  the prior, strongly near the known pixels and weakly deep in the hole, so the hole centre is where
  ``z`` shows: that is where the diversity comes from.

Hard SPDNorm's probability map follows the face paper's continuous rule (4.2): each update replaces
a hole pixel by the neighbourhood sum divided by the kernel size. The original PD-GAN rule (1 / k^i
at dilation distance i) is kept as ``probability="exponential"`` for comparison.

Sample ``k`` uses ``z`` drawn from a ``torch.Generator`` seeded with its own seed, and every layer
works per sample (instance norm, eval-mode batch norm), so a sample does not depend on its batch.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from engine.errors import ConfigError
from engine.models.base import CropCompletion
from engine.models.torch_base import (
    TorchInpaintModel,
    crop_to_network,
    landmarks_to_network,
    network_to_crop,
    tensor_to_image,
)

PROBABILITY_RULES = ("continuous", "exponential")
PRIORS = ("partial-conv", "collagan")  # the paper's own stage 1, or the shipped collaGAN (quality recipe)
MAX_WIDTH_FACTOR = 4  # the widest layers have 4 x width channels (256 at width 64)


@dataclass(frozen=True)
class PDGANArchitecture:
    """Everything needed to rebuild the networks; stored as JSON in the weights' metadata."""

    resolution: int = 256
    width: int = 64  # base channel count of both networks
    latent_dim: int = 128  # section 5.1
    probability: str = "continuous"  # hard SPDNorm rule: "continuous" (4.2) or "exponential" (PD-GAN)
    probability_k: float = 2.0  # k of the exponential rule
    probability_steps: int = 4  # mask updates per scale (PD-GAN's n)
    # The quality recipe: the prior is another model's completion (not stored in this file) and the
    # generator adds a zero-initialised residual to it, so training starts at the prior.
    prior: str = "partial-conv"
    residual: bool = False

    def __post_init__(self) -> None:
        if self.prior not in PRIORS:
            raise ConfigError(f"PD-GAN prior must be one of {PRIORS}, got {self.prior!r}")
        if self.resolution < 16 or self.resolution & (self.resolution - 1):
            raise ConfigError(f"PD-GAN needs a power-of-two resolution of at least 16, got {self.resolution}")
        if self.probability not in PROBABILITY_RULES:
            raise ConfigError(f"probability must be one of {PROBABILITY_RULES}, got {self.probability!r}")


class CollaGANPrior:
    """A frozen collaGAN as PD-GAN's stage 1: (image, known) -> its completion at PD-GAN's size."""

    def __init__(self, net: nn.Module, arch) -> None:
        self.net, self.arch = net.eval(), arch

    @torch.no_grad()
    def __call__(self, image: Tensor, known: Tensor, landmarks=None) -> Tensor:
        """``landmarks``: (N, 68, 2) in ``image``'s pixels, or None (for collaGAN's face-mirror prefill)."""
        from engine.models.collagan import complete_tensor

        size, native = image.shape[-1], self.arch.resolution
        hole = 1.0 - known
        generator = torch.Generator().manual_seed(0)
        if size == native:
            return complete_tensor(self.net, self.arch, image, hole, generator, landmarks)
        small = F.interpolate(image, size=(native, native), mode="bilinear", align_corners=False, antialias=True)
        small_hole = (F.interpolate(hole, size=(native, native), mode="area") > 0).float()
        landmarks = landmarks_to_network(landmarks, size, native)
        out = complete_tensor(self.net, self.arch, small, small_hole, generator, landmarks)
        return F.interpolate(out, size=(size, size), mode="bilinear", align_corners=False) * hole + image * known


def collagan_prior(source, device="cpu") -> CollaGANPrior:
    """Load collaGAN weights (manifest name or path) as a frozen prior."""
    from engine.models.collagan import CollaGANArchitecture, build_generator
    from engine.models.torch_base import load_network

    net, arch = load_network(source, build_generator, CollaGANArchitecture, device=device)
    for p in net.parameters():
        p.requires_grad_(False)
    return CollaGANPrior(net, arch)


def latent_for_seed(seed: int, dim: int) -> Tensor:
    """The z of one sample: a function of its seed alone, whatever batch it is drawn in."""
    return torch.randn(dim, generator=torch.Generator().manual_seed(int(seed)))


# -- stage 1: partial-convolution prior -----------------------------------------------------------
class PartialConv2d(nn.Module):
    """Convolution over known pixels only, rescaled by the known fraction (Liu et al. 2018, eq. 1-2)."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int = 1) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size, stride, kernel_size // 2, bias=False)
        self.bias = nn.Parameter(torch.zeros(out_channels))
        self.register_buffer("window", torch.ones(1, 1, kernel_size, kernel_size), persistent=False)

    def forward(self, x: Tensor, known: Tensor) -> tuple[Tensor, Tensor]:
        with torch.no_grad():
            count = F.conv2d(known, self.window, stride=self.conv.stride, padding=self.conv.padding)
            updated = (count > 0).to(x.dtype)
            scale = self.window.numel() / count.clamp(min=1.0) * updated
        out = self.conv(x * known) * scale + self.bias.view(1, -1, 1, 1)
        return out * updated, updated


class PartialConvUNet(nn.Module):
    """Liu et al.'s U-Net: strided partial convs down to 4 x 4, nearest upsampling with skips back."""

    def __init__(self, resolution: int, width: int) -> None:
        super().__init__()
        levels = int(math.log2(resolution)) - 2
        channels = [3] + [width * min(2**i, 8) for i in range(levels)]  # 64 ... 512 as in Liu et al.
        kernels = [7, 5, 5] + [3] * max(0, levels - 3)
        self.down = nn.ModuleList(
            PartialConv2d(channels[i], channels[i + 1], kernels[i], stride=2) for i in range(levels)
        )
        self.down_norm = nn.ModuleList(
            nn.Identity() if i == 0 else nn.BatchNorm2d(channels[i + 1]) for i in range(levels)
        )
        self.up = nn.ModuleList(
            PartialConv2d(channels[i + 1] + channels[i], channels[i] if i else 3, 3) for i in reversed(range(levels))
        )
        self.up_norm = nn.ModuleList(
            nn.BatchNorm2d(channels[i]) if i else nn.Identity() for i in reversed(range(levels))
        )

    def forward(self, image: Tensor, known: Tensor) -> Tensor:
        x, m = image * known, known
        skips = [(x, m)]
        for conv, norm in zip(self.down, self.down_norm):
            x, m = conv(x, m)
            x = F.relu(norm(x))
            skips.append((x, m))
        skips.pop()
        for index, (conv, norm) in enumerate(zip(self.up, self.up_norm)):
            skip_x, skip_m = skips.pop()
            x = torch.cat([F.interpolate(x, scale_factor=2.0, mode="nearest"), skip_x], 1)
            m = torch.max(F.interpolate(m, scale_factor=2.0, mode="nearest"), skip_m)
            x, m = conv(x, m)
            if index < len(self.up) - 1:
                x = F.leaky_relu(norm(x), 0.2)
        return torch.tanh(x)


# -- stage 2: SPDNorm generator -------------------------------------------------------------------
def probability_map(known: Tensor, steps: int, rule: str = "continuous", k: float = 2.0) -> Tensor:
    """Hard SPDNorm's D: 1 on known pixels, falling towards 0 deep inside the hole.

    ``continuous`` (face paper, 4.2): ``steps`` updates, each setting a hole pixel to its 3 x 3
    neighbourhood sum divided by the kernel size. ``exponential`` (PD-GAN): 1 / k^i for pixels i
    dilation steps from the known region, 0 beyond ``steps``.
    """
    known = known.float()
    if rule == "continuous":
        prob = known
        for _ in range(steps):
            prob = torch.where(known > 0, known, F.avg_pool2d(prob, 3, stride=1, padding=1, count_include_pad=True))
        return prob
    if rule == "exponential":
        prob, reached = known.clone(), known
        for i in range(1, steps + 1):
            grown = F.max_pool2d(reached, 3, stride=1, padding=1)
            prob = prob + (grown - reached) * k**-i
            reached = grown
        return prob
    raise ValueError(f"unknown probability rule {rule!r}; choose one of {PROBABILITY_RULES}")


def known_at(known: Tensor, size: int) -> Tensor:
    """The known mask at a coarser scale: a cell counts as known only if all its pixels are."""
    if known.shape[-1] == size:
        return known
    return 1.0 - F.adaptive_max_pool2d(1.0 - known, size)


class SPDNorm(nn.Module):
    """Instance norm whose SPADE-style modulation by the prior is weighted by a probability map D.

    PD-GAN writes the modulation as D * gamma and D * beta; we apply it SPADE's way, (1 + D * gamma),
    so that where D = 0 the latent features pass unchanged instead of being zeroed.
    Hard: D is ``probability_map`` of the mask. Soft: D is predicted from the prior and the
    features, and forced to 1 on known pixels. The prior's embedding, gamma and beta do not depend
    on z, so ``modulation`` computes them once for all the samples of one photo.
    """

    def __init__(self, channels: int, hidden: int, soft: bool) -> None:
        super().__init__()
        self.norm = nn.InstanceNorm2d(channels, affine=False)
        self.embed = nn.Sequential(nn.Conv2d(4, hidden, 3, padding=1), nn.ReLU())
        self.gamma = nn.Conv2d(hidden, channels, 3, padding=1)
        self.beta = nn.Conv2d(hidden, channels, 3, padding=1)
        self.soft_gate = nn.Conv2d(hidden + channels, 1, 3, padding=1) if soft else None

    def modulation(self, guide: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """``guide`` = prior and known mask at this scale -> (embedding, gamma, beta)."""
        feat = self.embed(guide)
        return feat, self.gamma(feat), self.beta(feat)

    def forward(self, x: Tensor, guide: Tensor, hard_prob: Tensor) -> Tensor:
        feat, gamma, beta = self.modulation(guide)
        if self.soft_gate is None:
            prob = hard_prob
        else:
            known = guide[:, 3:]
            gate = self.soft_gate(torch.cat([feat.expand(x.shape[0], -1, -1, -1), x], 1))
            prob = torch.sigmoid(gate) * (1.0 - known) + known
        return self.norm(x) * (1.0 + prob * gamma) + prob * beta


class SPDResBlock(nn.Module):
    """Two hard-SPDNorm convs on the main path, one soft-SPDNorm conv on the shortcut (PD-GAN 3.3)."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        hidden = max(16, out_channels // 2)
        self.norm_0 = SPDNorm(in_channels, hidden, soft=False)
        self.conv_0 = nn.Conv2d(in_channels, out_channels, 3, padding=1)
        self.norm_1 = SPDNorm(out_channels, hidden, soft=False)
        self.conv_1 = nn.Conv2d(out_channels, out_channels, 3, padding=1)
        self.norm_s = SPDNorm(in_channels, hidden, soft=True)
        self.conv_s = nn.Conv2d(in_channels, out_channels, 3, padding=1)

    def forward(self, x: Tensor, guide: Tensor, hard_prob: Tensor) -> Tensor:
        main = self.conv_0(F.leaky_relu(self.norm_0(x, guide, hard_prob), 0.2))
        main = self.conv_1(F.leaky_relu(self.norm_1(main, guide, hard_prob), 0.2))
        return main + self.conv_s(F.leaky_relu(self.norm_s(x, guide, hard_prob), 0.2))


class PixelShuffleUp(nn.Sequential):
    """x2 upsampling by two convolutions and a PixelShuffle, not a transposed conv (4.1: no checkerboard)."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__(
            nn.Conv2d(in_channels, in_channels, 3, padding=1),
            nn.LeakyReLU(0.2),
            nn.Conv2d(in_channels, out_channels * 4, 3, padding=1),
            nn.PixelShuffle(2),
        )


class SPDGenerator(nn.Module):
    """z -> 4 x 4 features -> (SPDNorm residual block, PixelShuffle x2)* -> RGB in [-1, 1].

    ``prior`` and ``known`` may hold one image for a batch of z: they broadcast.
    """

    start = 4

    def __init__(self, arch: PDGANArchitecture) -> None:
        super().__init__()
        self.arch = arch
        ups = int(math.log2(arch.resolution // self.start))
        channels = [arch.width * min(MAX_WIDTH_FACTOR, 2 ** (ups - i)) for i in range(ups + 1)]
        self.project = nn.Linear(arch.latent_dim, channels[0] * self.start**2)
        self.blocks = nn.ModuleList(SPDResBlock(channels[i], channels[i]) for i in range(ups + 1))
        self.ups = nn.ModuleList(PixelShuffleUp(channels[i], channels[i + 1]) for i in range(ups))
        self.to_rgb = nn.Conv2d(channels[-1], 3, 3, padding=1)
        if arch.residual:
            nn.init.zeros_(self.to_rgb.weight)
            nn.init.zeros_(self.to_rgb.bias)

    def forward(self, z: Tensor, prior: Tensor, known: Tensor) -> Tensor:
        x = self.project(z).view(z.shape[0], -1, self.start, self.start)
        for i, block in enumerate(self.blocks):
            size = x.shape[-1]
            scaled_known = known_at(known, size)
            scaled_prior = F.interpolate(prior, size=size, mode="bilinear", align_corners=False, antialias=True)
            prob = probability_map(scaled_known, self.arch.probability_steps, self.arch.probability, self.arch.probability_k)
            x = block(x, torch.cat([scaled_prior, scaled_known], 1), prob)
            if i < len(self.ups):
                x = self.ups[i](x)
        rgb = self.to_rgb(F.leaky_relu(x, 0.2))
        if self.arch.residual:
            return (prior + rgb.to(prior.dtype)).clamp(-1, 1)
        return torch.tanh(rgb)


class PDGANNet(nn.Module):
    """Both stages; ``state_dict`` keys are "prior.*" and "generator.*" (the exported file's layout).

    With ``prior = "collagan"`` the file holds the generator only and ``external_prior`` (set by
    the loader: a frozen collaGAN) computes stage 1.
    """

    def __init__(self, arch: PDGANArchitecture) -> None:
        super().__init__()
        self.arch = arch
        if arch.prior == "partial-conv":
            self.prior = PartialConvUNet(arch.resolution, arch.width)
        self.external_prior = None  # (image, known, landmarks) -> completed image, for prior = "collagan"
        self.generator = SPDGenerator(arch)

    def coarse(self, image: Tensor, known: Tensor, landmarks=None) -> Tensor:
        """Stage 1: the prior, with the known pixels put back (``landmarks``: (N, 68, 2) in the
        images' pixels or None, read by a collaGAN prior with the face-mirror prefill)."""
        if self.arch.prior != "partial-conv":
            if self.external_prior is None:
                raise ConfigError("this PD-GAN reads its prior from collaGAN, which is not loaded")
            return self.external_prior(image, known, landmarks)
        return self.prior(image, known) * (1.0 - known) + image * known

    def forward(self, image: Tensor, known: Tensor, z: Tensor, landmarks=None) -> Tensor:
        """One completion per row of ``z`` (the image and mask are broadcast to the batch)."""
        return self.generator(z, self.coarse(image, known, landmarks), known)


class PDGANInpainter(TorchInpaintModel):
    """Samples are drawn in batches of ``seeds_per_chunk``: batched for speed, small for Cancel."""

    seeds_per_chunk = 4
    network_cls = PDGANNet
    architecture_cls = PDGANArchitecture

    def _load(self) -> None:
        super()._load()
        if self.arch.prior == "collagan":
            self.prior_model = collagan_prior(self.prior_source(), device=self.device)
            self.net.external_prior = self.prior_model

    def prior_source(self):
        """The collaGAN beside a PD-GAN file given by path (weights trained together travel
        together), else the shipped one."""
        if self.weights_path is not None:
            beside = Path(self.weights_path).with_name("collagan.safetensors")
            if beside.is_file():
                return beside
        return "collagan"

    def _networks(self) -> list[nn.Module]:
        return [*super()._networks(), *([self.prior_model.net] if self.arch.prior == "collagan" else [])]

    @torch.inference_mode()
    def _inpaint_crop(self, crop, mask, *, seeds, settings, progress, cancel, landmarks=None) -> list[CropCompletion]:
        device = self.net_device
        image, hole = crop_to_network(crop, mask, self.arch.resolution, device)
        z = torch.stack([latent_for_seed(s, self.arch.latent_dim) for s in seeds]).to(device)
        progress(0.1, f"drawing {len(seeds)} sample(s)", None)
        points = landmarks_to_network(landmarks, crop.shape[1], self.arch.resolution)
        out = network_to_crop(self.net(image, 1.0 - hole, z, points), crop.shape[:2])
        return [CropCompletion(tensor_to_image(img), seed) for img, seed in zip(out, seeds)]
