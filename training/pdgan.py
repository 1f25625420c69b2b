"""PD-GAN for faces training (seed 001): both stages in one run.

Stage 1 (the first ``prior_steps`` steps) trains the partial-convolution prior with Liu et al.'s
loss (valid + 6 hole + 0.05 perceptual + 120 style + 0.1 total variation). Stage 2 freezes it and
trains the SPDNorm generator against a multi-scale spectral-norm discriminator with hinge
adversarial, feature-matching, perceptual and perceptual-diversity losses (PD-GAN), plus the face
paper's skin-mask L1 (alpha = 0.5) and heatmap loss (beta = 10) of 4.3. ``prior = "FILE"`` starts
from a trained prior (any exported pdgan file) and skips stage 1.

The paper trains at 256 px; on a CPU use 128 px, e.g. ``--resolution 128 --width 32 --batch-size 4
--set prior_steps=5000``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils.parametrizations import spectral_norm

from engine.errors import WeightsError
from engine.models.pdgan import PDGANArchitecture, PDGANNet
from training.config import ConfigError, TrainConfig
from training.losses import composite_loss
from training.methods import TrainMethod, adam, register, score_composites, set_requires_grad, unwrap
from training.perceptual import perceptual_loss

# Liu et al. 2018, eq. 7: L_valid + 6 L_hole + 0.05 L_perceptual + 120 (L_style_out + L_style_comp) + 0.1 L_tv.
PRIOR_LOSS_WEIGHTS = {"valid": 1.0, "hole": 6.0, "perceptual": 0.05, "style": 120.0, "tv": 0.1}
PRIOR_LAYERS = ("relu1_1", "relu2_1", "relu3_1")  # Liu et al. compare three shallow VGG layers (pool1-3)


@dataclass
class PDGANConfig(TrainConfig):
    method: str = "pdgan"
    resolution: int = 256  # 5.1
    width: int = 64
    latent_dim: int = 128  # 5.1
    batch_size: int = 8  # 5.1
    epochs: int = 120  # 5.1
    lr: float = 1e-3  # 5.1, decayed linearly to 0 over ``steps`` (or kept when counting epochs)
    mask_mix: dict[str, float] = field(default_factory=lambda: {"irregular": 1.0})  # Liu et al.'s masks (3.1)
    prior: str = ""  # a trained prior (exported pdgan file): skip stage 1
    prior_steps: int = 50_000  # stage 1 length; the paper took PD-GAN's pretrained prior instead
    prior_lr: float = 2e-4  # Liu et al.
    probability: str = "continuous"  # 4.2; "exponential" is PD-GAN's 1 / k^i
    probability_steps: int = 4
    probability_k: float = 2.0
    discriminator_scales: int = 2
    # PD-GAN builds on SPADE and keeps its weights: adversarial 1, feature matching 10, perceptual 10.
    lambda_adv: float = 1.0
    lambda_fm: float = 10.0
    lambda_perceptual: float = 10.0
    lambda_diversity: float = 1.0
    # "paper": PD-GAN's 1 / (d + 1e-5), which explodes (and with it every other term's gradient) while
    # the two samples are still nearly equal, as they are at the start of a zero-initialised residual;
    # "bounded": 1 / (1 + d / diversity_scale), in (0, 1] with a finite slope of -1 / diversity_scale at d = 0.
    diversity: str = "paper"
    diversity_scale: float = 0.05  # a feature distance of this size halves the bounded term
    alpha_skin: float = 0.5  # 5.1
    beta_heatmap: float = 10.0  # 5.1
    face_analysis: str = "face-analysis"  # weights for the heatmap loss; "" = no heatmap loss
    perceptual_weights: str = ""  # VGG19 or face-analysis weights (see training.perceptual)
    # The quality recipe's stage 1: another model's completion (frozen), not PD-GAN's own prior.
    prior_network: str = "partial-conv"  # or "collagan"
    prior_weights: str = "collagan"  # collaGAN weights for prior_network = "collagan" (manifest name or path)


class PatchDiscriminator(nn.Module):
    """A spectral-norm PatchGAN that also returns its intermediate features (for feature matching)."""

    def __init__(self, in_channels: int, width: int) -> None:
        super().__init__()
        widths = [width, width * 2, width * 4, width * 8]
        layers, cin = [], in_channels
        for i, cout in enumerate(widths):
            stride = 2 if i < 3 else 1
            # 4 x 4 kernels with padding 2, as pix2pixHD: small inputs never shrink below the kernel.
            layers.append(nn.Sequential(spectral_norm(nn.Conv2d(cin, cout, 4, stride, 2)), nn.LeakyReLU(0.2)))
            cin = cout
        layers.append(spectral_norm(nn.Conv2d(cin, 1, 4, 1, 2)))
        self.layers = nn.ModuleList(layers)

    def forward(self, x: Tensor) -> list[Tensor]:
        features = []
        for layer in self.layers:
            x = layer(x)
            features.append(x)
        return features  # the last one is the patch of logits


class MultiScaleDiscriminator(nn.Module):
    """pix2pixHD's discriminator: the same PatchGAN design at full, half, quarter ... resolution."""

    def __init__(self, in_channels: int, width: int, scales: int) -> None:
        super().__init__()
        self.scales = nn.ModuleList(PatchDiscriminator(in_channels, width) for _ in range(scales))

    def forward(self, x: Tensor) -> list[list[Tensor]]:
        outputs = []
        for i, d in enumerate(self.scales):
            outputs.append(d(x))
            if i < len(self.scales) - 1:
                x = F.avg_pool2d(x, 3, stride=2, padding=1, count_include_pad=False)
        return outputs


