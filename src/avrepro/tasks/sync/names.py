"""The sync task's names, declared once (every other module of the package imports them from here)."""

VARIANTS = ("fused", "audio_only", "video_only")
# trained on part of the input: the same net with the frames (audio_only) or the audio
# (video_only) blanked; they measure what a one-modality shortcut could score
SHORTCUT_VARIANTS = ("audio_only", "video_only")
CONTROLS = ()  # no checkpoint is evaluated another way
BASELINES = ("chance",)

SIMULATOR_NEEDS = dict.fromkeys(VARIANTS, ("boxes",))
"""Every variant's CAM is scored against the sound sources' boxes, which only the simulator knows:
on other data the localization scores are not made (the accuracies are)."""

# CAM of the aligned track; "contrast": |CAM(aligned) - CAM(shifted)|, the part of the map that
# depends on the audio (zero for a net that ignores the audio, whatever it sees)
LOC_KEYS = (
    "map_mass_in_box",
    "raw_mass_in_box",
    "pointing_accuracy",
    "box_share",
    "contrast_mass_in_box",
    "contrast_pointing_accuracy",
)
# the per-clip scores summarised (mean, std, SEM over clips) into the metric files
METRIC_KEYS = ("accuracy", "pair_accuracy", "accuracy_aligned", "accuracy_shifted", "margin") + LOC_KEYS

FIGURES = {
    "curves": "curves.png",
    "accuracy": "accuracy.png",
    "by_shift": "accuracy_by_shift.png",
    "table_md": "accuracy_table.md",
    "table_csv": "accuracy_table.csv",
    "cam_png": "cam_{role}_{clip}.png",
    "cam_mp4": "cam_{role}_{clip}.mp4",
}

PAPER_ACCURACY = 0.599  # Owens & Efros 2018, shift detection on AudioSet (their own test data)
