"""avrepro: a reproducible experiment pipeline for audio-visual deep learning."""

__version__ = "0.1.0"
