"""Names of the separation task, declared once: variants, baselines, metric keys, figures."""

from __future__ import annotations

VARIANTS = ("binary", "ratio")
"""Trainable variants: the mask each predicts (binary mask + weighted BCE, or ratio mask + L1)."""
SHORTCUT_VARIANTS: tuple[str, ...] = ()
CONTROLS: tuple[str, ...] = ()
SIMULATOR_NEEDS = dict.fromkeys(VARIANTS, ("boxes",))
"""Every variant's sound maps are scored against the instrument's box, which only the simulator
knows: on other data the localization scores are not made (the separation scores are)."""
BASELINES = ("mixture", "nmf", "nmf_supervised", "ibm", "irm")
UPPER_BOUNDS = ("ibm", "irm")
"""The baselines that know the true sources (ideal masks): upper bounds, not competitors."""

SEPARATION_KEYS = ("sdr", "sir", "sar", "sdr_mixture")
"""BSS Eval keys of every evaluated name (dB)."""
LOCALIZATION_KEYS = ("pointing_accuracy", "map_mass_in_box", "box_share")
"""Sound-map keys of a trained variant (shares in [0, 1])."""
METRIC_KEYS = SEPARATION_KEYS + LOCALIZATION_KEYS

FIGURES = {
    "loss_curves": "loss_curves.png",
    "metrics": "metrics.png",
    "distributions": "sdr_clips.png",
    "spectrograms": "spectrograms_{variant}_{mix}.png",
    "audio": "audio_{variant}_{mix}_{what}.wav",
    "localization": "localization_{variant}_{mix}.png",
}
