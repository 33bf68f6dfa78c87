"""The sync section of the report: accuracy vs chance and the shortcut controls, CAM localization,
figures, and the paper's number for reference."""

from __future__ import annotations

import math

from avrepro.figures.tables import (fmt_mean_sem, markdown_table, metrics_table, read_metrics,
                                    table_markdown, write_table)
from avrepro.report.kit import ReportContext, md_escape
from avrepro.tasks.sync.figures import CONTROLS, FIGURES, PAPER_ACCURACY, main_variant

# box_share, the chance level of the localization scores, is in the metric files and the text
KEYS = ["accuracy", "pair_accuracy", "map_mass_in_box", "pointing_accuracy", "contrast_mass_in_box",
        "contrast_pointing_accuracy"]
_NAMES = {
    "chance": "random guesses (and a random heat map)",
    "fused": "the Multisensory net (3-D video ResNet + 1-D audio convs, fused early)",
    "audio_only": "the same net trained and tested with blank frames",
    "video_only": "the same net trained and tested with silent audio",
}


def _pct(x: float) -> str:
    return f"{100 * x:.1f} %" if math.isfinite(x) else "–"


def _ci(m: dict) -> str:
    lo, hi = m.get("accuracy_ci_low", math.nan), m.get("accuracy_ci_high", math.nan)
    return f"95 % CI {_pct(lo)}–{_pct(hi)}" if math.isfinite(lo) else "no CI (one clip)"


def _fig(ctx: ReportContext, path, alt: str) -> str:
    return f"![{md_escape(alt)}]({ctx.rel(path)})\n"



