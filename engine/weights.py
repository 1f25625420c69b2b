"""Shipped weights: the manifest, integrity checks and architecture-checked loading.

Weights are safetensors files in ``engine.paths.weights_dir()``, described by ``manifest.json``::

    {"version": 1, "models": {NAME: {"file", "sha256", "bytes", "method", "architecture",
                                     "training", "metrics", "card"}}}

As spandrel does, a file is checked against the network it is meant for before use, so a wrong
or damaged file fails with a message naming it instead of a wall of ``load_state_dict`` errors.
Pickles are never opened: a ``.pt``/``.pth`` checkpoint is refused, not unpickled.
"""

from __future__ import annotations

import errno
import hashlib
import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from safetensors import safe_open

from engine.atomic import atomic_path, atomic_write_text
from engine.errors import WeightsError
from engine.paths import weights_dir

MANIFEST_FILE = "manifest.json"
MANIFEST_VERSION = 1
OFFENDERS_SHOWN = 5
HEADER_LIMIT = 100 * 1024 * 1024  # safetensors' own cap on the JSON header
SHA256_PATTERN = re.compile(r"[0-9a-f]{64}")

# Sane bounds of the architecture fields a weights file records, checked before any network is
# built: a 4 KB file claiming ``width: 3000`` must not make a model allocate gigabytes. The
# papers' networks sit well inside them (widths 64, 256 px, PD-GAN's 128-d latent, MDE's 4000-d
# bottleneck). Any other number must still be a finite non-negative value below GENERIC_LIMIT.
ARCHITECTURE_LIMITS: dict[str, tuple[int, int]] = {
    "resolution": (8, 1024),
    "width": (1, 256),
    "latent_dim": (1, 4096),
    "bottleneck": (1, 16384),
    "depth": (1, 10),
    "probability_steps": (1, 64),
}
GENERIC_LIMIT = 65536
LIST_LIMIT = 16

_sha256_cache: dict[tuple[str, int, int], str] = {}


@dataclass
class WeightsStatus:
    """Whether a model can run: its weights are present and match its architecture."""

    ready: bool
    reason: str = ""
    path: Path | None = None


# -- manifest -------------------------------------------------------------------------------------
def manifest_path() -> Path:
    return weights_dir() / MANIFEST_FILE


def read_manifest() -> dict[str, Any]:
    """The manifest as a dict (an empty one when the file does not exist yet)."""
    path = manifest_path()
    if not path.exists():
        return {"version": MANIFEST_VERSION, "models": {}}
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise WeightsError(f"the weights manifest {path} cannot be read: {err}") from err
    if not isinstance(manifest, dict) or not isinstance(manifest.get("models"), dict):
        raise WeightsError(f"the weights manifest {path} has no \"models\" table")
    if manifest.get("version") != MANIFEST_VERSION:
        raise WeightsError(f"the weights manifest {path} is version {manifest.get('version')}, expected 1")
    return manifest


def update_manifest(name: str, entry: Mapping[str, Any]) -> None:
    """Set the manifest entry of ``name`` and rewrite the manifest atomically."""
    manifest = read_manifest()
    manifest["models"][name] = dict(entry)
    text = json.dumps(manifest, indent=2, sort_keys=True) + "\n"
    atomic_write_text(manifest_path(), text)


def manifest_entry(name: str) -> dict[str, Any] | None:
    """The checked entry of ``name`` (None when the manifest has none)."""
    entry = read_manifest()["models"].get(name)
    return None if entry is None else checked_entry(name, entry)


def checked_entry(name: str, entry: Any) -> dict[str, Any]:
    """``entry`` if it can be trusted: an object whose ``file`` is a plain name inside the weights
    folder and whose ``sha256`` is a full hex digest (an empty one would skip the hash check)."""
    where = f"the weights manifest {manifest_path()}, entry {name!r}"
    if not isinstance(entry, dict):
        raise WeightsError(f"{where} is not an object ({type(entry).__name__})")
    file = entry.get("file")
    if not isinstance(file, str) or not file:
        raise WeightsError(f"{where} names no \"file\"")
    if Path(file).name != file or file in (".", ".."):
        raise WeightsError(f"{where}: \"file\" must be a file name inside the weights folder, got {file!r}")
    sha256 = entry.get("sha256")
    if not isinstance(sha256, str) or not SHA256_PATTERN.fullmatch(sha256):
        raise WeightsError(f"{where} has no valid \"sha256\" (64 hex digits), so the file cannot be verified")
    return entry


