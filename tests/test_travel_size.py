"""What travels to a lent GPU machine (at most 64 MiB) must fit: the tracked files, less the shipped
weights that tools/gpu_sprint.sh sets aside, plus a pack of the size the script makes."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
MiB = 2**20
LIMIT = 60 * MiB  # the device tool's 64 MiB, with room to spare


def test_the_sprint_fits_the_travel_limit():
    try:
        listed = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("not a git checkout")
    files = [ROOT / name for name in listed.decode().split("\0") if name]
    tracked = sum(f.stat().st_size for f in files if f.is_file())
    set_aside = sum(f.stat().st_size for f in files if f.is_file() and f.parent == ROOT / "resources" / "weights"
                    and f.suffix == ".safetensors")
    script = (ROOT / "tools" / "gpu_sprint.sh").read_text()
    pack_mib = float(re.search(r"--max-mib (\d+(?:\.\d+)?)", script).group(1))
    assert tracked - set_aside + pack_mib * MiB <= LIMIT, (
        f"{(tracked - set_aside) / MiB:.1f} MiB of tracked files + a {pack_mib} MiB pack exceed {LIMIT / MiB:.0f} MiB")


def test_the_sprint_command_fits_one_device_call():
    script = (ROOT / "tools" / "gpu_sprint.sh").read_text()
    run = script[script.index("  run)"):script.index(";;", script.index("  run)"))]
    assert len(run) < 2000  # the device tool takes commands of at most 2,000 characters
