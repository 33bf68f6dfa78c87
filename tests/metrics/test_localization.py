"""Localization scores: pointing game, mass in box, chance level, box rescaling."""

from __future__ import annotations

import numpy as np
import pytest

from avrepro.metrics.localization import box_share, mass_in_box, pointing_hit, scale_box, union_mask


def test_scores_on_a_known_map():
    heat = np.zeros((10, 20))
    heat[2:4, 5:9] = 1.0  # 8 px of mass 1
    heat[8, 0] = 0.5  # elsewhere
    box = [5, 2, 9, 4]  # exactly the block, half-open
    assert pointing_hit(heat, box)
    assert mass_in_box(heat, box) == pytest.approx(8 / 8.5)
    assert box_share(box, heat.shape) == pytest.approx(8 / 200)
    assert not pointing_hit(heat, [0, 0, 5, 2])  # the block starts at x=5: half-open edge
    assert mass_in_box(heat, [0, 0, 5, 2]) == 0.0


def test_flat_and_empty_maps_never_score():
    assert not pointing_hit(np.ones((4, 4)), [0, 0, 4, 4])
    assert mass_in_box(np.zeros((4, 4)), [0, 0, 2, 2]) == 0.0
    with pytest.raises(ValueError, match="non-negative"):
        mass_in_box(-np.ones((4, 4)), [0, 0, 1, 1])


def test_uniform_map_mass_equals_chance():
    box = [3, 1, 11, 6]
    assert mass_in_box(np.ones((8, 16)), box) == pytest.approx(box_share(box, (8, 16)))


def test_scale_box_and_union():
    assert scale_box([10, 5, 31, 20], (64, 32), (16, 8)) == [2, 1, 8, 5]
    assert scale_box([-4, -4, 100, 100], (64, 32), (16, 8)) == [0, 0, 16, 8]
    mask = union_mask([[0, 0, 2, 2], [1, 1, 3, 3]], (4, 4))
    assert mask.sum() == 7
    assert pointing_hit(np.pad(np.ones((1, 1)), ((2, 1), (2, 1))), mask)
