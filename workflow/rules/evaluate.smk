# Evaluation stage: trained variants and baselines on the test split -> reports/metrics/*.json.


rule evaluate_binaural:
    input:
        test=f"{CACHE}/test/binaural",
        checkpoint="models/binaural/{variant}/best.pt",
    output:
        metrics="reports/metrics/binaural_{variant}.json",
        clips="reports/metrics/binaural_{variant}_clips.csv",
        predictions=directory("reports/predictions/binaural/{variant}"),
    params:
        cfg=section("binaural", only=EVAL_KEYS),
        seed=section("seed"),
    threads: 2
    log:
        f"{LOGS}/evaluate_binaural_{{variant}}.log",
    shell:
        "python -m avrepro evaluate --task binaural --name {wildcards.variant} --cfg {params.cfg:q} "
        "--test {input.test} --checkpoint {input.checkpoint} --metrics {output.metrics} "
        "--clips {output.clips} --predictions {output.predictions} --seed {params.seed} --threads {threads} > {log} 2>&1"


rule baseline_binaural:
    input:
        test=f"{CACHE}/test/binaural",
    output:
        metrics="reports/metrics/binaural_{baseline}.json",
        clips="reports/metrics/binaural_{baseline}_clips.csv",
    params:
        cfg=section("binaural", only=EVAL_KEYS),
        seed=section("seed"),
    threads: 2
    log:
        f"{LOGS}/baseline_binaural_{{baseline}}.log",
    shell:
        "python -m avrepro evaluate --task binaural --name {wildcards.baseline} --cfg {params.cfg:q} "
        "--test {input.test} --metrics {output.metrics} --clips {output.clips} "
        "--seed {params.seed} --threads {threads} > {log} 2>&1"
