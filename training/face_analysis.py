"""Training the auxiliary FaceAnalysisNet: 68 landmark heatmaps and the 8-class parsing map.

Targets come from the data pipeline (dlib landmarks drawn as heatmaps and as a parsing map by
``engine.face.labels``), so the network learns to reproduce them from pixels alone, also on
completed faces where no detector ran. Held-out score: NME of the soft-argmax landmarks.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from engine.models.face_analysis import FaceAnalysisArchitecture, FaceAnalysisNet, heatmap_landmarks
from training.config import TrainConfig
from training.methods import TrainMethod, load_keeping_fresh, register, unwrap

log = logging.getLogger(__name__)


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
    # A linear landmark regressor on pooled encoder features moves the prior to each face (see
    # FaceAnalysisArchitecture.landmark_regression); the quality recipe turns it on.
    landmark_regression: bool = False
    regression_weight: float = 10.0  # L1 on the regressed landmarks, in units of the crop size
    # Before step 0, solve the regressor in closed form (ridge regression on standardised features)
    # over this many training crops, on the encoder as the run starts (--init or fresh); 0 = leave
    # it to the gradient steps. A minute on 2 CPU cores instead of hours of SGD on one linear layer.
    ridge_samples: int = 0
    ridge_lambda: float = 1000.0  # chosen on held-out faces among 1e3, 3e3, 1e4 (8,000 crops)
    # BatchNorm layers keep their running statistics (eval mode) while the weights train. A
    # continuing run sets it (training.recipe.CONTINUING): the ridge fit read eval-mode features, and
    # batch statistics would move them under it (measured: held-out NME 0.15 -> 1.5 in one step).
    freeze_batchnorm: bool = False


@register
class FaceAnalysisMethod(TrainMethod):
    name = "face-analysis"
    config_cls = FaceAnalysisConfig
    best_metric = ("nme", False)
    growable_flags = ("landmark_regression",)  # the regressor is fitted before step 0 (fit_before_training)
    # Full resolution throughout (the mean-face prior is drawn at it), no prefill: it completes nothing.
    # Width 16 keeps the file at 2.5 MB: at width 32 (10 MB) the six shipped networks exceed 50 MB.
    quality_recipe = {"mean_face_prior": True, "width": 16, "low_resolution": 0, "batch_size": 32, "lr": 1e-3,
                      "landmark_regression": True, "ridge_samples": 8000}

    def build(self) -> None:
        cfg: FaceAnalysisConfig = self.cfg
        self.arch = FaceAnalysisArchitecture(resolution=cfg.resolution, width=cfg.width, depth=cfg.depth,
                                             mean_face_prior=cfg.mean_face_prior,
                                             landmark_regression=cfg.landmark_regression)
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

    def load_export(self, tensors: dict[str, Tensor]) -> None:
        load_keeping_fresh(unwrap(self.net), tensors, ("landmark_regressor.",))

    def fit_before_training(self, train_set) -> bool:
        """Solve the landmark regressor in closed form on the starting encoder (``ridge_samples``)."""
        if not (self.arch.landmark_regression and self.cfg.ridge_samples > 0 and len(train_set)):
            return False
        fit_landmark_regressor(unwrap(self.net), train_set, self.cfg.ridge_samples, self.cfg.ridge_lambda, self.device)
        return True

    def optimizers(self):
        return {"optimizer": self.optimizer}

    def train(self, mode: bool = True) -> None:
        super().train(mode)
        if mode and self.cfg.freeze_batchnorm:
            for module in unwrap(self.net).modules():
                if isinstance(module, torch.nn.modules.batchnorm._BatchNorm):
                    module.eval()

    def train_step(self, batch: dict[str, Tensor], step: int) -> dict[str, float]:
        with self.autocast():
            heatmaps, parsing, regressed = self.net(batch["image"], with_landmarks=True)
            heatmap_loss = F.mse_loss(heatmaps.float(), batch["heatmaps68"])
            parsing_loss = F.cross_entropy(parsing.float(), batch["parsing"])
            loss = self.cfg.heatmap_weight * heatmap_loss + parsing_loss
            losses = {"heatmaps": heatmap_loss.item(), "parsing": parsing_loss.item()}
            if self.cfg.coordinate_weight:
                points = heatmap_landmarks(heatmaps.float())
                coordinate_loss = F.l1_loss(points, batch["landmarks"].float()) / self.cfg.resolution
                loss = loss + self.cfg.coordinate_weight * coordinate_loss
                losses["coordinates"] = coordinate_loss.item()
            if regressed is not None and self.cfg.regression_weight:
                regression_loss = F.l1_loss(regressed.float(), batch["landmarks"].float()) / self.cfg.resolution
                loss = loss + self.cfg.regression_weight * regression_loss
                losses["regression"] = regression_loss.item()
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
        if self.arch.landmark_regression:
            arch["landmark_regression"] = True
        return dict(unwrap(self.net).state_dict()), arch


@torch.no_grad()
def fit_landmark_regressor(net: FaceAnalysisNet, train_set, samples: int, ridge_lambda: float, device,
                           batch_size: int = 64) -> float:
    """Ridge regression from the pooled encoder features (eval mode, as inference runs) of ``samples``
    training crops spread over the set to their landmarks' offsets from the mean face; writes the
    solution into ``net.landmark_regressor`` (standardisation folded in). Returns the fit's mean
    absolute error in pixels on those crops."""
    from training.data import collate

    was_training = net.training
    net.eval()
    picks = np.unique(np.linspace(0, len(train_set) - 1, min(samples, len(train_set))).astype(int))
    features, targets = [], []
    for start in range(0, len(picks), batch_size):
        batch = collate([train_set[int(i)] for i in picks[start:start + batch_size]])
        feats = net.features(batch["image"].to(device).float())
        features.append(net.pooled_features(feats).double().cpu())
        targets.append((batch["landmarks"].double() - net.mean_landmarks.double().cpu()).flatten(1))
    x, y = torch.cat(features), torch.cat(targets)
    mean, std = x.mean(0), x.std(0) + 1e-6
    z = (x - mean) / std
    y_mean = y.mean(0)
    gram = z.T @ z + ridge_lambda * torch.eye(z.shape[1], dtype=z.dtype)
    solution = torch.linalg.solve(gram, z.T @ (y - y_mean))  # (features, 136)
    weight = (solution / std[:, None]).T
    bias = y_mean - (mean / std) @ solution
    net.landmark_regressor.weight.copy_(weight.to(net.landmark_regressor.weight))
    net.landmark_regressor.bias.copy_(bias.to(net.landmark_regressor.bias))
    net.train(was_training)
    error = float((z @ solution + y_mean - y).abs().mean())
    log.info("landmark regressor: ridge fit on %d training crops (%d features), %.2f px mean error on them",
             len(picks), z.shape[1], error)
    return error
