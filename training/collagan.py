"""collaGAN training (Liao et al. 2018): one generator, one conditional discriminator per task.

Models M_i, M_{i,d}, M_{i,s}, M_{i,s,d} come from ``tasks``; ``concentrated = true`` gives the
M* variants (eq. 4-6): the inpainting discriminator sees the composite and the inpainting L1
counts only the hole.

Under the quality recipe (``training.recipe``) the generator is the residual U-Net on a Telea
prefill, the image loss is SSIM + L1 on the composite, the parsing and heatmap tasks stay as
auxiliary L2 terms (``aux_weight``), and the adversarial terms enter late at a small weight.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from engine.models.collagan import CollaGANArchitecture, build_generator, fill_hole, split_tasks
from engine.models.residual_unet import prefill
from training.config import TrainConfig
from training.data import MASK_KINDS
from training.losses import composite_loss, gan_loss
from training.methods import TrainMethod, adam, register, set_requires_grad, unwrap
from training.perceptual import PerceptualFeatures, perceptual_loss

# Section 4.2: loss weights for one, two and three tasks (a one-task model is M_i).
LAMBDA_TABLE = {
    1: {"adv": {"i": 1.0, "s": 1.0, "d": 1.0}, "rec": {"i": 100.0, "s": 1000.0, "d": 1000.0}},
    2: {"adv": {"i": 0.8, "s": 0.2, "d": 0.2}, "rec": {"i": 100.0, "s": 200.0, "d": 200.0}},
    3: {"adv": {"i": 0.8, "s": 0.1, "d": 0.1}, "rec": {"i": 100.0, "s": 200.0, "d": 200.0}},
}
NOISE_FILLED = {MASK_KINDS.index("block"), MASK_KINDS.index("noise")}  # 4.1; other kinds get zeros


@dataclass
class CollaGANConfig(TrainConfig):
    method: str = "collagan"
    resolution: int = 128
    width: int = 64
    epochs: int = 20  # 4.2
    lr: float = 0.01  # 4.2 states Adam with 0.01; with DCGAN's beta1 = 0.5 (they follow [28])
    batch_size: int = 64  # not given; DCGAN [28] used 128, 64 fits 8 GB GPUs at 128 px
    aligned: bool = False  # 4.1: loose crops, no alignment
    augment: bool = True
    mask_mix: dict[str, float] = field(default_factory=lambda: {"block": 1.0})  # Table 1 models
    tasks: list[str] = field(default_factory=lambda: ["i", "s", "d"])
    concentrated: bool = True  # M*: the paper's best model
    lambda_adv: dict[str, float] = field(default_factory=dict)  # empty = the 4.2 table
    lambda_rec: dict[str, float] = field(default_factory=dict)
    generator: str = "pix2pix"  # 3.4's U-Net; "residual-unet" is the quality recipe's
    aux_weight: float = 0.1  # with rec_loss = "ssim-l1": weight of the parsing and heatmap L2 terms
    # With rec_loss = "ssim-l1": weight of an L1 between perceptual features of the composite and of
    # the truth (0 = off, the paper has none). SSIM + L1 alone are nearly indifferent between a
    # mirrored half face and a blur of it, and training drifts to the blur, which loses identity.
    lambda_perceptual: float = 0.0
    perceptual_weights: str = ""  # VGG19 or face-analysis weights (see training.perceptual); "" = the default


class ConditionalDiscriminator(nn.Module):
    """5 convs (3.4): the input image with a task's output, stacked; a patch of real/fake logits."""

    def __init__(self, in_channels: int, width: int) -> None:
        super().__init__()
        w = width
        self.net = nn.Sequential(
            nn.Conv2d(in_channels, w, 4, 2, 1), nn.LeakyReLU(0.2, True),
            nn.Conv2d(w, w * 2, 4, 2, 1, bias=False), nn.BatchNorm2d(w * 2), nn.LeakyReLU(0.2, True),
            nn.Conv2d(w * 2, w * 4, 4, 2, 1, bias=False), nn.BatchNorm2d(w * 4), nn.LeakyReLU(0.2, True),
            nn.Conv2d(w * 4, w * 8, 4, 2, 1, bias=False), nn.BatchNorm2d(w * 8), nn.LeakyReLU(0.2, True),
            nn.Conv2d(w * 8, 1, 4, 1, 1),
        )

    def forward(self, condition: Tensor, output: Tensor) -> Tensor:
        return self.net(torch.cat([condition, output], dim=1))


