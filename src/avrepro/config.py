"""Load ``params.yaml``, resolve the active profile and validate it against the schema.

The resolved configuration is ``common`` deep-merged with ``profiles.<profile>``, then with the
overrides (``profile``, ``tasks`` or nested keys, e.g. from ``snakemake --config``: see
:func:`cli_overrides`). YAML is read with :class:`ParamsLoader` (YAML 1.2 floats such as ``1e-3``
are numbers); an error names the file, the line where it is known, and the key path. Rules that
join several keys (split fractions, batches across GPUs, crops within frames, curricula) are
checked at start too (:func:`check_cross_fields`).
"""

from __future__ import annotations

import copy
import functools
import hashlib
import json
import math
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import jsonschema
import yaml

SCHEMA_RELPATH = Path("workflow") / "schemas" / "params.schema.yaml"
TOP_LEVEL_KEYS = ("profile", "common", "profiles")
SPLIT_NAMES = ("train", "val", "test")  # the keys of split.fractions
FLAT_OVERRIDES = ("profile", "tasks")  # the values `--config KEY=VALUE` may set directly
OVERRIDE_FORMS = (
    "profile=NAME",
    "tasks=[a, b]",
    "'SECTION={key: value}' (e.g. 'binaural={dataset: fairplay}')",
    "SECTION.key=value (Python API or --configfile; Snakemake refuses dots in --config)",
)


class ParamsError(ValueError):
    """A parameter file is malformed; the message names the file and the key."""


class ParamsLoader(yaml.SafeLoader):
    """PyYAML's safe loader plus the YAML 1.2 floats that YAML 1.1 reads as strings: an exponent
    without a dot or without a sign (``1e-3``, ``3E5``, ``1.5e3``). Every other scalar loads as
    ``yaml.safe_load`` loads it."""


ParamsLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9][0-9_]*(?:\.[0-9_]*)?|\.[0-9_]+)[eE][-+]?[0-9]+$"),
    list("-+0123456789."),
)


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
    """Load a YAML file (:class:`ParamsLoader`) with errors that name the file and line."""
    return read_yaml(path)[0]


def read_yaml(path: str | Path) -> tuple[Any, dict[tuple[str, ...], int]]:
    """A YAML file's data and the line (1-based) of each mapping key, by key path (``("common",
    "split", "seed")``; list items by index as a string).

    Raises:
        ParamsError: the file is missing or unreadable, is not valid YAML (``FILE:LINE:COL: not
            valid YAML: problem``), or repeats a key in one mapping.
    """
    path = Path(path)
    lines: dict[tuple[str, ...], int] = {}
    try:
        with path.open("rb") as fh:
            loader = ParamsLoader(fh)
            try:
                node = loader.get_single_node()
                if node is None:
                    return None, lines
                _key_lines(node, (), lines, path)  # before constructing: merge keys (<<) rewrite nodes
                return loader.construct_document(node), lines
            finally:
                loader.dispose()
    except FileNotFoundError:
        raise ParamsError(f"{path}: file not found") from None
    except OSError as exc:
        raise ParamsError(f"{path}: cannot read ({exc.strerror})") from None
    except yaml.YAMLError as exc:
        raise ParamsError(_yaml_problem(path, exc)) from None


def _yaml_problem(path: Path, exc: yaml.YAMLError) -> str:
    """``FILE:LINE:COL: not valid YAML: problem (context at line L, column C)``."""
    mark = getattr(exc, "problem_mark", None)
    if not isinstance(exc, yaml.MarkedYAMLError) or mark is None:
        return f"{path}: not valid YAML: {exc}"
    where = f"{path}:{mark.line + 1}:{mark.column + 1}"
    context, cmark = exc.context, exc.context_mark
    if context and cmark is not None and (cmark.line, cmark.column) != (mark.line, mark.column):
        context = f"{context} at line {cmark.line + 1}, column {cmark.column + 1}"
    return f"{where}: not valid YAML: {exc.problem}" + (f" ({context})" if context else "")


