# Demo stage: each task's inference verb (`avrepro binauralize | separate | sync | locate`) with the
# model of `<task>.demo.variant` on `<task>.demo.clips` held-out test clips (rule demo_<task>);
# the report plays what it writes. A task without a `demo` section has no demo.


for _task in demo_tasks():

    rule:
        name:
            f"demo_{_task}"
        input:
            model=f"{demo_model(_task)}/best.pt",
            config=f"{demo_model(_task)}/config.yaml",
            manifest=f"data/manifests/{task_dataset(_task)}.csv",
            raw=raw_input(task_dataset(_task)),
            split_file=f"data/splits/{task_dataset(_task)}/test.txt",
        output:
            directory(f"reports/demos/{_task}"),
        log:
            f"{LOGS}/demo_{_task}.log",
        threads: CFG["eval_threads"]
        params:
            task=_task,
            cfg=section(_task, exclude=("train",)),
            raw=raw_dir(task_dataset(_task)),
            seed=section("seed"),
        shell:
            "python -m avrepro demo --task {params.task} --models models --cfg {params.cfg:q} "
            "--manifest {input.manifest} --raw {params.raw} --split-file {input.split_file} "
            "--out {output} --seed {params.seed} --threads {threads} > {log} 2>&1"
