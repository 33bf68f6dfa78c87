"""The spatial task's names, declared once (every other module of the package imports them from here)."""

VARIANTS = ("avc", "avsa", "avsa_curriculum")
SHORTCUT_VARIANTS = ()  # every variant sees both modalities
CONTROLS = ()  # no checkpoint is evaluated another way
BASELINES = ("chance", "random_backbone")

SIMULATOR_NEEDS = dict.fromkeys(VARIANTS, ("sources360",))
"""The instrument probe is trained and scored on the 360 scene's instruments (class, direction),
which only the simulator knows: on other data the probe is not made (AVC-Bin, AVSA-Bin and the
viewpoint alignment are)."""

# the training objectives a variant may have (``spatial.objectives: {variant: objective}``)
OBJECTIVES = ("avc", "avsa")

PROBE_KEYS = ("probe_accuracy", "probe_class_accuracy")
# the per-clip scores summarised (mean, std, SEM over clips) into the metric files
METRIC_KEYS = (
    "avc_accuracy",
    "avsa_accuracy",
    "probe_accuracy",
    "probe_class_accuracy",
    "alignment_top1",
    "alignment_error",
)

FIGURES = {
    "loss_curves": "loss_curves.png",
    "accuracy": "accuracy.png",
    "alignment_summary": "alignment_summary.png",
    "alignment_clip": "alignment_{clip}.png",
}
