# Evaluation stage: trained variants, controls (a variant's checkpoint evaluated another way,
# `<task>.controls: {name: variant}`) and baselines on the test split -> reports/metrics/*.json.


for _task in TASKS:

    rule:
        name:
            f"evaluate_{_task}"
        input:
            test=cache(_task, "test"),
            train=train_cache_input(_task),
            checkpoint=lambda wc, t=_task: f"models/{t}/{checkpoint_of(t, wc.name)}/best.pt",
        output:
            metrics=f"reports/metrics/{_task}_{{name}}.json",
            clips=f"reports/metrics/{_task}_{{name}}_clips.csv",
            predictions=directory(f"reports/predictions/{_task}/{{name}}"),
        log:
            f"{LOGS}/evaluate_{_task}_{{name}}.log",
        wildcard_constraints:
            name=alternation(names(_task, "variants", "controls")),
        threads: CFG["eval_threads"]
        params:
            task=_task,
            cfg=section(_task, exclude=EVAL_EXCLUDE),
            seed=section("seed"),
            variant=lambda wc, t=_task: checkpoint_of(t, wc.name),
            train=lambda wc, input: train_cache_arg(input),
        shell:
            "python -m avrepro evaluate --task {params.task} --name {wildcards.name} "
            "--variant {params.variant} --cfg {params.cfg:q} --test {input.test} {params.train} "
            "--checkpoint {input.checkpoint} --metrics {output.metrics} --clips {output.clips} "
            "--predictions {output.predictions} --seed {params.seed} --threads {threads} > {log} 2>&1"

    rule:
        name:
            f"baseline_{_task}"
        input:
            test=cache(_task, "test"),
            train=train_cache_input(_task),
        output:
            metrics=f"reports/metrics/{_task}_{{name}}.json",
            clips=f"reports/metrics/{_task}_{{name}}_clips.csv",
        log:
            f"{LOGS}/baseline_{_task}_{{name}}.log",
        wildcard_constraints:
            name=alternation(names(_task, "baselines")),
        threads: CFG["eval_threads"]
        params:
            task=_task,
            cfg=section(_task, exclude=baseline_exclude(_task)),
            seed=section("seed"),
            train=lambda wc, input: train_cache_arg(input),
        shell:
            "python -m avrepro evaluate --task {params.task} --name {wildcards.name} "
            "--cfg {params.cfg:q} --test {input.test} {params.train} --metrics {output.metrics} "
            "--clips {output.clips} --seed {params.seed} --threads {threads} > {log} 2>&1"
