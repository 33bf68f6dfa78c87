"""The sync task: audio-visual synchronisation with Multisensory features (Owens & Efros, 2018)."""
