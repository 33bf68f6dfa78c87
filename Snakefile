# avrepro: one DAG from raw media to the report. Thin by design: configuration, validation,
# the rule files by stage, and the final target. See README.md and workflow/rules/*.smk.
#
# `snakemake --lint` asks every rule for a conda environment or container: the rules run
# `python -m avrepro` in the environment that runs Snakemake itself (it imports avrepro to read
# params.yaml), set up once by `make venv` or environment.yml plus `pip install -e .`.
from avrepro.config import cli_overrides, load_params
from avrepro.tasks import check_task_names, fit_to_datasets

# params.yaml resolved for its profile, with the `--config` overrides (`profile=smoke`,
# `tasks=[sync]`, `'binaural={dataset: fairplay}'`) and validated against the schema; variant,
# baseline and control names against the task classes. No `configfile:` directive: `config` holds
# only what the command line sets.
CFG = load_params("params.yaml", overrides=cli_overrides(config))
check_task_names(CFG, "params.yaml")
# On data the simulator did not make, variants that need its ground truth are left out and the
# others run without those parts (`<task>.left_out`, `<task>.without`; the report says so).
fit_to_datasets(CFG)


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/evaluate.smk"
include: "workflow/rules/demo.smk"
include: "workflow/rules/report.smk"


rule all:
    default_target: True
    input:
        "reports/report.md",
        dag_outputs(),  # every output, so that a deleted one is rebuilt (common.smk)
        rerun_damaged_folders,  # and a folder output that lost a file
