"""The sync section of the report: accuracy vs chance and the shortcut variants, CAM localization,
figures, and the paper's number for reference."""

from __future__ import annotations

import math
from pathlib import Path

from avrepro.figures.tables import fmt_mean_sem, markdown_table
from avrepro.report.kit import (
    ReportContext,
    clip_counts,
    clips_phrase,
    load_metrics,
    md_escape,
    present_keys,
    task_table,
)
from avrepro.tasks.sync.figures import main_variant, scored_against_boxes, shown_order
from avrepro.tasks.sync.names import FIGURES, PAPER_ACCURACY, SHORTCUT_VARIANTS
from avrepro.tasks.sync.published import published_section

# box_share, the chance level of the localization scores, is in the metric files and the text
TABLE_KEYS = (
    "accuracy",
    "pair_accuracy",
    "map_mass_in_box",
    "pointing_accuracy",
    "contrast_mass_in_box",
    "contrast_pointing_accuracy",
)
DESCRIPTIONS = {
    "chance": "random guesses (and a random heat map)",
    "fused": "the Multisensory net (3-D video ResNet + 1-D audio convs, fused early)",
    "audio_only": "the same net trained and tested with blank frames",
    "video_only": "the same net trained and tested with silent audio",
}
FIGURE_CAPTIONS = {
    "curves": "Training and validation loss and accuracy per variant (dvclive logs):",
    "accuracy": "Test accuracy with 95 % confidence intervals over clips (the paper's AudioSet number "
    "for reference) and CAM localization against chance:",
    "by_shift": "Accuracy by the size of the negative's shift:",
}


def _pct(x: float) -> str:
    return f"{100 * x:.1f} %" if math.isfinite(x) else "–"


def _ci(m: dict) -> str:
    lo, hi = m.get("accuracy_ci_low", math.nan), m.get("accuracy_ci_high", math.nan)
    return f"95 % CI {_pct(lo)}–{_pct(hi)}" if math.isfinite(lo) else "no CI (one clip)"


def _fig(ctx: ReportContext, path, alt: str) -> str:
    return f"![{md_escape(alt)}]({ctx.rel(path)})\n"


def sync_section(ctx: ReportContext) -> str:
    """Metric table, statements on accuracy, shortcut variants and localization, figures, reference."""
    scfg = ctx.cfg.get("sync", {})
    variants, baselines = list(scfg.get("variants", [])), list(scfg.get("baselines", []))
    shortcuts = [v for v in variants if v in SHORTCUT_VARIANTS]
    names = shown_order(variants, baselines)
    files = ctx.metric_files("sync", names)
    metrics = load_metrics(files)
    _, table = task_table(
        ctx,
        "sync",
        files,
        present_keys(TABLE_KEYS, metrics),
        order=names,
        baselines=baselines,
        controls=shortcuts,
        relative_keys=[],
    )
    fig_dir = ctx.figure_dir / "sync"
    boxes = scored_against_boxes(metrics)
    out = [
        "## Audio-visual synchronisation (Multisensory features)\n",
        intro(names, metrics, boxes),
        "### Metrics\n",
        table,
        statements(variants, metrics),
        "### Figures\n",
        figures_text(ctx, fig_dir, variants, boxes),
    ]
    out += cam_videos(ctx, fig_dir)
    out += reference(ctx, fig_dir, metrics)
    return "\n".join(out)


def intro(names: list[str], metrics: dict[str, dict], boxes: bool) -> str:
    """What the net decides, how the test set is built and scored, and what each row is."""
    described = [f"`{n}` is {DESCRIPTIONS[n]}" for n in names if n in DESCRIPTIONS]
    return (
        "The network sees a video window and an audio track and decides whether the audio is in "
        "sync or shifted in time (a negative is the same clip's audio, shifted by whole frames). "
        "Each test clip contributes a fixed, seeded set of window pairs, each used both ways (the "
        "video of window A with audio A and with audio B, the video of B with audio B and with "
        "audio A), and every track is judged; accuracy is averaged per clip, then over "
        + clips_phrase(clip_counts(metrics))
        + " (mean ± SEM; chance 50 %). Pair accuracy counts a video right when its shifted track "
        "scores higher than its aligned one (ties count as wrong). "
        + (CAM_SCORES if boxes else CAM_DRAWN)
        + ("; ".join(described) + "." if described else "")
        + "\n"
    )


