"""DCGAN training (seed 002, 2.3): the face generator that the latent-space search inpaints with.

The GAN is unconditional, so the batch's masks do not train it; they train the encoder E (with
``encoder``): E maps a masked crop and its mask to the z the latent search should start from. Its
loss is cheap and needs no search: on generated faces G(z) with a random mask, the L1 distance of
E's z to the true z; on real faces, the L1 distance of G(E(masked face)) to the face (the whole
crop, plus the hole on its own). ``freeze_gan`` trains E alone against a finished G ("after the
DCGAN"), with G and D in eval mode as the engine runs them.

BatchNorm's running statistics are what eval mode uses, and at batch 128 with a fast-moving G they
lag what G learned (the shipped file's completions were speckled). ``before_export`` therefore
recomputes them as plain averages over a few hundred batches of samples (as Radford et al.'s
networks are meant to be evaluated), and ``freeze_gan`` does it before E trains.

The masks also score the held-out crops, where ``validate`` runs the engine's latent search (short
budget; from E's start when there is one) and reports the PSNR and SSIM of its composites: the
numbers the model card shows are inpainting results.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from engine.models.dcgan import DCGANArchitecture, DCGANNet, LatentSearch, SearchSettings, encoder_budget
from training.config import ConfigError, TrainConfig
from training.methods import TrainMethod, adam, load_keeping_fresh, register, score_composites, set_requires_grad, unwrap


@dataclass
class DCGANConfig(TrainConfig):
    method: str = "dcgan"
    resolution: int = 64  # 2.3 / 3.3: 64 x 64 x 3 images
    width: int = 64  # Radford et al.'s ngf = ndf
    latent_dim: int = 100
    batch_size: int = 128  # Radford et al.
    epochs: int = 25
    # The thesis writes 0.001 "as suggested by Radford et al.", who suggest 0.0002 with beta1 = 0.5;
    # we follow Radford et al., whose recipe the thesis says it applies.
    lr: float = 2e-4
    beta1: float = 0.5
    mask_mix: dict[str, float] = dataclasses.field(default_factory=lambda: {"block": 1.0})  # held-out scoring only
    eval_iterations: int = 200  # latent-search budget per held-out crop in ``validate``
    eval_restarts: int = 4
    encoder: bool = True  # train (and ship) E, the search's starting point
    freeze_gan: bool = False  # train E only, against the G and D this run starts from (--init)
    encoder_latent_weight: float = 1.0  # |E(G(z) masked) - z|
    encoder_pixel_weight: float = 1.0  # |G(E(face masked)) - face|, whole crop and hole
    bn_batches: int = 300  # batches of samples BatchNorm's statistics are recomputed over


def gan_loss(logits: Tensor, real: bool) -> Tensor:
    return F.binary_cross_entropy_with_logits(logits, torch.full_like(logits, 1.0 if real else 0.0))


@register
class DCGANMethod(TrainMethod):
    name = "dcgan"
    config_cls = DCGANConfig

    def build(self) -> None:
        cfg: DCGANConfig = self.cfg
        if cfg.freeze_gan and not cfg.encoder:
            raise ConfigError("freeze_gan trains the encoder only: it needs encoder = true")
        self.arch = DCGANArchitecture(resolution=cfg.resolution, width=cfg.width, latent_dim=cfg.latent_dim,
                                      encoder=cfg.encoder)
        # ``net`` keeps the plain modules (the engine's layout) when DDP wraps the attributes below.
        self.net = DCGANNet(self.arch).to(self.device)
        self.generator, self.discriminator = self.net.generator, self.net.discriminator
        self.opt_g = adam(self.generator.parameters(), cfg)
        self.opt_d = adam(self.discriminator.parameters(), cfg)
        if cfg.encoder:
            self.encoder = self.net.encoder
            self.opt_e = adam(self.encoder.parameters(), cfg)
        self.statistics_fresh = False
        # A fixed z for the sample grids, so successive grids show the same faces improving.
        self.grid_z = self.latents(cfg.val_samples, torch.Generator().manual_seed(cfg.seed))

    def networks(self):
        nets = {"generator": self.generator, "discriminator": self.discriminator}
        return nets | ({"encoder": self.encoder} if self.cfg.encoder else {})

    def optimizers(self):
        opts = {"opt_g": self.opt_g, "opt_d": self.opt_d}
        return opts | ({"opt_e": self.opt_e} if self.cfg.encoder else {})

    def train(self, mode: bool = True) -> None:
        super().train(mode)
        if self.cfg.freeze_gan:  # E learns against G and D exactly as the engine runs them
            self.generator.eval()
            self.discriminator.eval()

    def latents(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        """z ~ U(-1, 1)^latent_dim (3.3), the box the search later clamps to."""
        return (torch.rand(n, self.arch.latent_dim, generator=generator) * 2 - 1).to(self.device)

    def train_step(self, batch: dict[str, Tensor], step: int) -> dict[str, float]:
        losses = {} if self.cfg.freeze_gan else self.gan_step(batch)
        if self.cfg.encoder:
            losses |= self.encoder_step(batch)
        return losses

    def gan_step(self, batch: dict[str, Tensor]) -> dict[str, float]:
        real = batch["image"]
        z = self.latents(real.shape[0])
        with self.autocast():
            fake = self.generator(z)
            d_loss = gan_loss(self.discriminator(real), True) + gan_loss(self.discriminator(fake.detach()), False)
        self.backward_step(d_loss, self.opt_d)

        discriminator = unwrap(self.discriminator)
        set_requires_grad(discriminator, False)
        with self.autocast():
            g_loss = gan_loss(discriminator(fake), True)  # the non-saturating generator loss
        self.backward_step(g_loss, self.opt_g)
        set_requires_grad(discriminator, True)
        return {"d": d_loss.item(), "g": g_loss.item()}

    def encoder_step(self, batch: dict[str, Tensor]) -> dict[str, float]:
        """E's latent loss on generated faces and pixel loss on real ones; G gets no update."""
        cfg: DCGANConfig = self.cfg
        if cfg.freeze_gan and not self.statistics_fresh:
            self.before_export()
            self.train(True)
        real, hole = batch["image"], batch["mask"][:, :1]
        generator = unwrap(self.generator)
        set_requires_grad(generator, False)
        with self.autocast():
            z = self.latents(real.shape[0])
            with torch.no_grad():
                fake = generator(z)
            latent_loss = F.l1_loss(self.encoder(fake, hole), z)
            rebuilt = generator(self.encoder(real, hole))
            error = (rebuilt - real).abs()
            pixel_loss = error.mean() + (error * hole).sum() / (hole.sum() * real.shape[1]).clamp(min=1.0)
            loss = cfg.encoder_latent_weight * latent_loss + cfg.encoder_pixel_weight * pixel_loss
        self.backward_step(loss, self.opt_e)
        set_requires_grad(generator, True)
        return {"e_latent": latent_loss.item(), "e_pixel": pixel_loss.item()}

    def before_export(self) -> None:
        """Recompute BatchNorm's eval statistics as plain averages over ``bn_batches`` batches of
        samples: G's over z, D's over G's faces (the inputs D judges in the search's prior term)."""
        recompute_batchnorm_statistics(self.net, self.cfg.bn_batches, self.cfg.batch_size, self.cfg.seed, self.device)
        self.statistics_fresh = True

    def architecture_fits(self, recorded, mine) -> bool:
        """A file from before E continues this run (its G and D load, E starts fresh)."""
        drop = lambda arch: {k: v for k, v in (arch or {}).items() if k != "encoder"}  # noqa: E731
        return drop(recorded) == drop(mine)

    def load_export(self, tensors: dict[str, Tensor]) -> None:
        """The exported layout; a file without E keeps this run's E as it is."""
        load_keeping_fresh(self.net, tensors, ("encoder.",))

    @torch.no_grad()
    def sample(self, batch: dict[str, Tensor]) -> dict[str, Tensor]:
        """Random faces from the fixed grid z; "composite" pastes them into the holes (no search)."""
        n = batch["image"].shape[0]
        faces = unwrap(self.generator)(self.grid_z[:n] if n <= len(self.grid_z) else self.latents(n))
        mask = batch["mask"][:, :1]
        if self.cfg.encoder:  # E's completion, the search's starting point
            faces = unwrap(self.generator)(unwrap(self.encoder)(batch["image"], mask))
        return {"output": faces, "composite": faces * mask + batch["image"] * (1 - mask)}

    def validate(self, batch: dict[str, Tensor]) -> dict[str, list[float]]:
        """Inpaint each held-out crop by latent search, then score its composite like every method."""
        cfg: DCGANConfig = self.cfg
        settings = SearchSettings(iterations=cfg.eval_iterations, restarts=cfg.eval_restarts, heatmap_loss=False,
                                  rank_by_landmarks=False, poisson=False)
        encoder = unwrap(self.encoder) if cfg.encoder else None
        search = LatentSearch(self.net, encoder_budget(settings) if encoder is not None else settings)
        composites = []
        for b in range(batch["image"].shape[0]):
            image, hole = batch["image"][b : b + 1], batch["mask"][b : b + 1, :1]
            start = encoder(image, hole) if encoder is not None else None
            found = search.run(image, hole, [cfg.seed + b], start=start).images
            composites.append(found * hole + image * (1 - hole))
        return score_composites(torch.cat(composites), batch["image"])

    def export(self):
        return dict(self.net.state_dict()), dataclasses.asdict(self.arch)


@torch.no_grad()
def recompute_batchnorm_statistics(net: DCGANNet, batches: int, batch_size: int, seed: int, device) -> None:
    """Every BatchNorm's running mean and variance replaced by its average over ``batches`` batches
    of ``batch_size`` samples drawn in train mode, as the layers normalised them while learning."""
    norms = [m for m in net.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    momenta = [m.momentum for m in norms]
    modes = (net.generator.training, net.discriminator.training)
    for m in norms:
        m.reset_running_stats()
        m.momentum = None  # a cumulative average over every batch, not an exponential one
    net.generator.train()
    net.discriminator.train()
    rng = torch.Generator().manual_seed(seed)
    try:
        for _ in range(max(1, batches)):
            z = (torch.rand(batch_size, net.arch.latent_dim, generator=rng) * 2 - 1).to(device)
            net.discriminator(net.generator(z))
    finally:
        for m, momentum in zip(norms, momenta):
            m.momentum = momentum
        net.generator.train(modes[0])
        net.discriminator.train(modes[1])