class TaskDiscriminators(nn.Module):
    """One conditional discriminator per task behind one forward (so DDP can wrap them together)."""

    def __init__(self, task_channels: dict[str, int], width: int) -> None:
        super().__init__()
        self.by_task = nn.ModuleDict({t: ConditionalDiscriminator(3 + c, width) for t, c in task_channels.items()})

    def forward(self, condition: Tensor, outputs: dict[str, Tensor]) -> dict[str, Tensor]:
        return {t: self.by_task[t](condition, output) for t, output in outputs.items()}



@register
class CollaGANMethod(TrainMethod):
    name = "collagan"
    config_cls = CollaGANConfig
    batch_keys = frozenset({"heatmaps5", "parsing"})
    # The upper face (both eyes and brows, one of eleven presets) trailed every other case: drawn 3x as often.
    quality_recipe = {"generator": "residual-unet", "width": 32, "batch_size": 16, "lr": 1e-3, "beta1": 0.9,
                      "preset_weights": {"upper-face": 3.0}}

    def build(self) -> None:
        cfg: CollaGANConfig = self.cfg
        self.arch = CollaGANArchitecture(
            resolution=cfg.resolution, width=cfg.width, tasks=tuple(cfg.tasks), generator=cfg.generator,
            prefill="noise" if cfg.prefill == "paper" else cfg.prefill,
        )
        table = LAMBDA_TABLE[len(self.arch.tasks)]
        self.lambda_adv = {t: cfg.lambda_adv.get(t, table["adv"][t]) for t in self.arch.tasks}
        self.lambda_rec = {t: cfg.lambda_rec.get(t, table["rec"][t]) for t in self.arch.tasks}
        self.generator = build_generator(self.arch).to(self.device)
        self.discriminators = TaskDiscriminators(self.arch.task_channels, cfg.width).to(self.device)
        self.opt_g = adam(self.generator.parameters(), cfg)
        self.opt_d = adam(self.discriminators.parameters(), cfg)
        self.perceptual = None
        if cfg.lambda_perceptual and cfg.rec_loss == "ssim-l1":
            self.perceptual = PerceptualFeatures(cfg.perceptual_weights or None, device=self.device)

    def networks(self):
        return {"generator": self.generator, "discriminators": self.discriminators}

    def optimizers(self):
        return {"opt_g": self.opt_g, "opt_d": self.opt_d}

    # -- data -> tensors ---------------------------------------------------------------------------
    def _inputs(self, batch: dict[str, Tensor]) -> tuple[Tensor, Tensor]:
        """Masked input per 4.1 (noise in block/noise holes, zeros in the others), or the recipe's prefill."""
        image, mask = batch["image"], batch["mask"][:, :1]
        if self.cfg.prefill != "paper":
            return prefill(image, mask, self.cfg.prefill, landmarks=batch.get("landmarks")), mask
        noisy = torch.isin(batch["mask_kind"], torch.tensor(sorted(NOISE_FILLED), device=self.device))
        noise = (torch.rand_like(image) * 2 - 1) * noisy.view(-1, 1, 1, 1)
        return fill_hole(image, mask, noise), mask

    def _targets(self, batch: dict[str, Tensor]) -> dict[str, Tensor]:
        """Task targets coded like the tanh outputs: in [-1, 1]."""
        targets = {"i": batch["image"]}
        if "s" in self.arch.tasks:
            onehot = F.one_hot(batch["parsing"], self.arch.task_channels["s"]).permute(0, 3, 1, 2)
            targets["s"] = onehot.float() * 2 - 1
        if "d" in self.arch.tasks:
            targets["d"] = batch["heatmaps5"] * 2 - 1
        return targets

    def _reconstruction(self, outputs, targets, mask) -> dict[str, Tensor]:
        losses = {}
        for t in self.arch.tasks:
            if t == "i" and self.cfg.rec_loss == "ssim-l1":
                composite = outputs["i"] * mask + targets["i"] * (1 - mask)
                losses["i"] = composite_loss(composite, targets["i"])
                if self.perceptual is not None:
                    losses["perceptual"] = perceptual_loss(composite, targets["i"], features=self.perceptual)
            elif t == "i":
                diff = (outputs["i"] - targets["i"]).abs()
                # eq. 6: only the hole counts under M*; averaged over all pixels so lambda keeps its scale.
                losses["i"] = (diff * mask).mean() if self.cfg.concentrated else diff.mean()
            else:
                losses[t] = F.mse_loss(outputs[t], targets[t])  # eq. 3: L2 for segmentation and heatmaps
        return losses

    # -- one step ----------------------------------------------------------------------------------
    def train_step(self, batch: dict[str, Tensor], step: int) -> dict[str, float]:
        x, mask = self._inputs(batch)
        targets = self._targets(batch)
        with self.autocast():
            outputs = split_tasks(self.generator(x, mask), self.arch)
        if self.cfg.concentrated:  # eq. 4-5: the discriminator judges the composite
            outputs_for_d = {**outputs, "i": outputs["i"] * mask + targets["i"] * (1 - mask)}
        else:
            outputs_for_d = outputs
        adv_weight = self.adversarial_weight  # 0 before the recipe's adversarial phase: no discriminator work
        logs = {}
        if adv_weight:
            with self.autocast():
                real = self.discriminators(x, targets)
                fake = self.discriminators(x, {t: v.detach() for t, v in outputs_for_d.items()})
                d_loss = sum(gan_loss(real[t], True) + gan_loss(fake[t], False) for t in self.arch.tasks) / 2
            self.backward_step(d_loss, self.opt_d)
            logs["d"] = d_loss.item()

        discriminators = unwrap(self.discriminators)  # no DDP sync for the frozen pass
        set_requires_grad(discriminators, False)
        with self.autocast():
            adv = {t: gan_loss(logits, True) for t, logits in discriminators(x, outputs_for_d).items()} if adv_weight else {}
            rec = self._reconstruction(outputs, targets, mask)
            if self.cfg.rec_loss == "ssim-l1":
                g_loss = rec["i"] + self.cfg.aux_weight * sum(rec[t] for t in self.arch.tasks if t != "i")
                if "perceptual" in rec:
                    g_loss = g_loss + self.cfg.lambda_perceptual * rec["perceptual"]
                g_loss = g_loss + adv_weight * sum(self.lambda_adv[t] * v for t, v in adv.items())
            else:
                g_loss = sum(adv_weight * self.lambda_adv[t] * adv[t] + self.lambda_rec[t] * rec[t] for t in self.arch.tasks)
        self.backward_step(g_loss, self.opt_g)
        set_requires_grad(discriminators, True)
        return {**logs, "g": g_loss.item(), **{f"adv_{t}": v.item() for t, v in adv.items()},
                **{f"rec_{t}": v.item() for t, v in rec.items()}}

    @torch.no_grad()
    def sample(self, batch: dict[str, Tensor]) -> dict[str, Tensor]:
        x, mask = self._inputs(batch)
        outputs = split_tasks(self.generator(x, mask), self.arch)
        result = {"output": outputs["i"], "composite": outputs["i"] * mask + batch["image"] * (1 - mask)}
        if "s" in outputs:
            result["segmentation"] = outputs["s"]
        if "d" in outputs:
            result["heatmaps"] = outputs["d"]
        return result

    def export(self):
        arch = {"resolution": self.arch.resolution, "width": self.arch.width, "tasks": list(self.arch.tasks)}
        if self.arch.generator != "pix2pix" or self.arch.prefill != "noise":  # older files load as the paper's form
            arch.update(generator=self.arch.generator, prefill=self.arch.prefill)
        return self.shipped_state(), arch
