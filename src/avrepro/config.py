"""Load ``params.yaml``, resolve the active profile and validate it against the schema.

The resolved configuration is ``common`` deep-merged with ``profiles.<profile>``; top-level
keys (``profile``, ``dataset``) may be overridden, e.g. by ``snakemake --config profile=smoke``.
"""

from __future__ import annotations

import copy
import hashlib
import json
from pathlib import Path
from typing import Any, Mapping

import jsonschema
import yaml

SCHEMA_RELPATH = Path("workflow") / "schemas" / "params.schema.yaml"
TOP_LEVEL_KEYS = ("profile", "dataset", "common", "profiles")


class ParamsError(ValueError):
    """A parameter file is malformed; the message names the file and the key."""


def deep_merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """Return ``base`` with ``override`` merged in (dicts recursively, other values replaced)."""
    out = copy.deepcopy(dict(base))
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def load_yaml(path: str | Path) -> Any:
    """Safe-load a YAML file with an error that names the file."""
    path = Path(path)
    try:
        with path.open() as fh:
            return yaml.safe_load(fh)
    except FileNotFoundError:
        raise ParamsError(f"{path}: file not found") from None
    except yaml.YAMLError as exc:
        raise ParamsError(f"{path}: not valid YAML: {exc}") from None


def _key_path(parts) -> str:
    return ".".join(str(p) for p in parts) or "<root>"


def _has_path(tree: Any, parts) -> bool:
    for p in parts:
        if isinstance(tree, Mapping) and p in tree:
            tree = tree[p]
        else:
            return False
    return True


def resolve(raw: Mapping[str, Any], overrides: Mapping[str, Any] | None = None,
            schema: Mapping[str, Any] | None = None, source: str = "params.yaml") -> dict[str, Any]:
    """Resolve the raw params file into the active profile's configuration and validate it.

    Args:
        raw: the parsed params file (``profile``, ``dataset``, ``common``, ``profiles``).
        overrides: top-level overrides (``profile``, ``dataset``) or nested ones
            (``{"binaural": {"train": {"epochs": 2}}}``), applied last.
        schema: the JSON schema of the resolved configuration (``None`` skips validation).
        source: file name used in error messages.
    Returns:
        the resolved, validated configuration.
    Raises:
        ParamsError: naming the offending key (``common.x.y`` or ``profiles.<name>.x.y``).
    """
    if not isinstance(raw, Mapping):
        raise ParamsError(f"{source}: expected a mapping at the top level")
    unknown = sorted(set(raw) - set(TOP_LEVEL_KEYS))
    if unknown:
        raise ParamsError(f"{source}: unknown top-level key '{unknown[0]}' "
                          f"(allowed: {', '.join(TOP_LEVEL_KEYS)})")
    overrides = dict(overrides or {})
    profiles = raw.get("profiles") or {}
    if not isinstance(profiles, Mapping):
        raise ParamsError(f"{source}: 'profiles' must be a mapping of profile name -> overrides")
    profile = overrides.pop("profile", raw.get("profile", "default"))
    if profile not in profiles:
        raise ParamsError(f"{source}: profile '{profile}' is not defined under 'profiles' "
                          f"(defined: {', '.join(profiles) or 'none'})")
    cfg = deep_merge(raw.get("common") or {}, profiles[profile] or {})
    cfg["profile"] = profile
    cfg["dataset"] = overrides.pop("dataset", raw.get("dataset", "synthetic"))
    cfg = deep_merge(cfg, overrides)
    if schema is not None:
        errors = sorted(jsonschema.Draft202012Validator(schema).iter_errors(cfg),
                        key=lambda e: list(e.absolute_path))
        if errors:
            err = errors[0]
            parts = list(err.absolute_path)
            if err.validator == "additionalProperties":
                extra = sorted(set(err.instance) - set(err.schema.get("properties", {})))
                parts = parts + extra[:1]
                what = "unknown key"
            else:
                what = err.message
            if parts and parts[0] in ("profile", "dataset"):
                where = _key_path(parts)
            elif _has_path(profiles[profile] or {}, parts):
                where = f"profiles.{profile}." + _key_path(parts)
            else:
                where = "common." + _key_path(parts)
            raise ParamsError(f"{source}: {where}: {what}")
    return _drop_untrained_controls(cfg)


def _drop_untrained_controls(cfg: dict[str, Any]) -> dict[str, Any]:
    """Leave out each task's ``controls`` (``{name: variant}``) whose variant the profile does not
    train (e.g. binaural's ``flipped`` of ``full`` in a profile that trains ``film`` only): the
    DAG, the figures and the report then agree on which controls exist."""
    for section in cfg.values():
        if isinstance(section, dict) and section.get("controls"):
            trained = section.get("variants") or []
            section["controls"] = {n: v for n, v in section["controls"].items() if v in trained}
    return cfg


def load_params(path: str | Path = "params.yaml", overrides: Mapping[str, Any] | None = None,
                schema_path: str | Path | None = None) -> dict[str, Any]:
    """Read, resolve and validate a params file (schema found next to it under workflow/schemas)."""
    path = Path(path)
    raw = load_yaml(path)
    schema_path = Path(schema_path) if schema_path else path.parent / SCHEMA_RELPATH
    schema = load_yaml(schema_path)
    return resolve(raw, overrides, schema=schema, source=str(path))


def config_hash(obj: Any, length: int = 12) -> str:
    """Stable short hash of a JSON-serialisable object (keys sorted)."""
    blob = json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()
    return hashlib.sha256(blob).hexdigest()[:length]
