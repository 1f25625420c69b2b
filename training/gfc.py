"""GFC training (seed 003, Li et al. 2017): L2 reconstruction, local and global adversarial losses,
and a semantic parsing regulariser, in three stages.

Stage 1 trains with reconstruction only, stage 2 adds the local discriminator (on the hole's
bounding patch), stage 3 the global discriminator and the parsing loss. The parsing network is
our frozen FaceAnalysisNet (the paper's parser, trained on Helen, is not available); its pixel-wise
softmax loss compares its parsing of the completed face with the face's parsing labels.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from engine.models.gfc import GFCArchitecture, GFCGenerator
from engine.models.residual_unet import prefill
from training.config import TrainConfig
from training.losses import composite_loss, gan_loss
from training.methods import TrainMethod, adam, load_keeping_fresh, register, set_requires_grad, unwrap


@dataclass
class GFCConfig(TrainConfig):
    """The text we have names the losses and the stages but no weights or lengths. Ours: lambda_rec
    = 1 with pixel-mean L2, and adversarial weights of 0.001 after Context Encoders (Pathak et al.
    2016, whose L2 + adversarial recipe GFC extends); 0.005 for the parsing loss keeps it a regulariser.
    """

    method: str = "gfc"
    resolution: int = 128  # GFC works on 128 x 128 aligned faces
    width: int = 64
    bottleneck: int = 512
    skips: bool = False  # the paper's decoder sees the bottleneck only; the quality recipe adds skips
    batch_size: int = 64
    epochs: int = 20
    lr: float = 2e-4  # DCGAN's Adam settings (the discriminators are DCGAN-style)
    aligned: bool = True  # GFC aligns faces (its limitation section: it fails on unaligned ones)
    # Square holes as in the paper (random position, 64 px at 128 px); irregular: add "irregular".
    mask_mix: dict[str, float] = field(default_factory=lambda: {"block": 1.0})
    stage1_steps: int = 20000  # reconstruction only
    stage2_steps: int = 10000  # + local adversarial; afterwards + global adversarial + parsing
    lambda_rec: float = 1.0
    lambda_local: float = 0.001
    lambda_global: float = 0.001
    lambda_parsing: float = 0.005
    local_size: int = 0  # side of the local discriminator's input; 0 = resolution / 2
    face_analysis: str = "face-analysis"  # weights of the parsing network (path or manifest name)


class DCGANDiscriminator(nn.Module):
    """Radford et al.: 4x4 stride-2 convs, BatchNorm after the first, LeakyReLU, one logit."""

    def __init__(self, size: int, width: int) -> None:
        super().__init__()
        layers, cin, w = [], 3, width
        while size > 4:
            layers += [nn.Conv2d(cin, w, 4, 2, 1, bias=cin == 3)]
            if cin != 3:
                layers.append(nn.BatchNorm2d(w))
            layers.append(nn.LeakyReLU(0.2, True))
            cin, w, size = w, min(w * 2, width * 8), size // 2
        self.net = nn.Sequential(*layers, nn.Flatten(), nn.Linear(cin * size * size, 1))

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)


def hole_patches(image: Tensor, mask: Tensor, size: int) -> Tensor:
    """Each sample's hole bounding box (a square holding it), resized to ``size`` x ``size``."""
    patches = []
    full = image.shape[-1]
    for b in range(image.shape[0]):
        ys, xs = torch.nonzero(mask[b, 0] > 0.5, as_tuple=True)
        if len(xs) == 0:
            patches.append(F.interpolate(image[b : b + 1], size=(size, size), mode="bilinear", align_corners=False))
            continue
        y0, y1, x0, x1 = int(ys.min()), int(ys.max()) + 1, int(xs.min()), int(xs.max()) + 1
        side = min(full, max(y1 - y0, x1 - x0, 4))
        cy, cx = (y0 + y1) // 2, (x0 + x1) // 2
        top = min(max(0, cy - side // 2), full - side)
        left = min(max(0, cx - side // 2), full - side)
        crop = image[b : b + 1, :, top : top + side, left : left + side]
        patches.append(crop if side == size else F.interpolate(crop, size=(size, size), mode="bilinear", align_corners=False))
    return torch.cat(patches)



@register
class GFCMethod(TrainMethod):
    name = "gfc"
    config_cls = GFCConfig
    batch_keys = frozenset({"parsing"})
    # The FC bottleneck fixes the resolution: no progressive low-resolution phase. Bottleneck 128 keeps
    # the fp16 file near 8 MB at width 32 (all shipped weights must stay under 50 MB).
    # Skips: a 64-wide bottleneck alone leaves GFC below Telea on small holes (docs/model-notes/gfc.md).
    growable_flags = ("skips",)  # the zero-initialised skips join a file trained without them
    quality_recipe = {"width": 32, "bottleneck": 64, "skips": True, "batch_size": 16, "lr": 1e-3, "beta1": 0.9,
                      "low_resolution": 0}

    def build(self) -> None:
        cfg: GFCConfig = self.cfg
        recipe = cfg.prefill != "paper"
        self.arch = GFCArchitecture(resolution=cfg.resolution, width=cfg.width, bottleneck=cfg.bottleneck,
                                    prefill=cfg.prefill if recipe else "noise", residual=recipe, skips=cfg.skips)
        self.local_size = cfg.local_size or cfg.resolution // 2
        self.generator = GFCGenerator(self.arch).to(self.device)
        self.local_d = DCGANDiscriminator(self.local_size, cfg.width).to(self.device)
        self.global_d = DCGANDiscriminator(cfg.resolution, cfg.width).to(self.device)
        self.opt_g = adam(self.generator.parameters(), cfg)
        self.opt_local = adam(self.local_d.parameters(), cfg)
        self.opt_global = adam(self.global_d.parameters(), cfg)
        self.parser = self._load_parser()

    def _load_parser(self) -> nn.Module | None:
        return self.frozen_face_analysis(self.cfg.face_analysis if self.cfg.lambda_parsing else "", "parsing loss")

    def networks(self):
        return {"generator": self.generator, "local_d": self.local_d, "global_d": self.global_d}

    def load_export(self, tensors: dict[str, Tensor]) -> None:
        load_keeping_fresh(unwrap(self.generator), tensors, ("skips.",))

    def optimizers(self):
        return {"opt_g": self.opt_g, "opt_local": self.opt_local, "opt_global": self.opt_global}

    def stage(self, step: int) -> int:
        if self.cfg.rec_loss == "ssim-l1":  # the recipe: reconstruction until the adversarial phase
            return 3 if self.adversarial_weight else 1
        if step < self.cfg.stage1_steps:
            return 1
        return 2 if step < self.cfg.stage1_steps + self.cfg.stage2_steps else 3

    def _complete(self, batch: dict[str, Tensor]) -> tuple[Tensor, Tensor, Tensor]:
        image, mask = batch["image"], batch["mask"][:, :1]
        output = self.generator(prefill(image, mask, self.arch.prefill, landmarks=batch.get("landmarks")), mask)
        return output, output * mask + image * (1 - mask), mask

    def _parsing_loss(self, composite: Tensor, labels: Tensor) -> Tensor:
        size = self.parser.arch.resolution
        if composite.shape[-1] != size:
            composite = F.interpolate(composite, size=(size, size), mode="bilinear", align_corners=False)
            labels = F.interpolate(labels[:, None].float(), size=(size, size), mode="nearest")[:, 0].long()
        self.parser.eval()
        return F.cross_entropy(self.parser(composite)[1].float(), labels)

    def train_step(self, batch: dict[str, Tensor], step: int) -> dict[str, float]:
        cfg, stage = self.cfg, self.stage(step)
        image = batch["image"]
        with self.autocast():
            output, composite, mask = self._complete(batch)
        losses: dict[str, Tensor] = {}
        if stage >= 2:  # discriminator updates: local always from stage 2, global from stage 3
            with self.autocast():
                real_patch, fake_patch = hole_patches(image, mask, self.local_size), hole_patches(composite, mask, self.local_size)
                losses["d_local"] = (gan_loss(self.local_d(real_patch), True) + gan_loss(self.local_d(fake_patch.detach()), False)) / 2
            self.backward_step(losses["d_local"], self.opt_local)
        if stage >= 3:
            with self.autocast():
                losses["d_global"] = (gan_loss(self.global_d(image), True) + gan_loss(self.global_d(composite.detach()), False)) / 2
            self.backward_step(losses["d_global"], self.opt_global)

        recipe = cfg.rec_loss == "ssim-l1"
        scale = self.adversarial_weight if recipe else 1.0  # the recipe's small weight of every other term
        weights = {"local": scale if recipe else cfg.lambda_local, "global": scale if recipe else cfg.lambda_global,
                   "parsing": scale if recipe else cfg.lambda_parsing}
        with self.autocast():
            losses["rec"] = composite_loss(composite, image) if recipe else F.mse_loss(output, image)
            g_loss = (1.0 if recipe else cfg.lambda_rec) * losses["rec"]
            if stage >= 2:
                # The local loss sees the composite, so its gradients reach the hole only (the paper's L_a1).
                local_d = unwrap(self.local_d)
                set_requires_grad(local_d, False)
                losses["adv_local"] = gan_loss(local_d(hole_patches(composite, mask, self.local_size)), True)
                g_loss = g_loss + weights["local"] * losses["adv_local"]
            if stage >= 3:
                global_d = unwrap(self.global_d)
                set_requires_grad(global_d, False)
                losses["adv_global"] = gan_loss(global_d(composite), True)
                g_loss = g_loss + weights["global"] * losses["adv_global"]
                if self.parser is not None:
                    losses["parsing"] = self._parsing_loss(composite, batch["parsing"])
                    g_loss = g_loss + weights["parsing"] * losses["parsing"]
        self.backward_step(g_loss, self.opt_g)
        for d in (unwrap(self.local_d), unwrap(self.global_d)):
            set_requires_grad(d, True)
        return {"g": g_loss.item(), "stage": float(stage), **{k: v.item() for k, v in losses.items()}}

    @torch.no_grad()
    def sample(self, batch: dict[str, Tensor]) -> dict[str, Tensor]:
        output, composite, _ = self._complete(batch)
        return {"output": output, "composite": composite}

    def export(self):
        arch = {"resolution": self.arch.resolution, "width": self.arch.width, "bottleneck": self.arch.bottleneck}
        if self.arch.residual:  # older files load as the paper's form
            arch.update(prefill=self.arch.prefill, residual=True)
        if self.arch.skips:
            arch["skips"] = True
        return self.shipped_state(), arch
