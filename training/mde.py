"""MDE training (seed 004): reconstruction, perceptual completion, adversarial and hide-and-seek losses.

Eq. 9: L = L_rec + lambda_compl L_compl^vgg + lambda_adv L_adv + lambda_HnS L_coord^HnS with the
values of 3.2.2. The paper's M is 1 on KEPT pixels; the batch's "mask" is 1 on missing ones, so
``kept = 1 - mask`` below. Images live in [0, 1] inside this method (sigmoid output, 2.5).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from engine.errors import ConfigError
from engine.masks import channel_mask_boxes
from engine.models.mde import MDEArchitecture, MDEDiscriminator, MDEGenerator, prefill_channels
from training.config import TrainConfig
from training.losses import composite_loss, gan_loss
from training.methods import TrainMethod, adam, register, set_requires_grad, unwrap
from training.recipe import QUALITY

PERCEPTUAL_LAYER_WEIGHTS = (1.0, 0.5, 0.25, 0.125, 0.0625)  # eq. 5's lambda_l, layer 1 first


@dataclass
class MDEConfig(TrainConfig):
    method: str = "mde"
    resolution: int = 96  # 3: CelebA crops resized to 96 x 96
    width: int = 64
    depth: int = 4
    bottleneck: int = 4000
    batch_size: int = 24  # 2.5
    steps: int = 300_000  # 2.5: 300 000 updates
    lr: float = 2e-4  # generator (2.5)
    lr_discriminator: float = 2e-5
    beta1: float = 0.5  # "momentum of 0.5"
    lr_power: float = 0.9  # polynomial annealing; the paper does not give the power, 0.9 is the usual one
    mask_mix: dict[str, float] = field(default_factory=lambda: {"channel": 1.0})
    channel_mode: str = "REC"  # 3.2.2: MDE-REC with S = 0.1 transfers best
    channel_area: float = 0.1
    lambda_compl: float = 2e-5  # 3.2.2
    lambda_adv: float = 1e-2
    lambda_hns: float = 1e-2
    coord: bool = True  # L_coord^HnS: x, y channels appended to the discriminator's input
    perceptual_weights: str = ""  # VGG19 or face-analysis weights for eq. 5 (see training.perceptual)


def to_unit(image: Tensor) -> Tensor:
    return (image + 1.0) / 2.0



def box_distance(predicted: Tensor, target: Tensor) -> Tensor:
    """Eq. 7-8: sum over channels of the Euclidean distance between boxes, mean over the batch."""
    return torch.linalg.vector_norm(predicted - target, dim=-1).sum(dim=1).mean()


@register
class MDEMethod(TrainMethod):
    name = "mde"
    config_cls = MDEConfig
    batch_keys = frozenset()
    # Ordinary holes as users paint them plus the paper's channel-wise masks; the FC bottleneck fixes
    # the resolution (no low-resolution phase); bottleneck 64 keeps the fp16 file near 10 MB.
    quality_recipe = {"width": 32, "bottleneck": 64, "batch_size": 16, "lr": 1e-3, "beta1": 0.9, "low_resolution": 0,
                      "mask_mix": {**QUALITY["mask_mix"], "channel": 0.15}}

    def build(self) -> None:
        cfg: MDEConfig = self.cfg
        if cfg.prefill not in ("paper", "telea"):
            raise ConfigError(f"MDE prefills with 'telea' (the recipe) or as the paper does ('paper'), got {cfg.prefill!r}: "
                              "its channel-wise masks keep known channels that a mirrored face would overwrite")
        self.arch = MDEArchitecture(resolution=cfg.resolution, width=cfg.width, depth=cfg.depth, bottleneck=cfg.bottleneck,
                                    residual=cfg.prefill == "telea")
        self.generator = MDEGenerator(self.arch).to(self.device)
        self.discriminator = MDEDiscriminator(self.arch, coord=cfg.coord).to(self.device)
        self.opt_g = adam(self.generator.parameters(), cfg)
        self.opt_d = adam(self.discriminator.parameters(), cfg, lr=cfg.lr_discriminator)
        self.sched_g = self.polynomial(self.opt_g)
        self.sched_d = self.polynomial(self.opt_d)
        from training.perceptual import PerceptualFeatures

        self.perceptual = PerceptualFeatures(cfg.perceptual_weights or None, device=self.device)
        self.box_rng = np.random.default_rng(cfg.seed)

    def polynomial(self, optimizer) -> torch.optim.lr_scheduler.LambdaLR:
        """2.5's polynomial annealing over ``steps`` (constant when the run is counted in epochs)."""
        total, power = self.cfg.steps, self.cfg.lr_power
        return torch.optim.lr_scheduler.LambdaLR(
            optimizer, lambda step: max(0.0, 1.0 - step / total) ** power if total else 1.0
        )

    def networks(self):
        return {"generator": self.generator, "discriminator": self.discriminator}

    def optimizers(self):
        return {"opt_g": self.opt_g, "opt_d": self.opt_d}

    def schedulers(self):
        return {"sched_g": self.sched_g, "sched_d": self.sched_d}

    # -- losses ------------------------------------------------------------------------------------
    def complete(self, batch: dict[str, Tensor]) -> tuple[Tensor, Tensor, Tensor]:
        """(Z in [0, 1], kept mask M per channel, G(M * Z))."""
        truth = to_unit(batch["image"])
        kept = 1.0 - batch["mask"].expand_as(truth)
        if self.arch.residual:
            return truth, kept, self.generator(prefill_channels(truth, kept), kept)
        return truth, kept, self.generator(kept * truth)

    def reconstruction_loss(self, generated: Tensor, truth: Tensor, kept: Tensor) -> Tensor:
        """Eq. 4: squared error on the kept values (mean over all values, so lambdas keep their scale)."""
        return (kept * (generated - truth)).pow(2).mean()

    def perceptual_loss(self, generated: Tensor, truth: Tensor) -> Tensor:
        """Eq. 5: lambda-weighted squared feature distances, normalised by the lambdas' sum."""
        fake, real = self.perceptual(generated * 2 - 1), self.perceptual(truth * 2 - 1)
        weights = PERCEPTUAL_LAYER_WEIGHTS[: len(fake)]
        total = sum(w * F.mse_loss(f, r.detach()) for w, f, r in zip(weights, fake, real))
        return total / sum(weights)

    def random_boxes(self, n: int) -> Tensor:
        """Eq. 8's q: random boxes drawn like the training masks' (the paper redraws them per epoch)."""
        boxes = [channel_mask_boxes(self.cfg.resolution, self.cfg.channel_mode, self.cfg.channel_area, seed=self.box_rng)
                 for _ in range(n)]
        return torch.from_numpy(np.stack(boxes)).to(self.device)

    def train_step(self, batch: dict[str, Tensor], step: int) -> dict[str, float]:
        cfg: MDEConfig = self.cfg
        boxes = batch["mask_boxes"]
        recipe = cfg.rec_loss == "ssim-l1"
        adv_scale = self.adversarial_weight  # the recipe: 0 until its adversarial phase
        logs: dict[str, float] = {}
        with self.autocast():
            truth, kept, generated = self.complete(batch)
        if adv_scale:
            with self.autocast():
                real_logits, _ = self.discriminator(truth)
                fake_logits, fake_boxes = self.discriminator(generated.detach())
                # Eq. 1 and 7: real/fake, and seek the kept boxes in fakes only (never for real images).
                d_adv = gan_loss(real_logits, True) + gan_loss(fake_logits, False)
                d_hns = box_distance(fake_boxes, boxes)
                d_loss = adv_scale * (cfg.lambda_adv * d_adv + cfg.lambda_hns * d_hns)
            self.backward_step(d_loss, self.opt_d)
            logs.update(d=d_loss.item(), hns_d=d_hns.item())

        discriminator = unwrap(self.discriminator)
        set_requires_grad(discriminator, False)
        with self.autocast():
            if recipe:
                composite = kept * truth + (1 - kept) * generated
                rec = composite_loss(composite * 2 - 1, truth * 2 - 1)
                g_loss = rec
            else:
                rec = self.reconstruction_loss(generated, truth, kept)
                compl = self.perceptual_loss(generated, truth)
                g_loss = rec + cfg.lambda_compl * compl
                logs["compl"] = compl.item()
            if adv_scale:
                logits, seen_boxes = discriminator(generated)
                g_adv = gan_loss(logits, True)
                g_hns = box_distance(seen_boxes, self.random_boxes(generated.shape[0]))  # eq. 8: hide
                weight = adv_scale if recipe else 1.0
                g_loss = g_loss + weight * (cfg.lambda_adv * g_adv + cfg.lambda_hns * g_hns)
                logs.update(adv_g=g_adv.item(), hns_g=g_hns.item())
        self.backward_step(g_loss, self.opt_g)
        set_requires_grad(discriminator, True)
        return {"g": g_loss.item(), "rec": rec.item(), **logs}

    @torch.no_grad()
    def sample(self, batch: dict[str, Tensor]) -> dict[str, Tensor]:
        truth, kept, generated = self.complete(batch)
        composite = kept * truth + (1 - kept) * generated
        return {"output": generated * 2 - 1, "composite": composite * 2 - 1, "input": (kept * truth) * 2 - 1}

    def export(self):
        arch = dataclasses.asdict(self.arch)
        if not self.arch.residual:  # older files load as the paper's form
            arch.pop("residual")
        return self.shipped_state(), arch