def _key_lines(node: yaml.Node, parts: tuple, lines: dict, path: Path) -> None:
    """Fill ``lines`` with the line of every mapping key under ``node``; refuse a key repeated in
    one mapping (PyYAML would keep the last one silently)."""
    if isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _key_lines(item, (*parts, str(i)), lines, path)
    if not isinstance(node, yaml.MappingNode):
        return
    seen: dict[str, int] = {}
    for key, value in node.value:
        if not isinstance(key, yaml.ScalarNode) or key.value == "<<":
            continue
        line = key.start_mark.line + 1
        if key.value in seen:
            raise ParamsError(
                f"{path}:{line}:{key.start_mark.column + 1}: duplicate key '{key.value}' in "
                f"{_key_path(parts)} (first at line {seen[key.value]}); YAML keeps only the last"
            )
        seen[key.value] = line
        lines[(*parts, key.value)] = line
        _key_lines(value, (*parts, key.value), lines, path)


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
            scalar = yaml.load(value, Loader=ParamsLoader)
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
    lines: Mapping[tuple[str, ...], int] | None = None,
) -> dict[str, Any]:
    """Resolve the raw params file into the active profile's configuration and validate it.

    Args:
        raw: the parsed params file (``profile``, ``common``, ``profiles``).
        overrides: ``profile`` and nested overrides (``{"binaural": {"train": {"epochs": 2}}}``,
            see :func:`cli_overrides`), applied last.
        schema: the JSON schema of the resolved configuration (``None`` skips validation and the
            cross-field checks).
        source: file name used in error messages.
        lines: the line of each key path of ``raw`` (:func:`read_yaml`), named in errors.
    Returns:
        the resolved, validated configuration.
    Raises:
        ParamsError: naming the file, the line where known and the offending key (``common.x.y``,
            ``profiles.<name>.x.y`` or ``x.y (override)``, after where its value comes from).
    """
    if not isinstance(raw, Mapping):
        raise ParamsError(f"{source}: expected a mapping at the top level")
    unknown = sorted(set(raw) - set(TOP_LEVEL_KEYS))
    if unknown:
        raise ParamsError(
            f"{_at(source, lines, (unknown[0],))}: unknown top-level key '{unknown[0]}' "
            f"(allowed: {', '.join(TOP_LEVEL_KEYS)})"
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
            _where,
            profile=profile,
            profile_tree=profiles[profile] or {},
            overrides=overrides,
            source=source,
            lines=lines or {},
        )
        _validate(cfg, schema, where)
        _check_tasks(cfg, where)
        check_cross_fields(cfg, where)
    return _drop_untrained_controls(cfg)


def _at(source: str, lines: Mapping | None, raw_parts: tuple | None) -> str:
    """``source:LINE`` where the key path ``raw_parts`` of the file has a known line, else ``source``."""
    line = (lines or {}).get(tuple(str(p) for p in raw_parts)) if raw_parts else None
    return f"{source}:{line}" if line else source


def _where(
    parts: list, profile: str, profile_tree: Mapping, overrides: Mapping, source: str, lines: Mapping
) -> str:
    """``source[:line]: key.path``: the key path ``parts`` named after where its value comes from
    (an override, the profile's section or ``common``), with its line in the file when known."""
    path = _key_path(parts)
    if parts and parts[0] == "profile":
        return f"{_at(source, lines, ('profile',))}: {path}"
    if _has_path(overrides, parts):
        return f"{source}: {path} (override)"
    if _has_path(profile_tree, parts):
        return f"{_at(source, lines, ('profiles', profile, *parts))}: profiles.{profile}.{path}"
    return f"{_at(source, lines, ('common', *parts))}: common.{path}"


def _ordered(validator, value, instance, schema):
    """The schema keyword ``ordered``: ``true`` on an array (a ``[low, high]`` range, band edges):
    its items never decrease; a list of keys on an object (``[min, max]``): their values never
    decrease."""
    if value is True and validator.is_type(instance, "array"):
        items, what = list(instance), f"{list(instance)} must not decrease (a range is [low, high])"
    elif isinstance(value, list) and validator.is_type(instance, "object"):
        items = [instance[k] for k in value if k in instance]
        what = " must not exceed ".join(f"{k} ({instance.get(k)})" for k in value)
    else:
        return
    numbers = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in items)
    if numbers and items != sorted(items):
        yield jsonschema.ValidationError(what)


