"""The sampler of every training run: shuffled per epoch, resumable mid-epoch, DDP-aware."""

from __future__ import annotations

from torch.utils.data import DistributedSampler


class ResumableSampler(DistributedSampler):
    """``DistributedSampler`` that remembers how far into the epoch this rank has read.

    The shuffled order depends only on (seed, epoch), so restoring (epoch, position) resumes the
    exact data order. Works without a process group (one replica) too.
    """

    def __init__(self, size: int, seed: int, *, num_replicas: int = 1, rank: int = 0) -> None:
        super().__init__(range(size), num_replicas=num_replicas, rank=rank, shuffle=True, seed=seed)
        self.position = 0

    def __iter__(self):
        order = list(super().__iter__())
        return iter(order[self.position:])

    def advance(self, count: int) -> None:
        self.position += count

    def next_epoch(self) -> None:
        self.set_epoch(self.epoch + 1)
        self.position = 0

    def state_dict(self) -> dict[str, int]:
        return {"epoch": self.epoch, "position": self.position}

    def load_state_dict(self, state: dict[str, int]) -> None:
        self.set_epoch(int(state["epoch"]))
        self.position = int(state["position"])
