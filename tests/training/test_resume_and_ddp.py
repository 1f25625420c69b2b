"""Real runs in subprocesses: SIGKILL then --resume, and two CPU processes under torchrun (gloo)."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from training.trainer import CHECKPOINT

RECORDER = Path(__file__).with_name("order_recorder.py")
REPO = Path(__file__).resolve().parents[2]


def recorder_args(face_folder, cache, out, log, steps, delay=0.0):
    return ["order-recorder", "--recipe", "paper", "--data", str(face_folder), "--out", str(out), "--steps", str(steps),
            "--batch-size", "2", "--num-workers", "0", "--device", "cpu", "--set", f"cache_dir={cache!s}",
            "--set", f"log_file={log!s}", "--set", f"step_delay={delay}", "--set", "checkpoint_every=1",
            "--set", "val_fraction=0.3", "--seed", "11"]


def environment():
    return {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]),
            "OMP_NUM_THREADS": "1"}


def read_log(path: Path) -> list[tuple[int, tuple[int, ...]]]:
    rows = [line.split() for line in path.read_text().splitlines() if line.strip()]
    return [(int(r[0]), tuple(int(v) for v in r[1:])) for r in rows]


@pytest.mark.slow
def test_a_killed_run_resumes_at_its_step_with_the_same_data_order(tmp_path, face_folder, landmark_cache):
    steps = 8
    reference = tmp_path / "reference.log"
    subprocess.run([sys.executable, str(RECORDER), *recorder_args(face_folder, landmark_cache, tmp_path / "ref",
                    reference, steps)], check=True, env=environment(), capture_output=True, timeout=120)
    expected = dict(read_log(Path(f"{reference}.0")))
    assert sorted(expected) == list(range(steps))

    log = tmp_path / "killed.log"
    args = recorder_args(face_folder, landmark_cache, tmp_path / "run", log, steps, delay=0.25)
    proc = subprocess.Popen([sys.executable, str(RECORDER), *args], env=environment(),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline and (not Path(f"{log}.0").exists() or len(read_log(Path(f"{log}.0"))) < 4):
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    before = read_log(Path(f"{log}.0"))
    assert 4 <= len(before) < steps, "the run must be killed mid-way"

    subprocess.run([sys.executable, str(RECORDER), *args[:-4], *args[-2:], "--resume"], check=True,
                   env=environment(), capture_output=True, timeout=120)
    assert torch.load(tmp_path / "run" / CHECKPOINT, weights_only=True)["step"] == steps
    rows = read_log(Path(f"{log}.0"))
    done = [step for step, _ in rows]
    assert sorted(set(done)) == list(range(steps))  # nothing skipped
    assert len(done) - steps <= 1  # at most the one batch in flight at the kill is repeated
    assert all(indices == expected[step] for step, indices in rows)  # the exact data order


@pytest.mark.slow
def test_two_processes_under_torchrun_share_the_data(tmp_path, face_folder, landmark_cache):
    log = tmp_path / "ddp.log"
    args = recorder_args(face_folder, landmark_cache, tmp_path / "run", log, steps=2)
    args[args.index("--batch-size") + 1] = "1"
    result = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", str(RECORDER), *args],
        env=environment(), capture_output=True, text=True, timeout=180,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    ranks = [read_log(Path(f"{log}.{r}")) for r in (0, 1)]
    assert [len(r) for r in ranks] == [2, 2]
    for step in range(2):  # the two ranks read different faces at every step
        assert set(ranks[0][step][1]).isdisjoint(ranks[1][step][1])
    assert torch.load(tmp_path / "run" / CHECKPOINT, weights_only=True)["step"] == 2
    assert '"processes": 2' in (tmp_path / "run" / "run.json").read_text()


@pytest.mark.slow
def test_torchrun_trains_collagan_on_two_cpu_processes(tmp_path, face_folder, landmark_cache):
    result = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", "-m", "training.cli",
         "collagan", "--data", str(face_folder), "--out", str(tmp_path / "run"), "--steps", "2", "--batch-size", "1",
         "--resolution", "64", "--width", "8", "--num-workers", "0", "--device", "cpu",
         "--set", f"cache_dir={landmark_cache!s}", "--set", "val_fraction=0.3"],
        env=environment(), capture_output=True, text=True, timeout=240,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert torch.load(tmp_path / "run" / CHECKPOINT, weights_only=True)["step"] == 2


def test_sigterm_to_the_process_group_saves_a_checkpoint_at_the_current_step_and_exits(
    tmp_path, face_folder, landmark_cache
):
    """As ``timeout``, a terminal or a scheduler do: the signal reaches the data-loader workers too."""
    log = tmp_path / "term.log"
    args = recorder_args(face_folder, landmark_cache, tmp_path / "run", log, steps=50, delay=0.2)
    args[args.index("checkpoint_every=1")] = "checkpoint_every=1000"  # only the exit checkpoint
    args[args.index("--num-workers") + 1] = "1"
    proc = subprocess.Popen([sys.executable, str(RECORDER), *args], env=environment(),
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline and (not Path(f"{log}.0").exists() or len(read_log(Path(f"{log}.0"))) < 3):
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err.decode()[-2000:]
    done = len(read_log(Path(f"{log}.0")))
    assert torch.load(tmp_path / "run" / CHECKPOINT, weights_only=True)["step"] == done < 50
    assert b"--resume" in err
