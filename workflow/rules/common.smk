# Helpers of the stage files (data, train, evaluate, report .smk): configuration sections as JSON
# params, datasets and paths, the tasks in the DAG, wildcard constraints. Every function lives here,
# none beside the rules (`snakemake --lint`: "mixed rules and functions").
import json
import os
import sys

from avrepro.dvcyaml import ParamSection
from avrepro.io import missing_contents
from avrepro.tasks import demo_variant, get_task

# Progress bars go to the rules' log files: refresh them every few seconds, not many times a second.
os.environ.setdefault("TQDM_MININTERVAL", "5")

# Every job's shell keeps Snakemake's terminal on file descriptor 3 while the rule sends the job's
# stdout and stderr to its log: `avrepro train` writes its start line and one line per epoch there
# too (avrepro.engine.console). It also names Snakemake's process (the shell's parent): a job
# stops when Snakemake is killed, instead of writing on as an orphan (avrepro.runguard). Set as
# the shell prefix (Snakemake's default plus these commands), not in the rules' commands, so the
# change reruns no job.
shell.prefix("set -euo pipefail; exec 3>&2; export AVREPRO_CONSOLE_FD=3 AVREPRO_SNAKEMAKE_PID=$PPID; ")


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


LOGS = "reports/logs"
SPLIT_NAMES = ("train", "val", "test")

# Tasks in the DAG and the dataset each reads (`<task>.dataset`; config.resolve checked that each
# task has a section and a known dataset, check_task_names the names in it).
TASKS = list(CFG["tasks"])


def task_dataset(task):
    return CFG[task]["dataset"]


DATASETS = sorted({task_dataset(t) for t in TASKS})
# Views of a raw folder written by another rule (the synthetic generator writes the scenes, their
# ambisonics and 360 video, and the solo clips): params `verify.layouts`.
LAYOUTS = CFG["verify"]["layouts"]


def raw_source(dataset):
    """The raw dataset whose folder holds ``dataset`` (itself, or the source of its layout)."""
    return LAYOUTS.get(dataset, {}).get("source", dataset)


# Raw folders the download step fetches: every source but the generator's (`datasets.<name>`).
DOWNLOADED = sorted({raw_source(d) for d in DATASETS} - {"synthetic"})


def user_folder(dataset):
    """The user's own folder a dataset converts (``datasets.<dataset>.path``, e.g. ``local``):
    an input of its download job, so DVC hashes it and a missing folder is named."""
    path = (CFG["datasets"].get(dataset) or {}).get("path")
    return [os.path.expanduser(path)] if path else []


def download_cfg(dataset):
    """What ``download`` reads: ``datasets.<dataset>``, and for a user's folder a digest of its
    files (names, sizes, times), so adding, replacing or removing a clip reruns the conversion."""
    folder = user_folder(dataset)
    if not folder or not os.path.isdir(folder[0]):
        return section("datasets", dataset)
    from avrepro.data.sources.local import folder_manifest

    value = {**CFG["datasets"][dataset], "folder_manifest": folder_manifest(folder[0])}
    return json_param(value, [f"datasets.{dataset}"])


def raw_input(dataset):
    """The directory a job produces (synthesize or download) that holds ``dataset``."""
    return f"data/raw/{raw_source(dataset)}"


def raw_dir(dataset):
    """Where ``dataset``'s clips are: ``raw_input`` or a sub-folder of it."""
    sub = LAYOUTS.get(dataset, {}).get("subdir")
    return f"{raw_input(dataset)}/{sub}" if sub else raw_input(dataset)


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


# -- data stage (data.smk) ----------------------------------------------------------------------


def verify_cfg(dataset):
    """What ``verify`` reads: the common checks and ``dataset``'s layout (channels, curation)."""
    layout = {k: v for k, v in LAYOUTS.get(dataset, {}).items() if k not in ("source", "subdir")}
    value = {"min_seconds": CFG["verify"]["min_seconds"], "strict": CFG["verify"]["strict"], **layout}
    paths = ["verify.min_seconds", "verify.strict"] + ([f"verify.layouts.{dataset}"] if layout else [])
    return json_param(value, paths)


if CFG["split"]["scheme"] == "official" and not DOWNLOADED:
    raise ValueError(
        "params.yaml: split.scheme 'official' needs a dataset with official splits (fairplay, or "
        "local with a splits/ folder) as a task's dataset; the synthetic datasets have none"
    )


