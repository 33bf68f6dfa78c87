"""The published shift-detection accuracy of the report's sync section, and whether a run's
accuracy falls within it.

Owens & Efros (ECCV 2018) report 59.9 % for their full model on AudioSet test videos: is the
audio of a 4.2-s sample aligned or shifted (chance 50 %). Our ``fused`` is that model. A run
follows the protocol on AudioSet-style lists (``sync.dataset: kinetics``) with 4.2-s samples; a
single published number counts as a range of ±5 points (a choice of ours).
"""

from __future__ import annotations

from avrepro.report.kit import ReportContext, code
from avrepro.report.published import Published, Tolerance, departures, published_table, verdict_lines

LABELS = {"accuracy": "accuracy"}
PROTOCOL = "AudioSet, aligned or shifted, 4.2-s samples"
PUBLISHED = [
    Published("Multisensory (full model)", "fused", {"accuracy": (0.599, 0.599)}, "Owens & Efros 2018")
]
TOLERANCE = Tolerance(0.05, relative=False, text="±5 points")
SAMPLE_SECONDS = 4.2
DEPARTURES = (
    "The class-activation map leaves out the logit's bias, which the official CAM includes: a "
    "constant added to the whole map, so the pointing game is the same; the map's mass in the "
    "boxes is measured on the map without it.",
)


def follows_protocol(cfg: dict) -> bool:
    """Whether the run follows the published protocol: AudioSet-style lists, 4.2-s samples."""
    section = cfg.get("sync") or {}
    seconds = float((section.get("sample") or {}).get("seconds", 0))
    return section.get("dataset") == "kinetics" and abs(seconds - SAMPLE_SECONDS) < 0.05


def published_section(ctx: ReportContext, metrics: dict[str, dict]) -> list[str]:
    """The published number beside ours; a verdict only when the run follows its protocol."""
    section = ctx.cfg.get("sync") or {}
    dataset, seconds = section.get("dataset", "?"), (section.get("sample") or {}).get("seconds", "?")
    out = ["### Published numbers (AudioSet)\n"]
    table = published_table(PROTOCOL, PUBLISHED, metrics, LABELS, dataset, 3)
    if not follows_protocol(ctx.cfg):
        out.append(
            f"Published on AudioSet's real videos (chance 50 %). Ours are on the {code(dataset)} dataset"
            + (", whose sprites flash at note onsets by construction" if dataset == "synthetic" else "")
            + f" with {seconds}-s samples: they are "
            "**not comparable**, and no verdict is given (run `sync.dataset: kinetics` on AudioSet "
            f"lists with `sample.seconds: {SAMPLE_SECONDS}`).\n"
        )
        return out + [table, departures(DEPARTURES)]
    out.append(
        "Our run follows the published protocol on our AudioSet list and split. A single "
        f"published number counts as a range of {TOLERANCE.text}.\n"
    )
    return out + [
        table,
        verdict_lines(PUBLISHED, metrics, LABELS, False, TOLERANCE, 3),
        departures(DEPARTURES),
    ]
