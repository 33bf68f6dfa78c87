"""The published FAIR-Play numbers of the report's binaural section, the protocol a run follows,
and whether its numbers fall within what the papers and their re-runs report.

Numbers (STFT distance, envelope distance; lower is better), as the papers' tables give them:

- 10 random splits (the official ``split1`` .. ``split10``): mono-mono 1.155 / 0.153 and
  Mono2Binaural 0.836 / 0.132 (2.5D Visual Sound, Gao & Grauman, CVPR 2019, Tab. 1); later
  re-runs of Mono2Binaural on the same splits 0.909-0.959 / 0.140-0.141.
- 5 scene-disjoint splits (PseudoBinaural, Xu et al., CVPR 2021, Tab. 1; its split files placed
  as ``splits/scene1`` .. ``scene5``): mono-mono 1.024 / 0.145, Mono2Binaural 0.917 / 0.137.

Our ``mono_mono`` is the papers' mono-mono, our ``backbone`` their Mono2Binaural (the same
U-Net with a ResNet-18 visual feature). The papers average 10 (or 5) splits; a run uses one.
"""

from __future__ import annotations

import re

from avrepro.figures.tables import fmt_mean_sem, markdown_table
from avrepro.report.kit import ReportContext, code, range_verdict

KEYS = ("stft_distance", "env_distance")
# protocol -> published method -> (ours, {key: (low, high)}, source)
PUBLISHED = {
    "10 random splits": {
        "mono-mono": ("mono_mono", {"stft_distance": (1.155, 1.155), "env_distance": (0.153, 0.153)},
                      "Gao & Grauman 2019, Tab. 1"),
        "Mono2Binaural": ("backbone", {"stft_distance": (0.836, 0.959), "env_distance": (0.132, 0.141)},
                          "Gao & Grauman 2019, Tab. 1 (0.836 / 0.132); re-runs 0.909-0.959 / 0.140-0.141"),
    },
    "5 scene-disjoint splits": {
        "mono-mono": ("mono_mono", {"stft_distance": (1.024, 1.024), "env_distance": (0.145, 0.145)},
                      "Xu et al. 2021, Tab. 1"),
        "Mono2Binaural": ("backbone", {"stft_distance": (0.917, 0.917), "env_distance": (0.137, 0.137)},
                          "Xu et al. 2021, Tab. 1"),
    },
}  # fmt: skip
TOLERANCE = 0.05  # a single published number counts as a range of +-5 %


def protocol(cfg: dict) -> str | None:
    """The published protocol a run follows: FAIR-Play with an official ``splitN`` (one of the 10
    random splits) or ``sceneN`` (a scene-disjoint split); None otherwise (the hash split, or
    another dataset)."""
    split = cfg.get("split") or {}
    if (cfg.get("binaural") or {}).get("dataset") != "fairplay" or split.get("scheme") != "official":
        return None
    name = str(split.get("official", ""))
    if re.fullmatch(r"split\d+", name):
        return "10 random splits"
    return "5 scene-disjoint splits" if re.fullmatch(r"scene\d+", name) else None


def published_section(ctx: ReportContext, metrics: dict[str, dict]) -> list[str]:
    """The published numbers beside ours: on FAIR-Play with a published protocol, the table of that
    protocol and a verdict line per method; otherwise both protocols' tables, for orientation."""
    dataset = ctx.cfg.get("binaural", {}).get("dataset", "?")
    chosen = protocol(ctx.cfg)
    out = ["### Published numbers (FAIR-Play)\n"]
    if chosen is None:
        why = (
            f"not on a published protocol (split `{ctx.cfg.get('split', {}).get('scheme', '?')}`)"
            if dataset == "fairplay"
            else f"on the {code(dataset)} dataset"
        )
        out.append(
            f"Published numbers on the real FAIR-Play recordings. Ours are {why}: they are **not "
            "comparable**, and no verdict is given (run FAIR-Play with `split.scheme: official` and "
            "`split.official: split1` .. `split10`, or a scene-disjoint `scene1` .. `scene5`).\n"
        )
        return out + [_table(name, metrics, dataset) for name in PUBLISHED]
    split = ctx.cfg["split"]["official"]
    out.append(
        f"Our run follows the {chosen} protocol on one of its splits (`{split}`); the papers average "
        f"all of them. A single published number counts as a range of ±{100 * TOLERANCE:.0f} %.\n"
    )
    return out + [_table(chosen, metrics, dataset), _verdicts(chosen, metrics)]


def _table(name: str, metrics: dict[str, dict], dataset: str) -> str:
    rows = []
    for method, (ours, ranges, source) in PUBLISHED[name].items():
        mine = metrics.get(ours) or {}
        row = [method] + [_span(*ranges[k]) for k in KEYS] + [source, code(ours)]
        row += [fmt_mean_sem(mine[k], mine.get(f"{k}_sem")) if k in mine else "–" for k in KEYS]
        rows.append(row)
    return f"{name}:\n\n" + markdown_table(
        ["method", "STFT (published)", "ENV (published)", "source", f"ours on {dataset}", "STFT", "ENV"],
        rows,
        ["l", "r", "r", "l", "l", "r", "r"],
    )


def _verdicts(name: str, metrics: dict[str, dict]) -> str:
    lines = []
    for method, (ours, ranges, _) in PUBLISHED[name].items():
        for key in KEYS:
            if key in (metrics.get(ours) or {}):
                low, high = ranges[key]
                word = range_verdict(metrics[ours][key], low, high, lower_is_better=True, tolerance=TOLERANCE)
                lines.append(
                    f"- {method} ({code(ours)}), {key.split('_')[0].upper()}: "
                    f"{metrics[ours][key]:.3f} is **{word}** the published {_span(low, high)} "
                    f"(±{100 * TOLERANCE:.0f} %)."
                )
    return "\n".join(lines) + "\n" if lines else "No metric of ours to compare yet.\n"


def _span(low: float, high: float) -> str:
    return f"{low:.3f}" if low == high else f"{low:.3f}-{high:.3f}"
