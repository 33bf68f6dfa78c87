"""The separation section of the report: BSS Eval table against the baselines and the ideal
masks, localization against chance, figures and audio examples."""

from __future__ import annotations

import math

from avrepro.figures.tables import fmt_mean_sem
from avrepro.report.kit import ReportContext, clip_counts, load_metrics, md_escape, present_keys, task_table
from avrepro.tasks.separation.names import FIGURES, LOCALIZATION_KEYS, METRIC_KEYS, UPPER_BOUNDS
from avrepro.tasks.separation.published import published_section

_NAMES = {
    "mixture": "the mixture itself as every source's estimate",
    "nmf": "blind NMF as the paper's baseline (NMF-MFCC): KL-NMF of the mixture, its components "
    "grouped into the sources by k-means on their MFCCs, Wiener-style masks, the groups "
    "matched to the true sources by the best permutation (which favours the baseline)",
    "nmf_supervised": "supervised NMF (stronger than the paper's baseline): per-class KL-NMF bases "
    "learned on the training clips, the mixture decomposed on the bases of its "
    "(known) classes, Wiener-style masks; it is told the classes the model has to "
    "infer from the frames",
    "ibm": "the ideal binary mask (1 where the source dominates; an upper bound)",
    "irm": "the ideal ratio mask |S_n| / Σ|S_m| (an upper bound)",
    "binary": "PixelPlayer trained with binary masks and weighted BCE (the paper's default)",
    "ratio": "PixelPlayer trained with ratio masks and L1",
}


def _db(m: dict, key: str) -> str:
    return fmt_mean_sem(m.get(key, math.nan), m.get(f"{key}_sem", math.nan)) + " dB"


def _pct(x: float) -> str:
    return f"{100 * x:.1f} %" if math.isfinite(x) else "–"


def _in_standard_errors(diff: float, se: float) -> float:
    """``diff / se``; NaN without a finite, positive standard error."""
    return diff / se if math.isfinite(se) and se > 0 else math.nan


def _comparison(a: dict, b: dict, key: str = "sdr") -> tuple[str, str]:
    """How ``a`` compares with ``b`` on ``key``: a verdict (``beats``, ``is level with`` inside
    2 combined standard errors or without SEMs, ``does **not** beat``) and the gap in words."""
    diff = a[key] - b[key]
    ratio = abs(
        _in_standard_errors(diff, math.hypot(a.get(f"{key}_sem", math.nan), b.get(f"{key}_sem", math.nan)))
    )
    text = f"{diff:+.2f} dB"
    if math.isfinite(ratio):
        text += f" ({ratio:.1f} combined standard errors{', within noise' if ratio < 2 else ''})"
    if not ratio >= 2:  # NaN counts as noise
        return "is level with", text
    return ("beats" if diff > 0 else "does **not** beat"), text


def separation_section(ctx: ReportContext) -> str:
    """Metric table, what beat what by how much, localization vs chance, figures, audio."""
    scfg = ctx.cfg.get("separation", {})
    variants, baselines = list(scfg.get("variants", [])), list(scfg.get("baselines", []))
    names = _row_order(variants, baselines)
    files = ctx.metric_files("separation", names)
    metrics = load_metrics(files)
    _, table = task_table(
        ctx,
        "separation",
        files,
        present_keys(METRIC_KEYS, metrics),
        order=names,
        baselines=baselines,
        relative_keys=[],
    )
    boxes = _scored_against_boxes(metrics, variants)
    out = [
        "## Sound separation and localization (The Sound of Pixels / PixelPlayer)\n",
        _intro(scfg.get("mix", {}).get("n", 2), clip_counts(metrics), names, boxes, _windows(scfg))
        + _map_stride(scfg),
        "### Metrics\n",
        table,
    ]
    text = _findings(metrics, variants, scfg)
    out.append("\n\n".join(text) + "\n" if text else "")
    out += published_section(ctx, metrics)
    out.append("### Figures\n")
    out.append(_figures(ctx, boxes))
    out.append(_audio(ctx))
    return "\n".join(s for s in out if s is not None)


def _scored_against_boxes(metrics: dict[str, dict], variants: list[str]) -> bool:
    """Whether the sound maps were scored against instrument boxes (the simulator's data has
    them); True before any variant has metrics."""
    scored = [metrics[v] for v in variants if v in metrics]
    return not scored or any("box_share" in m for m in scored)


def _row_order(variants: list[str], baselines: list[str]) -> list[str]:
    """The competing baselines, then the variants, then the upper bounds (ideal masks)."""
    return (
        [b for b in baselines if b not in UPPER_BOUNDS]
        + [v for v in variants if v not in baselines]
        + [b for b in baselines if b in UPPER_BOUNDS]
    )


