"""An in-memory stand-in for :class:`avrepro.data.cache.FeatureCache`: the read accessors the
tasks use, over lists a test fills (``clip_ids``, ``_audio`` int16 (C, N), ``_frames`` uint8
(T, H, W, 3), ``_meta``)."""

from __future__ import annotations

import numpy as np


class InMemoryCache:
    """Subclasses set ``clip_ids``, ``sample_rate``, ``fps`` and fill ``_audio``, ``_frames``,
    ``_meta`` (one entry a clip)."""

    clip_ids: list[str]

    def __len__(self) -> int:
        return len(self.clip_ids)

    def audio(self, i):
        return self._audio[i]

    def audio_float(self, i):
        return self._audio[i].astype(np.float32) / 32767.0

    def frames(self, i):
        return self._frames[i]

    def info(self, i):
        return {
            "clip_id": self.clip_ids[i],
            "n_samples": self._audio[i].shape[1],
            "n_frames": len(self._frames[i]),
        }

    def meta(self, i):
        return self._meta[i]

    def position(self, clip_id):
        return self.clip_ids.index(clip_id)
