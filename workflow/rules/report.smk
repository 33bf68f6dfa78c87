# Report stage: per-task figures (rule figures_<task>), then the report with its tables. The
# figures and report.html are marked for Snakemake's own report (`snakemake --report report.zip`;
# captions in workflow/report/).


for _task in TASKS:

    rule:
        name:
            f"figures_{_task}"
        input:
            test=cache(_task, "test"),
            live=expand(f"models/{_task}/{{variant}}/live", variant=names(_task, "variants")),
            metrics=metric_files(_task, "_clips.csv"),
            predictions=expand(
                f"reports/predictions/{_task}/{{name}}", name=names(_task, "variants", "controls")
            ),
        output:
            # `snakemake --report report.zip` carries every PNG, with a caption, under the task
            report(
                directory(f"reports/figures/{_task}"),
                patterns=["{name}.png"],
                caption="../report/figures.rst",
                category=_task.capitalize(),
            ),
        log:
            f"{LOGS}/figures_{_task}.log",
        params:
            task=_task,
            cfg=section(_task, exclude=("train",)),
        shell:
            "python -m avrepro figures --task {params.task} --cfg {params.cfg:q} --test {input.test} "
            "--models models/{params.task} --metrics reports/metrics "
            "--predictions reports/predictions/{params.task} --out {output} > {log} 2>&1"


rule report:
    input:
        metrics=[f for t in TASKS for f in metric_files(t)],
        configs=[f"models/{t}/{v}/config.yaml" for t in TASKS for v in names(t, "variants")],
        figures=[f"reports/figures/{t}" for t in TASKS],
        issues=[f"reports/data_issues/{d}.csv" for d in DATASETS],
        demos=[f"reports/demos/{t}" for t in demo_tasks()],
    output:
        md="reports/report.md",
        html=report("reports/report.html", caption="../report/report.rst", category="Report"),
        tables=directory("reports/tables"),
    log:
        f"{LOGS}/report.log",
    params:
        cfg=section(),
    shell:
        "python -m avrepro report --cfg {params.cfg:q} --out {output.md} --tables {output.tables} "
        "> {log} 2>&1"
