"""Procedural audio-visual scenes: shoebox rooms, GM-soundfont instruments, KEMAR binaural audio.

Modules, lowest first (each imports only those above it): :mod:`.instruments` (phrases rendered
from the soundfont), :mod:`.scene` (random rooms, listener/camera and sources), :mod:`.room`
(image sources + HRIRs -> binaural RIRs, RT60), :mod:`.recording` (the camera
microphone's low cut and noise floor), :mod:`.stems` (dry stems at random levels),
:mod:`.surfaces` (room textures and lighting), :mod:`.sprites` (animated source sprites),
:mod:`.render_video` (pinhole frames and per-frame source boxes), :mod:`.render_360` (FOA and
equirectangular frames), :mod:`.generate` (one clip, the dataset).
"""

from avrepro.data.synthetic.generate import GENERATOR_VERSION, Clip, generate, generate_clip, write_clip

__all__ = ["GENERATOR_VERSION", "Clip", "generate", "generate_clip", "write_clip"]
