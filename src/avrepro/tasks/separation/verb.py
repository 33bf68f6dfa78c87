"""``avrepro separate VIDEO [VIDEO2]``: the command line of the separation task's inference verb
(argparse only: ``avrepro --help`` imports this module; the work is in :mod:`.infer`)."""

from __future__ import annotations

import argparse

VERB = "separate"
HELP = "separate the sounds of a video by where they are in the picture, or of two videos mixed"
EPILOG = (
    "One video: each region's sound is the mixture masked by the model's mask for that part of the "
    "picture: by default the mask of the frames with everything outside the region blanked (the "
    "region separated as if it were its own video); with --region-features pooled the Sound of "
    "Pixels' pixel-level form (the whole frame's features pooled over the region, as the model "
    "pools them over the frame). With --regions auto the regions are the "
    "positions of the model's feature map grouped by k-means on what their own masks take of the "
    "sound over the clip (at most --max-sources regions, left to right). Writes "
    "OUT/region_<k>.wav and OUT/sound_map.mp4 (each pixel's share of the sound over the frames, "
    "the regions outlined, the original sound). Two videos: their sounds are mixed (each / 2, as "
    "the evaluation mixes them) and separated with each video's frames; writes "
    "OUT/<name>_separated.wav per video, OUT/mixture.wav and OUT/sound_map.mp4 (side by side, the "
    "mixture's sound), and reports BSS Eval SDR/SIR/SAR against each video's own sound, and in "
    "test_mixture those of the clips' centred eval.window samples, as the evaluation scores a test "
    "mixture (two clips of the test split give the evaluation's numbers for their pair)."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The verb's inputs, output folder and options."""
    parser.epilog = EPILOG
    parser.add_argument(
        "video", metavar="VIDEO", help="a video with sound (mp4, mkv, mov, ...; any size, rate, length)"
    )
    parser.add_argument(
        "video2",
        metavar="VIDEO2",
        nargs="?",
        default=None,
        help="a second video: mix the two sounds and separate them with each video's frames",
    )
    parser.add_argument("-o", "--out", required=True, metavar="DIR", help="the folder to write into")
    parser.add_argument(
        "--audio",
        nargs="+",
        default=None,
        metavar="WAV",
        help="take each video's sound from these wavs (one per video) instead of its audio track",
    )
    parser.add_argument(
        "--regions",
        default="auto",
        metavar="auto|BOXES",
        help="one video: 'auto' (default: the picture's positions grouped by the sound their masks "
        "take) or boxes 'x,y,w,h;x,y,w,h;...' in fractions of the frame (e.g. '0,0,0.5,1;0.5,0,0.5,1': "
        "left half, right half)",
    )
    parser.add_argument(
        "--max-sources",
        type=int,
        default=2,
        metavar="N",
        help="with --regions auto: at most N regions (default: 2)",
    )
    parser.add_argument(
        "--region-features",
        choices=("masked", "pooled"),
        default="masked",
        help="one video: a region's mask from the frames with all outside the region blanked "
        "('masked', default) or from the whole frame's features pooled over the region ('pooled', "
        "the paper's pixel-level sound)",
    )
