# Training stage: one job per task variant, on a GPU when one is available (on train.gpus GPUs
# with DDP when it is above 1; the launcher is chosen inside `avrepro train`).


rule train_binaural:
    input:
        train=f"{CACHE}/train/binaural",
        val=f"{CACHE}/val/binaural",
    output:
        best="models/binaural/{variant}/best.pt",
        last="models/binaural/{variant}/last.pt",
        config="models/binaural/{variant}/config.yaml",
        live=directory("models/binaural/{variant}/live"),
    params:
        cfg=section("binaural", only=TRAIN_KEYS),
        seed=section("seed"),
        out="models/binaural/{variant}",
    threads: CFG["binaural"]["train"]["threads"]
    resources:
        # train.gpus > 1: `avrepro train` runs itself under torchrun, one DDP process per GPU
        gpu=CFG["binaural"]["train"]["gpus"],
    log:
        f"{LOGS}/train_binaural_{{variant}}.log",
    shell:
        "python -m avrepro train --task binaural --variant {wildcards.variant} --cfg {params.cfg:q} "
        "--train {input.train} --val {input.val} --out {params.out} --seed {params.seed} --threads {threads} > {log} 2>&1"
