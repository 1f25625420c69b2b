"""Training the auxiliary FaceAnalysisNet: 68 landmark heatmaps and the 8-class parsing map.

Targets come from the data pipeline (dlib landmarks drawn as heatmaps and as a parsing map by
``engine.face.labels``), so the network learns to reproduce them from pixels alone, also on
completed faces where no detector ran. Held-out score: NME of the soft-argmax landmarks.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from engine.models.face_analysis import FaceAnalysisArchitecture, FaceAnalysisNet, heatmap_landmarks
from training.config import TrainConfig
from training.methods import TrainMethod, register, unwrap


@dataclass
class FaceAnalysisConfig(TrainConfig):
    """No paper: the usual settings of heatmap regressors (Adam 1e-3, MSE heatmaps, CE parsing)."""

    method: str = "face-analysis"
    resolution: int = 128
    width: int = 32
    depth: int = 4
    batch_size: int = 32
    epochs: int = 30
    lr: float = 1e-3
    beta1: float = 0.9
    aligned: bool = True  # the crops every consumer (GFC, PD-GAN, DCGAN search) feeds it
    augment: bool = True
    mask_mix: dict[str, float] = field(default_factory=lambda: {"block": 1.0})  # masks are drawn but unused
    # Heatmaps are mostly background, so their pixel-mean MSE is ~100x smaller than the parsing
    # cross-entropy; this weight puts the two on a par.
    heatmap_weight: float = 100.0
    # Integral regression (Sun et al. 2018): L1 on the soft-argmax landmarks, in units of the crop
    # size. Pixel MSE alone leaves the maps flat for thousands of steps (peaks form late); this term
    # pulls every map's mass to its landmark from the first step.
    coordinate_weight: float = 10.0
    mean_face_prior: bool = False  # see FaceAnalysisArchitecture; the quality recipe turns it on
    prior_samples: int = 512  # training crops averaged into the mean face


@register
class FaceAnalysisMethod(TrainMethod):
    name = "face-analysis"
    config_cls = FaceAnalysisConfig
    # Full resolution throughout (the mean-face prior is drawn at it), no prefill: it completes nothing.
    # Width 16 keeps the file at 2.5 MB: at width 32 (10 MB) the six shipped networks exceed 50 MB.
    quality_recipe = {"mean_face_prior": True, "width": 16, "low_resolution": 0, "batch_size": 32, "lr": 1e-3}

    def build(self) -> None:
        cfg: FaceAnalysisConfig = self.cfg
        self.arch = FaceAnalysisArchitecture(resolution=cfg.resolution, width=cfg.width, depth=cfg.depth,
                                             mean_face_prior=cfg.mean_face_prior)
        self.net = FaceAnalysisNet(self.arch).to(self.device)
        self.optimizer = torch.optim.Adam(self.net.parameters(), lr=cfg.lr, betas=(cfg.beta1, cfg.beta2))

    def networks(self):
        return {"net": self.net}

    def prepare_data(self, train_set) -> None:
        """Set the mean-face prior from ``prior_samples`` training crops spread over the set."""
        if not self.arch.mean_face_prior or not len(train_set):
            return
        picks = np.unique(np.linspace(0, len(train_set) - 1, min(self.cfg.prior_samples, len(train_set))).astype(int))
        samples = [train_set[int(i)] for i in picks]
        self.net.set_mean_face(torch.stack([s["landmarks"] for s in samples]).to(self.device),
                               torch.stack([s["parsing"] for s in samples]).to(self.device))

    def optimizers(self):
        return {"optimizer": self.optimizer}

    def train_step(self, batch: dict[str, Tensor], step: int) -> dict[str, float]:
        with self.autocast():
            heatmaps, parsing = self.net(batch["image"])
            heatmap_loss = F.mse_loss(heatmaps.float(), batch["heatmaps68"])
            parsing_loss = F.cross_entropy(parsing.float(), batch["parsing"])
            loss = self.cfg.heatmap_weight * heatmap_loss + parsing_loss
            losses = {"heatmaps": heatmap_loss.item(), "parsing": parsing_loss.item()}
            if self.cfg.coordinate_weight:
                points = heatmap_landmarks(heatmaps.float())
                coordinate_loss = F.l1_loss(points, batch["landmarks"].float()) / self.cfg.resolution
                loss = loss + self.cfg.coordinate_weight * coordinate_loss
                losses["coordinates"] = coordinate_loss.item()
        self.backward_step(loss, self.optimizer)
        return {"loss": loss.item(), **losses}

    @torch.no_grad()
    def sample(self, batch: dict[str, Tensor]) -> dict[str, Tensor]:
        heatmaps, parsing = self.net(batch["image"])
        return {"heatmaps": heatmaps, "segmentation": parsing}

    @torch.no_grad()
    def validate(self, batch: dict[str, Tensor]) -> dict[str, list[float]]:
        """NME (inter-ocular) of the heatmap peaks, as landmark detectors are scored, and parsing accuracy."""
        from engine.face.labels import heatmap_peaks
        from engine.metrics import landmark_nme

        heatmaps, parsing = self.net(batch["image"])
        predicted = [heatmap_peaks(maps) for maps in heatmaps.float().cpu().numpy()]
        truth = batch["landmarks"].cpu().numpy()
        accuracy = (parsing.argmax(dim=1) == batch["parsing"]).float().mean(dim=(1, 2)).cpu().numpy()
        return {"nme": [landmark_nme(p, t) for p, t in zip(predicted, truth)], "parsing_accuracy": list(np.asarray(accuracy))}

    def export(self):
        arch = {"resolution": self.arch.resolution, "width": self.arch.width, "depth": self.arch.depth}
        if self.arch.mean_face_prior:  # older files load as the plain network
            arch["mean_face_prior"] = True
        return dict(unwrap(self.net).state_dict()), arch