def gram(features: Tensor) -> Tensor:
    b, c, h, w = features.shape
    flat = features.reshape(b, c, h * w)
    return flat @ flat.transpose(1, 2) / (c * h * w)


def total_variation(image: Tensor) -> Tensor:
    return (image[..., 1:, :] - image[..., :-1, :]).abs().mean() + (image[..., :, 1:] - image[..., :, :-1]).abs().mean()


@register
class PDGANMethod(TrainMethod):
    name = "pdgan"
    config_cls = PDGANConfig
    cli_options = {"prior": "an exported pdgan weights file whose trained prior is reused: skips stage 1"}
    batch_keys = frozenset({"skin"})
    # A frozen collaGAN is stage 1 and the generator a zero-initialised residual on it; the generator's
    # depth follows the resolution, so no low-resolution phase; width 16 keeps the file near 4 MB.
    # Its diversity phase starts at half the run: before it, the residual only learns reconstruction,
    # and a PD-GAN that never learned to use z is its prior again.
    quality_recipe = {"prior_network": "collagan", "resolution": 128, "width": 16, "batch_size": 8, "lr": 1e-3,
                      "beta1": 0.9, "low_resolution": 0, "diversity": "bounded", "adversarial_start": 0.5}

    def build(self) -> None:
        cfg: PDGANConfig = self.cfg
        if cfg.diversity not in ("paper", "bounded"):
            raise ConfigError(f"diversity must be 'paper' or 'bounded', got {cfg.diversity!r}")
        recipe = cfg.prior_network == "collagan"
        self.arch = PDGANArchitecture(
            resolution=cfg.resolution, width=cfg.width, latent_dim=cfg.latent_dim, probability=cfg.probability,
            probability_k=cfg.probability_k, probability_steps=cfg.probability_steps,
            prior=cfg.prior_network, residual=recipe,
        )
        # ``net`` keeps the plain modules (the engine's layout) when DDP wraps the attributes below.
        self.net = PDGANNet(self.arch).to(self.device)
        self.generator = self.net.generator
        self.discriminator = MultiScaleDiscriminator(4, cfg.width, cfg.discriminator_scales).to(self.device)
        self.prior_steps = cfg.prior_steps
        if recipe:
            from engine.models.pdgan import collagan_prior

            self.net.external_prior = collagan_prior(cfg.prior_weights, device=self.device)
            self.prior_steps = 0
        else:
            self.prior = self.net.prior
        if cfg.prior and not recipe:
            self.load_prior(cfg.prior)
            self.prior_steps = 0
        self.opt_prior = adam(self.prior.parameters(), cfg, lr=cfg.prior_lr) if not recipe else None
        self.opt_g = adam(self.generator.parameters(), cfg)
        self.opt_d = adam(self.discriminator.parameters(), cfg)
        self.sched_g = self.linear_decay(self.opt_g)
        self.sched_d = self.linear_decay(self.opt_d)
        from training.perceptual import PerceptualFeatures

        weights = cfg.perceptual_weights or None
        self.perceptual = PerceptualFeatures(weights, device=self.device)
        self.prior_perceptual = PerceptualFeatures(weights, device=self.device, layers=PRIOR_LAYERS)
        self.face_analysis = self.load_face_analysis()
        self.grid_z = torch.randn(2, cfg.val_samples, cfg.latent_dim, generator=torch.Generator().manual_seed(cfg.seed))

    def load_prior(self, path: str) -> None:
        """Stage-1 weights from an exported pdgan file, checked against this run's prior network."""
        from engine.weights import load_state_dict

        tensors, _ = load_state_dict(path)
        prior = {k.removeprefix("prior."): v for k, v in tensors.items() if k.startswith("prior.")}
        if not prior:
            raise ConfigError(f"prior {path}: the file holds no prior network (no 'prior.*' tensors)")
        try:
            self.prior.load_state_dict(prior)
        except RuntimeError as err:
            raise WeightsError(f"prior {path} does not fit a {self.arch.resolution} px, width {self.arch.width} prior: {err}") from None

    def load_face_analysis(self) -> nn.Module | None:
        """The network behind the heatmap loss (4.3.2); without its weights the loss is left out."""
        return self.frozen_face_analysis(self.cfg.face_analysis if self.cfg.beta_heatmap else "", "heatmap loss")

    def linear_decay(self, optimizer) -> torch.optim.lr_scheduler.LambdaLR:
        """5.1's linear decay over stage 2 (constant when the run is counted in epochs)."""
        length = max(1, self.cfg.steps - self.prior_steps) if self.cfg.steps else 0
        start = self.prior_steps
        return torch.optim.lr_scheduler.LambdaLR(
            optimizer, lambda step: max(0.0, 1.0 - max(0, step - start) / length) if length else 1.0
        )

    def networks(self):
        own_prior = {"prior": self.prior} if self.arch.prior == "partial-conv" else {}
        return {**own_prior, "generator": self.generator, "discriminator": self.discriminator}

    def optimizers(self):
        own_prior = {"opt_prior": self.opt_prior} if self.opt_prior is not None else {}
        return {**own_prior, "opt_g": self.opt_g, "opt_d": self.opt_d}

    def schedulers(self):
        return {"sched_g": self.sched_g, "sched_d": self.sched_d}

    # -- stage 1 -----------------------------------------------------------------------------------
    def prior_losses(self, batch: dict[str, Tensor]) -> dict[str, Tensor]:
        truth, hole = batch["image"], batch["mask"][:, :1]
        known = 1.0 - hole
        out = self.prior(truth, known)
        comp = out * hole + truth * known
        features = self.prior_perceptual
        feats_out, feats_comp, feats_truth = features(out), features(comp), features(truth)
        losses = {
            "valid": (known * (out - truth)).abs().mean(),
            "hole": (hole * (out - truth)).abs().mean(),
            "perceptual": sum(F.l1_loss(a, t.detach()) + F.l1_loss(c, t.detach())
                              for a, c, t in zip(feats_out, feats_comp, feats_truth)),
            "style": sum(F.l1_loss(gram(a), gram(t.detach())) + F.l1_loss(gram(c), gram(t.detach()))
                         for a, c, t in zip(feats_out, feats_comp, feats_truth)),
            # Liu et al. take the TV over the hole's 1-pixel dilation; we take it over the composite.
            "tv": total_variation(comp),
        }
        return losses

    # -- stage 2 -----------------------------------------------------------------------------------
    def generate(self, batch: dict[str, Tensor], z: Tensor) -> Tensor:
        """Completions for ``z`` (k x B rows: k samples per face), from the frozen prior."""
        truth, hole = batch["image"], batch["mask"][:, :1]
        known = 1.0 - hole
        with torch.no_grad():
            if self.arch.prior == "partial-conv":
                self.net.prior.eval()  # frozen in stage 2: batch norm uses its running statistics
            coarse = self.net.coarse(truth, known, batch.get("landmarks"))
        repeats = z.shape[0] // truth.shape[0]
        return self.generator(z, coarse.repeat(repeats, 1, 1, 1), known.repeat(repeats, 1, 1, 1))

    def discriminate(self, image: Tensor, hole: Tensor, discriminator=None) -> list[list[Tensor]]:
        return (discriminator or self.discriminator)(torch.cat([image, hole], 1))

    def diversity_loss(self, first: Tensor, second: Tensor, hole: Tensor) -> Tensor:
        """PD-GAN's perceptual diversity: the inverse distance of two samples' features inside the hole
        (``diversity`` = "paper"), or its bounded form (see ``PDGANConfig.diversity``)."""
        distance = 0.0
        for a, b in zip(self.perceptual(first), self.perceptual(second)):
            inside = F.interpolate(hole, size=a.shape[-2:], mode="area")
            distance = distance + ((a.float() - b.float()).abs() * inside).mean()
        if self.cfg.diversity == "bounded":
            return 1.0 / (1.0 + distance / self.cfg.diversity_scale)
        return 1.0 / (distance + 1e-5)

    def counts_for_best(self) -> bool:
        """Under the recipe, held-out scores count only once the diversity term acts: before that the
        generator ignores z and the best-scoring checkpoint would be a deterministic copy of its prior."""
        return self.cfg.rec_loss != "ssim-l1" or self.adversarial_weight > 0

    def heatmap_loss(self, output: Tensor, truth: Tensor) -> Tensor:
        """4.3.2: squared heatmap differences summed over pixels, averaged over landmarks."""
        predicted, _ = self.face_analysis(self.resize_for_analysis(output))
        with torch.no_grad():
            target, _ = self.face_analysis(self.resize_for_analysis(truth))
        return (predicted - target).pow(2).sum(dim=(2, 3)).mean()

    def resize_for_analysis(self, image: Tensor) -> Tensor:
        size = self.face_analysis.arch.resolution
        return image if image.shape[-1] == size else F.interpolate(image, size=(size, size), mode="bilinear", align_corners=False)

    def train_step(self, batch: dict[str, Tensor], step: int) -> dict[str, float]:
        if step < self.prior_steps:
            with self.autocast():
                losses = self.prior_losses(batch)
                total = sum(PRIOR_LOSS_WEIGHTS[k] * v for k, v in losses.items())
            self.backward_step(total, self.opt_prior)
            return {"prior": total.item(), **{f"prior_{k}": v.item() for k, v in losses.items()}}
        return self.generator_step(batch)

    def generator_step(self, batch: dict[str, Tensor]) -> dict[str, float]:
        cfg: PDGANConfig = self.cfg
        truth, hole = batch["image"], batch["mask"][:, :1]
        b = truth.shape[0]
        recipe = cfg.rec_loss == "ssim-l1"
        adv_scale = self.adversarial_weight  # the recipe: 0 until its adversarial phase
        z = torch.randn(2 * b, cfg.latent_dim, device=self.device)  # two samples per face, for L_div
        logs: dict[str, float] = {}
        with self.autocast():
            out = self.generate(batch, z)
            holes, truths = hole.repeat(2, 1, 1, 1), truth.repeat(2, 1, 1, 1)
        if adv_scale:
            with self.autocast():
                real = self.discriminate(truths, holes)
                fake = self.discriminate(out.detach(), holes)
                d_loss = sum(F.relu(1 - r[-1]).mean() + F.relu(1 + f[-1]).mean() for r, f in zip(real, fake))  # hinge
            self.backward_step(d_loss, self.opt_d)
            logs["d"] = d_loss.item()

        discriminator = unwrap(self.discriminator)
        set_requires_grad(discriminator, False)
        with self.autocast():
            losses: dict[str, Tensor] = {}
            weights: dict[str, float] = {}
            if recipe:  # reconstruction of both samples' composites; the paper's terms enter late and small
                losses["rec"] = composite_loss(out * holes + truths * (1 - holes), truths)
                weights["rec"] = 1.0
            else:
                losses["skin"] = (batch["skin"].repeat(2, 1, 1, 1) * (out - truths)).abs().mean()  # 4.3.1
                weights["skin"] = cfg.alpha_skin
            if adv_scale:
                fake = self.discriminate(out, holes, discriminator)
                losses["adv"] = -sum(f[-1].mean() for f in fake)
                losses["fm"] = sum(F.l1_loss(f, r.detach()) for fs, rs in zip(fake, real)
                                   for f, r in zip(fs[:-1], rs[:-1])) / len(fake)
                losses["perceptual"] = perceptual_loss(out, truths, features=self.perceptual)
                losses["diversity"] = self.diversity_loss(out[:b], out[b:], hole)
                scale = adv_scale if recipe else 1.0
                weights.update(adv=scale * cfg.lambda_adv, fm=scale * cfg.lambda_fm,
                               perceptual=scale * cfg.lambda_perceptual, diversity=scale * cfg.lambda_diversity)
                if self.face_analysis is not None:
                    losses["heatmap"] = self.heatmap_loss(out, truths)
                    weights["heatmap"] = scale * cfg.beta_heatmap
            g_loss = sum(weights[k] * v for k, v in losses.items())
        self.backward_step(g_loss, self.opt_g)
        set_requires_grad(discriminator, True)
        return {**logs, "g": g_loss.item(), **{k: v.item() for k, v in losses.items()}}

    @torch.no_grad()
    def sample(self, batch: dict[str, Tensor]) -> dict[str, Tensor]:
        truth, hole = batch["image"], batch["mask"][:, :1]
        known = 1.0 - hole
        prior = self.net.coarse(truth, known, batch.get("landmarks"))
        b = truth.shape[0]
        if b <= self.grid_z.shape[1]:  # the same z every grid, so the grids show training progress
            z = torch.cat([self.grid_z[0, :b], self.grid_z[1, :b]]).to(self.device)
        else:
            z = torch.randn(2 * b, self.cfg.latent_dim, device=self.device)
        out = unwrap(self.generator)(z, prior.repeat(2, 1, 1, 1), known.repeat(2, 1, 1, 1))
        first, second = out[:b], out[b:]
        return {"output": first, "composite": first * hole + truth * known,
                "prior": prior, "second_sample": second * hole + truth * known}

    @torch.no_grad()
    def validate(self, batch: dict[str, Tensor]) -> dict[str, list[float]]:
        """PSNR/SSIM of the first sample, and how far two samples differ inside the hole (mean absolute
        difference, 0-255 scale): a PD-GAN whose samples are all alike has learned nothing of z."""
        outputs = self.sample(batch)
        hole = batch["mask"][:, :1]
        spread = ((outputs["composite"] - outputs["second_sample"]).abs().mean(dim=1, keepdim=True) * hole).sum(dim=(1, 2, 3))
        spread = spread / hole.sum(dim=(1, 2, 3)).clamp_min(1.0) * 127.5  # [-1, 1] differences on a 0-255 scale
        return {**score_composites(outputs["composite"], batch["image"]), "sample_spread": spread.float().cpu().tolist()}

    def export(self):
        tensors = {f"generator.{k}": v for k, v in self.shipped_state("generator").items()}
        if self.arch.prior == "partial-conv":
            tensors.update({f"prior.{k}": v for k, v in self.net.prior.state_dict().items()})
        arch = dataclasses.asdict(self.arch)
        if self.arch.prior == "partial-conv":  # older files load as the paper's form
            arch.pop("prior"), arch.pop("residual")
        return tensors, arch

    def load_export(self, tensors: dict[str, Tensor]) -> None:
        own = {k: v.float() if v.is_floating_point() else v for k, v in tensors.items()}
        unwrap(self.generator).load_state_dict({k.removeprefix("generator."): v for k, v in own.items()
                                                if k.startswith("generator.")})
        if self.arch.prior == "partial-conv":
            self.net.prior.load_state_dict({k.removeprefix("prior."): v for k, v in own.items() if k.startswith("prior.")})
