# Data stage: synthesize/download -> verify -> split -> cache_features.


rule synthesize:
    output:
        directory("data/raw/synthetic"),
    params:
        cfg=section("synthetic"),
        seed=section("seed"),
    log:
        f"{LOGS}/synthesize.log",
    shell:
        "python -m avrepro synthesize --cfg {params.cfg:q} --seed {params.seed} --out {output} "
        "> {log} 2>&1"


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


rule split:
    input:
        MANIFEST,
    output:
        expand(f"{SPLITS}/{{split}}.txt", split=SPLIT_NAMES),
    params:
        cfg=section("split"),
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
