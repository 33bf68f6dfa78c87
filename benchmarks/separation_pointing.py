"""Where do a separation model's sound maps peak, against the true boxes? (issue 17)

    python benchmarks/separation_pointing.py --tree PATH [--variant binary] [--pad-cells 1]
        [--set eval.map_output_stride=8]

Runs the task's evaluation of the tree's model (its ``best.pt``) on the fixed test mixtures and
keeps every source's sound map (h x w cells: 8x16 on the default 64x32 frames at the default
stride 4; 4x8 for a net trained at stride 8, 8x16 again with ``--set eval.map_output_stride=4``)
and its box. Beside
the evaluation's pointing game (the maximum of the map upsampled bilinearly to the frame, ties to
the first pixel in row-major order) it gives: the maximum cell's centre in the box, the maximum
cell overlapping the box at all (the best the map's resolution allows a point to do), how often
each row of cells holds the maximum against the rows of the boxes' centres, and the mean offset of
the maximum cell's centre from the box's centre in pixels. ``--pad-cells N`` computes the maps on
frames padded by N cells of the mean colour (0 after normalisation) on every side, then crops the
map back to the picture: whether the border cells' maxima come from the frame's edge.
"""

from __future__ import annotations

import argparse
import copy
import sys
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import add_tree_argument, require, save  # noqa: E402
from avrepro.engine.evaluate import load_model  # noqa: E402
from avrepro.engine.runtime import seed_everything  # noqa: E402
from avrepro.tasks import get_task  # noqa: E402
from avrepro.tasks.separation import evaluate as separation_evaluate  # noqa: E402
from separation_budget import load_tree  # noqa: E402


def collect_maps(model, cfg: dict, test) -> tuple[dict, list]:
    """The evaluation's summary and ``(map, box)`` of every scored source (the evaluation's own
    ``_localization`` sees each mixture's maps and boxes; this wraps it to keep them)."""
    kept, score = [], separation_evaluate._localization

    def keep(cache, combo, frames, maps, crop):
        for n, (i, f) in enumerate(zip(combo, frames, strict=True)):
            kept.append((maps[n].copy(), separation_evaluate._source_box(cache, i, f, crop[::-1])))
        return score(cache, combo, frames, maps, crop)

    separation_evaluate._localization = keep
    try:
        summary, _, _ = get_task("separation").evaluate(model, cfg, test, "binary", progress=False)
    finally:
        separation_evaluate._localization = score
    return summary, [(m, b) for m, b in kept if b is not None]


def pad_maps(model, cells: int) -> None:
    """Make the sound maps of ``model`` (their frame features come from ``model.at_map_stride``'s
    net) see frames padded by ``cells`` map cells of 0 (the mean colour) on every side and keep the
    picture's cells only; the masks keep the unpadded frames."""
    at_map_stride = model.at_map_stride

    def padded_mapper(output_stride):
        mapper = copy.copy(at_map_stride(output_stride))  # its own frame_maps, the same modules
        features, px = mapper.frame_maps, cells * mapper.visual.output_stride

        def padded(frames):
            return features(F.pad(frames, (px, px, px, px)))[..., cells:-cells, cells:-cells]

        mapper.frame_maps = padded
        return mapper

    model.at_map_stride = padded_mapper


def cell_scores(kept: list, crop_hw: tuple[int, int]) -> dict:
    """Hit rates of the maximum cell (centre in box; overlapping the box), where the maxima and
    the boxes' centres fall by row, and the mean offset (x, y) of the maximum from the box."""
    h, w = kept[0][0].shape
    sy, sx = crop_hw[0] / h, crop_hw[1] / w
    centre, overlap, rows, box_rows, offset = [], [], [], [], []
    for heat, (x0, y0, x1, y1) in kept:
        r, c = np.unravel_index(int(np.argmax(heat)), heat.shape)
        cy, cx = (r + 0.5) * sy, (c + 0.5) * sx
        centre.append(x0 <= cx < x1 and y0 <= cy < y1)
        overlap.append(r * sy < y1 and (r + 1) * sy > y0 and c * sx < x1 and (c + 1) * sx > x0)
        rows.append(int(r))
        box_rows.append(min(int((y0 + y1) / 2 / sy), h - 1))
        offset.append((cx - (x0 + x1) / 2, cy - (y0 + y1) / 2))
    return {
        "cell_centre_in_box": float(np.mean(centre)),
        "cell_overlaps_box": float(np.mean(overlap)),
        "maxima_by_row": np.bincount(rows, minlength=h).tolist(),
        "box_centres_by_row": np.bincount(box_rows, minlength=h).tolist(),
        "offset_px": [float(v) for v in np.mean(offset, axis=0)],
    }


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    add_tree_argument(ap, "an output tree of the pipeline (its params.yaml, caches and models)")
    ap.add_argument("--variant", default="binary", help="the trained variant (default: binary)")
    ap.add_argument("--threads", type=int, default=2, help="torch threads on CPU")
    ap.add_argument("--pad-cells", type=int, default=0, help="pad the frames by this many map cells")
    ap.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE", help="override separation params")
    args = ap.parse_args(argv)
    cfg, (_, _, test) = load_tree(args.tree, args.set)
    seed_everything(0, args.threads)
    checkpoint = require(args.tree / f"models/separation/{args.variant}/best.pt", "the trained model")
    model = load_model(get_task("separation"), cfg, args.variant, checkpoint, torch.device("cpu")).eval()
    if args.pad_cells:
        pad_maps(model, args.pad_cells)
    summary, kept = collect_maps(model, cfg, test)
    crop = (cfg["frames"]["crop_height"], cfg["frames"]["crop_width"])
    figures = {
        "pointing_accuracy": summary["pointing_accuracy"],
        "box_share": summary["box_share"],
        "sources": len(kept),
        **cell_scores(kept, crop),
    }
    lines = [
        f"{args.tree} ({args.variant}), {len(kept)} sources of {summary['n_mixtures']} test mixtures"
        + (f", frames padded by {args.pad_cells} cell(s)" if args.pad_cells else ""),
        f"  pointing game (evaluation's)  {figures['pointing_accuracy']:.3f}"
        f"  (chance {figures['box_share']:.3f})",
        f"  maximum cell's centre in box  {figures['cell_centre_in_box']:.3f}",
        f"  maximum cell overlaps box     {figures['cell_overlaps_box']:.3f}",
        f"  maxima by row {figures['maxima_by_row']}, box centres by row {figures['box_centres_by_row']}",
        f"  offset of the maximum from the box centre (x, y): "
        f"{figures['offset_px'][0]:+.1f}, {figures['offset_px'][1]:+.1f} px",
    ]
    save("separation_pointing", "Where the separation sound maps peak", lines, figures)
    return figures


if __name__ == "__main__":
    main()
