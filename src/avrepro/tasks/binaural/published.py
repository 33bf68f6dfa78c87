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

from avrepro.report.kit import ReportContext, code
from avrepro.report.published import Published, Tolerance, departures, published_table, verdict_lines

LABELS = {"stft_distance": "STFT", "env_distance": "ENV"}
GAO, XU = "Gao & Grauman 2019, Tab. 1", "Xu et al. 2021, Tab. 1"


def _distances(stft: tuple[float, float], env: tuple[float, float]) -> dict[str, tuple[float, float]]:
    return {"stft_distance": stft, "env_distance": env}


PUBLISHED = {
    "10 random splits": [
        Published("mono-mono", "mono_mono", _distances((1.155, 1.155), (0.153, 0.153)), GAO),
        Published("Mono2Binaural", "backbone", _distances((0.836, 0.959), (0.132, 0.141)),
                  f"{GAO} (0.836 / 0.132); re-runs 0.909-0.959 / 0.140-0.141"),
    ],
    "5 scene-disjoint splits": [
        Published("mono-mono", "mono_mono", _distances((1.024, 1.024), (0.145, 0.145)), XU),
        Published("Mono2Binaural", "backbone", _distances((0.917, 0.917), (0.137, 0.137)), XU),
    ],
}  # fmt: skip
TOLERANCE = Tolerance(0.05, relative=True, text="±5 %")  # a single published number: +-5 %
DEPARTURES = (
    "Sliding-window inference predicts every window from its own mono mix; the official demo.py "
    "gives the last window the previous window's mix (a stale window at each clip's end).",
    "The inverse STFT uses the forward STFT's n_fft (512); the official librosa call infers 510 "
    "from the 256 frequency bins it keeps.",
)


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
        tables = [
            published_table(name, rows, metrics, LABELS, dataset, 3) for name, rows in PUBLISHED.items()
        ]
        return out + tables + [departures(DEPARTURES)]
    split = ctx.cfg["split"]["official"]
    out.append(
        f"Our run follows the {chosen} protocol on one of its splits (`{split}`); the papers average "
        f"all of them. A single published number counts as a range of {TOLERANCE.text}.\n"
    )
    rows = PUBLISHED[chosen]
    return out + [
        published_table(chosen, rows, metrics, LABELS, dataset, 3),
        verdict_lines(rows, metrics, LABELS, lower_is_better=True, tolerance=TOLERANCE, digits=3),
        departures(DEPARTURES),
    ]
