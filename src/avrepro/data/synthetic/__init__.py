"""Procedural audio-visual scenes: shoebox rooms, GM-soundfont instruments, KEMAR binaural audio.

Modules: :mod:`.instruments` (phrases rendered from the soundfont), :mod:`.scene` (random rooms,
listener/camera and sources), :mod:`.room` (image sources + HRIRs -> binaural RIRs, RT60),
:mod:`.render_video` (frames and per-frame source boxes), :mod:`.generate` (one clip, the dataset).
"""

from avrepro.data.synthetic.generate import GENERATOR_VERSION, Clip, generate, generate_clip, write_clip

__all__ = ["GENERATOR_VERSION", "Clip", "generate", "generate_clip", "write_clip"]
