"""Video helpers: perspective viewpoints of equirectangular (360) frames (:mod:`.viewpoints`)."""
