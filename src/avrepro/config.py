"""Load ``params.yaml``, resolve the active profile and validate it against the schema.

The resolved configuration is ``common`` deep-merged with ``profiles.<profile>``, then with the
overrides (``profile``, ``tasks`` or nested keys, e.g. from ``snakemake --config``: see
:func:`cli_overrides`).
"""

from __future__ import annotations

import copy
import functools
import hashlib
import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import jsonschema
import yaml

SCHEMA_RELPATH = Path("workflow") / "schemas" / "params.schema.yaml"
TOP_LEVEL_KEYS = ("profile", "common", "profiles")
FLAT_OVERRIDES = ("profile", "tasks")  # the values `--config KEY=VALUE` may set directly
OVERRIDE_FORMS = (
    "profile=NAME",
    "tasks=[a, b]",
    "'SECTION={key: value}' (e.g. 'binaural={dataset: fairplay}')",
    "SECTION.key=value (Python API or --configfile; Snakemake refuses dots in --config)",
)


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


def cli_overrides(config: Mapping[str, Any], source: str = "--config") -> dict[str, Any]:
    """Snakemake's ``config`` (the ``--config`` / ``--configfile`` entries) as overrides for
    :func:`resolve`.

    Accepted: ``profile`` and ``tasks``; a top-level key of the resolved configuration with a
    mapping value (``--config 'binaural={dataset: fairplay}'``), merged into that section; a
    dotted key path (``{"binaural.dataset": "fairplay"}``), turned into the nested mapping.
    Strings inside values are read as ``params.yaml`` reads them (``"2"`` -> 2, ``"true"`` ->
    True, ``"null"`` -> None): Snakemake leaves the scalars of a mapping value as strings. A key
    or value that does not exist fails the schema validation later, named.

    Raises:
        ParamsError: any other key (e.g. the former ``dataset=NAME``), listing the accepted forms.
    """
    out: dict[str, Any] = {}
    for key, value in config.items():
        if "." not in key and key not in FLAT_OVERRIDES and not isinstance(value, Mapping):
            raise ParamsError(
                f"{source}: '{key}={value}' is not an override of params.yaml "
                f"(accepted: {'; '.join(OVERRIDE_FORMS)})"
            )
        nested = _typed(value)
        for part in reversed(key.split(".")):
            nested = {part: nested}
        out = deep_merge(out, nested)
    return out


