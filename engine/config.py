"""Typed configuration from layers (defaults, TOML files, command-line options), after LaMa's
structured configs: the dataclass is the schema, OmegaConf checks and converts every value.

``build_config(cls, layers, dotlist)`` applies each ``(source, mapping)`` layer in turn, then
``KEY=VALUE`` options (``OmegaConf.from_dotlist`` grammar: ``lr=2e-4``, ``tasks=[i,s]``,
``mask_mix={block: 1.0}``), and returns the dataclass (its ``__post_init__`` checks ranges). A
mapping-valued option replaces the whole mapping, as a user writing one expects. Unknown keys,
wrong types and missing fields end in one ``ConfigError`` line naming the source.
"""

from __future__ import annotations

import dataclasses
import tomllib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

from omegaconf import OmegaConf
from omegaconf.errors import OmegaConfBaseException

from engine.errors import ConfigError

T = TypeVar("T")


def read_toml(path: str | Path) -> dict[str, Any]:
    """A TOML file's table (one-line ``ConfigError`` for a missing or broken file)."""
    path = Path(path)
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: configuration file not found") from None
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as err:
        raise ConfigError(f"{path}: not valid TOML ({err})") from None


def parse_dotlist(items: Sequence[str]) -> dict[str, Any]:
    """``["lr=2e-4", "tasks=[i,s]"]`` -> typed values (a bare word stays a string)."""
    for item in items:
        key, sep, _ = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--set {item!r}: expected KEY=VALUE")
    try:
        return OmegaConf.to_container(OmegaConf.from_dotlist([i.strip() for i in items]))
    except OmegaConfBaseException as err:
        raise ConfigError(f"--set: {_message(err)}") from None


def build_config(cls: type[T], layers: Sequence[tuple[str, Mapping[str, Any]]], *, base: T | None = None) -> T:
    """``base`` (default: the dataclass defaults), then each layer; see the module docstring."""
    names = {f.name for f in dataclasses.fields(cls)}
    node = OmegaConf.structured(base if base is not None else cls)
    for source, values in layers:
        unknown = sorted(set(values) - names)
        if unknown:
            raise ConfigError(f"{source}: unknown option(s) {', '.join(unknown)} for {cls.__name__}")
        for key, value in values.items():  # OmegaConf would read 1 or "yes" as true: a config file says true
            if isinstance(node.get(key), bool) and not isinstance(value, bool):
                raise ConfigError(f"{source}: option {key} must be true or false, got {value!r}")
        try:
            for key, value in values.items():
                if isinstance(value, Mapping):  # a mapping replaces the mapping it sets, it does not add to it
                    OmegaConf.update(node, key, {}, merge=False)
            node = OmegaConf.merge(node, dict(values))
        except OmegaConfBaseException as err:
            raise ConfigError(f"{source}: {_message(err)}") from None
    try:
        return OmegaConf.to_object(node)
    except OmegaConfBaseException as err:
        raise ConfigError(f"{layers[-1][0] if layers else cls.__name__}: {_message(err)}") from None


def _message(err: OmegaConfBaseException) -> str:
    """OmegaConf's first line, with the option it is about."""
    text = str(err).splitlines()[0] if str(err) else type(err).__name__
    key = getattr(err, "full_key", None)
    return f"option {key}: {text}" if key and key not in text else text
