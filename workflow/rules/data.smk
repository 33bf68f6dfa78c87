# Data stage: synthesize / download -> verify -> split -> cache_features, per dataset.
# (Helpers: common.smk.)


rule synthesize:
    output:
        directory("data/raw/synthetic"),
    log:
        f"{LOGS}/synthesize.log",
    threads: 2
    params:
        cfg=section("synthetic"),
        seed=section("seed"),
    shell:
        "python -m avrepro synthesize --cfg {params.cfg:q} --seed {params.seed} --workers {threads} "
        "--out {output} "
        "> {log} 2>&1"


rule download:
    input:
        lambda wc: user_folder(wc.dataset),
    output:
        directory("data/raw/{dataset}"),
    log:
        f"{LOGS}/download_{{dataset}}.log",
    wildcard_constraints:
        dataset=alternation(DOWNLOADED),
    threads: 2
    params:
        cfg=lambda wc: download_cfg(wc.dataset),
        downloads="data/downloads/{dataset}",
    shell:
        "python -m avrepro download --dataset {wildcards.dataset} --cfg {params.cfg:q} "
        "--out {output} --downloads {params.downloads} --workers {threads} > {log} 2>&1"


rule verify:
    input:
        lambda wc: raw_input(wc.dataset),
    output:
        manifest="data/manifests/{dataset}.csv",
        issues="reports/data_issues/{dataset}.csv",
    log:
        f"{LOGS}/verify_{{dataset}}.log",
    threads: 2
    params:
        cfg=lambda wc: verify_cfg(wc.dataset),
        raw=lambda wc: raw_dir(wc.dataset),
    shell:
        "python -m avrepro verify --raw {params.raw} --dataset {wildcards.dataset} --cfg {params.cfg:q} "
        "--manifest {output.manifest} --issues {output.issues} --workers {threads} > {log} 2>&1"


rule split:
    input:
        manifest="data/manifests/{dataset}.csv",
        raw=lambda wc: raw_input(wc.dataset),
    output:
        expand("data/splits/{{dataset}}/{split}.txt", split=SPLIT_NAMES),
    log:
        f"{LOGS}/split_{{dataset}}.log",
    params:
        cfg=lambda wc: split_cfg(wc.dataset),
        raw=lambda wc: raw_dir(wc.dataset),
        out="data/splits/{dataset}",
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
    log:
        f"{LOGS}/cache_{{dataset}}_{{split}}_{{task}}.log",
    params:
        cfg=lambda wc: section(wc.task, "features"),
        raw=lambda wc: raw_dir(wc.dataset),
    shell:
        "python -m avrepro cache --manifest {input.manifest} --raw {params.raw} "
        "--split-file {input.split_file} --cfg {params.cfg:q} --out {output} > {log} 2>&1"
