# Training stage: one job per task variant (rule train_<task>), on a GPU when one is available
# (on train.gpus GPUs with DDP when it is above 1; the launcher is chosen inside `avrepro train`).
# `<task>.init_from: {variant: other}` starts a variant from another's best.pt (a curriculum).
# The job's output (progress bars, errors) goes to its log; one line per epoch also reaches the
# console, through the descriptor the shell prefix keeps open (common.smk).


for _task in TASKS:

    rule:
        name:
            f"train_{_task}"
        input:
            train=cache(_task, "train"),
            val=cache(_task, "val"),
            init=lambda wc, t=_task: init_checkpoint(t, wc.variant),
        output:
            best=f"models/{_task}/{{variant}}/best.pt",
            last=f"models/{_task}/{{variant}}/last.pt",
            config=f"models/{_task}/{{variant}}/config.yaml",
            live=directory(f"models/{_task}/{{variant}}/live"),
        log:
            f"{LOGS}/train_{_task}_{{variant}}.log",
        wildcard_constraints:
            variant=alternation(names(_task, "variants")),
        threads: CFG[_task]["train"]["threads"]
        resources:
            # train.gpus > 1: `avrepro train` runs itself under torchrun, one DDP process per GPU
            gpu=CFG[_task]["train"]["gpus"],
        params:
            task=_task,
            cfg=section(_task, exclude=TRAIN_EXCLUDE),
            seed=section("seed"),
            out=f"models/{_task}/{{variant}}",
            init=lambda wc, input: f"--init {input.init[0]}" if input.init else "",
        shell:
            "python -m avrepro train --task {params.task} --variant {wildcards.variant} "
            "--cfg {params.cfg:q} --train {input.train} --val {input.val} --out {params.out} "
            "--seed {params.seed} --threads {threads} {params.init} > {log} 2>&1"
