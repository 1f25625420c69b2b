"""The training loop every method shares: data, DDP, AMP, logging, samples, checkpoints, resume.

A run folder holds ``config.toml`` (the full configuration), ``checkpoints/last.pt`` (written
atomically every ``checkpoint_every`` steps and when the run stops, Ctrl-C and SIGTERM included),
``samples/step_*.png`` grids, TensorBoard logs (``metrics.csv`` without tensorboard) and
``run.json`` (data counts, steps, wall time, device) for the model card.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import math
import os
import random
import signal
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from PIL import Image
from torch.utils.data import DataLoader

from engine.atomic import atomic_write, atomic_write_text
from engine.device import select_device
from engine.errors import FaceInpaintError
from training.config import TrainConfig, load_config, save_config
from training.data import ResumableSampler, build_datasets, collate
from training.methods import TrainMethod
from training.recipe import linear_lr, resolve_precision
from training.visual import sample_grid

log = logging.getLogger(__name__)

CHECKPOINT = Path("checkpoints") / "last.pt"
BEST_CHECKPOINT = Path("checkpoints") / "best.pt"  # the best held-out score so far (``val_every`` > 0)
UNBOUNDED_STEPS = 10**12  # a run limited by ``minutes`` alone
VAL_SCORE_IMAGES = 64  # held-out crops scored every ``val_every`` steps


class TrainingDiverged(FaceInpaintError):
    """A loss became NaN or infinite; the last good checkpoint is kept."""


@dataclasses.dataclass
class RunOutcome:
    step: int
    finished: bool  # False when stopped early by a signal
    images_per_second: float


def _leave_stop_signals_to_the_main_process(worker_id: int) -> None:
    """Data-loader workers ignore Ctrl-C and SIGTERM.

    Terminals, ``timeout``, schedulers and ``kill -- -PGID`` signal the whole process group; a
    worker killed by that makes the main process die mid-step with "DataLoader worker is killed"
    instead of finishing the step and saving its checkpoint. The main process stops the workers
    itself when it shuts the loader down.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)


@dataclasses.dataclass
class _Run:
    """What one run carries from step to step."""

    method: TrainMethod
    device: torch.device
    train_set: Any
    report: Any
    sampler: ResumableSampler
    step: int
    total_steps: int
    wall_before: float  # seconds spent by the earlier parts of a resumed run
    budget_s: float  # the run's wall-clock budget; 0 = none
    val_batch: dict | None
    score_batches: list
    best: float
    writer: Any
    progress: Any
    on_device: Any = None
    start: float = 0.0
    last_checkpoint: float = 0.0
    images_seen: int = 0
    stopping: bool = False
    finished: bool = False

    def wall(self) -> float:
        """Seconds of training behind the run now, earlier parts included."""
        return self.wall_before + time.monotonic() - self.start


