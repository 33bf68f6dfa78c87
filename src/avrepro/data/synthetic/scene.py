"""Random scenes: a shoebox room, a listener's head with a pinhole camera, 1-3 sources.

World frame: x to the right as seen by the camera (0..width), y away from the camera
(0..depth), z up (0..height). The camera sits at the listener's head and looks along +y.
Azimuth is counter-clockwise from +y seen from above (+90 = left = -x); elevation is up.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

import numpy as np

from avrepro.data.synthetic.instruments import draw_program, instrument

#: sprite size in metres (width, height) per class; unknown classes use DEFAULT_SPRITE_SIZE
SPRITE_SIZE_M = {
    "violin": (0.32, 0.6),
    "cello": (0.45, 0.85),
    "flute": (0.7, 0.16),
    "trumpet": (0.6, 0.3),
    "acoustic_guitar": (0.4, 0.75),
    "piano": (0.8, 0.45),
    "xylophone": (0.7, 0.35),
    "saxophone": (0.32, 0.65),
}
DEFAULT_SPRITE_SIZE = (0.5, 0.5)
MAX_PULSE = 1.2  # largest sprite scale factor (note onsets enlarge sprites up to this)
MIN_DISTANCE_M = 1.5
MIN_SEPARATION_M = 0.5


@dataclass(frozen=True)
class Room:
    """Shoebox room: dims (width, depth, height) in metres, wall energy absorption."""

    dims: tuple[float, float, float]
    absorption: float


@dataclass(frozen=True)
class Camera:
    """Pinhole camera at ``position`` looking along +y (right = +x, up = +z)."""

    position: tuple[float, float, float]
    hfov_deg: float
    width: int
    height: int

    @property
    def focal(self) -> float:
        """Focal length in pixels."""
        return (self.width / 2) / math.tan(math.radians(self.hfov_deg) / 2)

    @property
    def vfov_deg(self) -> float:
        return math.degrees(2 * math.atan((self.height / 2) / self.focal))

    def to_camera(self, points) -> np.ndarray:
        """World points (..., 3) -> camera coordinates (right, forward, up)."""
        return np.asarray(points, float) - np.asarray(self.position, float)

    def project(self, points) -> tuple[np.ndarray, np.ndarray]:
        """World points (..., 3) -> pixel coordinates (..., 2) (x right, y down) and depth (...,)."""
        c = self.to_camera(points)
        depth = c[..., 1]
        uv = np.stack(
            [
                self.width / 2 + self.focal * c[..., 0] / depth,
                self.height / 2 - self.focal * c[..., 2] / depth,
            ],
            axis=-1,
        )
        return uv, depth


@dataclass(frozen=True)
class Source:
    """One sound source: class, GM program and world position."""

    name: str
    class_index: int
    program: int
    position: tuple[float, float, float]
    size_m: tuple[float, float] = DEFAULT_SPRITE_SIZE


@dataclass(frozen=True)
class Scene:
    """A room, the listener (= camera) and the sources of one clip."""

    room: Room
    camera: Camera
    sources: tuple[Source, ...] = field(default_factory=tuple)

    @property
    def listener(self) -> tuple[float, float, float]:
        return self.camera.position


def direction(listener, point) -> tuple[float, float, float]:
    """(azimuth deg, elevation deg, distance m) of ``point`` seen from ``listener``."""
    dx, dy, dz = np.asarray(point, float) - np.asarray(listener, float)
    return (
        math.degrees(math.atan2(-dx, dy)),
        math.degrees(math.atan2(dz, math.hypot(dx, dy))),
        math.sqrt(dx * dx + dy * dy + dz * dz),
    )


def sprite_box(camera: Camera, position, size_m, scale: float = 1.0) -> tuple[float, float, float, float]:
    """Unclipped pixel box (x0, y0, x1, y1) of a sprite of ``size_m`` centred at ``position``."""
    (u, v), depth = camera.project(position)
    half_w = 0.5 * scale * camera.focal * size_m[0] / depth
    half_h = 0.5 * scale * camera.focal * size_m[1] / depth
    return (u - half_w, v - half_h, u + half_w, v + half_h)


def draw_room(rng: np.random.Generator, cfg: dict) -> Room:
    """Room dims and absorption drawn uniformly from ``cfg['room']`` ranges."""
    r = cfg["room"]
    dims = tuple(float(rng.uniform(*r[k])) for k in ("width", "depth", "height"))
    return Room(dims=dims, absorption=float(rng.uniform(*r["absorption"])))


def _place_source(
    rng: np.random.Generator,
    room: Room,
    camera: Camera,
    name: str,
    size: tuple[float, float],
    sources: list[Source],
    bounds: tuple[float, float, float],
    max_tries: int,
) -> tuple[float, float, float]:
    """Position of a ``name`` source of sprite ``size`` in front of ``camera``, inside ``room``
    and apart from ``sources``; ``bounds`` = (largest |azimuth| in radians, r_min, r_max).
    Rejection sampling as described in :func:`draw_scene`."""
    w, d, h = room.dims
    listener = camera.position
    az_max, r_min, r_max = bounds
    fallback = None
    for _ in range(max_tries):
        az = rng.uniform(-az_max, az_max)
        dist = rng.uniform(r_min, max(r_min, r_max))
        z = rng.uniform(1.0, 1.7)
        pos = (listener[0] - dist * math.sin(az), listener[1] + dist * math.cos(az), z)
        if not (0.3 <= pos[0] <= w - 0.3 and pos[1] <= d - 0.3 and z <= h - 0.3):
            continue
        if any(math.dist(pos, s.position) < MIN_SEPARATION_M for s in sources):
            continue
        fallback = fallback or pos
        x0, y0, x1, y1 = sprite_box(camera, pos, size, MAX_PULSE)
        if x0 >= 0 and y0 >= 0 and x1 <= camera.width and y1 <= camera.height:
            break
    else:
        if fallback is None:
            raise RuntimeError(f"no place for a {name} source in room {room.dims} after {max_tries} tries")
        pos = fallback  # sprite partly outside the frame; its boxes are clipped
    return pos


def draw_scene(
    rng: np.random.Generator, room: Room, cfg: dict, max_tries: int = 500, solo_class: int | None = None
) -> Scene:
    """Listener and sources of one clip in ``room`` (one source of class index ``solo_class``
    when it is given: a solo clip).

    The listener stands near the middle of the front wall (x = width/2 +- 10 %, y 0.6-1.0 m,
    z 1.4-1.6 m). Sources (distinct classes) are placed in front of the camera at azimuths
    within +-0.8 * hfov/2, drawn ``sprite_scale`` times the instrument's size (the player with
    the instrument; the cue must stay visible in small frames), horizontal distance 1.5 m ..
    depth - 0.5 m (or within ``cfg["distance_m"]``, e.g. close-ups for solo clips), height 1.0-1.7 m, at
    least 0.5 m apart, with their largest sprite inside the frame (rejection sampling; if no
    draw in ``max_tries`` fits the frame, the first one that fits the room is used).
    """
    w, d, _ = room.dims
    listener = (
        float(w / 2 + rng.uniform(-0.1, 0.1) * w),
        float(rng.uniform(0.6, 1.0)),
        float(rng.uniform(1.4, 1.6)),
    )
    camera = Camera(listener, float(cfg["hfov_deg"]), int(cfg["frame_width"]), int(cfg["frame_height"]))
    classes = list(cfg["classes"])
    if solo_class is None:
        n = int(rng.integers(cfg["sources"]["min"], cfg["sources"]["max"] + 1))
        n = min(n, len(classes))
        picks = rng.choice(len(classes), size=n, replace=False)
    else:
        picks = [int(solo_class)]

    az_max = math.radians(0.8 * cfg["hfov_deg"] / 2)
    r_max = max(MIN_DISTANCE_M + 0.1, d - 0.5 - listener[1])
    r_min, r_max = (
        (MIN_DISTANCE_M, r_max)
        if not cfg.get("distance_m")
        else (float(cfg["distance_m"][0]), min(r_max, float(cfg["distance_m"][1])))
    )
    sources: list[Source] = []
    for ci in picks:
        name = classes[int(ci)]
        scale = float(cfg.get("sprite_scale", 1.0))
        size = tuple(scale * v for v in SPRITE_SIZE_M.get(name, DEFAULT_SPRITE_SIZE))
        pos = _place_source(rng, room, camera, name, size, sources, (az_max, r_min, r_max), max_tries)
        sources.append(Source(name, int(ci), instrument(name).program, tuple(float(p) for p in pos), size))
    return Scene(room=room, camera=camera, sources=_with_programs(rng, sources, cfg))


def draw_surround_sources(
    rng: np.random.Generator, scene: Scene, cfg: dict, n: int, max_tries: int = 500
) -> tuple[Source, ...]:
    """Up to ``n`` extra sources around the listener that the pinhole camera does not see.

    They exist only in the 360 view and the first-order ambisonics of a clip (see
    :mod:`.render_360`), which thus cover the whole circle while the pinhole view, its binaural
    audio and ``scene.sources`` stay as they are. Classes are distinct from the scene's and from
    each other; each source is drawn at a uniform azimuth, horizontal distance 1.5 m .. the
    room's diagonal, height 1.0-1.7 m, inside the room (0.3 m from the walls), at least 0.5 m
    from every other source, with its largest sprite entirely outside the pinhole frame
    (rejection sampling; a source that finds no place in ``max_tries`` draws is left out).
    """
    w, d, h = scene.room.dims
    listener, camera = scene.listener, scene.camera
    classes = list(cfg["classes"])
    free = [i for i, name in enumerate(classes) if name not in {s.name for s in scene.sources}]
    picks = rng.choice(len(free), size=min(n, len(free)), replace=False) if n > 0 and free else []
    r_max = max(MIN_DISTANCE_M + 0.1, math.hypot(w, d))
    scale = float(cfg.get("sprite_scale", 1.0))
    taken = list(scene.sources)
    extra: list[Source] = []
    for p in picks:
        ci = free[int(p)]
        name = classes[ci]
        size = tuple(scale * v for v in SPRITE_SIZE_M.get(name, DEFAULT_SPRITE_SIZE))
        for _ in range(max_tries):
            az = rng.uniform(-math.pi, math.pi)
            dist = rng.uniform(MIN_DISTANCE_M, r_max)
            z = rng.uniform(1.0, 1.7)
            pos = (listener[0] - dist * math.sin(az), listener[1] + dist * math.cos(az), z)
            if not (0.3 <= pos[0] <= w - 0.3 and 0.3 <= pos[1] <= d - 0.3 and z <= h - 0.3):
                continue
            if any(math.dist(pos, s.position) < MIN_SEPARATION_M for s in taken):
                continue
            if camera.project(pos)[1] > 0.05:
                x0, y0, x1, y1 = sprite_box(camera, pos, size, MAX_PULSE)
                if x1 > 0 and x0 < camera.width and y1 > 0 and y0 < camera.height:
                    continue  # visible in the pinhole frame
            src = Source(name, ci, instrument(name).program, tuple(float(v) for v in pos), size)
            taken.append(src)
            extra.append(src)
            break
    return _with_programs(rng, extra, cfg)


def _with_programs(rng: np.random.Generator, sources: list[Source], cfg: dict) -> tuple[Source, ...]:
    """The sources, each playing a program drawn after every position (so positions do not depend
    on ``synthetic.performance``; see :func:`~avrepro.data.synthetic.instruments.draw_program`)."""
    perf = cfg.get("performance")
    return tuple(replace(s, program=draw_program(rng, s.name, perf)) for s in sources)