PARAMS_VALIDATOR = jsonschema.validators.extend(jsonschema.Draft202012Validator, {"ordered": _ordered})


def _validate(cfg: Mapping, schema: Mapping, where: Callable[[list], str]) -> None:
    """Raise :class:`ParamsError` for the first schema error (by key path), naming the key."""
    errors = sorted(PARAMS_VALIDATOR(schema).iter_errors(cfg), key=lambda e: list(e.absolute_path))
    for err in errors:
        parts, what = list(err.absolute_path), err.message
        if err.validator in ("additionalProperties", "unevaluatedProperties"):
            extra = sorted(set(err.instance) - _declared_keys(err.schema, schema))
            if not extra:  # keys of a referenced block that failed: its own error names the key
                continue
            parts, what = parts + extra[:1], "unknown key"
        elif err.validator == "type" and isinstance(err.instance, str):
            what += _number_hint(err.instance)
        raise ParamsError(f"{where(parts)}: {what}")


def _number_hint(text: str) -> str:
    """For a string that reads as a number (``'1e-3'``, ``'2'``): how to write it as one."""
    try:
        value = yaml.load(text, Loader=ParamsLoader)
    except yaml.YAMLError:
        return ""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return ""
    forms = [repr(value)]
    mantissa, e, exponent = text.strip().lower().partition("e")
    if e and isinstance(value, float):
        dotted = mantissa if "." in mantissa else f"{mantissa}.0"
        signed = exponent if exponent[:1] in "+-" else f"+{exponent}"
        forms.append(f"{dotted}e{signed}")
    return f" (a string: write {' or '.join(dict.fromkeys(forms))}, without quotes)"


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


def _check_tasks(cfg: Mapping, where: Callable[[list], str]) -> None:
    """Every task in ``tasks`` has a section, whose ``dataset`` (binaural's too) is the synthetic
    generator's, a view of it (``verify.layouts``) or one of ``datasets``."""
    known = ["synthetic", *cfg["verify"]["layouts"], *cfg["datasets"]]
    for task in cfg["tasks"]:
        if not isinstance(cfg.get(task), Mapping):
            raise ParamsError(f"{where(['tasks'])}: '{task}' has no section")
        dataset = cfg[task].get("dataset")
        if dataset not in known:
            raise ParamsError(
                f"{where([task, 'dataset'])}: unknown dataset '{dataset}' (known: {', '.join(known)})"
            )


def check_cross_fields(cfg: Mapping, where: Callable[[list], str]) -> None:
    """Rules that join several keys of a schema-valid configuration, checked at start rather than
    inside the job that would fail on them: split fractions sum to 1; a batch divides across
    ``train.gpus``; training crops fit in the cached frames; test mixtures are at least a
    training window long; sound maps are no coarser than the frame net; a curriculum's first
    stage is trained.

    Raises:
        ParamsError: ``where(key path): rule, with the values``.
    """
    fractions = cfg["split"]["fractions"]
    total = sum(fractions[s] for s in SPLIT_NAMES)
    if not math.isclose(total, 1.0, abs_tol=1e-6):  # data.split.check_fractions' tolerance
        terms = " + ".join(f"{s} {fractions[s]:g}" for s in SPLIT_NAMES)
        raise ParamsError(f"{where(['split', 'fractions'])}: must sum to 1, got {terms} = {total:g}")
    for task in cfg["tasks"]:
        checks = (_check_gpu_batch, _check_crop, _check_test_window, _check_strides, _check_init_from)
        for check in checks:
            check(task, cfg[task], where)


