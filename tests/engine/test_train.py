"""Training engine: outputs, kill-and-resume equals an uninterrupted run, same seed -> same metrics."""

from __future__ import annotations

import copy

import pytest
import torch
import yaml

from avrepro.engine.checkpoint import load_checkpoint
from avrepro.engine.evaluate import evaluate
from avrepro.engine.train import train
from avrepro.io import read_json
from avrepro.tasks import get_task
from helpers.training import train_film


class Killed(RuntimeError):
    pass


def _cfg(tiny, **train_keys):
    cfg = copy.deepcopy(tiny["cfg"]["binaural"])
    cfg["train"].update(epochs=2, checkpoint_every=2, batch_size=4, windows_per_clip=2, **train_keys)
    return cfg


def _run(tiny, out, variant="film", on_step=None, **train_keys):
    c = tiny["caches"]
    return train(
        get_task("binaural"),
        _cfg(tiny, **train_keys),
        variant,
        c["train"],
        c["val"],
        out,
        seed=3,
        device="cpu",
        progress=False,
        on_step=on_step,
    )


def _eval(tiny, run, name, out):
    """Evaluate ``run``'s best.pt; the metric files go to ``out``."""
    return evaluate(
        "binaural",
        _cfg(tiny),
        name,
        tiny["caches"]["test"],
        checkpoint=run / "best.pt",
        metrics_out=out / "m.json",
        clips_out=out / "c.csv",
        device="cpu",
        progress=False,
    )


@pytest.fixture(scope="module")
def reference(tiny_caches, tmp_path_factory):
    """One uninterrupted run of the module's configuration (seed 3): ``(folder, final metrics)``;
    the tests read it and never write into it."""
    run = tmp_path_factory.mktemp("reference")
    return run, _run(tiny_caches, run)


def test_outputs_and_logs(reference):
    run, final = reference
    for name in ("best.pt", "last.pt", "config.yaml"):
        assert (run / name).is_file()
    assert not (run / ".partial").exists()
    assert (run / "live/plots/metrics/train/loss.tsv").read_text().count("\n") == 3  # header + 2 epochs
    assert (run / "live/plots/metrics/val/loss.tsv").is_file()
    assert final["train/loss"] > 0
    state = load_checkpoint(run / "last.pt")  # weights_only load works
    assert state["state"]["epoch"] == 2


def test_same_seed_same_metrics(tiny_caches, reference, tmp_path):
    run, final = reference
    assert _run(tiny_caches, tmp_path / "b") == final
    (tmp_path / "ea").mkdir()
    (tmp_path / "eb").mkdir()
    assert _eval(tiny_caches, run, "film", tmp_path / "ea") == _eval(
        tiny_caches, tmp_path / "b", "film", tmp_path / "eb"
    )


def test_kill_and_resume_matches_uninterrupted(tiny_caches, reference, tmp_path):
    ref_run, final = reference

    def kill_at_5(step):
        if step == 5:
            raise Killed("simulated kill")

    with pytest.raises(Killed):
        _run(tiny_caches, tmp_path / "run", on_step=kill_at_5)
    partial = tmp_path / "run/.partial/last.pt"
    assert partial.is_file() and not (tmp_path / "run/best.pt").exists()
    assert load_checkpoint(partial)["state"]["step"] == 4  # the last checkpoint before the kill
    resumed_from = []
    resumed = _run(tiny_caches, tmp_path / "run", on_step=resumed_from.append)
    assert resumed_from[0] == 5  # continued, not restarted
    assert resumed == final
    ref_w = torch.load(ref_run / "best.pt", weights_only=True)["model"]
    run_w = torch.load(tmp_path / "run/best.pt", weights_only=True)["model"]
    assert all(torch.equal(ref_w[k], run_w[k]) for k in ref_w)


def test_cpu_fast_path_trains_and_resumes_exactly(tiny_caches, tmp_path):
    """The CPU fast path (``cpu_channels_last``, with ``cpu_amp`` where the CPU has native bf16)
    learns something finite, and a killed run resumes to the uninterrupted run's numbers."""
    from avrepro.engine.runtime import cpu_has_bf16

    fast = {"amp": "bf16", "cpu_amp": cpu_has_bf16(), "cpu_channels_last": True}
    final = _run(tiny_caches, tmp_path / "whole", **fast)
    assert torch.isfinite(torch.tensor(final["train/loss"]))

    def kill_at_3(step):
        if step == 3:
            raise Killed()

    with pytest.raises(Killed):
        _run(tiny_caches, tmp_path / "run", on_step=kill_at_3, **fast)
    assert _run(tiny_caches, tmp_path / "run", **fast) == final


