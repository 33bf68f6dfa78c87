"""Demo videos (a test clip with predicted binaural audio) and per-clip metric distributions."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image, ImageDraw, ImageFont

from avrepro.figures import color_for, new_figure, require_file, save_png, styled
from avrepro.figures.tables import lower_is_better, metric_label
from avrepro.media import write_mp4


def _font(size: int) -> ImageFont.ImageFont:
    """DejaVu Sans shipped with matplotlib (deterministic), else PIL's default font."""
    import matplotlib

    path = Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSans.ttf"
    try:
        return ImageFont.truetype(str(path), size)
    except OSError:
        return ImageFont.load_default(size=size)


def caption_overlay(width: int, height: int, caption: str) -> tuple[np.ndarray, np.ndarray]:
    """RGB and alpha (H, W, 1) of a caption band at the bottom of a ``width`` x ``height`` frame."""
    size = max(9, height // 16)
    font = _font(size)
    probe = ImageDraw.Draw(Image.new("L", (1, 1)))
    while size > 8 and probe.textlength(caption, font=font) > width - 2 * max(4, size // 2):
        size -= 1
        font = _font(size)
    text = caption
    while text and probe.textlength(text, font=font) > width - 8:
        text = text[:-2] + "…"
    pad = max(3, size // 3)
    band = size + 2 * pad
    rgba = Image.new("RGBA", (width, height), (0, 0, 0, 0))
    draw = ImageDraw.Draw(rgba)
    draw.rectangle([0, height - band, width, height], fill=(0, 0, 0, 150))
    draw.text((max(4, size // 2), height - band + pad), text, font=font, fill=(255, 255, 255, 255))
    arr = np.asarray(rgba, dtype=np.float32)
    return arr[..., :3], arr[..., 3:] / 255.0


def _fit_audio(audio: np.ndarray, n: int) -> np.ndarray:
    if audio.shape[1] >= n:
        return audio[:, :n]
    return np.pad(audio, ((0, 0), (0, n - audio.shape[1])))


def write_demo_mp4(
    frames: np.ndarray,
    fps: float,
    binaural: np.ndarray,
    sample_rate: int,
    out_mp4: str | Path,
    caption: str | None = None,
    min_width: int = 480,
) -> Path:
    """Mux a clip's frames with (predicted) binaural audio into an H.264 + AAC mp4.

    Args:
        frames: (T, H, W, 3) uint8 video frames.
        fps: frame rate of ``frames``.
        binaural: (2, N) float audio, row 0 = left; cut or zero-padded to the video's duration
            and scaled down only if it would clip.
        sample_rate: Hz.
        out_mp4: the mp4 to write (atomically).
        caption: text burnt in at the bottom of every frame (e.g. ``predicted binaural: film``).
        min_width: frames narrower than this are upscaled by an integer factor (readable demo).
    Returns:
        ``out_mp4``.
    """
    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8 or len(frames) == 0:
        raise ValueError(
            f"{out_mp4}: frames must be (T, H, W, 3) uint8 with T > 0, got {frames.shape} {frames.dtype}"
        )
    audio = np.asarray(binaural, dtype=np.float32)
    if audio.ndim != 2 or audio.shape[0] != 2:
        raise ValueError(f"{out_mp4}: binaural audio must be (2, N) (row 0 = left), got {audio.shape}")
    if not np.isfinite(audio).all():
        raise ValueError(f"{out_mp4}: binaural audio contains NaN or Inf")
    if fps <= 0 or sample_rate <= 0:
        raise ValueError(f"{out_mp4}: fps and sample_rate must be positive (got {fps}, {sample_rate})")

    t, h, w, _ = frames.shape
    scale = max(1, math.ceil(min_width / w))
    out_w, out_h = w * scale, h * scale
    out_w, out_h = out_w + out_w % 2, out_h + out_h % 2
    if (out_w, out_h) != (w, h):
        frames = np.stack(
            [np.asarray(Image.fromarray(f).resize((out_w, out_h), Image.Resampling.BICUBIC)) for f in frames]
        )
    if caption:
        rgb, alpha = caption_overlay(out_w, out_h, caption)
        frames = np.clip(frames * (1.0 - alpha) + rgb * alpha + 0.5, 0, 255).astype(np.uint8)

    fps_out = max(1, int(round(fps)))  # the encoder takes an integer rate
    audio = _fit_audio(audio, int(round(t / fps_out * sample_rate)))
    peak = float(np.abs(audio).max()) if audio.size else 0.0
    if peak > 0.99:
        audio = audio * (0.99 / peak)
    write_mp4(out_mp4, frames, fps_out, audio=audio, audio_rate=int(sample_rate))
    return Path(out_mp4)


def read_clip_metrics(path: str | Path, key: str) -> np.ndarray:
    """Finite values of column ``key`` of a per-clip metric CSV (error names the file)."""
    path = require_file(path, "per-clip metric CSV")
    try:
        df = pd.read_csv(path)
    except Exception as exc:
        raise ValueError(f"{path}: unreadable CSV ({exc})") from None
    if key not in df.columns:
        raise ValueError(f"{path}: no column '{key}' (columns: {', '.join(map(str, df.columns))})")
    values = pd.to_numeric(df[key], errors="coerce").to_numpy(dtype=float)
    return values[np.isfinite(values)]


def plot_metric_distributions(
    clip_csvs: dict[str, Path], key: str, out_png: str | Path, title: str | None = None
) -> Path:
    """Per-clip distribution of ``key`` per model: box plot with the individual clips overlaid.

    Args:
        clip_csvs: model or baseline name -> per-clip CSV (``clip_id``, ``<key>``, ...).
        key: the metric column.
        out_png: the PNG to write.
        title: figure title (default from the metric name).
    Returns:
        ``out_png``; the mean of each model is marked with a white diamond.
    """
    if not clip_csvs:
        raise ValueError(f"{out_png}: no per-clip metric files given")
    data = {name: read_clip_metrics(p, key) for name, p in clip_csvs.items()}
    empty = [str(clip_csvs[n]) for n, v in data.items() if len(v) == 0]
    if empty:
        raise ValueError(f"{empty[0]}: no finite values of '{key}'")
    return plot_value_distributions(data, key, out_png, title)


def plot_value_distributions(
    data: dict[str, np.ndarray], key: str, out_png: str | Path, title: str | None = None
) -> Path:
    """Box plot per name of per-clip values of metric ``key`` (clips overlaid, mean marked).

    Args:
        data: name -> finite per-clip values (at least one each).
        key: the metric (axis label, better direction).
        out_png: the PNG to write.
        title: figure title (default from the metric name).
    """
    if not data or any(len(v) == 0 for v in data.values()):
        raise ValueError(f"{out_png}: every name needs at least one value of '{key}'")
    data = {n: np.asarray(v, dtype=float) for n, v in data.items()}
    names = list(data)
    rng = np.random.default_rng(0)
    with styled():
        fig = new_figure((max(4.0, 1.1 * len(names) + 1.6), 3.6))
        ax = fig.subplots()
        positions = np.arange(1, len(names) + 1)
        box = ax.boxplot(
            [data[n] for n in names],
            positions=positions,
            widths=0.55,
            showfliers=False,
            patch_artist=True,
            medianprops={"color": "black"},
        )
        for patch, name in zip(box["boxes"], names, strict=False):
            patch.set_facecolor(color_for(name, names))
            patch.set_alpha(0.35)
        for pos, name in zip(positions, names, strict=False):
            v = data[name]
            jitter = rng.uniform(-0.18, 0.18, size=len(v))
            ax.scatter(pos + jitter, v, s=9, color=color_for(name, names), alpha=0.75, linewidths=0, zorder=3)
            ax.scatter(
                [pos],
                [v.mean()],
                marker="D",
                s=28,
                color="white",
                edgecolors="black",
                zorder=4,
                label="mean" if pos == 1 else None,
            )
        ax.set_xticks(positions, [f"{n}\n(n={len(data[n])})" for n in names])
        ax.set_xlim(0.4, len(names) + 0.6)
        better = "lower" if lower_is_better(key) else "higher"
        ax.set_ylabel(f"{metric_label(key)} per clip ({better} is better)")
        if min(float(v.min()) for v in data.values()) >= 0:
            ax.set_ylim(bottom=0)
        ax.grid(axis="x", visible=False)
        ax.legend(loc="best")
        ax.set_title(title or f"Per-clip {metric_label(key)} on the test set", fontweight="bold")
        return save_png(fig, out_png)