class Trainer:
    def __init__(self, method_cls: type[TrainMethod], cfg: TrainConfig, *, resume: bool = False) -> None:
        if not cfg.out:
            raise FaceInpaintError("no run folder given: pass --out RUN_DIR")
        self.cfg = cfg
        self.method_cls = method_cls
        self.resume = resume
        self.out = Path(cfg.out)
        self.world = int(os.environ.get("WORLD_SIZE", "1"))
        self.rank = int(os.environ.get("RANK", "0"))
        self.is_main = self.rank == 0
        self._stop_signal: int | None = None

    # -- setup -------------------------------------------------------------------------------------
    def _setup_distributed(self) -> torch.device:
        device = select_device(self.cfg.device)
        if self.world > 1:
            local = int(os.environ.get("LOCAL_RANK", "0"))
            if device.type == "cuda":
                torch.cuda.set_device(local)
                device = torch.device("cuda", local)
            if not dist.is_initialized():
                dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
        return device

    def _barrier(self) -> None:
        if self.world > 1:
            dist.barrier()

    def _agree(self, stop: bool, diverged: bool, device) -> tuple[bool, bool]:
        """Under DDP every process must stop at the same step: any one's signal or NaN stops all."""
        if self.world == 1:
            return stop, diverged
        flags = torch.tensor([float(stop), float(diverged)], device=device)
        dist.all_reduce(flags, op=dist.ReduceOp.MAX)
        return bool(flags[0]), bool(flags[1])

    def _install_signal_handlers(self) -> dict:
        def request_stop(signum, _frame):
            if self._stop_signal is not None:  # second Ctrl-C: give up at once, keep the last checkpoint
                raise KeyboardInterrupt
            self._stop_signal = signum
            log.warning("signal %s: saving a checkpoint and stopping after this step", signum)

        previous = {}
        try:
            for sig in (signal.SIGINT, signal.SIGTERM):
                previous[sig] = signal.signal(sig, request_stop)
        except ValueError:  # not the main thread (e.g. embedded): Ctrl-C behaves as usual
            pass
        return previous

    # -- the run -----------------------------------------------------------------------------------
    def run(self) -> RunOutcome:
        """Prepare, train epoch after epoch until the steps or minutes are spent (or a signal), finish."""
        run = self._prepare()
        previous_handlers = self._install_signal_handlers()
        try:
            run.method.train()
            while run.step < run.total_steps and not run.stopping:
                self._epoch(run)
            run.finished = run.step >= run.total_steps
            self._save_checkpoint(self.out / CHECKPOINT, run.method, run.sampler, run.step, run.wall())
        finally:
            for sig, handler in previous_handlers.items():
                signal.signal(sig, handler)
            run.progress.close()
            if run.writer is not None:
                run.writer.close()
        return self._finish(run)

    # -- the parts of a run ------------------------------------------------------------------------
    def _prepare(self) -> _Run:
        """Run folder, data, the method (precision, memory layout, EMA), sampler, resume or --init."""
        cfg = self.cfg
        device = self._setup_distributed()
        ckpt_path = self.out / CHECKPOINT
        if self.is_main:
            self.out.mkdir(parents=True, exist_ok=True)
            if ckpt_path.exists() and not self.resume:
                raise FaceInpaintError(f"{self.out} already holds a run: pass --resume to continue it, or pick a new --out")
            if self.resume:
                remove_stale_temporaries(ckpt_path.parent)
            if not (self.resume and ckpt_path.exists()):  # a resumed run's config is saved once its checkpoint fits
                save_config(cfg, self.out / "config.toml")
        _seed_everything(cfg.seed + self.rank)

        if self.is_main:
            train_set, val_set, report = build_datasets(cfg)
        self._barrier()
        if not self.is_main:
            train_set, val_set, report = build_datasets(cfg)  # reads the cache rank 0 just wrote
        if len(train_set) < cfg.batch_size * self.world:
            raise FaceInpaintError(
                f"only {len(train_set)} usable training faces in {', '.join(cfg.data) or cfg.pack}: "
                f"fewer than one batch of {cfg.batch_size} x {self.world} process(es)"
            )
        for dataset in (train_set, val_set):
            dataset.keys = self.method_cls.batch_keys
        method = self._build_method(device)
        train_set.size = cfg.resolution
        method.prepare_data(train_set)  # before resume/--init, whose weights then replace what it set

        sampler = ResumableSampler(len(train_set), cfg.seed, num_replicas=self.world, rank=self.rank)
        steps_per_epoch = len(sampler) // cfg.batch_size
        total_steps = cfg.steps or (UNBOUNDED_STEPS if cfg.minutes > 0 else cfg.epochs * steps_per_epoch)
        step, wall_before = 0, 0.0
        if self.resume and ckpt_path.exists():
            step, wall_before = self._load_checkpoint(ckpt_path, method, sampler, device)
            if self.is_main:
                save_config(cfg, self.out / "config.toml")
            log.info("resumed %s at step %d", self.out, step)
        elif self.resume:
            log.warning("--resume: no checkpoint in %s yet, starting from step 0", self.out)
        if cfg.init and step == 0:
            method.init_from(cfg.init)
            log.info("continuing from the weights %s", cfg.init)
        if step == 0:
            fit_start = time.monotonic()
            if method.fit_before_training(train_set):
                method.restart_ema()
            wall_before += time.monotonic() - fit_start  # a closed-form fit is training time too
        if self.world > 1:
            from torch.nn.parallel import DistributedDataParallel as DDP

            ids = [device.index] if device.type == "cuda" else None
            method.wrap_ddp(lambda net: DDP(net, device_ids=ids))

        run = _Run(
            method=method, device=device, train_set=train_set, report=report, sampler=sampler, step=step,
            total_steps=total_steps, wall_before=wall_before, budget_s=cfg.minutes * 60.0,
            val_batch=collate([val_set[i] for i in range(min(cfg.val_samples, len(val_set)))]) if len(val_set) else None,
            score_batches=self._score_batches(val_set) if cfg.val_every > 0 and self.is_main else [],
            best=self._best_score(), writer=_MetricsWriter(self.out) if self.is_main else None,
            progress=_progress(self.is_main, total_steps, step),
        )
        if run.score_batches and step == 0:  # the starting point (the prefill alone, under the recipe) is the bar
            run.best = self._keep_if_best(method, sampler, run.score_batches, 0, wall_before, run.best)
        if cfg.device_batches and cfg.pack:
            from training.device_batches import DeviceBatches

            run.on_device = DeviceBatches(train_set, cfg, device, self.method_cls.batch_keys)
        train_set.size = cfg.low_resolution or cfg.resolution
        run.start = run.last_checkpoint = time.monotonic()
        return run

    def _build_method(self, device: torch.device) -> TrainMethod:
        cfg = self.cfg
        method = self.method_cls(cfg, device)
        method.precision = resolve_precision(cfg.precision if cfg.amp else "fp32", device)
        method.build()
        if method.precision == "fp16":
            method.scaler = torch.amp.GradScaler("cuda")
        if cfg.channels_last:
            method.channels_last = True
            for net in method.networks().values():
                net.to(memory_format=torch.channels_last)
        method.setup_ema(cfg.ema_decay)
        log.info("%s on %s, %s%s", method.name, device, method.precision, ", channels_last" if cfg.channels_last else "")
        return method

    def _epoch(self, run: _Run) -> None:
        """One pass over the data (the rest of it, after a resume), one optimisation step per batch."""
        cfg = self.cfg
        run.train_set.set_epoch(run.sampler.epoch)
        if run.on_device is not None:  # a pack held on the device: batches drawn there, for step ``run.step``
            remaining = (len(run.sampler) - run.sampler.position) // cfg.batch_size
            loader = (run.on_device.next_batch(run.step, cfg.batch_size, run.train_set.size) for _ in range(remaining))
        else:
            loader = DataLoader(
                run.train_set, batch_size=cfg.batch_size, sampler=run.sampler, num_workers=cfg.num_workers,
                generator=_loader_generator(cfg.seed, run.sampler.epoch),
                collate_fn=collate, drop_last=True, pin_memory=run.device.type == "cuda",
                persistent_workers=False, worker_init_fn=_leave_stop_signals_to_the_main_process,
            )
        for batch in loader:
            losses = self._step(run, run.method.to_device(batch))
            self._after_step(run, losses)
            if run.step >= run.total_steps or run.stopping:
                return
        run.sampler.next_epoch()

    def _step(self, run: _Run, batch: dict) -> dict[str, float]:
        """Schedule (progress, learning rate, resolution), the method's step, EMA, divergence and stop checks."""
        cfg, method = self.cfg, run.method
        method.progress = min(1.0, max(run.step / run.total_steps if cfg.steps or not run.budget_s else 0.0,
                                       run.wall() / run.budget_s if run.budget_s else 0.0))
        if cfg.lr_schedule == "linear":
            linear_lr(method.optimizers().values(), method.progress)
        # Progressive resolution: the next batches are drawn at the size this point of the run uses.
        run.train_set.size = (cfg.low_resolution if cfg.low_resolution and method.progress < cfg.low_resolution_until
                              else cfg.resolution)
        losses = method.train_step(batch, run.step)
        method.update_ema()
        bad = [k for k, v in losses.items() if not math.isfinite(v)]
        run.stopping, diverged = self._agree(self._stop_signal is not None, bool(bad), run.device)
        if diverged:
            raise TrainingDiverged(
                f"loss {', '.join(bad) or 'of another process'} became non-finite at step {run.step + 1}; the run stopped "
                f"and {self.out / CHECKPOINT} still holds the last good state (lower the learning rate and --resume)"
            )
        if method.scaler is not None:
            method.scaler.update()
        for scheduler in method.schedulers().values():
            scheduler.step()
        run.sampler.advance(cfg.batch_size)
        run.step += 1
        run.images_seen += cfg.batch_size * self.world
        return losses

    def _after_step(self, run: _Run, losses: dict[str, float]) -> None:
        """Progress, logs, sample grids, checkpoints, the time budget and held-out scores."""
        cfg, step = self.cfg, run.step
        rate = run.images_seen / max(time.monotonic() - run.start, 1e-9)
        if self.is_main:
            run.progress.update(1)
            run.progress.set_postfix({**{k: f"{v:.3g}" for k, v in losses.items()}, "img/s": f"{rate:.1f}"})
            if step % cfg.log_every == 0 or step == 1:
                run.writer.write(step, {**losses, "images_per_second": rate})
            if run.val_batch is not None and (step % cfg.sample_every == 0 or step == run.total_steps):
                self._save_samples(run.method, run.val_batch, step)
        due = cfg.checkpoint_minutes and time.monotonic() - run.last_checkpoint >= cfg.checkpoint_minutes * 60
        if step % cfg.checkpoint_every == 0 or due:
            self._save_checkpoint(self.out / CHECKPOINT, run.method, run.sampler, step, run.wall())
            run.last_checkpoint = time.monotonic()
        if run.budget_s and run.wall() >= run.budget_s:
            run.total_steps = step  # the time budget is spent: this run is complete
        if run.score_batches and (step % cfg.val_every == 0 or step >= run.total_steps):
            run.best = self._keep_if_best(run.method, run.sampler, run.score_batches, step, run.wall(), run.best)

    def _finish(self, run: _Run) -> RunOutcome:
        rate = run.images_seen / max(time.monotonic() - run.start, 1e-9)
        if self.is_main:
            self._write_run_info(run.report, run.step, run.wall(), run.device, rate)
        if self.world > 1 and dist.is_initialized():
            dist.destroy_process_group()
        return RunOutcome(step=run.step, finished=run.finished, images_per_second=rate)

    # -- checkpoints -------------------------------------------------------------------------------
    def _save_checkpoint(self, path: Path, method: TrainMethod, sampler, step: int, wall: float) -> None:
        if not self.is_main:
            return
        state = {
            "step": step,
            "wall_time": wall,
            "method": method.name,
            "model": method.state_dict(),
            "ema": method.ema_state_dict(),
            "scaler": method.scaler.state_dict() if method.scaler is not None else None,
            "sampler": sampler.state_dict(),
            "rng": _rng_state(),
        }
        atomic_write(path, lambda f: torch.save(state, f))

    def _load_checkpoint(self, path: Path, method: TrainMethod, sampler, device) -> tuple[int, float]:
        try:
            state = torch.load(path, map_location=device, weights_only=True)
        except Exception as err:  # truncated file, not a checkpoint, or unsafe content
            raise FaceInpaintError(f"{path}: cannot read the checkpoint ({err})") from None
        if state.get("method") != method.name:
            raise FaceInpaintError(f"{path} is a {state.get('method')!r} run, not {method.name!r}")
        try:
            method.load_state_dict(state["model"])
            method.load_ema_state_dict(state.get("ema") or {})
        except (RuntimeError, KeyError, ValueError) as err:  # torch's size mismatch is a RuntimeError
            raise FaceInpaintError(f"{path} does not fit the options given{_changed_options(self.out, self.cfg)}: "
                                   "resume with the run's own options (config.toml is unchanged)") from err
        if method.scaler is not None and state.get("scaler"):
            method.scaler.load_state_dict(state["scaler"])
        sampler.load_state_dict(state["sampler"])
        _set_rng_state(state["rng"], self.rank)
        return int(state["step"]), float(state.get("wall_time", 0.0))

    # -- held-out selection --------------------------------------------------------------------------
    def _score_batches(self, val_set) -> list[dict]:
        """Fixed held-out crops (never trained on) with fixed masks: the same every time they are scored."""
        count = min(VAL_SCORE_IMAGES, len(val_set))
        size = self.cfg.batch_size
        return [collate([val_set[i] for i in range(a, min(count, a + size))]) for a in range(0, count, size)]

    def _best_score(self) -> float:
        """The resumed run's best held-out score, signed so that higher is better; -inf for a new run."""
        path = self.out / "best.json"
        if not self.resume:
            return -math.inf
        try:
            value = _signed_best(self.method_cls, json.loads(path.read_text(encoding="utf-8")))
        except (OSError, ValueError, TypeError, AttributeError):
            return -math.inf
        return -math.inf if math.isnan(value) else value

    def _keep_if_best(self, method: TrainMethod, sampler, batches, step: int, wall: float, best: float) -> float:
        """Score the shipped copy (EMA) on the held-out crops; a better score replaces best.pt."""
        scores: dict[str, list[float]] = {}
        method.train(False)
        with torch.no_grad(), method.unwrapped(), method.ema_swapped(), _global_rng_untouched():
            for batch in batches:
                for key, values in method.validate(method.to_device(batch)).items():
                    scores.setdefault(key, []).extend(values)
        method.train(True)
        means = {k: float(np.mean(v)) for k, v in scores.items()}
        log.info("step %d held-out: %s", step, ", ".join(f"{k} {v:.4f}" for k, v in means.items()))
        if not method.counts_for_best():
            return best
        score = _signed_best(method, means)
        if score > best:  # "best" is kept so that higher is better; NaN never wins
            self._save_checkpoint(self.out / BEST_CHECKPOINT, method, sampler, step, wall)
            atomic_write_text(self.out / "best.json", json.dumps({"step": step, **means}, indent=2))
            return score
        return best

    # -- outputs -----------------------------------------------------------------------------------
    def _save_samples(self, method: TrainMethod, batch, step: int) -> None:
        method.train(False)
        with torch.no_grad(), method.unwrapped(), method.ema_swapped(), _global_rng_untouched():
            outputs = method.sample(method.to_device(batch))
        method.train(True)
        grid = sample_grid(batch, {k: v.detach().float().cpu() for k, v in outputs.items()})
        atomic_write(self.out / "samples" / f"step_{step:07d}.png", lambda f: Image.fromarray(grid).save(f, format="PNG"))

    def _write_run_info(self, report, step: int, wall: float, device, rate: float) -> None:
        info = {
            "method": self.method_cls.name,
            "steps": step,
            "wall_time_s": round(wall, 1),
            "device": str(device) + (f" ({torch.cuda.get_device_name(device)})" if device.type == "cuda" else ""),
            "processes": self.world,
            "images_per_second": round(rate, 2),
            "images_seen": step * self.cfg.batch_size * self.world,
            "precision": resolve_precision(self.cfg.precision if self.cfg.amp else "fp32", device),
            "data": report.as_dict(),
        }
        atomic_write_text(self.out / "run.json", json.dumps(info, indent=2))