CAM_SCORES = (
    "The class-activation map (CAM) of the aligned track, |CAM| averaged over time and upsampled "
    "to the frame, is scored against the true source boxes: the share of its mass inside the "
    "boxes as the official code displays the map (rescaled so that its 97th percentile is 1 and "
    "half of that is 0; the raw map's share is `raw_mass_in_box` in the metric files) and the "
    "pointing game (is the maximum inside?), both with the boxes' share of the frame as the "
    "chance level. "
)
CAM_DRAWN = (
    "The class-activation map (CAM) of the aligned track is drawn over the frames below; this "
    "dataset has no source boxes to score it against. "
)


def statements(variants: list[str], metrics: dict[str, dict]) -> str:
    """The best model's accuracy, the shortcut variants' distance from chance, its CAM's
    localization and the audio-dependent contrast's ("" without a model)."""
    models = [v for v in variants if v not in SHORTCUT_VARIANTS]
    if not models:
        return ""
    shortcuts = [v for v in variants if v in SHORTCUT_VARIANTS]
    best = max(models, key=lambda v: metrics[v].get("accuracy", -1))
    m = metrics[best]
    text = [result_statement(best, m)]
    if shortcuts:
        text.append(shortcut_statement(shortcuts, metrics))
    mass, share = m.get("map_mass_in_box", math.nan), m.get("box_share", math.nan)
    if math.isfinite(mass) and math.isfinite(share) and share > 0:
        text.append(localization_statement(m, metrics.get("video_only", {})))
        if math.isfinite(m.get("contrast_mass_in_box", math.nan)):
            text.append(contrast_statement(m, [c for c in shortcuts if c in metrics], metrics))
    return "\n\n".join(text) + "\n"


def result_statement(best: str, m: dict) -> str:
    """The best model's accuracy with its CI, against chance."""
    acc = m.get("accuracy", math.nan)
    lo = m.get("accuracy_ci_low", math.nan)
    verdict = (
        "clearly above chance (the whole interval is above 50 %)"
        if math.isfinite(lo) and lo > 0.5
        else "not distinguishable from chance"
    )
    return (
        f"**Result.** `{best}` is right on {_pct(acc)} of the test decisions "
        f"({fmt_mean_sem(100 * acc, 100 * m.get('accuracy_sem', math.nan))} % over clips, "
        f"{_ci(m)}), {verdict}; {100 * (acc - 0.5):+.1f} points over chance. Its pair "
        f"accuracy is {_pct(m.get('pair_accuracy', math.nan))}."
    )


def shortcut_statement(shortcuts: list[str], metrics: dict[str, dict]) -> str:
    """The shortcut variants' accuracies and whether one is more than 5 points from chance."""
    parts = [
        f"`{c}` {_pct(metrics[c].get('accuracy', math.nan))} "
        f"({100 * abs(metrics[c].get('accuracy', math.nan) - 0.5):.1f} points from chance)"
        for c in shortcuts
    ]
    far = [c for c in shortcuts if not abs(metrics[c].get("accuracy", math.nan) - 0.5) <= 0.05]
    return (
        "Controls, the same net trained and tested with one input blanked: "
        + ", ".join(parts)
        + ". The test set judges every audio window once as the aligned and once as the "
        "shifted track (window pairs are used both ways), so no cue in the audio alone, such "
        "as where in the clip a window starts, can score above chance there; whether the "
        "training examples carried such a cue shows in the controls' training accuracy "
        "(curves below), which stays at chance when they do not. "
        + (
            "**" + ", ".join(f"`{c}`" for c in far) + " is more than 5 points from chance: "
            "a shortcut in one modality.**"
            if far
            else "The model's accuracy therefore comes from relating sound and picture."
        )
    )