def _windows(scfg: dict) -> str:
    """The test mixtures' length and, when longer than the net's window, how the net covers it."""
    audio, test = scfg.get("audio") or {}, (scfg.get("eval") or {}).get("window")
    rate = (scfg.get("features") or {}).get("sample_rate")
    net = audio.get("window")
    if not (net and rate):
        return ""
    seconds = f"{(test or net) / rate:.2f} s ({test or net:,} samples)"
    if not test or test <= net:
        return f"Each test mixture is {seconds} long, the net's training window. "
    return (
        f"Each test mixture is {seconds} long (`eval.window`), and every method gets all of it; the "
        f"net, trained on {net / rate:.2f}-s windows, separates it window by window. "
    )


def _map_stride(scfg: dict) -> str:
    """How the sound maps sample the frame net, when finer than it was trained
    (``eval.map_output_stride``)."""
    maps = (scfg.get("eval") or {}).get("map_output_stride")
    net = (scfg.get("model") or {}).get("output_stride")
    if not (maps and net) or maps >= net:
        return ""
    return (
        f"The sound maps come from the frame net at output stride {maps}, where it trains at {net} "
        "(`eval.map_output_stride`): the trained weights run dilated where they stride, so the map "
        f"holds the trained map's cells and {(net // maps) ** 2 - 1} new ones per trained cell, as DeepLab "
        "tests at a finer stride than it trains.\n"
    )


def _intro(n_mix: int, counts: list[int], names: list[str], boxes: bool, windows: str = "") -> str:
    """The setup: mix-and-separate, the evaluation as the official code (``windows``: the test
    mixtures' length), every row, localization (scored against the instruments' boxes when the
    data has them)."""
    described = [f"`{n}` is {_NAMES[n]}" for n in names if n in _NAMES]
    return (
        f"Mix-and-separate: {n_mix} solo clips of different instrument classes are mixed (each "
        f"source / {n_mix}); from each clip's frames the net predicts a mask on the mixture's "
        "log-frequency spectrogram. Evaluation as the official code: the mask is unwarped to the "
        "linear frequency axis, thresholded at 0.5 (binary masks), applied to |mix| with the "
        "mixture's phase and inverted; mir_eval BSS Eval (no permutation) scores each source, "
        "averaged over the mixture's sources and then over "
        + (f"{counts[0]} fixed, seeded test mixtures" if len(counts) == 1 else "the test mixtures")
        + " of different classes (mean ± SEM; mixtures with a silent source are skipped). "
        + windows
        + ("; ".join(described) + ". " if described else "")
        + "Localization: the synthesizer applied at every position of the frame features gives "
        "each pixel's share of the mixture's energy (the sound map); " + (LOC_SCORED if boxes else LOC_DRAWN)
    )


LOC_SCORED = (
    "its maximum (pointing game) and its mass are scored against the true box of the clip's "
    "instrument. A random point, and a uniform map, score the box's share of the frame (the chance "
    "level, column `Box share`).\n"
)
LOC_DRAWN = (
    "the maps are drawn below, not scored: the dataset has no instrument boxes to score them "
    "against (" + ", ".join(f"`{k}`" for k in LOCALIZATION_KEYS) + " are left out).\n"
)


def _findings(metrics: dict[str, dict], variants: list[str], scfg: dict) -> list[str]:
    """The best variant against the baselines and the ideal masks, then its localization."""
    models = [v for v in variants if v in metrics and math.isfinite(metrics[v].get("sdr", math.nan))]
    if not models:
        return []
    best = max(models, key=lambda v: metrics[v]["sdr"])
    return [_separation_result(metrics, best)] + _localization_result(metrics[best], scfg)


