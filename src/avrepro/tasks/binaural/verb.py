"""``avrepro binauralize VIDEO -o OUT.mp4``: the command line of the binaural task's inference verb
(argparse only: ``avrepro --help`` imports this module; the work is in :mod:`.infer`)."""

from __future__ import annotations

import argparse

VERB = "binauralize"
HELP = "predict a video's binaural sound from its mono (or down-mixed) track"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The verb's input, output and options."""
    parser.add_argument(
        "video", metavar="VIDEO", help="the video (mp4, mkv, mov, ...; any size, frame rate and length)"
    )
    parser.add_argument(
        "-o",
        "--out",
        required=True,
        metavar="OUT.mp4",
        help="the video to write (OUT.mp4: the video stream copied, the predicted binaural sound as "
        "AAC) and, beside it, OUT.wav (32-bit float stereo at the model's sample rate)",
    )
    parser.add_argument(
        "--audio",
        default=None,
        metavar="WAV",
        help="take the sound from this wav instead of the video's track (mono, or stereo: its two "
        "channels are mixed as the evaluation mixes a binaural recording)",
    )
    parser.add_argument("--wav-only", action="store_true", help="write OUT.wav only, no video")