def _typed(value: Any) -> Any:
    """``value`` with its strings read as YAML scalars where they are numbers, booleans or null."""
    if isinstance(value, Mapping):
        return {k: _typed(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_typed(v) for v in value]
    if isinstance(value, str):
        try:
            scalar = yaml.safe_load(value)
        except yaml.YAMLError:
            return value
        return scalar if scalar is None or isinstance(scalar, (bool, int, float)) else value
    return value


def _key_path(parts) -> str:
    return ".".join(str(p) for p in parts) or "<root>"


def _has_path(tree: Any, parts) -> bool:
    for p in parts:
        if isinstance(tree, Mapping) and p in tree:
            tree = tree[p]
        else:
            return False
    return True


def resolve(
    raw: Mapping[str, Any],
    overrides: Mapping[str, Any] | None = None,
    schema: Mapping[str, Any] | None = None,
    source: str = "params.yaml",
) -> dict[str, Any]:
    """Resolve the raw params file into the active profile's configuration and validate it.

    Args:
        raw: the parsed params file (``profile``, ``common``, ``profiles``).
        overrides: ``profile`` and nested overrides (``{"binaural": {"train": {"epochs": 2}}}``,
            see :func:`cli_overrides`), applied last.
        schema: the JSON schema of the resolved configuration (``None`` skips validation).
        source: file name used in error messages.
    Returns:
        the resolved, validated configuration.
    Raises:
        ParamsError: naming the offending key (``common.x.y``, ``profiles.<name>.x.y`` or
            ``x.y (override)``, after where its value comes from).
    """
    if not isinstance(raw, Mapping):
        raise ParamsError(f"{source}: expected a mapping at the top level")
    unknown = sorted(set(raw) - set(TOP_LEVEL_KEYS))
    if unknown:
        raise ParamsError(
            f"{source}: unknown top-level key '{unknown[0]}' (allowed: {', '.join(TOP_LEVEL_KEYS)})"
        )
    overrides = dict(overrides or {})
    profiles = raw.get("profiles") or {}
    if not isinstance(profiles, Mapping):
        raise ParamsError(f"{source}: 'profiles' must be a mapping of profile name -> overrides")
    profile = overrides.pop("profile", raw.get("profile", "default"))
    if profile not in profiles:
        raise ParamsError(
            f"{source}: profile '{profile}' is not defined under 'profiles' "
            f"(defined: {', '.join(profiles) or 'none'})"
        )
    cfg = deep_merge(raw.get("common") or {}, profiles[profile] or {})
    cfg["profile"] = profile
    cfg = deep_merge(cfg, overrides)
    if schema is not None:
        where = functools.partial(
            _where, profile=profile, profile_tree=profiles[profile] or {}, overrides=overrides
        )
        _validate(cfg, schema, where, source)
        _check_tasks(cfg, where, source)
    return _drop_untrained_controls(cfg)


def _where(parts: list, profile: str, profile_tree: Mapping, overrides: Mapping) -> str:
    """The key path ``parts`` named after where its value comes from: an override, the
    profile's section or ``common``."""
    path = _key_path(parts)
    if parts and parts[0] == "profile":
        return path
    if _has_path(overrides, parts):
        return f"{path} (override)"
    if _has_path(profile_tree, parts):
        return f"profiles.{profile}.{path}"
    return f"common.{path}"


def _validate(cfg: Mapping, schema: Mapping, where: Callable[[list], str], source: str) -> None:
    """Raise :class:`ParamsError` for the first schema error (by key path), naming the key."""
    errors = sorted(
        jsonschema.Draft202012Validator(schema).iter_errors(cfg), key=lambda e: list(e.absolute_path)
    )
    for err in errors:
        parts, what = list(err.absolute_path), err.message
        if err.validator in ("additionalProperties", "unevaluatedProperties"):
            extra = sorted(set(err.instance) - _declared_keys(err.schema, schema))
            if not extra:  # keys of a referenced block that failed: its own error names the key
                continue
            parts, what = parts + extra[:1], "unknown key"
        raise ParamsError(f"{source}: {where(parts)}: {what}")


def _declared_keys(node: Mapping, root: Mapping) -> set[str]:
    """Property names a schema object declares itself, through ``allOf`` or a local ``$ref``
    (``#/$defs/...``): those ``unevaluatedProperties: false`` lets through."""
    keys = set(node.get("properties", {}))
    if "$ref" in node:
        target = root
        for part in node["$ref"].removeprefix("#/").split("/"):
            target = target[part]
        keys |= _declared_keys(target, root)
    for sub in node.get("allOf", ()):
        keys |= _declared_keys(sub, root)
    return keys


def _check_tasks(cfg: Mapping, where: Callable[[list], str], source: str) -> None:
    """Every task in ``tasks`` has a section, whose ``dataset`` (binaural's too) is the synthetic
    generator's, a view of it (``verify.layouts``) or one of ``datasets``."""
    known = ["synthetic", *cfg["verify"]["layouts"], *cfg["datasets"]]
    for task in cfg["tasks"]:
        if not isinstance(cfg.get(task), Mapping):
            raise ParamsError(f"{source}: {where(['tasks'])}: '{task}' has no section")
        dataset = cfg[task].get("dataset")
        if dataset not in known:
            raise ParamsError(
                f"{source}: {where([task, 'dataset'])}: unknown dataset '{dataset}' "
                f"(known: {', '.join(known)})"
            )


def _drop_untrained_controls(cfg: dict[str, Any]) -> dict[str, Any]:
    """Leave out each task's ``controls`` (``{name: variant}``) whose variant the profile does not
    train (e.g. binaural's ``flipped`` of ``full`` in a profile that trains ``film`` only): the
    DAG, the figures and the report then agree on which controls exist."""
    for section in cfg.values():
        if isinstance(section, dict) and section.get("controls"):
            trained = section.get("variants") or []
            section["controls"] = {n: v for n, v in section["controls"].items() if v in trained}
    return cfg


def load_params(
    path: str | Path = "params.yaml",
    overrides: Mapping[str, Any] | None = None,
    schema_path: str | Path | None = None,
) -> dict[str, Any]:
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
