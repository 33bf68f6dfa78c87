# Report stage: per-task figures, then the report with its tables.


rule figures_binaural:
    input:
        test=f"{CACHE}/test/binaural",
        live=expand("models/binaural/{variant}/live", variant=BINAURAL_VARIANTS),
        metrics=expand("reports/metrics/binaural_{name}_clips.csv",
                       name=BINAURAL_BASELINES + BINAURAL_VARIANTS),
        predictions=expand("reports/predictions/binaural/{variant}", variant=BINAURAL_VARIANTS),
    output:
        directory("reports/figures/binaural"),
    params:
        cfg=section("binaural", only=("features", "audio", "variants", "baselines")),
    log:
        f"{LOGS}/figures_binaural.log",
    shell:
        "python -m avrepro figures --task binaural --cfg {params.cfg:q} --test {input.test} "
        "--models models/binaural --metrics reports/metrics --predictions reports/predictions/binaural "
        "--out {output} > {log} 2>&1"


rule report:
    input:
        metrics=expand("reports/metrics/binaural_{name}.json",
                       name=BINAURAL_BASELINES + BINAURAL_VARIANTS),
        configs=expand("models/binaural/{variant}/config.yaml", variant=BINAURAL_VARIANTS),
        figures="reports/figures/binaural",
        issues="reports/data_issues.csv",
    output:
        md="reports/report.md",
        html="reports/report.html",
        tables=directory("reports/tables"),
    params:
        cfg=section(),
    log:
        f"{LOGS}/report.log",
    shell:
        "python -m avrepro report --cfg {params.cfg:q} --out {output.md} --tables {output.tables} "
        "> {log} 2>&1"
