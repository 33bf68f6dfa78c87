"""dvc.yaml is DVC's view of the Snakemake DAG: it must agree with it exactly."""

from __future__ import annotations

import yaml

from avrepro.dvcyaml import build_dvc_yaml, snakemake_jobs


def test_dvc_yaml_matches_snakemake_dag(root):
    committed = (root / "dvc.yaml").read_text()
    assert committed == build_dvc_yaml(root), (
        "dvc.yaml disagrees with the Snakemake DAG: regenerate it with `python -m avrepro.dvcyaml`"
    )


def test_every_snakemake_output_is_a_dvc_out(root):
    stages = yaml.safe_load((root / "dvc.yaml").read_text())["stages"]
    dvc_outs = {o for s in stages.values() for o in s["outs"]}
    smk_outs = {o for job in snakemake_jobs(root) for o in job["output"]}
    assert dvc_outs == smk_outs
    assert len(stages) == len(snakemake_jobs(root))
    # every metric file is listed for `dvc metrics show`, every dvclive dir for `dvc plots show`
    doc = yaml.safe_load((root / "dvc.yaml").read_text())
    metrics = {o for o in dvc_outs if o.startswith("reports/metrics/") and o.endswith(".json")}
    assert set(doc["metrics"]) == metrics
    assert {p.rsplit("/plots", 1)[0] for p in doc["plots"]} == {o for o in dvc_outs if o.endswith("/live")}


def test_stage_params_exist_in_params_yaml(root):
    raw = yaml.safe_load((root / "params.yaml").read_text())
    stages = yaml.safe_load((root / "dvc.yaml").read_text())["stages"]
    for name, stage in stages.items():
        for key in stage.get("params", []):
            node = raw
            for part in key.split("."):
                assert isinstance(node, dict) and part in node, f"{name}: params key {key} not in params.yaml"
                node = node[part]


def test_stages_track_the_params_their_rules_read(root):
    stages = yaml.safe_load((root / "dvc.yaml").read_text())["stages"]
    train = next(s for n, s in stages.items() if n.startswith("train_binaural"))
    assert "common.binaural.train" in train["params"] and "common.seed" in train["params"]
    assert "common.binaural.eval" not in train["params"]
    # the DAG's keys (dataset, variant names) shape the jobs; no job's --cfg carries them
    assert not any(k.endswith((".dataset", ".variants")) for k in train["params"])
    evaluate = next(s for n, s in stages.items() if n.startswith("evaluate_binaural"))
    assert "common.binaural.eval" in evaluate["params"]
    assert "common.synthetic" in stages["synthesize"]["params"]
