# Helpers shared by the rule files: configuration sections as JSON params, datasets and paths,
# the tasks in the DAG, wildcard constraints.
import json
import os

from avrepro.dvcyaml import ParamSection

# Progress bars go to the rules' log files: refresh them every few seconds, not many times a second.
os.environ.setdefault("TQDM_MININTERVAL", "5")


def section(*keys, only=None, exclude=()):
    """The resolved configuration at ``keys`` (restricted to the sub-keys ``only``, or without
    those in ``exclude``) as canonical JSON: a rule's ``params:`` value, so a job reruns exactly
    when what it reads changes."""
    node = CFG
    for key in keys:
        node = node[key]
    paths = [".".join(keys)] if keys else [""]
    if only is None and exclude:
        only = [k for k in node if k not in exclude]
    if only is not None:
        node = {k: node[k] for k in only}
        paths = [".".join(keys + (k,)) for k in only]
    return ParamSection(json.dumps(node, sort_keys=True, separators=(",", ":")), paths)


def json_param(value, paths):
    """Canonical JSON of an assembled ``value`` read from the configuration keys ``paths``."""
    return ParamSection(json.dumps(value, sort_keys=True, separators=(",", ":")), paths)


def alternation(names):
    return "|".join(sorted(names, key=len, reverse=True)) if names else "^$"


SEED = CFG["seed"]
LOGS = "reports/logs"
SPLIT_NAMES = ("train", "val", "test")

# Tasks in the DAG and the dataset each reads: binaural reads the top-level `dataset` (synthetic,
# fairplay or local), the others their own `<task>.dataset`.
TASKS = list(CFG["tasks"])
if [t for t in TASKS if t not in CFG]:
    raise ValueError(f"params.yaml: tasks lists {[t for t in TASKS if t not in CFG][0]!r}, "
                     "which has no section")
MAIN_DATASET = CFG["dataset"]


def task_dataset(task):
    return MAIN_DATASET if task == "binaural" else CFG[task]["dataset"]


DATASETS = sorted({task_dataset(t) for t in TASKS})
# Views of a raw folder written by another rule (the synthetic generator writes the scenes, their
# ambisonics and 360 video, and the solo clips): params `verify.layouts`.
LAYOUTS = CFG["verify"]["layouts"]


def raw_input(dataset):
    """The directory a rule produces (synthesize or download) that holds ``dataset``."""
    return f"data/raw/{LAYOUTS.get(dataset, {}).get('source', dataset)}"


def raw_dir(dataset):
    """Where ``dataset``'s clips are: ``raw_input`` or a sub-folder of it."""
    sub = LAYOUTS.get(dataset, {}).get("subdir")
    return f"{raw_input(dataset)}/{sub}" if sub else raw_input(dataset)


def manifest(dataset):
    return f"data/manifests/{dataset}.csv"


def split_file(dataset, split):
    return f"data/splits/{dataset}/{split}.txt"


def cache(task, split):
    return f"data/cache/{task_dataset(task)}/{split}/{task}"


def names(task, *kinds):
    """Names of a task's ``variants``, ``baselines`` and/or ``controls`` (in that order; the
    configuration keeps only controls of trained variants)."""
    out = []
    for kind in kinds:
        out += list(CFG[task].get(kind) or [])
    return out


def checkpoint_of(task, name):
    """The variant whose checkpoint evaluates ``name`` (itself, or the variant of a control)."""
    return (CFG[task].get("controls") or {}).get(name, name)


# What each stage of a task reads from the task's section: training gets everything but what
# only evaluation, reporting or the DAG's shape use; evaluation everything but training's.
DAG_KEYS = ("variants", "baselines", "controls", "init_from")
TRAIN_EXCLUDE = ("eval",) + DAG_KEYS
EVAL_EXCLUDE = ("train",) + DAG_KEYS


wildcard_constraints:
    split=alternation(SPLIT_NAMES),
    task=alternation(TASKS),
    dataset=alternation(DATASETS),
