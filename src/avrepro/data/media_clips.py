"""Clips decoded from any media files into memory, read like a :class:`~avrepro.data.cache.FeatureCache`.

The inference verbs (``avrepro binauralize``, ``separate``, ``sync``, ``locate``) hand a user's
videos to the same task code the evaluation runs on a cached test split: the audio is resampled
and quantized as the cache does it, the frames are resized to the cache's frame size, so a clip
of the dataset gives the evaluation's numbers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from avrepro.data.cache import load_audio, resample, to_int16
from avrepro.data.split import read_split
from avrepro.data.verify import read_manifest
from avrepro.io import read_json
from avrepro.media import MediaError, probe_mp4, read_media_audio, read_mp4_frames


@dataclass
class MediaClip:
    """One decoded clip: int16 ``(C, N)`` audio, uint8 ``(T, H, W, 3)`` frames, where they came from."""

    clip_id: str
    audio: np.ndarray
    frames: np.ndarray
    fps: float
    video_path: Path
    audio_path: Path
    meta: dict | None = None


def decode_clip(
    video: str | Path,
    sample_rate: int,
    frame_size: tuple[int, int],
    audio: str | Path | None = None,
    meta: dict | None = None,
) -> MediaClip:
    """Decode ``video`` (its frames resized to ``frame_size`` = (W, H)) and its audio track, or
    the wav ``audio`` when given, at ``sample_rate``.

    Raises:
        MediaError: the file is missing or unreadable, has no video or no audio stream.
    """
    video = Path(video)
    probe_mp4(video)  # not a video, or none in it: named before any decoding
    if audio is not None:  # the sound next: a video without one fails before a long decode
        samples = load_audio(audio, sample_rate)
    else:
        raw, rate_in = read_media_audio(video)
        samples = resample(raw, rate_in, sample_rate)
    frames, fps = read_mp4_frames(video, size=frame_size)
    if not np.isfinite(fps) or fps <= 0:
        raise MediaError(video, "the video stream states no frame rate")
    audio_path = Path(audio) if audio is not None else video
    return MediaClip(video.stem, to_int16(samples), frames, float(fps), video, audio_path, meta)


@dataclass
class MediaClips:
    """Decoded clips with the read accessors of :class:`~avrepro.data.cache.FeatureCache`
    (``audio``, ``audio_float``, ``frames``, ``info``, ``meta``, ``position``, ``sample_rate``,
    ``fps``, ``channels``, ``frame_size``, ``groups``)."""

    clips: list[MediaClip]
    sample_rate: int
    clip_ids: list[str] = field(init=False)

    def __post_init__(self) -> None:
        if not self.clips:
            raise ValueError("MediaClips needs at least one clip")
        self.clip_ids = [c.clip_id for c in self.clips]

    def __len__(self) -> int:
        return len(self.clips)

    def position(self, clip_id: str) -> int:
        """Index of a clip id."""
        return self.clip_ids.index(clip_id)

    def audio(self, i: int) -> np.ndarray:
        """``(C, n_samples)`` int16 audio of clip ``i``."""
        return self.clips[i].audio

    def audio_float(self, i: int) -> np.ndarray:
        """``(C, n_samples)`` float32 audio of clip ``i`` in [-1, 1] (as the cache reads it)."""
        return self.clips[i].audio.astype(np.float32) / 32767.0

    def frames(self, i: int) -> np.ndarray:
        """``(n_frames, H, W, 3)`` uint8 frames of clip ``i``."""
        return self.clips[i].frames

    def info(self, i: int) -> dict:
        """Clip entry as the cache's index has it (no shard: the clip is in memory)."""
        c = self.clips[i]
        return {
            "clip_id": c.clip_id,
            "group": c.clip_id,
            "n_samples": int(c.audio.shape[1]),
            "n_frames": int(len(c.frames)),
            "meta": None,
            "video": str(c.video_path),
            "audio": str(c.audio_path),
        }

    def meta(self, i: int) -> dict | None:
        return self.clips[i].meta

    @property
    def fps(self) -> float:
        """The frame rate every clip shares (the task code indexes frames by time)."""
        rates = sorted({round(c.fps, 3) for c in self.clips})
        if len(rates) != 1:
            paths = ", ".join(str(c.video_path) for c in self.clips)
            raise MediaError(paths, f"the videos have different frame rates {rates}: re-encode one")
        return self.clips[0].fps

    @property
    def channels(self) -> int:
        return int(self.clips[0].audio.shape[0])

    @property
    def frame_size(self) -> tuple[int, int]:
        """``(W, H)``."""
        h, w = self.clips[0].frames.shape[1:3]
        return int(w), int(h)

    @property
    def groups(self) -> list[str]:
        return [c.clip_id for c in self.clips]


def split_clips(manifest: str | Path, raw_dir: str | Path, split_file: str | Path, count: int) -> list[dict]:
    """``count`` clips of a split, evenly spaced over it (so they span its classes and rooms), as
    ``{"clip_id", "video", "audio", "meta"}`` with absolute paths and the meta JSON read."""
    ids = read_split(split_file)
    rows = read_manifest(manifest).drop_duplicates("clip_id").set_index("clip_id")
    ids = [c for c in ids if c in rows.index]
    if not ids:
        raise ValueError(f"{split_file}: no clip of the split is in {manifest}")
    picks = sorted({int(round(x)) for x in np.linspace(0, len(ids) - 1, min(count, len(ids)))})
    raw = Path(raw_dir)
    out = []
    for clip_id in (ids[k] for k in picks):
        row = rows.loc[clip_id]
        meta = read_json(raw / row["meta"]) if row["meta"] else None
        out.append(
            {"clip_id": clip_id, "video": raw / row["video"], "audio": raw / row["audio"], "meta": meta}
        )
    return out