def test_resume_ignores_other_configuration(tiny_caches, tmp_path):
    def kill_at_3(step):
        if step == 3:
            raise Killed()

    with pytest.raises(Killed):
        _run(tiny_caches, tmp_path / "run", variant="film", on_step=kill_at_3)
    steps = []
    _run(tiny_caches, tmp_path / "run", variant="backbone", on_step=steps.append)
    assert steps[0] == 1  # started afresh: the checkpoint belonged to another variant


def test_evaluate_writes_flat_metrics(tiny_caches, reference, tmp_path):
    summary = _eval(tiny_caches, reference[0], "film", tmp_path)
    stored = read_json(tmp_path / "m.json")
    assert stored == summary
    for key in ("stft_distance", "stft_distance_sem", "env_distance", "env_distance_sem", "n_clips"):
        assert key in stored
    assert stored["n_clips"] == len(tiny_caches["caches"]["test"])


def test_linear_schedule_falls_to_one_epochs_share_and_resumes():
    """train.lr_schedule linear: each group's lr falls by lr / epochs per epoch; an optimizer and
    scheduler rebuilt and loaded in the engine's order (a resumed run) go on where they were."""
    from avrepro.engine.optim import build_optimizer, build_scheduler

    model = torch.nn.Linear(2, 1)
    tcfg = {"weight_decay": 0.0, "lr_decay": 0.1, "lr_decay_every": 1, "lr_schedule": "linear", "epochs": 4}

    def built():
        groups = [{"params": [model.weight], "lr": 1.0}, {"params": [model.bias], "lr": 0.5}]
        opt = build_optimizer(groups, tcfg)
        return opt, build_scheduler(opt, tcfg)

    opt, sched = built()
    lrs = []
    for epoch in range(4):
        if epoch == 2:  # resume: fresh objects, then the checkpoint's states (engine.train.resume)
            state = (opt.state_dict(), sched.state_dict())
            opt, sched = built()
            opt.load_state_dict(state[0])
            sched.load_state_dict(state[1])
        lrs.append([g["lr"] for g in opt.param_groups])
        opt.step()
        sched.step()
    assert lrs == [pytest.approx(x) for x in ([1.0, 0.5], [0.75, 0.375], [0.5, 0.25], [0.25, 0.125])]


def test_sgd_milestones_clip_and_init(tiny_caches, tmp_path):
    """train.optimizer sgd with lr_milestones decays the lr at the milestone; sgd + grad_clip +
    init trains and is recorded in config.yaml; init loads another run's weights exactly; a
    missing one is named; init in the configuration is refused."""
    from avrepro.engine.optim import build_optimizer, build_scheduler

    model = torch.nn.Linear(2, 1)
    tcfg = {
        "optimizer": "sgd",
        "momentum": 0.5,
        "weight_decay": 0.0,
        "lr_decay": 0.1,
        "lr_milestones": [2],
        "lr_decay_every": 1,
    }
    opt = build_optimizer([{"params": model.parameters(), "lr": 1.0}], tcfg)
    assert isinstance(opt, torch.optim.SGD) and opt.param_groups[0]["momentum"] == 0.5
    sched = build_scheduler(opt, tcfg)
    lrs = []
    for _ in range(3):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    assert lrs == pytest.approx([1.0, 1.0, 0.1])
    with pytest.raises(ValueError, match="adam or sgd"):
        build_optimizer([{"params": model.parameters(), "lr": 1.0}], {"optimizer": "lion", "weight_decay": 0})

    c = tiny_caches["caches"]
    first = _run(tiny_caches, tmp_path / "first")
    assert first["train/loss"] > 0
    cfg = _cfg(tiny_caches)
    cfg["train"].update(epochs=1, optimizer="sgd", momentum=0.9, grad_clip=1.0)
    second = train_film(
        c, cfg, tmp_path / "second", seed=3, device="cpu", progress=False, init=tmp_path / "first/best.pt"
    )
    assert second["train/loss"] > 0
    summary = yaml.safe_load((tmp_path / "second/config.yaml").read_text())
    assert summary["init"] == str(tmp_path / "first/best.pt") and "init" not in summary["config"]["train"]
    from avrepro.engine.train import init_model

    task = get_task("binaural")
    model = task.build_model(cfg, "film")
    init_model(task, model, tmp_path / "first/best.pt", torch.device("cpu"))
    reference = load_checkpoint(tmp_path / "first/best.pt")["model"]
    assert all(torch.equal(v, reference[k]) for k, v in model.state_dict().items())
    with pytest.raises(FileNotFoundError, match="missing.pt: checkpoint to initialise from"):
        train_film(
            c, cfg, tmp_path / "third", seed=3, device="cpu", progress=False, init=tmp_path / "missing.pt"
        )
    cfg["train"]["init"] = str(tmp_path / "first/best.pt")  # a run-time fact, not configuration
    with pytest.raises(ValueError, match="train.init is not a configuration key"):
        train_film(c, cfg, tmp_path / "third", seed=3, device="cpu", progress=False)