def run_training(method_cls: type[TrainMethod], cfg: TrainConfig, *, resume: bool = False) -> RunOutcome:
    return Trainer(method_cls, cfg, resume=resume).run()


# -- helpers ---------------------------------------------------------------------------------------
def _signed_best(method, scores: dict) -> float:
    """The method's ``best_metric`` in ``scores``, signed so that higher is better (NaN when absent)."""
    key, higher_is_better = method.best_metric
    value = float(scores.get(key, math.nan))
    return value if higher_is_better else -value


def _loader_generator(seed: int, epoch: int) -> torch.Generator:
    """The DataLoader's own RNG, a function of (seed, epoch) alone: without one, each iterator
    draws its base seed from the global RNG, so a resumed run's global RNG (restored from the
    checkpoint) would be one draw off the uninterrupted run's."""
    return torch.Generator().manual_seed((seed * 1_000_003 + epoch) % 2**63)


def remove_stale_temporaries(folder: Path) -> None:
    """Checkpoint temporaries (``engine.atomic``'s ``.NAME.XXXX.tmp``) left by a kill mid-write."""
    for name in (CHECKPOINT.name, BEST_CHECKPOINT.name):
        for stale in folder.glob(f".{name}.*.tmp"):
            log.info("removing %s, left by an interrupted checkpoint write", stale)
            stale.unlink(missing_ok=True)


