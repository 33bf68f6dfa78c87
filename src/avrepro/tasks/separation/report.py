"""The separation section of the report: BSS Eval table against the baselines and the ideal
masks, localization against chance, figures and audio examples."""

from __future__ import annotations

import math

from avrepro.figures.tables import fmt_mean_sem, metrics_table, read_metrics, table_markdown, write_table
from avrepro.report.kit import ReportContext, md_escape
from avrepro.tasks.separation.figures import FIGURES

KEYS = ["sdr", "sir", "sar", "sdr_mixture", "pointing_accuracy", "map_mass_in_box", "box_share"]
UPPER_BOUNDS = ("ibm", "irm")
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
    ratio = abs(_in_standard_errors(diff, math.hypot(a.get(f"{key}_sem", math.nan),
                                                     b.get(f"{key}_sem", math.nan))))
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
    names = [b for b in baselines if b not in UPPER_BOUNDS] + [v for v in variants if v not in baselines] \
        + [b for b in baselines if b in UPPER_BOUNDS]
    if not names:
        raise ValueError("report: separation.variants and separation.baselines are both empty")
    files = {n: ctx.metric_file("separation", n) for n in names}
    for path in files.values():
        if not path.is_file():
            raise FileNotFoundError(f"{path}: separation metric file not found")
    metrics = {n: read_metrics(p) for n, p in files.items()}
    keys = [k for k in KEYS if any(k in m for m in metrics.values())]
    df = metrics_table(files, keys, order=names, baselines=baselines, relative_keys=[])
    md_table, csv_table = ctx.table_dir / "separation_metrics.md", ctx.table_dir / "separation_metrics.csv"
    write_table(df, md_table, csv_table)

    n_mix = scfg.get("mix", {}).get("n", 2)
    counts = sorted({int(m["n_clips"]) for m in metrics.values() if "n_clips" in m})
    out = ["## Sound separation and localization (The Sound of Pixels / PixelPlayer)\n"]
    described = [f"`{n}` is {_NAMES[n]}" for n in names if n in _NAMES]
    out.append(
        f"Mix-and-separate: {n_mix} solo clips of different instrument classes are mixed (each "
        f"source / {n_mix}); from each clip's frames the net predicts a mask on the mixture's "
        "log-frequency spectrogram. Evaluation as the official code: the mask is unwarped to the "
        "linear frequency axis, thresholded at 0.5 (binary masks), applied to |mix| with the "
        "mixture's phase and inverted; mir_eval BSS Eval (no permutation) scores each source, "
        "averaged over the mixture's sources and then over "
        + (f"{counts[0]} fixed, seeded test mixtures" if len(counts) == 1 else "the test mixtures")
        + " of different classes (mean ± SEM; mixtures with a silent source are skipped). "
        + ("; ".join(described) + ". " if described else "")
        + "Localization: the synthesizer applied at every position of the frame features gives "
        "each pixel's share of the mixture's energy (the sound map); its maximum (pointing game) "
        "and its mass are scored against the true box of the clip's instrument. A random point, "
        "and a uniform map, score the box's share of the frame (the chance level, column `Box "
        "share`).\n")
    out.append("### Metrics\n")
    out.append(table_markdown(df))
    out.append(f"Table files: [markdown]({ctx.rel(md_table)}), [CSV]({ctx.rel(csv_table)}).\n")

    text = []
    models = [v for v in variants if v in metrics and math.isfinite(metrics[v].get("sdr", math.nan))]
    if models:
        best = max(models, key=lambda v: metrics[v]["sdr"])
        m = metrics[best]
        parts = [f"**Result.** The best variant, `{best}`, separates at SDR {_db(m, 'sdr')} "
                 f"(SIR {_db(m, 'sir')}, SAR {_db(m, 'sar')}); the mixture's own SDR on the same "
                 f"mixtures is {_db(m, 'sdr_mixture')}, so separation gains "
                 f"{m['sdr'] - m['sdr_mixture']:+.2f} dB."]
        for ref, label in (("mixture", "the mixture baseline"), ("nmf", "the paper's blind NMF baseline"),
                           ("nmf_supervised", "class-informed supervised NMF")):
            if ref in metrics and ref != best:
                verdict, gap = _comparison(m, metrics[ref])
                parts.append(f"It {verdict} {label} (SDR {_db(metrics[ref], 'sdr')}): {gap}.")
        bounds = [b for b in UPPER_BOUNDS if b in metrics]
        if bounds:
            parts.append("The ideal masks, which know the true sources, reach " + " and ".join(
                f"{_db(metrics[b], 'sdr')} ({b.upper()})" for b in bounds)
                + f"; `{best}` closes {100 * (m['sdr'] - m['sdr_mixture']) / max(1e-9, max(metrics[b]['sdr'] for b in bounds) - m['sdr_mixture']):.0f} % "
                "of the gap between the mixture and the best ideal mask.")
        text.append(" ".join(parts))
        point, mass = m.get("pointing_accuracy", math.nan), m.get("map_mass_in_box", math.nan)
        share = m.get("box_share", math.nan)
        if math.isfinite(point) and math.isfinite(share) and share > 0:
            text.append(f"Its sound maps point inside the true box on {_pct(point)} of the test "
                        f"videos ({point / share:.1f}x chance, {_pct(share)}) and put {_pct(mass)} "
                        f"of their mass inside it ({mass / share:.1f}x the {_pct(share)} of a "
                        "uniform map).")
            z = _in_standard_errors(point - share, m.get("pointing_accuracy_sem", math.nan))
            if z >= 2:
                strength = "clearly" if point >= 2 * share else "weakly (below twice chance)"
                text.append(f"Localization is learnt, {strength}: pointing is {z:.1f} standard "
                            "errors above chance.")
            else:
                why = ("" if scfg.get("model", {}).get("weights") == "imagenet" else
                       ": randomly initialised features carry no locality of their own unless each "
                       "cell of the frame net's map sees only part of the frame (`model.output_stride`; "
                       "the paper's localization rests on ImageNet-pretrained features, "
                       "`model.weights: imagenet`)")
                text.append(f"Localization is **not** learnt here (pointing within 2 standard errors "
                            f"of chance){why}.")
    out.append("\n\n".join(text) + "\n" if text else "")

    fig_dir = ctx.figure_dir / "separation"
    figs, shown = [], set()

    def add(pattern: str, caption) -> None:
        for p in sorted(fig_dir.glob(pattern)):
            if p.is_file() and p not in shown:
                shown.add(p)
                figs.append(caption(p) + "\n\n" + f"![{md_escape(p.stem.replace('_', ' '))}]({ctx.rel(p)})\n")

    add(FIGURES["loss_curves"], lambda p: "Training and validation loss per variant (dvclive logs):")
    add(FIGURES["metrics"], lambda p: "SDR, SIR and SAR of every method on the same test mixtures "
                                     "(dashed: the mixture's SDR):")
    add(FIGURES["distributions"], lambda p: "Per-mixture SDR:")
    add(FIGURES["spectrograms"].format(variant="*", mix="*"),
        lambda p: f"Test mixture {md_escape(p.stem.split('_')[-1][3:])}: mixture, true and separated "
                  "sources, ideal binary and predicted masks (`"
                  + md_escape(p.stem.split('_')[1]) + "`):")
    add(FIGURES["localization"].format(variant="*", mix="*"),
        lambda p: f"Sound maps of test mixture {md_escape(p.stem.split('_')[-1][3:])} on each "
                  "video's frame (white box: the true instrument; star: the map's maximum):")
    out.append("### Figures\n")
    out.append("\n".join(figs) if figs else f"No figures found under {md_escape(ctx.rel(fig_dir))}.\n")
    audio = sorted(fig_dir.glob("*.wav"))
    if audio:
        out.append("### Audio examples\n")
        out.append("Mixtures, true sources (`true<n>`) and separated sources (`est<n>`):\n\n"
                   + "\n".join(f"- [{md_escape(p.name)}]({ctx.rel(p)})" for p in audio) + "\n")
    return "\n".join(out)
