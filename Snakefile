# avrepro: one DAG from raw media to the report. Thin by design: configuration, validation,
# the rule files by stage, and the final target. See README.md and workflow/rules/*.smk.
from avrepro.config import load_params

configfile: "params.yaml"

# `snakemake --config profile=smoke` (or dataset=..., tasks=[...]) overrides the top-level keys; the rest of
# the configuration is resolved from `common` + the profile and validated against the schema.
CFG = load_params("params.yaml", overrides={k: v for k, v in config.items()
                                            if k in ("profile", "dataset", "tasks")})

include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/evaluate.smk"
include: "workflow/rules/report.smk"


rule all:
    input:
        "reports/report.md",
    default_target: True
