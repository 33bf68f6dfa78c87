"""Sound separation and localization: The Sound of Pixels / PixelPlayer (Zhao et al., ECCV 2018)."""