def split_cfg(dataset):
    """What ``split`` reads: a downloaded dataset may use its official split; the generator's
    datasets the hash split, whose params value is only what the hash split reads."""
    if dataset in DOWNLOADED and CFG["split"]["scheme"] == "official":
        return section("split", only=("scheme", "official"))
    return section("split", only=("fractions", "seed"))


# -- training and evaluation stages (train.smk, evaluate.smk) ------------------------------------


def init_checkpoint(task, variant):
    """``<task>.init_from``: the checkpoint ``variant`` starts from (a curriculum), if any."""
    other = (CFG[task].get("init_from") or {}).get(variant)
    return [f"models/{task}/{other}/best.pt"] if other else []


def train_cache_input(task):
    """The train split's cache, for tasks whose evaluation fits something on it (probes, NMF)."""
    return [cache(task, "train")] if CFG[task]["eval"].get("needs_train") else []


def train_cache_arg(input):
    return f"--train {input.train[0]}" if input.train else ""


# -- report stage (report.smk) -------------------------------------------------------------------


def demo_tasks():
    """The tasks whose section asks for the demo stage (``<task>.demo``) and trains a variant to
    show (a run of shortcut variants alone has none)."""
    return [t for t in TASKS if demo_variant(t, CFG[t])]


def demo_model(task):
    return f"models/{task}/{demo_variant(task, CFG[task])}"


def metric_files(task, suffix=".json"):
    return [f"reports/metrics/{task}_{n}{suffix}" for n in names(task, "baselines", "variants", "controls")]


def dag_outputs():
    """Every output of the DAG. The target rule asks for all of them: Snakemake rebuilds a
    missing intermediate output only when a later job has to run anyway, so a deleted model,
    cache folder or metric file would otherwise go unseen; as a target it is rebuilt, and then
    everything after it."""
    out = [raw_input(d) for d in DATASETS] + ["reports/tables", "reports/report.html"]
    for d in DATASETS:
        out += [f"data/manifests/{d}.csv", f"reports/data_issues/{d}.csv"]
        out += [f"data/splits/{d}/{s}.txt" for s in SPLIT_NAMES]
    for t in TASKS:
        out += [cache(t, s) for s in SPLIT_NAMES] + [f"reports/figures/{t}"]
        out += [f"models/{t}/{v}/{f}" for v in names(t, "variants") for f in TRAIN_OUTPUTS]
        out += metric_files(t) + metric_files(t, "_clips.csv")
        out += [f"reports/predictions/{t}/{n}" for n in names(t, "variants", "controls")]
    return sorted(set(out + [f"reports/demos/{t}" for t in demo_tasks()]))


def rerun_damaged_folders(wildcards):
    """An input function of the target rule that adds no input: while Snakemake builds the DAG,
    it forces the job of every folder output that lost or changed a file since that job wrote it
    (the folder's record says so: avrepro.io.CONTENTS), as `--forcerun FOLDER` would. Snakemake
    itself checks only that a folder exists; the DAG's forced files are read after the target's
    inputs are known (Snakemake 9's DAG.init, then update_needrun)."""
    for folder in dag_outputs():
        damage = missing_contents(folder)
        if damage:
            more = f" and {len(damage) - 3} more" if len(damage) > 3 else ""
            print(
                f"avrepro: {folder} is not as its job wrote it ({', '.join(damage[:3])}{more}); "
                "that job runs again",
                file=sys.stderr,
            )
            workflow.dag.forcefiles.add(folder)
    return []


TRAIN_OUTPUTS = ("best.pt", "last.pt", "config.yaml", "live")

# What each stage of a task reads from the task's section: training gets everything but what
# only evaluation, reporting or the DAG's shape use; evaluation everything but training's.
DAG_KEYS = ("dataset", "variants", "baselines", "controls", "init_from", "demo", "left_out")
TRAIN_EXCLUDE = ("eval",) + DAG_KEYS
EVAL_EXCLUDE = ("train",) + DAG_KEYS


def baseline_exclude(task):
    """What a task's baseline rule does not rerun for: the evaluation's exclusions and the
    sections its baselines never read (``Task.baselines_ignore``)."""
    return EVAL_EXCLUDE + get_task(task).baselines_ignore


wildcard_constraints:
    split=alternation(SPLIT_NAMES),
    task=alternation(TASKS),
    dataset=alternation(DATASETS),
