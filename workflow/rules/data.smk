# Data stage: synthesize/download -> verify -> split -> cache_features.


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


if DATASET != "synthetic":

    rule download:
        output:
            directory(RAW),
        params:
            cfg=section("datasets", DATASET),
            dataset=DATASET,
            downloads=f"data/downloads/{DATASET}",
        threads: 2
        log:
            f"{LOGS}/download_{DATASET}.log",
        shell:
            "python -m avrepro download --dataset {params.dataset} --cfg {params.cfg:q} "
            "--out {output} --downloads {params.downloads} --workers {threads} > {log} 2>&1"


rule verify:
    input:
        RAW,
    output:
        manifest=MANIFEST,
        issues="reports/data_issues.csv",
    params:
        cfg=section("verify"),
        dataset=DATASET,
    log:
        f"{LOGS}/verify_{DATASET}.log",
    shell:
        "python -m avrepro verify --raw {input} --dataset {params.dataset} --cfg {params.cfg:q} "
        "--manifest {output.manifest} --issues {output.issues} > {log} 2>&1"


if CFG["split"]["scheme"] == "official":
    if DATASET == "synthetic":
        raise ValueError("params.yaml: split.scheme 'official' needs a dataset with official splits "
                         "(fairplay, or local with a splits/ folder); the synthetic dataset has none")

    rule split:
        input:
            manifest=MANIFEST,
            raw=RAW,
        output:
            expand(f"{SPLITS}/{{split}}.txt", split=SPLIT_NAMES),
        params:
            cfg=section("split", only=("scheme", "official")),
            out=SPLITS,
        log:
            f"{LOGS}/split_{DATASET}.log",
        shell:
            "python -m avrepro split --manifest {input.manifest} --raw {input.raw} "
            "--cfg {params.cfg:q} --out {params.out} > {log} 2>&1"

else:

    rule split:
        input:
            MANIFEST,
        output:
            expand(f"{SPLITS}/{{split}}.txt", split=SPLIT_NAMES),
        params:
            # only what the hash split reads: the same value as before `scheme` existed
            cfg=section("split", only=("fractions", "seed")),
            out=SPLITS,
        log:
            f"{LOGS}/split_{DATASET}.log",
        shell:
            "python -m avrepro split --manifest {input} --cfg {params.cfg:q} --out {params.out} > {log} 2>&1"


rule cache_features:
    input:
        manifest=MANIFEST,
        raw=RAW,
        split_file=f"{SPLITS}/{{split}}.txt",
    output:
        directory(f"{CACHE}/{{split}}/{{task}}"),
    params:
        cfg=lambda wc: section(wc.task, "features"),
    log:
        f"{LOGS}/cache_{DATASET}_{{split}}_{{task}}.log",
    shell:
        "python -m avrepro cache --manifest {input.manifest} --raw {input.raw} "
        "--split-file {input.split_file} --cfg {params.cfg:q} --out {output} > {log} 2>&1"