def test_write_predictions_by_suffix(tmp_path):
    import numpy as np

    from avrepro.engine.evaluate import write_predictions
    from avrepro.media import read_wav

    out = write_predictions(
        {"a": np.zeros((2, 160)), "m.npy": np.arange(3), "s.json": {"x": 1}}, tmp_path / "p", 16000
    )
    assert [p.name for p in out] == ["a.wav", "m.npy", "s.json"]
    audio, rate = read_wav(tmp_path / "p/a.wav")
    assert audio.shape == (2, 160) and rate == 16000
    assert np.load(tmp_path / "p/m.npy").tolist() == [0, 1, 2]
    assert read_json(tmp_path / "p/s.json") == {"x": 1}
    with pytest.raises(ValueError, match="suffix"):
        write_predictions({"x.png": 1}, tmp_path / "p", 16000)


def test_cpu_autocast_only_when_asked(monkeypatch):
    """``train.amp`` alone leaves the CPU in fp32; ``train.cpu_amp`` turns on bf16 autocast where the
    CPU has native bf16, and elsewhere warns and stays in fp32."""
    from avrepro.engine import runtime as engine

    cpu, layer, x = torch.device("cpu"), torch.nn.Linear(4, 4), torch.randn(2, 4)
    for amp, asked in (("bf16", False), ("none", True), ("fp16", True)):
        with engine.autocast(cpu, amp, asked):
            assert layer(x).dtype == torch.float32, (amp, asked)
    with engine.autocast(cpu, "bf16", True):
        native = layer(x).dtype
    assert native == (torch.bfloat16 if engine.cpu_has_bf16() else torch.float32)
    monkeypatch.setattr(engine, "cpu_has_bf16", lambda: False)
    engine._warn_no_cpu_bf16.cache_clear()
    with pytest.warns(RuntimeWarning, match="no native bf16"), engine.autocast(cpu, "bf16", True):
        assert layer(x).dtype == torch.float32


def test_channels_last_on_cpu_only_when_asked():
    """``train.channels_last`` changes the memory layout on CUDA; on CPU only with
    ``train.cpu_channels_last``, where prepare_model then lays the conv weights out channels-last."""
    from avrepro.engine import runtime as engine

    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    assert engine.use_channels_last({"channels_last": True}, cuda)
    assert not engine.use_channels_last({"channels_last": True}, cpu)
    assert not engine.use_channels_last({"channels_last": False, "cpu_channels_last": True}, cpu)
    tcfg = {"channels_last": True, "cpu_channels_last": True}
    assert engine.use_channels_last(tcfg, cpu)
    for asked, layout in ((tcfg, True), ({"channels_last": True}, False)):
        conv = torch.nn.Conv2d(3, 4, 3)
        engine.prepare_model(conv, asked, cpu)
        assert conv.weight.is_contiguous(memory_format=torch.channels_last) is layout
    batch = engine.to_device({"x": torch.randn(2, 3, 5, 5)}, cpu, engine.use_channels_last(tcfg, cpu))
    assert batch["x"].is_contiguous(memory_format=torch.channels_last)
