"""A trivial training method that logs each step's sample indices; run as a script by the tests.

``python order_recorder.py order-recorder --data ... --out ... --set log_file=F`` is
``faceinpaint-train`` with this method registered, so tests can kill and resume real runs and
read back exactly which data each step saw.
"""

from __future__ import annotations

import os
import sys
import time
from dataclasses import dataclass

import torch
from torch import nn

from training.config import TrainConfig
from training.methods import TrainMethod, register, unwrap


@dataclass
class OrderRecorderConfig(TrainConfig):
    method: str = "order-recorder"
    log_file: str = ""
    step_delay: float = 0.0  # seconds per step, so a test can kill the run mid-way


@register
class OrderRecorder(TrainMethod):
    name = "order-recorder"
    config_cls = OrderRecorderConfig

    def build(self) -> None:
        self.net = nn.Linear(1, 1).to(self.device)
        self.optimizer = torch.optim.SGD(self.net.parameters(), lr=0.01)

    def networks(self):
        return {"net": self.net}

    def optimizers(self):
        return {"optimizer": self.optimizer}

    def train_step(self, batch, step):
        loss = self.net(batch["image"].mean(dim=(1, 2, 3))[:, None]).pow(2).mean()
        self.backward_step(loss, self.optimizer)
        rank = os.environ.get("RANK", "0")
        with open(f"{self.cfg.log_file}.{rank}", "a", encoding="utf-8") as log:
            log.write(f"{step} {' '.join(str(i) for i in batch['index'].tolist())}\n")
            log.flush()
            os.fsync(log.fileno())
        time.sleep(self.cfg.step_delay)
        return {"loss": loss.item()}

    def sample(self, batch):
        return {}

    def export(self):
        return dict(unwrap(self.net).state_dict()), {}


if __name__ == "__main__":
    from training.cli import main

    sys.exit(main())
