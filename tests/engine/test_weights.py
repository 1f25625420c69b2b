from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from torch import nn

from engine.errors import WeightsError
from engine.weights import (
    check_weights,
    load_state_dict,
    read_manifest,
    save_state_dict,
    sha256_file,
    update_manifest,
)

ARCHITECTURE = {"channels": 4, "depth": 1}


class TinyNet(nn.Module):
    def __init__(self, channels: int = 4):
        super().__init__()
        self.conv = nn.Conv2d(3, channels, 3)
        self.norm = nn.BatchNorm2d(channels)


@pytest.fixture(autouse=True)
def weights_home(tmp_path, monkeypatch):
    """Every test gets its own empty weights folder."""
    home = tmp_path / "weights"
    home.mkdir()
    monkeypatch.setenv("FACEINPAINT_WEIGHTS_DIR", str(home))
    return home


@pytest.fixture
def saved(weights_home):
    """A TinyNet saved and registered in the manifest as "tiny"."""
    net = TinyNet()
    path = save_state_dict(weights_home / "tiny.safetensors", net.state_dict(), {"method": "tiny", "architecture": ARCHITECTURE})
    update_manifest("tiny", {"file": path.name, "sha256": sha256_file(path), "bytes": path.stat().st_size, "method": "tiny"})
    return net, path


def test_empty_manifest_when_none_exists():
    assert read_manifest() == {"version": 1, "models": {}}


def test_update_manifest_keeps_other_entries_and_leaves_no_temporary_files(weights_home):
    update_manifest("a", {"file": "a.safetensors"})
    update_manifest("b", {"file": "b.safetensors"})
    assert set(read_manifest()["models"]) == {"a", "b"}
    assert [p.name for p in weights_home.iterdir()] == ["manifest.json"]


def test_unreadable_manifest_is_named(weights_home):
    (weights_home / "manifest.json").write_text("{not json")
    with pytest.raises(WeightsError, match="manifest.json"):
        read_manifest()
    assert not check_weights("tiny").ready


def test_round_trip_by_name_and_by_path(saved):
    net, path = saved
    for ref in ("tiny", path, str(path)):
        tensors, metadata = load_state_dict(ref, module=TinyNet())
        assert metadata["method"] == "tiny" and metadata["architecture"] == ARCHITECTURE
        fresh = TinyNet()
        fresh.load_state_dict(tensors)
        assert all(torch.equal(a, b) for a, b in zip(fresh.state_dict().values(), net.state_dict().values()))
    status = check_weights("tiny")
    assert status.ready and status.path == path


def test_fp16_file_loads_into_an_fp32_module(weights_home):
    half = {k: v.half() if v.is_floating_point() else v for k, v in TinyNet().state_dict().items()}
    path = save_state_dict(weights_home / "half.safetensors", half, {"method": "tiny", "architecture": ARCHITECTURE})
    tensors, _ = load_state_dict(path, module=TinyNet())
    assert tensors["conv.weight"].dtype == torch.float32
    assert tensors["norm.num_batches_tracked"].dtype == torch.int64


def test_sha256_is_cached_until_the_file_changes(saved):
    _, path = saved
    first = sha256_file(path)
    assert sha256_file(path) == first
    path.write_bytes(path.read_bytes() + b" ")
    assert sha256_file(path) != first


def expect_failure(ref, match: str, module=None, name: str = "tiny"):
    """The load raises WeightsError naming the file, and check_weights says the same without raising."""
    with pytest.raises(WeightsError, match=match) as err:
        load_state_dict(ref, module=module)
    assert "safetensors" in str(err.value) or "tiny" in str(err.value)
    if module is None:
        status = check_weights(name, None if ref == name else ref)
        assert not status.ready and status.reason


def test_missing_file(saved):
    _, path = saved
    path.unlink()
    expect_failure("tiny", "tiny.safetensors not found")


def test_unknown_name():
    expect_failure("tiny", "no weights called 'tiny'")
    assert "no weights for tiny" in check_weights("tiny").reason


def test_empty_file(weights_home):
    path = weights_home / "tiny.safetensors"
    path.write_bytes(b"")
    expect_failure(path, "tiny.safetensors is empty")


def test_truncated_file(saved):
    _, path = saved
    path.write_bytes(path.read_bytes()[:-10])
    expect_failure(path, "tiny.safetensors is truncated or corrupt")


def test_garbage_file(weights_home):
    path = weights_home / "tiny.safetensors"
    path.write_bytes(b"\xff" * 64)
    expect_failure(path, "tiny.safetensors is not a safetensors file")


def test_pickle_is_refused_not_unpickled(weights_home):
    path = weights_home / "tiny.pth"
    torch.save(TinyNet().state_dict(), path)
    expect_failure(path, "tiny.pth is a PyTorch pickle")
    legacy = weights_home / "tiny_legacy.pth"
    torch.save(TinyNet().state_dict(), legacy, _use_new_zipfile_serialization=False)
    expect_failure(legacy, "tiny_legacy.pth is a PyTorch pickle")