def _changed_options(out: Path, cfg: TrainConfig) -> str:
    """" (width: 16 in the run, 8 now)" for the options that differ from the run's config.toml."""
    try:
        saved = load_config(type(cfg), out / "config.toml")
    except FaceInpaintError:
        return ""
    changed = [f"{f.name}: {getattr(saved, f.name)!r} in the run, {getattr(cfg, f.name)!r} now"
               for f in dataclasses.fields(cfg)
               if f.name not in ("steps", "epochs", "minutes", "device", "num_workers")
               and getattr(saved, f.name) != getattr(cfg, f.name)]
    return f" ({'; '.join(changed)})" if changed else ""


def _seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def _rng_state() -> dict[str, Any]:
    """RNG states in types ``torch.load(weights_only=True)`` accepts."""
    np_state = np.random.get_state(legacy=False)
    return {
        "python": random.getstate(),
        "numpy": {"key": torch.from_numpy(np_state["state"]["key"].astype(np.int64)),
                  "pos": int(np_state["state"]["pos"]), "has_gauss": int(np_state["has_gauss"]),
                  "gauss": float(np_state["gauss"])},
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
    }


@contextlib.contextmanager
def _global_rng_untouched():
    """Samples and held-out scores draw no numbers from the training's RNG streams: a run that
    saves samples at step 3 (its last) then resumes must go on as if it had not."""
    state = _rng_state()
    try:
        yield
    finally:
        _set_rng_state(state, rank=0)