# -- integrity ------------------------------------------------------------------------------------
def sha256_file(path: str | Path) -> str:
    """Hex SHA-256 of a file, remembered per (path, size, mtime) so re-checks cost a ``stat``."""
    path = Path(path).resolve()
    st = path.stat()
    key = (str(path), st.st_size, st.st_mtime_ns)
    if key not in _sha256_cache:
        digest = hashlib.sha256()
        with path.open("rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                digest.update(block)
        _sha256_cache[key] = digest.hexdigest()
    return _sha256_cache[key]


def _resolve(name_or_path: str | Path) -> tuple[Path, dict[str, Any] | None]:
    """The file to load and the manifest entry that vouches for it (None for a foreign file)."""
    if not isinstance(name_or_path, Path):
        entry = manifest_entry(name_or_path)
        if entry is not None:
            return weights_dir() / entry["file"], entry
        looks_like_a_name = len(Path(name_or_path).parts) == 1 and not name_or_path.endswith(".safetensors")
        if looks_like_a_name and not Path(name_or_path).exists():
            raise WeightsError(f"no weights called {name_or_path!r} in {manifest_path()}; pass a .safetensors file")
    path = Path(name_or_path)
    return path, _entry_for_file(path)


def _entry_for_file(path: Path) -> dict[str, Any] | None:
    """The manifest entry that names ``path``; an entry that names it but cannot be trusted is an error."""
    try:
        target = path.resolve()
        models = read_manifest()["models"]
    except (OSError, WeightsError):
        return None
    for name, entry in models.items():
        file = entry.get("file") if isinstance(entry, dict) else None
        if isinstance(file, str) and file and (weights_dir() / file).resolve() == target:
            return checked_entry(name, entry)
    return None


def _problem(path: Path, entry: Mapping[str, Any] | None) -> str | None:
    """Why ``path`` cannot be used (None if it can): presence, format, header, manifest hash."""
    if not path.is_file():
        return f"weights file {path} not found"
    size = path.stat().st_size
    if size == 0:
        return f"weights file {path} is empty"
    with path.open("rb") as fh:
        head = fh.read(9)
    # safetensors: an 8-byte header length, then "{". Its first byte may be 0x80 (a length of
    # 128 mod 256), so only a file without the "{" is taken for a zip or pickle checkpoint.
    if head[8:9] != b"{" and (head.startswith(b"PK") or head[:1] == b"\x80"):
        return f"weights file {path} is a PyTorch pickle checkpoint; refusing to unpickle it (export it to .safetensors)"
    header_len = int.from_bytes(head[:8], "little") if len(head) >= 8 else -1
    if not 0 < header_len <= min(HEADER_LIMIT, size - 8):
        return f"weights file {path} is not a safetensors file (or its header is truncated)"
    try:
        # parsing checks the JSON header and that the data fills the file exactly; the numpy
        # framework only parses, so a readiness check imports no torch
        with safe_open(str(path), framework="numpy") as f:
            raw_architecture = (f.metadata() or {}).get("architecture")
    except Exception as err:  # safetensors raises its own SafetensorError and OSError subclasses
        return f"weights file {path} is truncated or corrupt: {err}"
    if raw_architecture is not None:
        try:
            decode_architecture(raw_architecture, path)
        except WeightsError as err:
            return str(err)
    if entry is not None:
        actual = sha256_file(path)
        if actual != entry["sha256"]:
            return f"weights file {path} has SHA-256 {actual[:12]}..., the manifest expects {entry['sha256'][:12]}..."
    return None


def check_weights(name: str, path: str | Path | None = None) -> WeightsStatus:
    """Cheap readiness check for pickers and ``--list-models``; never raises."""
    try:
        if path is None:
            entry = manifest_entry(name)
            if entry is None:
                return WeightsStatus(False, f"no weights for {name} in {manifest_path()}")
            file = weights_dir() / entry["file"]
        else:
            file = Path(path)
            entry = _entry_for_file(file)
        problem = _problem(file, entry)
    except (WeightsError, OSError) as err:
        return WeightsStatus(False, str(err) or type(err).__name__)
    return WeightsStatus(problem is None, problem or "ready", file)


# -- loading and saving ---------------------------------------------------------------------------
def load_state_dict(name_or_path: str | Path, *, module=None, device: str = "cpu") -> tuple[dict, dict[str, Any]]:
    """Load verified tensors and metadata (``"architecture"`` decoded from JSON to a dict).

    ``name_or_path`` is a manifest name or a ``.safetensors`` path. With ``module``, keys and
    shapes must match ``module.state_dict()`` exactly, and floating tensors are cast to the
    module's dtypes (fp16 files load into fp32 networks).
    """
    path, entry = _resolve(name_or_path)
    problem = _problem(path, entry)
    if problem:
        raise WeightsError(problem)
    try:
        with safe_open(str(path), framework="pt", device=str(device)) as f:
            metadata: dict[str, Any] = dict(f.metadata() or {})
            tensors = {key: f.get_tensor(key) for key in f.keys()}
    except Exception as err:
        raise WeightsError(f"weights file {path} cannot be read: {err}") from err
    if "architecture" in metadata:
        metadata["architecture"] = decode_architecture(metadata["architecture"], path)
    if module is not None:
        tensors = match_module(path, tensors, module)
    return tensors, metadata


def decode_architecture(raw: str, source: str | Path) -> dict[str, Any]:
    """The JSON architecture record of a file's metadata, decoded and checked (``check_architecture``)."""
    try:
        architecture = json.loads(raw)
    except json.JSONDecodeError as err:
        raise WeightsError(f"weights file {source} has an unreadable architecture record: {err}") from None
    return check_architecture(architecture, source)


def check_architecture(architecture: Any, source: str | Path) -> dict[str, Any]:
    """The architecture record, refused with a ``WeightsError`` unless every field is sane.

    Called by ``load_state_dict`` (and so by every model loader) before a network is built from
    the record: sizes must be integers within ``ARCHITECTURE_LIMITS``, other numbers finite,
    non-negative and below ``GENERIC_LIMIT``, lists short lists of strings.
    """
    where = f"weights file {source}: the architecture record"
    if not isinstance(architecture, dict):
        raise WeightsError(f"{where} is not an object ({type(architecture).__name__})")
    for key, value in architecture.items():
        if key in ARCHITECTURE_LIMITS:
            low, high = ARCHITECTURE_LIMITS[key]
            if isinstance(value, bool) or not isinstance(value, int):
                raise WeightsError(f"{where} gives {key!r} = {value!r}; it must be a whole number")
            if not low <= value <= high:
                raise WeightsError(f"{where} gives {key!r} = {value}, outside the sane range {low}..{high}")
        elif isinstance(value, bool) or value is None or isinstance(value, str):
            continue
        elif isinstance(value, (int, float)):
            if not (math.isfinite(value) and 0 <= value <= GENERIC_LIMIT):
                raise WeightsError(f"{where} gives {key!r} = {value!r}, outside the sane range 0..{GENERIC_LIMIT}")
        elif isinstance(value, list):
            if len(value) > LIST_LIMIT or not all(isinstance(item, str) for item in value):
                raise WeightsError(f"{where} gives {key!r} = {repr(value)[:80]}; expected a short list of names")
        else:
            raise WeightsError(f"{where} gives {key!r} a value of type {type(value).__name__}")
    return architecture


def build_checked(build, architecture, tensors: Mapping[str, Any], source: str | Path):
    """``build(architecture)`` only after a copy built on PyTorch's meta device (no memory) has
    matched the file's keys and shapes: a network the file does not fill is never allocated, so
    its size is bounded by the file's even when fields within their bounds combine badly."""
    import torch

    with torch.device("meta"):
        match_module(source, dict(tensors), build(architecture))
    return build(architecture)


def match_module(path: str | Path, tensors: dict, module) -> dict:
    """``tensors`` checked key by key and shape by shape against ``module`` and cast to its dtypes."""
    expected = module.state_dict()
    missing = [k for k in expected if k not in tensors]
    unexpected = [k for k in tensors if k not in expected]
    mismatched = [
        f"{k} {tuple(tensors[k].shape)} vs {tuple(v.shape)}"
        for k, v in expected.items()
        if k in tensors and tuple(tensors[k].shape) != tuple(v.shape)
    ]
    problems = []
    for label, items in (("missing", missing), ("unexpected", unexpected), ("wrong shape (file vs model)", mismatched)):
        if items:
            more = f" and {len(items) - OFFENDERS_SHOWN} more" if len(items) > OFFENDERS_SHOWN else ""
            problems.append(f"{len(items)} {label}: {', '.join(items[:OFFENDERS_SHOWN])}{more}")
    if problems:
        raise WeightsError(
            f"weights file {path} does not fit {type(module).__name__} (wrong architecture?): " + "; ".join(problems)
        )
    return {
        k: t.to(expected[k].dtype) if t.is_floating_point() and t.dtype != expected[k].dtype else t
        for k, t in tensors.items()
    }


def save_state_dict(path: str | Path, tensors: Mapping[str, Any], metadata: Mapping[str, Any]) -> Path:
    """Write tensors and metadata to a safetensors file atomically.

    Metadata is stored str -> str: strings as they are, anything else (the ``"architecture"``
    dict, numbers) as JSON. It should hold ``"method"`` and ``"architecture"``.
    """
    from safetensors.torch import save_file

    path = Path(path)
    flat = {str(k): v if isinstance(v, str) else json.dumps(v, sort_keys=True) for k, v in metadata.items()}
    contiguous = {k: t.detach().to("cpu").contiguous() for k, t in tensors.items()}
    try:
        with atomic_path(path) as temp:
            save_file(contiguous, str(temp), metadata=flat)
    except OSError as err:
        reason = "the disk is full" if err.errno == errno.ENOSPC else (err.strerror or str(err))
        raise WeightsError(f"{path}: could not be saved ({reason}); nothing was changed") from None
    return path