def test_wrong_hash(saved):
    _, path = saved
    other = save_state_dict(path.with_name("other.safetensors"), TinyNet().state_dict(), {"method": "tiny"})
    path.write_bytes(other.read_bytes())  # same format, different numbers
    expect_failure("tiny", "tiny.safetensors has SHA-256")


def test_missing_and_unexpected_keys_are_listed(weights_home):
    state = TinyNet().state_dict()
    state.pop("conv.bias")
    state["extra.weight"] = torch.zeros(2)
    path = save_state_dict(weights_home / "tiny.safetensors", state, {"method": "tiny"})
    with pytest.raises(WeightsError, match=r"tiny.safetensors does not fit TinyNet.*missing: conv.bias.*unexpected: extra.weight"):
        load_state_dict(path, module=TinyNet())


def test_shape_mismatch_is_listed(weights_home):
    path = save_state_dict(weights_home / "tiny.safetensors", TinyNet(channels=8).state_dict(), {"method": "tiny"})
    with pytest.raises(WeightsError, match=r"tiny.safetensors.*wrong shape.*conv.weight \(8, 3, 3, 3\) vs \(4, 3, 3, 3\)"):
        load_state_dict(path, module=TinyNet(channels=4))


def test_long_offender_lists_are_cut(weights_home):
    path = save_state_dict(weights_home / "tiny.safetensors", {f"k{i}": torch.zeros(1) for i in range(9)}, {})
    with pytest.raises(WeightsError, match="9 unexpected: k0, k1, k2, k3, k4 and 4 more"):
        load_state_dict(path, module=TinyNet())


def test_metadata_is_stored_as_strings(weights_home):
    from safetensors import safe_open

    path = save_state_dict(weights_home / "tiny.safetensors", TinyNet().state_dict(), {"method": "tiny", "architecture": ARCHITECTURE})
    with safe_open(str(path), framework="pt") as f:
        stored = f.metadata()
    assert stored["method"] == "tiny" and json.loads(stored["architecture"]) == ARCHITECTURE


