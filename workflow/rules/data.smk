# Data stage: synthesize/download -> verify -> split -> cache_features, per dataset.


rule synthesize:
    output:
        directory("data/raw/synthetic"),
    params:
        cfg=section("synthetic"),
        seed=section("seed"),
    threads: 2
    log:
        f"{LOGS}/synthesize.log",
    shell:
        "python -m avrepro synthesize --cfg {params.cfg:q} --seed {params.seed} --workers {threads} "
        "--out {output} "
        "> {log} 2>&1"


if MAIN_DATASET != "synthetic":

    rule download:
        output:
            directory(f"data/raw/{MAIN_DATASET}"),
        params:
            cfg=section("datasets", MAIN_DATASET),
            dataset=MAIN_DATASET,
            downloads=f"data/downloads/{MAIN_DATASET}",
        threads: 2
        log:
            f"{LOGS}/download_{MAIN_DATASET}.log",
        shell:
            "python -m avrepro download --dataset {params.dataset} --cfg {params.cfg:q} "
            "--out {output} --downloads {params.downloads} --workers {threads} > {log} 2>&1"


def verify_cfg(dataset):
    layout = {k: v for k, v in LAYOUTS.get(dataset, {}).items() if k not in ("source", "subdir")}
    value = {"min_seconds": CFG["verify"]["min_seconds"], "strict": CFG["verify"]["strict"], **layout}
    paths = ["verify.min_seconds", "verify.strict"] + ([f"verify.layouts.{dataset}"] if layout else [])
    return json_param(value, paths)


rule verify:
    input:
        lambda wc: raw_input(wc.dataset),
    output:
        manifest="data/manifests/{dataset}.csv",
        issues="reports/data_issues/{dataset}.csv",
    params:
        cfg=lambda wc: verify_cfg(wc.dataset),
        raw=lambda wc: raw_dir(wc.dataset),
    log:
        f"{LOGS}/verify_{{dataset}}.log",
    shell:
        "python -m avrepro verify --raw {params.raw} --dataset {wildcards.dataset} --cfg {params.cfg:q} "
        "--manifest {output.manifest} --issues {output.issues} > {log} 2>&1"


if CFG["split"]["scheme"] == "official" and MAIN_DATASET == "synthetic":
    raise ValueError("params.yaml: split.scheme 'official' needs a dataset with official splits "
                     "(fairplay, or local with a splits/ folder); the synthetic dataset has none")


def split_cfg(dataset):
    # the main dataset may use its official split; every other one the hash split, whose
    # params value is only what the hash split reads
    if dataset == MAIN_DATASET and CFG["split"]["scheme"] == "official":
        return section("split", only=("scheme", "official"))
    return section("split", only=("fractions", "seed"))


rule split:
    input:
        manifest="data/manifests/{dataset}.csv",
        raw=lambda wc: raw_input(wc.dataset),
    output:
        expand("data/splits/{{dataset}}/{split}.txt", split=SPLIT_NAMES),
    params:
        cfg=lambda wc: split_cfg(wc.dataset),
        raw=lambda wc: raw_dir(wc.dataset),
        out="data/splits/{dataset}",
    log:
        f"{LOGS}/split_{{dataset}}.log",
    shell:
        "python -m avrepro split --manifest {input.manifest} --raw {params.raw} "
        "--cfg {params.cfg:q} --out {params.out} > {log} 2>&1"


rule cache_features:
    input:
        manifest="data/manifests/{dataset}.csv",
        raw=lambda wc: raw_input(wc.dataset),
        split_file="data/splits/{dataset}/{split}.txt",
    output:
        directory("data/cache/{dataset}/{split}/{task}"),
    params:
        cfg=lambda wc: section(wc.task, "features"),
        raw=lambda wc: raw_dir(wc.dataset),
    log:
        f"{LOGS}/cache_{{dataset}}_{{split}}_{{task}}.log",
    shell:
        "python -m avrepro cache --manifest {input.manifest} --raw {params.raw} "
        "--split-file {input.split_file} --cfg {params.cfg:q} --out {output} > {log} 2>&1"