def sync_section(ctx: ReportContext) -> str:
    """Metric table, statements on accuracy, controls and localization, figures, reference."""
    scfg = ctx.cfg.get("sync", {})
    variants, baselines = list(scfg.get("variants", [])), list(scfg.get("baselines", []))
    names = baselines + [v for v in variants if v not in CONTROLS] + [v for v in variants if v in CONTROLS]
    if not names:
        raise ValueError("report: sync.variants and sync.baselines are both empty")
    files = {n: ctx.metric_file("sync", n) for n in names}
    for path in files.values():
        if not path.is_file():
            raise FileNotFoundError(f"{path}: sync metric file not found")
    metrics = {n: read_metrics(p) for n, p in files.items()}
    keys = [k for k in KEYS if any(k in m for m in metrics.values())]
    df = metrics_table(files, keys, order=names, baselines=baselines,
                       controls=[v for v in variants if v in CONTROLS], relative_keys=[])
    md_table, csv_table = ctx.table_dir / "sync_metrics.md", ctx.table_dir / "sync_metrics.csv"
    write_table(df, md_table, csv_table)

    out = ["## Audio-visual synchronisation (Multisensory features)\n"]
    described = [f"`{n}` is {_NAMES[n]}" for n in names if n in _NAMES]
    n_clips = sorted({int(m["n_clips"]) for m in metrics.values() if "n_clips" in m})
    out.append(
        "The network sees a video window and an audio track and decides whether the audio is in "
        "sync or shifted in time (a negative is the same clip's audio, shifted by whole frames). "
        "Each test clip contributes a fixed, seeded set of window pairs, each used both ways (the "
        "video of window A with audio A and with audio B, the video of B with audio B and with "
        "audio A), and every track is judged; accuracy is averaged per clip, then over "
        + (f"{n_clips[0]} test clips" if len(n_clips) == 1 else "the test clips")
        + " (mean ± SEM; chance 50 %). Pair accuracy counts a video right when its shifted track "
        "scores higher than its aligned one (ties count as wrong). The class-activation map (CAM) "
        "of the aligned track, "
        "|CAM| averaged over time and upsampled to the frame, is scored against the true source "
        "boxes: the share of its mass inside the boxes as the official code displays the map "
        "(rescaled so that its 97th percentile is 1 and half of that is 0; the raw map's share is "
        "`raw_mass_in_box` in the metric files) and the pointing game (is the maximum inside?), "
        "both with the boxes' share of the frame as the chance level. "
        + ("; ".join(described) + "." if described else "") + "\n")
    out.append("### Metrics\n")
    out.append(table_markdown(df))
    out.append(f"Table files: [markdown]({ctx.rel(md_table)}), [CSV]({ctx.rel(csv_table)}).\n")

    models = [v for v in variants if v not in CONTROLS]
    text = []
    if models:
        best = max(models, key=lambda v: metrics[v].get("accuracy", -1))
        m = metrics[best]
        acc = m.get("accuracy", math.nan)
        lo = m.get("accuracy_ci_low", math.nan)
        verdict = ("clearly above chance (the whole interval is above 50 %)" if math.isfinite(lo) and lo > 0.5
                   else "not distinguishable from chance")
        text.append(f"**Result.** `{best}` is right on {_pct(acc)} of the test decisions "
                    f"({fmt_mean_sem(100 * acc, 100 * m.get('accuracy_sem', math.nan))} % over clips, "
                    f"{_ci(m)}), {verdict}; {100 * (acc - 0.5):+.1f} points over chance. Its pair "
                    f"accuracy is {_pct(m.get('pair_accuracy', math.nan))}.")
        ctrls = [v for v in variants if v in CONTROLS]
        if ctrls:
            parts = [f"`{c}` {_pct(metrics[c].get('accuracy', math.nan))} "
                     f"({100 * abs(metrics[c].get('accuracy', math.nan) - 0.5):.1f} points from chance)"
                     for c in ctrls]
            far = [c for c in ctrls if not abs(metrics[c].get("accuracy", math.nan) - 0.5) <= 0.05]
            text.append(
                "Controls, the same net trained and tested with one input blanked: " + ", ".join(parts)
                + ". The test set judges every audio window once as the aligned and once as the "
                "shifted track (window pairs are used both ways), so no cue in the audio alone, such "
                "as where in the clip a window starts, can score above chance there; whether the "
                "training examples carried such a cue shows in the controls' training accuracy "
                "(curves below), which stays at chance when they do not. "
                + ("**" + ", ".join(f"`{c}`" for c in far) + " is more than 5 points from chance: "
                   "a shortcut in one modality.**" if far else
                   "The model's accuracy therefore comes from relating sound and picture."))
        mass, share = m.get("map_mass_in_box", math.nan), m.get("box_share", math.nan)
        point, raw = m.get("pointing_accuracy", math.nan), m.get("raw_mass_in_box", math.nan)
        if math.isfinite(mass) and math.isfinite(share) and share > 0:
            text.append(f"Its CAM puts {_pct(mass)} of its displayed mass inside the true source "
                        f"boxes ({_pct(raw)} of the raw map), {mass / share:.1f}x the boxes' share of "
                        f"the frame ({_pct(share)}, the chance level); its maximum falls inside a box "
                        f"on {_pct(point)} of the test windows.")
            vo = metrics.get("video_only", {})
            vmass = vo.get("map_mass_in_box", math.nan)
            vpoint = _pct(vo.get("pointing_accuracy", math.nan))
            if math.isfinite(vmass) and vmass >= 0.8 * mass:
                text[-1] += (f" The `video_only` control's CAM localizes about as well ({_pct(vmass)}, "
                             f"pointing {vpoint}) although that net cannot tell sync at all: on these "
                             "scenes the sprites are the only moving, brightening objects, so a map of "
                             "visual salience already finds them, and the plain CAM is no proof of "
                             "audio-visual localization.")
            elif math.isfinite(vmass):
                text[-1] += (f" The `video_only` control's CAM localizes less ({_pct(vmass)}, pointing "
                             f"{vpoint}).")
            cmass = m.get("contrast_mass_in_box", math.nan)
            if math.isfinite(cmass):
                cpoint = m.get("contrast_pointing_accuracy", math.nan)
                ctrl = "; ".join(f"`{c}` {_pct(metrics[c].get('contrast_mass_in_box', math.nan))} / "
                                 f"{_pct(metrics[c].get('contrast_pointing_accuracy', math.nan))}"
                                 for c in variants if c in CONTROLS and c in metrics)
                verdict = ("does localize" if cmass > 2 * share and cpoint > 2 * share
                           else "does not clearly localize")
                text.append(
                    f"The part of the map that depends on the audio {verdict}: the contrast "
                    "|CAM(aligned) − CAM(shifted)| (same video, the two tracks) puts "
                    f"{_pct(cmass)} of its displayed mass in the boxes ({cmass / share:.1f}x chance) and "
                    f"its maximum inside a box on {_pct(cpoint)} of the test windows (chance "
                    f"{_pct(share)}). A net that ignores the audio has no contrast at all, one that "
                    "ignores the picture none that points anywhere"
                    + (f" (controls, mass / pointing: {ctrl})." if ctrl else "."))
    out.append("\n\n".join(text) + "\n" if text else "")

    fig_dir = ctx.figure_dir / "sync"
    figs = []
    captions = {"curves": "Training and validation loss and accuracy per variant (dvclive logs):",
                "accuracy": "Test accuracy with 95 % confidence intervals over clips (the paper's "
                            "AudioSet number for reference) and CAM localization against chance:",
                "by_shift": "Accuracy by the size of the negative's shift:"}
    for key, caption in captions.items():
        p = fig_dir / FIGURES[key]
        if p.is_file():
            figs.append(caption + "\n\n" + _fig(ctx, p, f"sync {key}"))
    model = main_variant(variants) if variants else ""
    for role in ("best", "worst"):
        for p in sorted(fig_dir.glob(FIGURES["cam_png"].format(role=role, clip="*"))):
            figs.append(f"CAM of `{model}` on the {role} test clip: frames with the time-resolved "
                        "|CAM| of the aligned track, then |CAM| over time and the contrast "
                        "|CAM(aligned) − CAM(shifted)| over time, true boxes in cyan:\n\n"
                        + _fig(ctx, p, p.stem.replace("_", " ")))
    out.append("### Figures\n")
    out.append("\n".join(figs) if figs else f"No figures found under {md_escape(ctx.rel(fig_dir))}.\n")
    media = sorted(fig_dir.glob("*.mp4"))
    if media:
        out.append("### CAM videos\n")
        out.append("\n".join(f"- [{md_escape(p.name)}]({ctx.rel(p)})" for p in media) + "\n")

    out.append("### Published reference (AudioSet, a different dataset)\n")
    out.append(
        f"Owens & Efros report {_pct(PAPER_ACCURACY)} shift-detection accuracy on their AudioSet "
        "test videos (4.2 s samples, chance 50 %). It is **not comparable** to the numbers above, "
        f"which are on the `{ctx.cfg.get('sync', {}).get('dataset', '?')}` dataset, whose sprites "
        "flash at note onsets by construction.\n")
    table = fig_dir / FIGURES["table_md"]
    if table.is_file():  # this run's accuracies next to chance and the paper's number
        out.append(table.read_text())
    else:
        out.append(markdown_table(["method", "dataset", "accuracy"],
                                  [["Multisensory (paper)", "AudioSet", _pct(PAPER_ACCURACY)],
                                   ["chance", "any", "50.0 %"]], ["l", "l", "r"]))
    return "\n".join(out)