def _set_rng_state(state: dict[str, Any], rank: int) -> None:
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    np_state = state["numpy"]
    np.random.set_state({"bit_generator": "MT19937",
                         "state": {"key": np_state["key"].cpu().numpy().astype(np.uint32), "pos": np_state["pos"]},
                         "has_gauss": np_state["has_gauss"], "gauss": np_state["gauss"]})
    torch.set_rng_state(state["torch"].cpu())
    if state["cuda"] and torch.cuda.is_available() and len(state["cuda"]) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all([s.cpu() for s in state["cuda"]])
    if rank:  # only rank 0's state was saved: keep the other ranks on distinct streams
        _seed_everything(int(torch.randint(0, 2**31 - 1, ()).item()) + rank)


def _progress(enabled: bool, total: int, initial: int):
    from tqdm import tqdm

    return tqdm(total=None if total >= UNBOUNDED_STEPS else total, initial=initial, disable=not enabled, unit="step",
                dynamic_ncols=True, mininterval=10.0)


class _MetricsWriter:
    """TensorBoard scalars, or ``metrics.csv`` when tensorboard is not installed."""

    def __init__(self, out: Path) -> None:
        self._tb = None
        self._csv = None
        try:
            from torch.utils.tensorboard import SummaryWriter

            self._tb = SummaryWriter(str(out / "tensorboard"))
        except ImportError:
            self._csv = (out / "metrics.csv").open("a", encoding="utf-8")

    def write(self, step: int, values: dict[str, float]) -> None:
        if self._tb is not None:
            for key, value in values.items():
                self._tb.add_scalar(key, value, step)
        else:
            for key, value in values.items():
                self._csv.write(f"{step},{key},{value}\n")
            self._csv.flush()

    def close(self) -> None:
        if self._tb is not None:
            self._tb.close()
        if self._csv is not None:
            self._csv.close()
