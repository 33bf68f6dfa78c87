"""``avrepro sync VIDEO``: the audio-video offset of a video (light: no torch import here)."""

from __future__ import annotations

import argparse

VERB = "sync"
HELP = "estimate the audio-video offset of a video (positive: the audio is late) and re-align it"
EPILOG = (
    "Sign: an offset of +0.2 s means the audio is late: a sound is heard 0.2 s after what makes it "
    "is seen; re-aligning advances the audio by 0.2 s. The sync net scores the video's windows "
    "with the audio shifted by every candidate shift (steps of one frame at the model's frame "
    "rate); a shift's score is the mean over windows of the net's probability that the audio is in "
    "sync, the offset is the shift with the highest score, and the confidence is that score minus "
    "the median score of the scan (0: the best shift looks no more in sync than a typical one; "
    "near 1: the net is sure). The summary (JSON on stdout) lists every shift's score."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The verb's input, outputs and scan options."""
    parser.epilog = EPILOG
    parser.add_argument("video", metavar="VIDEO", help="an mp4, mkv or mov with an audio track")
    parser.add_argument(
        "-o",
        "--out",
        metavar="OUT.mp4",
        help="write the video re-aligned by the estimate (video stream copied, audio shifted)",
    )
    parser.add_argument(
        "--audio", metavar="WAV", help="use this wav as the video's sound instead of its audio track"
    )
    parser.add_argument(
        "--max-shift",
        type=float,
        metavar="SECONDS",
        help="scan audio shifts from -SECONDS to +SECONDS (default: the largest shift the model was "
        "trained on, sample.shift_seconds, at most half of what the video lasts beyond one window)",
    )
    parser.add_argument(
        "--windows",
        type=int,
        default=16,
        metavar="N",
        help="video windows scored, spread evenly over the video (default: 16)",
    )
    parser.add_argument(
        "--cam",
        metavar="OUT_CAM.mp4",
        help="write the class-activation-map video: where the net hears the sound come from, over "
        "the frames, with the re-aligned audio",
    )
    parser.add_argument("--json", metavar="SCORES.json", help="write the summary and every window's scores")
    parser.add_argument(
        "--fps",
        type=float,
        metavar="FPS",
        help="the frame rate the model was trained at, frames are resampled to it (default: its "
        "dataset's fps in --params)",
    )