def localization_statement(m: dict, video_only: dict) -> str:
    """The best model's CAM against the boxes and chance, next to the ``video_only`` net's CAM."""
    mass, share = m.get("map_mass_in_box", math.nan), m.get("box_share", math.nan)
    point, raw = m.get("pointing_accuracy", math.nan), m.get("raw_mass_in_box", math.nan)
    text = (
        f"Its CAM puts {_pct(mass)} of its displayed mass inside the true source "
        f"boxes ({_pct(raw)} of the raw map), {mass / share:.1f}x the boxes' share of "
        f"the frame ({_pct(share)}, the chance level); its maximum falls inside a box "
        f"on {_pct(point)} of the test windows."
    )
    vmass = video_only.get("map_mass_in_box", math.nan)
    vpoint = _pct(video_only.get("pointing_accuracy", math.nan))
    if math.isfinite(vmass) and vmass >= 0.8 * mass:
        text += (
            f" The `video_only` control's CAM localizes about as well ({_pct(vmass)}, "
            f"pointing {vpoint}) although that net cannot tell sync at all: on these "
            "scenes the sprites are the only moving, brightening objects, so a map of "
            "visual salience already finds them, and the plain CAM is no proof of "
            "audio-visual localization."
        )
    elif math.isfinite(vmass):
        text += f" The `video_only` control's CAM localizes less ({_pct(vmass)}, pointing {vpoint})."
    return text


def contrast_statement(m: dict, shortcuts: list[str], metrics: dict[str, dict]) -> str:
    """Whether the audio-dependent part of the map, |CAM(aligned) - CAM(shifted)|, localizes."""
    share, cmass = m["box_share"], m["contrast_mass_in_box"]
    cpoint = m.get("contrast_pointing_accuracy", math.nan)
    ctrl = "; ".join(
        f"`{c}` {_pct(metrics[c].get('contrast_mass_in_box', math.nan))} / "
        f"{_pct(metrics[c].get('contrast_pointing_accuracy', math.nan))}"
        for c in shortcuts
    )
    verdict = "does localize" if cmass > 2 * share and cpoint > 2 * share else "does not clearly localize"
    return (
        f"The part of the map that depends on the audio {verdict}: the contrast "
        "|CAM(aligned) − CAM(shifted)| (same video, the two tracks) puts "
        f"{_pct(cmass)} of its displayed mass in the boxes ({cmass / share:.1f}x chance) and "
        f"its maximum inside a box on {_pct(cpoint)} of the test windows (chance "
        f"{_pct(share)}). A net that ignores the audio has no contrast at all, one that "
        "ignores the picture none that points anywhere"
        + (f" (controls, mass / pointing: {ctrl})." if ctrl else ".")
    )


def figures_text(ctx: ReportContext, fig_dir: Path, variants: list[str], boxes: bool) -> str:
    """The curves, accuracy and by-shift figures, then the CAMs of the best and worst clip (with
    the true boxes on a dataset that has them)."""
    figs = []
    for key, caption in FIGURE_CAPTIONS.items():
        p = fig_dir / FIGURES[key]
        if p.is_file():
            figs.append(caption + "\n\n" + _fig(ctx, p, f"sync {key}"))
    model = main_variant(variants) if variants else ""
    for role in ("best", "worst"):
        for p in sorted(fig_dir.glob(FIGURES["cam_png"].format(role=role, clip="*"))):
            figs.append(
                f"CAM of `{model}` on the {role} test clip: frames with the time-resolved "
                "|CAM| of the aligned track, then |CAM| over time and the contrast "
                "|CAM(aligned) − CAM(shifted)| over time"
                + (", true boxes in cyan" if boxes else "")
                + ":\n\n"
                + _fig(ctx, p, p.stem.replace("_", " "))
            )
    return "\n".join(figs) if figs else f"No figures found under {md_escape(ctx.rel(fig_dir))}.\n"


def cam_videos(ctx: ReportContext, fig_dir: Path) -> list[str]:
    """Links to the CAM videos (none: no subsection)."""
    media = sorted(fig_dir.glob("*.mp4"))
    if not media:
        return []
    return ["### CAM videos\n", "\n".join(f"- [{md_escape(p.name)}]({ctx.rel(p)})" for p in media) + "\n"]


def reference(ctx: ReportContext, fig_dir: Path, metrics: dict[str, dict]) -> list[str]:
    """The paper's number beside ours (:mod:`.published`), and this run's accuracy table next to
    chance and the paper's number."""
    table = fig_dir / FIGURES["table_md"]
    if table.is_file():
        shown = table.read_text()
    else:
        shown = markdown_table(
            ["method", "dataset", "accuracy"],
            [["Multisensory (paper)", "AudioSet", _pct(PAPER_ACCURACY)], ["chance", "any", "50.0 %"]],
            ["l", "l", "r"],
        )
    return published_section(ctx, metrics) + [shown]