def test_failed_save_keeps_the_old_file(saved, monkeypatch):
    """The writer fails half-way through the file it was given: with the atomic write that file
    is a temporary one, so the old weights survive; a direct write would have truncated them."""
    import safetensors.torch

    _, path = saved
    before = path.read_bytes()

    def write_half_then_fail(tensors, filename, metadata=None):
        with open(filename, "wb") as fh:
            fh.write(before[: len(before) // 2])
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(safetensors.torch, "save_file", write_half_then_fail)
    with pytest.raises(WeightsError, match="disk is full.*nothing was changed"):
        save_state_dict(path, TinyNet().state_dict(), {"method": "tiny"})
    assert path.read_bytes() == before
    assert sorted(p.name for p in path.parent.iterdir()) == ["manifest.json", "tiny.safetensors"]


def test_table_rows_use_check_weights_for_models_with_weights():
    from engine.models import ModelSpec
    from engine.models.base import ModelInfo

    row = ModelSpec(ModelInfo(name="needs", display_name="Needs", paper="", resolution=64, weights_name="tiny"),
                    "nowhere:Missing")
    status = row.weights_status()  # never imports the class
    assert not status.ready and "tiny" in status.reason


def test_header_length_with_a_low_byte_of_0x80_is_not_taken_for_a_pickle(weights_home):
    path = weights_home / "tiny.safetensors"
    for pad in range(0, 512, 8):  # the header is padded to 8 bytes, so some padding hits 0x80
        save_state_dict(path, TinyNet().state_dict(), {"method": "tiny", "note": "x" * pad})
        if path.read_bytes()[0] == 0x80:
            break
    assert path.read_bytes()[0] == 0x80
    _, metadata = load_state_dict(path, module=TinyNet())
    assert metadata["method"] == "tiny" and check_weights("tiny", path).ready


# -- hostile metadata and manifests (issue 11, defects 4, 6, 9, 11) ---------------------------------
def save_with_architecture(home, architecture, name="tiny.safetensors"):
    return save_state_dict(home / name, TinyNet().state_dict(), {"method": "tiny", "architecture": architecture})


@pytest.mark.parametrize("architecture, match", [
    ({"width": 3000}, "'width' = 3000, outside the sane range"),
    ({"resolution": 1 << 20}, "'resolution' = 1048576, outside"),
    ({"width": -8}, "'width' = -8, outside"),
    ({"width": "64"}, "'width' = '64'; it must be a whole number"),
    ({"width": 64.0}, "must be a whole number"),
    ({"width": True}, "must be a whole number"),
    ({"channels": -1}, "'channels' = -1, outside"),
    ({"channels": float("inf")}, "'channels' = inf"),
    ({"tasks": [1, 2]}, "expected a short list of names"),
    ({"extra": {"nested": 1}}, "'extra' a value of type dict"),
    ([64, 64], "is not an object"),
])
def test_insane_architecture_records_are_refused_before_any_network_is_built(weights_home, architecture, match):
    path = save_with_architecture(weights_home, architecture)
    with pytest.raises(WeightsError, match=match) as err:
        load_state_dict(path)
    assert str(path) in str(err.value)
    status = check_weights("tiny", path)  # pickers and --list-models say so too, without raising
    assert not status.ready and status.reason == str(err.value)


def test_shipped_architectures_are_within_the_bounds():
    from engine.weights import check_architecture

    shipped = json.loads((Path(__file__).parents[2] / "resources" / "weights" / "manifest.json").read_text())
    for name, entry in shipped["models"].items():
        assert check_architecture(entry["architecture"], name) == entry["architecture"]


def test_a_collagan_file_claiming_width_3000_fails_in_one_line_without_allocating(weights_home):
    """The original failure: 3.9 KB of metadata made collaGAN allocate gigabytes before any check."""
    from engine.models.collagan import CollaGANArchitecture, CollaGANGenerator
    from engine.models.torch_base import load_network

    path = save_with_architecture(weights_home, {"resolution": 128, "width": 3000, "tasks": ["i"]})
    assert path.stat().st_size < 8192
    built = []
    with pytest.raises(WeightsError, match="'width' = 3000"):
        load_network(path, lambda arch: built.append(arch) or CollaGANGenerator(arch), CollaGANArchitecture)
    assert built == []


def test_build_checked_builds_for_real_only_what_the_file_fills(weights_home):
    from engine.weights import build_checked

    tensors = TinyNet(4).state_dict()
    devices = []

    def build(channels):
        devices.append(torch.empty(()).device.type)
        return TinyNet(channels)

    assert isinstance(build_checked(build, 4, tensors, "tiny.safetensors"), TinyNet)
    assert devices == ["meta", "cpu"]
    devices.clear()
    with pytest.raises(WeightsError, match="wrong shape"):
        build_checked(build, 64, tensors, "tiny.safetensors")
    assert devices == ["meta"]


def test_model_loader_matches_on_the_meta_device_before_allocating(weights_home):
    from engine.models.torch_base import load_network

    path = save_state_dict(weights_home / "tiny.safetensors", TinyNet(4).state_dict(),
                           {"method": "tiny", "architecture": {"channels": 64}})
    devices = []

    def build(arch):
        devices.append(torch.empty(()).device.type)
        return TinyNet(arch.channels)

    import dataclasses

    @dataclasses.dataclass
    class Arch:
        channels: int = 4

    with pytest.raises(WeightsError, match="wrong shape"):
        load_network(path, build, Arch)
    assert devices == ["meta"]


def write_manifest(home, models):
    (home / "manifest.json").write_text(json.dumps({"version": 1, "models": models}))


def test_a_manifest_entry_that_is_not_an_object_is_one_line(weights_home):
    write_manifest(weights_home, {"tiny": "tiny.safetensors"})
    expect_failure("tiny", "entry 'tiny' is not an object")


def test_a_manifest_entry_without_a_file_is_named_not_a_key_error(weights_home):
    """The original message was "collagan cannot run: 'file'" (a KeyError's text)."""
    write_manifest(weights_home, {"tiny": {"sha256": "0" * 64}})
    expect_failure("tiny", "entry 'tiny' names no \"file\"")


@pytest.mark.parametrize("file", ["../outside.safetensors", "/etc/passwd", "sub/tiny.safetensors", ".."])
def test_manifest_files_must_stay_inside_the_weights_folder(weights_home, tmp_path, file):
    outside = save_with_architecture(tmp_path, {"channels": 4}, name="outside.safetensors")
    write_manifest(weights_home, {"tiny": {"file": file, "sha256": sha256_file(outside)}})
    expect_failure("tiny", "must be a file name inside the weights folder")


@pytest.mark.parametrize("sha256", ["", None, "abc", "G" * 64])
def test_an_empty_or_malformed_sha256_does_not_skip_the_hash_check(saved, weights_home, sha256):
    _, path = saved
    entry = {"file": path.name, "sha256": sha256}
    write_manifest(weights_home, {"tiny": entry})
    expect_failure("tiny", "no valid \"sha256\"")
    expect_failure(path, "no valid \"sha256\"")  # by path too: the entry that names the file is checked


def test_a_tampered_file_named_by_an_entry_with_an_empty_hash_is_refused(saved, weights_home):
    """The original failure: with "sha256": "" a replaced file loaded without any check."""
    _, path = saved
    save_with_architecture(weights_home, {"channels": 4})  # replaced by another (valid) file
    write_manifest(weights_home, {"tiny": {"file": path.name, "sha256": ""}})
    assert not check_weights("tiny").ready
