"""Config files: YAML parsing with duplicate keys refused, loading, `--set` overrides, saving."""

from __future__ import annotations

import dataclasses
import os
import typing
from pathlib import Path
from typing import Any

import yaml

from pirlib.config.conversion import closest_hint, from_dict, to_dict
from pirlib.config.ranges import check_ranges
from pirlib.config.schema import Config, ConfigError
from pirlib.io import atomic_write_text


class _DuplicateKey(Exception):
    def __init__(self, key: Any, line: int, first_line: int) -> None:
        super().__init__(key)
        self.key, self.line, self.first_line = key, line, first_line


class _UniqueKeyLoader(yaml.SafeLoader):
    """YAML's safe loader, refusing a key given twice in one mapping (PyYAML keeps the last silently)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict:
        first_lines: dict[Any, int] = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            if not isinstance(key, typing.Hashable):
                continue
            line = key_node.start_mark.line + 1
            if key in first_lines:
                raise _DuplicateKey(key, line, first_lines[key])
            first_lines[key] = line
        return super().construct_mapping(node, deep)


def parse_yaml(text: str, where: str) -> Any:
    """The YAML document `text` as `yaml.safe_load` reads it, but a key given twice in one mapping is a ConfigError
    naming the key, `where` (the file or the override) and both lines."""
    try:
        return yaml.load(text, Loader=_UniqueKeyLoader)
    except _DuplicateKey as duplicate:
        raise ConfigError(
            f"duplicate key '{duplicate.key}' ({where}, line {duplicate.line}; first given on line "
            f"{duplicate.first_line}): YAML would keep only the last; merge them into one '{duplicate.key}'"
        ) from None


def load_config(path: str | os.PathLike | None = None, overrides: list[str] | None = None) -> Config:
    """Paper defaults, then the YAML file at `path` (if any), then `section.field=value` overrides."""
    data: dict[str, Any] = {}
    if path is not None:
        path = Path(path)
        if not path.is_file():
            raise ConfigError(f"config file not found: {path} (the shipped profiles are in configs/)")
        try:
            data = parse_yaml(path.read_text(encoding="utf-8"), str(path)) or {}
        except UnicodeDecodeError as error:
            raise ConfigError(f"not UTF-8 text (byte {error.start}) ({path}): save the file as UTF-8") from error
        except yaml.YAMLError as error:
            raise ConfigError(f"not valid YAML ({path}: {' '.join(str(error).split())}): fix the file") from error
        where = str(path)
    else:
        where = "config"
    return apply_overrides(from_dict(Config, data, where), overrides or [], where)


def apply_overrides(config: Config, overrides: list[str], where: str = "config") -> Config:
    """Return a copy of `config` with `section.field=value` assignments applied (values parsed as YAML), its ranges
    checked (`where` names the config's source in the error)."""
    data = to_dict(config)
    for override in overrides:
        key, sep, raw = override.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"override '{override}': expected section.field=value, e.g. train.epochs=3")
        node, parts = data, key.strip().split(".")
        cls: Any = Config
        for depth, part in enumerate(parts):
            names = [f.name for f in dataclasses.fields(cls)]
            if part not in names:
                prefix = ".".join(parts[:depth]) or "config"
                raise ConfigError(f"override '{override}': unknown key '{part}' in {prefix}{closest_hint(part, names)}")
            hint = typing.get_type_hints(cls)[part]
            if depth < len(parts) - 1:
                if not dataclasses.is_dataclass(hint):
                    raise ConfigError(f"override '{override}': '{part}' is a value, not a section")
                node, cls = node[part], hint
            else:
                if dataclasses.is_dataclass(hint):
                    raise ConfigError(f"override '{override}': '{part}' is a section; set one of its fields")
                node[part] = _override_value(override, raw)
    config = from_dict(Config, data, "config (after --set overrides)")
    check_ranges(config, f"{where} with --set overrides" if overrides else where)
    return config


def _override_value(override: str, raw: str) -> Any:
    """The YAML value of a `--set` assignment (None when blank), ConfigError naming the override when unreadable."""
    if not raw.strip():
        return None
    try:
        return parse_yaml(raw, f"override '{override}'")
    except yaml.YAMLError as error:
        problem = getattr(error, "problem", None) or "not valid YAML"
        raise ConfigError(f"the value is not valid YAML: {problem} (override '{override}'): quote or fix it") from None


def dump_config(config: Config) -> str:
    return yaml.safe_dump(to_dict(config), sort_keys=False, default_flow_style=None)


def save_config(config: Config, path: str | os.PathLike) -> None:
    """Write the fully resolved config as YAML, atomically (temporary file, then rename)."""
    atomic_write_text(path, dump_config(config))
