"""``avrepro locate``: where the sound comes from in a 360 video (the spatial task's verb; argparse
only, no heavy import: ``avrepro --help`` reads it). The work is in :mod:`.infer`."""

from __future__ import annotations

import argparse

VERB = "locate"
HELP = "where the sound comes from in a 360 video: a heat map over its equirectangular frames"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """``VIDEO360 [--foa WAV] -o OUT.mp4`` and the options of the heat map."""
    _add_files(parser)
    _add_heat_map_options(parser)


def _add_files(parser: argparse.ArgumentParser) -> None:
    """What is read and what is written."""
    parser.add_argument(
        "video",
        metavar="VIDEO360",
        help="an equirectangular 360 video (mp4, mkv, mov); its own audio is used when it is "
        "4-channel ambiX first-order ambisonics",
    )
    parser.add_argument(
        "--foa",
        metavar="WAV",
        default=None,
        help="a 4-channel ambiX wav (ACN order W, Y, Z, X; SN3D) to use instead of the video's audio",
    )
    parser.add_argument(
        "-o",
        "--out",
        required=True,
        metavar="OUT.mp4",
        help="the video with the heat map over its frames and the W channel as its sound",
    )
    parser.add_argument(
        "--png", metavar="PNG", default=None, help="also write the overall heat map as an image"
    )
    parser.add_argument(
        "--json", metavar="JSON", default=None, help="also write the printed summary to a file"
    )


def _add_heat_map_options(parser: argparse.ArgumentParser) -> None:
    """Windows over time, the grid of directions and the score."""
    parser.add_argument(
        "--window",
        type=float,
        default=None,
        metavar="SECONDS",
        help="seconds per heat map (default: the model's audio window); a longer window averages "
        "the model's windows inside it",
    )
    parser.add_argument(
        "--hop",
        type=float,
        default=None,
        metavar="SECONDS",
        help="seconds between heat maps (default: the window)",
    )
    parser.add_argument(
        "--yaw-step",
        type=float,
        default=15.0,
        metavar="DEG",
        help="degrees between crop directions around (default 15)",
    )
    parser.add_argument(
        "--pitch-step",
        type=float,
        default=15.0,
        metavar="DEG",
        help="degrees between crop directions up and down, within the model's viewpoint pitches "
        "(default 15; 0: the horizon only)",
    )
    parser.add_argument(
        "--fov",
        type=float,
        default=None,
        metavar="DEG",
        help="field of view of each crop (default: the evaluation's alignment crops, eval.alignment.fov_deg)",
    )
    parser.add_argument(
        "--score",
        choices=("centered", "aligned"),
        default="centered",
        help="centered: the model's match of each crop with the sound turned toward it, less what "
        "the crop or the turned sound match alone (default); aligned: the match as is",
    )
    parser.add_argument(
        "--display-width",
        type=int,
        default=512,
        metavar="PIXELS",
        help="width of the output video, at most the input's (default 512)",
    )
