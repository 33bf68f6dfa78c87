"""360 frames in YouTube's equi-angular cubemap: told from equirectangular ones by their aspect,
and converted back to equirectangular where every direction lands where it belongs."""

from __future__ import annotations

import numpy as np
import pytest

from avrepro.media import MediaError
from avrepro.video.projection import eac_position, eac_to_equirect, source_projection
from avrepro.video.viewpoints import equirect_directions
from helpers.view360_fixture import eac_frame


@pytest.mark.parametrize(
    "size, expected",
    [((3840, 1920), "equirect"), ((3840, 2160), "eac"), ((128, 72), "eac"), ((960, 480), "equirect")],
)
def test_the_projection_is_told_by_the_aspect(size, expected):
    assert source_projection(*size, "auto", "clip.mp4") == expected


def test_another_aspect_is_refused_naming_the_file():
    with pytest.raises(MediaError, match=r"clip\.mp4: 640x480 frames are neither equirectangular"):
        source_projection(640, 480, "auto", "clip.mp4")
    assert source_projection(640, 480, "eac", "clip.mp4") == "eac"  # told: no guess


@pytest.mark.parametrize(
    "direction, face_centre",
    [
        ((0, 0, -1), (1.5, 0.25)),
        ((1, 0, 0), (2.5, 0.25)),
        ((-1, 0, 0), (0.5, 0.25)),
        ((0, 0, 1), (1.5, 0.75)),
    ],
)
def test_face_centres(direction, face_centre):
    """Front in the middle of the top row, right and left beside it, back in the bottom row's
    middle (face units: 3 columns, 2 rows; the padding is symmetric about a face's centre)."""
    col, row = eac_position(*direction, 1920, 1080)
    assert col == pytest.approx(face_centre[0] / 3 * 1920, abs=1.5) and row == pytest.approx(
        face_centre[1] * 1080
    )


def test_a_round_trip_through_the_cubemap_keeps_every_direction():
    """An equirect frame whose colour codes each direction, drawn as EAC by FFmpeg's inverse
    mapping (the test helper), comes back to the same colours."""
    az, el = equirect_directions(256, 128)
    frame = np.zeros((128, 256, 3), np.uint8)
    frame[..., 0] = np.round((az[None, :] + 180) / 360 * 255).astype(np.uint8)
    frame[..., 1] = np.round((el[:, None] + 90) / 180 * 255).astype(np.uint8)
    frame[..., 2] = 128
    back = eac_to_equirect(eac_frame(frame, (768, 432)), (256, 128)).astype(int)
    err = np.abs(back - frame.astype(int))
    inner = err[8:-8, 8:-8, :2]  # away from the poles, and the azimuth seam of the colour code
    assert np.median(inner) <= 1 and np.percentile(inner, 99) <= 6
