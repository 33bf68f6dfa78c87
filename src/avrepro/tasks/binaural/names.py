"""The binaural task's names, declared once (see :class:`avrepro.tasks.base.Task` for the words).

Every other module of the package imports them from here.
"""

VARIANTS = ("backbone", "film", "audio_only", "fusion", "coherence", "geometry", "rir", "full")
"""Every trainable variant (their parts: :data:`avrepro.tasks.binaural.model.VARIANT_PARTS`)."""

SIMULATOR_NEEDS = {"rir": ("rir",), "full": ("rir",)}
"""Variant -> what only the simulator knows that it uses (``rir``: a clip's room impulse
responses). On other data the variants of :data:`SIMULATOR_ONLY` are left out of the run and the
others train and evaluate without those parts (:func:`avrepro.tasks.fit_to_datasets`)."""

SIMULATOR_ONLY = ("rir",)
"""Variants that are nothing without their simulator facts (``rir``: fusion plus the RIR head)."""

SHORTCUT_VARIANTS = ("audio_only",)
"""Variants trained on part of the input: ``audio_only`` sees a blank frame."""

CONTROLS = ("flipped",)
"""A trained variant's checkpoint tested with horizontally mirrored frames."""

BASELINES = ("mono_mono",)
"""Evaluated without a checkpoint: the mono mix copied to both ears."""

METRIC_KEYS = ("stft_distance", "env_distance", "coherence_accuracy", "rir_error")
"""The summary keys of the metric files (DESIGN 2.1); the heads' keys where those heads exist."""

FIGURES = {
    "loss_curves": "loss_curves.png",
    "ablation": "ablation.png",
    "distributions": "{key}_clips.png",
    "rir": "rir_examples.png",
    "spectrograms": "spectrograms_{clip}.png",
    "demo": "demo_{clip}_{what}.mp4",
    "listen": "listen_{clip}_{what}.wav",
}
"""Figure key -> file name pattern under ``reports/figures/binaural/``."""