def _check_gpu_batch(task: str, section: Mapping, where: Callable[[list], str]) -> None:
    """With ``train.gpus`` > 1 every process takes an equal slice of each batch."""
    train = section.get("train") or {}
    gpus, batch = train.get("gpus", 1), train.get("batch_size")
    if gpus > 1 and batch is not None and batch % gpus:
        raise ParamsError(
            f"{where([task, 'train', 'batch_size'])}: {batch} does not divide across "
            f"{task}.train.gpus = {gpus} (each GPU takes an equal slice of every batch: use a multiple "
            f"of {gpus})"
        )


def _check_crop(task: str, section: Mapping, where: Callable[[list], str]) -> None:
    """Training crops (``frames.crop_width/height``) are taken from the cached frames
    (``features.frame_width/height``)."""
    frames, features = section.get("frames") or {}, section.get("features") or {}
    for side in ("width", "height"):
        crop, frame = frames.get(f"crop_{side}"), features.get(f"frame_{side}")
        if crop is not None and frame is not None and crop > frame:
            raise ParamsError(
                f"{where([task, 'frames', f'crop_{side}'])}: {crop} is larger than "
                f"{task}.features.frame_{side} = {frame} (training crops are cut from the cached frames)"
            )


def _check_test_window(task: str, section: Mapping, where: Callable[[list], str]) -> None:
    """``eval.window`` (test mixtures, samples) is at least ``audio.window`` (the net's window)."""
    test = (section.get("eval") or {}).get("window")
    net = (section.get("audio") or {}).get("window")
    if test and net and test < net:
        raise ParamsError(
            f"{where([task, 'eval', 'window'])}: {test} is shorter than {task}.audio.window = {net} "
            f"(the net separates longer test mixtures window by window; null: the training window)"
        )


def _check_strides(task: str, section: Mapping, where: Callable[[list], str]) -> None:
    """``model.output_stride`` is at most the frame net's stride after its last residual stage
    (``model.frame_stages`` N: 2 ** (N + 1), :func:`avrepro.nets.dilated_resnet.stride_after`), and
    ``eval.map_output_stride`` (sound maps) is no coarser than ``model.output_stride``: the trained
    frame net can be dilated to a finer stride, not strided past its own."""
    model = section.get("model") or {}
    net, stages = model.get("output_stride"), model.get("frame_stages")
    reach = 2 ** (stages + 1) if stages else None  # (dilated_resnet.stride_after, without torch)
    if net and reach and net > reach:
        raise ParamsError(
            f"{where([task, 'model', 'output_stride'])}: {net} is coarser than the frame net's stride "
            f"after {task}.model.frame_stages = {stages} residual stages ({reach}; "
            f"dilation keeps a stride, it cannot add one)"
        )
    maps = (section.get("eval") or {}).get("map_output_stride")
    if maps and net and maps > net:
        raise ParamsError(
            f"{where([task, 'eval', 'map_output_stride'])}: {maps} is coarser than {task}.model."
            f"output_stride = {net} (the maps sample the trained net's features at its stride or "
            f"finer; null: the trained stride)"
        )


def _check_init_from(task: str, section: Mapping, where: Callable[[list], str]) -> None:
    """``init_from: {variant: other}``: a trained variant starts from a variant the profile trains."""
    variants = list(section.get("variants") or [])
    for variant, other in (section.get("init_from") or {}).items():
        if variant in variants and other not in variants:
            raise ParamsError(
                f"{where([task, 'init_from'])}: '{variant}' starts from '{other}', which "
                f"{task}.variants ({', '.join(variants)}) does not train"
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
    """Read, resolve and validate a params file (schema found next to it under workflow/schemas);
    errors name the file, the line and the key path."""
    path = Path(path)
    raw, lines = read_yaml(path)
    schema_path = Path(schema_path) if schema_path else path.parent / SCHEMA_RELPATH
    schema = load_yaml(schema_path)
    return resolve(raw, overrides, schema=schema, source=str(path), lines=lines)


def config_hash(obj: Any, length: int = 12) -> str:
    """Stable short hash of a JSON-serialisable object (keys sorted)."""
    blob = json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()
    return hashlib.sha256(blob).hexdigest()[:length]