def _separation_result(metrics: dict[str, dict], best: str) -> str:
    """The best variant's SDR gain over the mixture, its verdict against each baseline and the
    share of the gap to the best ideal mask it closes."""
    m = metrics[best]
    parts = [
        f"**Result.** The best variant, `{best}`, separates at SDR {_db(m, 'sdr')} "
        f"(SIR {_db(m, 'sir')}, SAR {_db(m, 'sar')}); the mixture's own SDR on the same "
        f"mixtures is {_db(m, 'sdr_mixture')}, so separation gains "
        f"{m['sdr'] - m['sdr_mixture']:+.2f} dB."
    ]
    for ref, label in (
        ("mixture", "the mixture baseline"),
        ("nmf", "the paper's blind NMF baseline"),
        ("nmf_supervised", "class-informed supervised NMF"),
    ):
        if ref in metrics and ref != best:
            verdict, gap = _comparison(m, metrics[ref])
            parts.append(f"It {verdict} {label} (SDR {_db(metrics[ref], 'sdr')}): {gap}.")
    bounds = [b for b in UPPER_BOUNDS if b in metrics]
    if bounds:
        ceiling = max(metrics[b]["sdr"] for b in bounds)
        closed = 100 * (m["sdr"] - m["sdr_mixture"]) / max(1e-9, ceiling - m["sdr_mixture"])
        parts.append(
            "The ideal masks, which know the true sources, reach "
            + " and ".join(f"{_db(metrics[b], 'sdr')} ({b.upper()})" for b in bounds)
            + f"; `{best}` closes {closed:.0f} % of the gap between the mixture and the best ideal mask."
        )
    return " ".join(parts)


def _localization_result(m: dict, scfg: dict) -> list[str]:
    """Pointing and mass in box against the box's share of the frame, and whether localization
    is learnt (pointing 2+ standard errors above chance); nothing without finite scores."""
    point, mass = m.get("pointing_accuracy", math.nan), m.get("map_mass_in_box", math.nan)
    share = m.get("box_share", math.nan)
    if not (math.isfinite(point) and math.isfinite(share) and share > 0):
        return []
    text = [
        f"Its sound maps point inside the true box on {_pct(point)} of the test "
        f"videos ({point / share:.1f}x chance, {_pct(share)}) and put {_pct(mass)} "
        f"of their mass inside it ({mass / share:.1f}x the {_pct(share)} of a "
        "uniform map)."
    ]
    z = _in_standard_errors(point - share, m.get("pointing_accuracy_sem", math.nan))
    if z >= 2:
        strength = "clearly" if point >= 2 * share else "weakly (below twice chance)"
        text.append(f"Localization is learnt, {strength}: pointing is {z:.1f} standard errors above chance.")
    else:
        why = (
            ""
            if scfg.get("model", {}).get("weights") == "imagenet"
            else ": randomly initialised features carry no locality of their own unless each "
            "cell of the frame net's map sees only part of the frame (`model.output_stride`; "
            "the paper's localization rests on ImageNet-pretrained features, "
            "`model.weights: imagenet`)"
        )
        text.append(
            f"Localization is **not** learnt here (pointing within 2 standard errors of chance){why}."
        )
    return text


def _figures(ctx: ReportContext, boxes: bool) -> str:
    """Every separation figure found, in a fixed order, each with its caption (``boxes``: the
    sound maps are drawn with the instruments' boxes)."""
    fig_dir = ctx.figure_dir / "separation"
    figs, shown = [], set()

    def add(pattern: str, caption) -> None:
        for p in sorted(fig_dir.glob(pattern)):
            if p.is_file() and p not in shown:
                shown.add(p)
                figs.append(caption(p) + "\n\n" + f"![{md_escape(p.stem.replace('_', ' '))}]({ctx.rel(p)})\n")

    add(FIGURES["loss_curves"], lambda p: "Training and validation loss per variant (dvclive logs):")
    add(
        FIGURES["metrics"],
        lambda p: "SDR, SIR and SAR of every method on the same test mixtures (dashed: the mixture's SDR):",
    )
    add(FIGURES["distributions"], lambda p: "Per-mixture SDR:")
    add(
        FIGURES["spectrograms"].format(variant="*", mix="*"),
        lambda p: (
            f"Test mixture {md_escape(p.stem.split('_')[-1][3:])}: mixture, true and separated "
            "sources, ideal binary and predicted masks (`" + md_escape(p.stem.split("_")[1]) + "`):"
        ),
    )
    add(
        FIGURES["localization"].format(variant="*", mix="*"),
        lambda p: (
            f"Sound maps of test mixture {md_escape(p.stem.split('_')[-1][3:])} on each "
            "video's frame ("
            + ("white box: the true instrument; " if boxes else "")
            + "star: the map's maximum):"
        ),
    )
    return "\n".join(figs) if figs else f"No figures found under {md_escape(ctx.rel(fig_dir))}.\n"


def _audio(ctx: ReportContext) -> str | None:
    """Links to the audio examples (none: no subsection)."""
    audio = sorted((ctx.figure_dir / "separation").glob("*.wav"))
    if not audio:
        return None
    return (
        "### Audio examples\n\n" + "Mixtures, true sources (`true<n>`) and separated sources "
        "(`est<n>`):\n\n" + "\n".join(f"- [{md_escape(p.name)}]({ctx.rel(p)})" for p in audio) + "\n"
    )
