# Helpers shared by the rule files: configuration sections as JSON params, paths, constraints.
import json
import os

from avrepro.dvcyaml import ParamSection

# Progress bars go to the rules' log files: refresh them every few seconds, not many times a second.
os.environ.setdefault("TQDM_MININTERVAL", "5")


def section(*keys, only=None):
    """The resolved configuration at ``keys`` (restricted to the sub-keys ``only``) as canonical
    JSON: a rule's ``params:`` value, so a job reruns exactly when what it reads changes."""
    node = CFG
    for key in keys:
        node = node[key]
    paths = [".".join(keys)] if keys else [""]
    if only is not None:
        node = {k: node[k] for k in only}
        paths = [".".join(keys + (k,)) for k in only]
    return ParamSection(json.dumps(node, sort_keys=True, separators=(",", ":")), paths)


# What each stage of a task reads from the task's section.
TRAIN_KEYS = ("features", "audio", "frames", "model", "train")
EVAL_KEYS = ("features", "audio", "frames", "model", "eval")


DATASET = CFG["dataset"]
SEED = CFG["seed"]
RAW = f"data/raw/{DATASET}"
MANIFEST = f"data/manifests/{DATASET}.csv"
SPLITS = f"data/splits/{DATASET}"
CACHE = f"data/cache/{DATASET}"
LOGS = "reports/logs"
SPLIT_NAMES = ("train", "val", "test")

BINAURAL_VARIANTS = CFG["binaural"]["variants"]
BINAURAL_BASELINES = CFG["binaural"]["baselines"]


def alternation(names):
    return "|".join(names) if names else "^$"


wildcard_constraints:
    split=alternation(SPLIT_NAMES),
    task="binaural",
    variant=alternation(BINAURAL_VARIANTS),
    baseline=alternation(BINAURAL_BASELINES),
