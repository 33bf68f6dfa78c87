"""Reading and writing the media files of a dataset (wav via soundfile, mp4 via PyAV).

Every reader turns a decoder failure into :class:`MediaError` naming the file and the
reason, so a corrupt clip is reported by ``verify`` instead of crashing a training job.
Every writer is atomic.
"""

from __future__ import annotations

import contextlib
import functools
import threading
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import soundfile as sf
from scipy.io import wavfile

from avrepro.io import NoSpaceError, atomic_path


class MediaError(ValueError):
    """A media file cannot be used; ``str(err)`` is ``"<path>: <reason>"``."""

    def __init__(self, path: str | Path, reason: str):
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{path}: {reason}")


def read_wav(path: str | Path, dtype: str = "float32") -> tuple[np.ndarray, int]:
    """Read a wav file as ``(channels, samples)`` and its sample rate.

    Raises:
        MediaError: missing, unreadable, empty, or containing NaN/Inf samples.
    """
    path = Path(path)
    if not path.is_file():
        raise MediaError(path, "file not found")
    try:
        data, rate = sf.read(str(path), dtype=dtype, always_2d=True)
    except Exception as exc:  # soundfile raises several types for corrupt files
        raise MediaError(path, f"unreadable audio ({exc})") from None
    data = np.ascontiguousarray(data.T)
    if data.shape[1] == 0:
        raise MediaError(path, "audio has no samples")
    if np.issubdtype(data.dtype, np.floating) and not np.isfinite(data).all():
        raise MediaError(path, "audio contains NaN or Inf samples")
    return data, int(rate)


def write_wav(path: str | Path, audio: np.ndarray, rate: int, subtype: str = "PCM_16") -> None:
    """Write ``(channels, samples)`` audio atomically (float input is clipped to [-1, 1] for PCM).

    ``subtype="FLOAT"`` writes 32-bit float through scipy: libsndfile would add a PEAK chunk
    stamped with the current time, and the same audio must give the same bytes.
    """
    audio = np.asarray(audio)
    if audio.ndim == 1:
        audio = audio[None]
    if np.issubdtype(audio.dtype, np.floating) and subtype.startswith("PCM"):
        audio = np.clip(audio, -1.0, 1.0)
    with atomic_path(path) as tmp:
        if subtype == "FLOAT":
            wavfile.write(tmp, rate, np.ascontiguousarray(audio.T, dtype=np.float32))
        else:
            sf.write(str(tmp), audio.T, rate, subtype=subtype, format="WAV")


# x264's instruction sets below AVX-512 (its names), for :func:`x264_params`
X264_AVX2_SETS = "MMX2,SSE,SSE2,SSE3,SSSE3,SSE4.1,SSE4.2,LZCNT,AVX,FMA3,BMI1,BMI2,AVX2,Cache64"


@functools.cache
def x264_params() -> str:
    """libx264's settings: one thread and, on a CPU with AVX-512, x264's AVX2 kernels.

    x264's AVX-512 kernels (libx264 of PyAV 18) give one of several encodings of the same
    frames, depending on what the process's memory held before (a read of memory not written):
    200 encodings of one 96x48 clip, each after decoding the last, gave 10 to 20 different
    files. Its AVX2 kernels give the encoding AVX-512 gives in the common case, byte for byte
    (50 of 50 synthetic videos), at the same speed, and always the same one
    (``tests/data/test_media_encode.py``). Every CPU with AVX-512 has the sets listed.
    """
    params = "threads=1:lookahead-threads=1"
    try:
        flags = Path("/proc/cpuinfo").read_text().split()
    except OSError:  # not Linux: x264 detects the CPU itself
        flags = []
    return f"{params}:asm={X264_AVX2_SETS}" if "avx512f" in flags else params


def write_mp4(
    path: str | Path,
    frames: np.ndarray,
    fps: int,
    audio: np.ndarray | None = None,
    audio_rate: int | None = None,
    crf: int = 18,
) -> None:
    """Encode ``(T, H, W, 3)`` uint8 frames as H.264 (yuv420p) mp4, optionally with AAC audio.

    Encoding is single-threaded with fixed settings and no creation time, so the same frames
    give byte-identical files (the video-only case; AAC muxing is for demos); see
    :func:`x264_params` for the CPU instructions it uses.
    """
    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
        raise ValueError(f"{path}: frames must be (T, H, W, 3) uint8, got {frames.shape} {frames.dtype}")
    _, height, width, _ = frames.shape
    if height % 2 or width % 2:
        raise ValueError(f"{path}: H.264 needs even frame sizes, got {width}x{height}")
    with atomic_path(path) as tmp, av.open(str(tmp), mode="w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.thread_count = 1
        stream.options = {
            "crf": str(crf),
            "preset": "medium",
            "threads": "1",
            "x264-params": x264_params(),
        }
        astream = None
        if audio is not None:
            astream = container.add_stream("aac", rate=audio_rate)
            astream.layout = "stereo" if audio.shape[0] == 2 else "mono"
        for i, img in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(img, format="rgb24")
            frame.pts = i
            frame.time_base = Fraction(1, fps)
            container.mux(stream.encode(frame))
        container.mux(stream.encode())
        if astream is not None:
            pcm = np.ascontiguousarray(np.clip(audio, -1, 1).astype(np.float32))
            aframe = av.AudioFrame.from_ndarray(pcm, format="fltp", layout=astream.layout.name)
            aframe.sample_rate = audio_rate
            aframe.pts = 0
            container.mux(astream.encode(aframe))
            container.mux(astream.encode())


@contextlib.contextmanager
def open_media(path: str | Path, failure: str) -> Iterator[av.container.InputContainer]:
    """Open a media file for reading; any decoder error inside the block becomes
    ``MediaError(path, "<failure> (<error>)")`` (a :class:`MediaError` or a full disk's
    :class:`~avrepro.io.NoSpaceError` passes through)."""
    path = Path(path)
    if not path.is_file():
        raise MediaError(path, "file not found")
    try:
        with av.open(str(path)) as container:
            yield container
    except (MediaError, NoSpaceError):
        raise
    except Exception as exc:
        raise MediaError(path, f"{failure} ({exc.__class__.__name__}: {exc})") from None


def video_stream(container: av.container.InputContainer, path: str | Path) -> av.video.stream.VideoStream:
    """The first video stream of a container opened with :func:`open_media`.

    Raises:
        MediaError: the file has no video stream.
    """
    if not container.streams.video:
        raise MediaError(path, "no video stream")
    return container.streams.video[0]


def average_fps(stream: av.video.stream.VideoStream, default: float = float("nan")) -> float:
    """A video stream's average frame rate, ``default`` where the container does not say."""
    return float(stream.average_rate) if stream.average_rate else default


def probe_mp4(path: str | Path) -> dict:
    """Container facts without decoding: fps, frame count estimate, size, audio stream presence."""
    with open_media(path, "not a readable video") as container:
        v = video_stream(container, path)
        return {
            "fps": average_fps(v),
            "frames": int(v.frames),
            "width": v.codec_context.width,
            "height": v.codec_context.height,
            "has_audio": bool(container.streams.audio),
        }


class DecodeErrors:
    """What FFmpeg reported while a block decoded (filled in by :func:`counting_decode_errors`)."""

    def __init__(self):
        self.errors = 0  # FFmpeg error messages (one per damaged slice, reference, NAL unit...)
        self.corrupt_frames = 0  # frames the decoder flagged corrupt (counted by the caller)
        self.first: str | None = None  # the first error message

    def __bool__(self) -> bool:
        return bool(self.errors or self.corrupt_frames)

    def reason(self, kind: str, n_frames: int) -> str:
        """``video: 4 decode errors, 1 of 15 frames corrupt (corrupt stream; first: ...)``."""
        first = f"; first: {self.first}" if self.first else ""
        errors = f"{self.errors} decode error{'s' * (self.errors != 1)}"
        return f"{kind}: {errors}, {self.corrupt_frames} of {n_frames} frames corrupt (corrupt stream{first})"


_ERROR_LOG = threading.Lock()
_error_log_users = {"n": 0, "level": None}


@contextlib.contextmanager
def _ffmpeg_errors_logged() -> Iterator[None]:
    """FFmpeg's log callback on (at ERROR) while any block of any thread needs it; PyAV turns it
    off by default, and then a corrupt stream's concealed errors leave no trace."""
    with _ERROR_LOG:
        if _error_log_users["n"] == 0:
            _error_log_users["level"] = av.logging.get_level()
            if _error_log_users["level"] is None or _error_log_users["level"] < av.logging.ERROR:
                av.logging.set_level(av.logging.ERROR)
        _error_log_users["n"] += 1
    try:
        yield
    finally:
        with _ERROR_LOG:
            _error_log_users["n"] -= 1
            if _error_log_users["n"] == 0 and av.logging.get_level() != _error_log_users["level"]:
                av.logging.set_level(_error_log_users["level"])


@contextlib.contextmanager
def counting_decode_errors() -> Iterator[DecodeErrors]:
    """Count FFmpeg's error messages while the block decodes; they are kept off the console.

    FFmpeg conceals a damaged stream (grey or smeared frames) and says so only in its log. The
    count is of this process's errors during the block: decode one file at a time per process
    (PyAV keeps one global count); the messages are captured for this thread.
    """
    found = DecodeErrors()
    with _ffmpeg_errors_logged():
        start = av.logging.get_last_error()[0]
        try:
            with av.logging.Capture() as logs:
                yield found
        finally:
            found.errors = av.logging.get_last_error()[0] - start
            messages = [m.strip() for level, _, m in logs if level <= av.logging.ERROR]
            found.first = messages[0] if messages else None


def read_mp4_frames(
    path: str | Path, size: tuple[int, int] | None = None, strict: bool = False
) -> tuple[np.ndarray, float]:
    """Decode every video frame as ``(T, H, W, 3)`` uint8 RGB, optionally resized to ``(W, H)``.

    ``strict``: a stream with decode errors (which FFmpeg conceals) is an error too.

    Raises:
        MediaError: missing, corrupt or truncated file, no video stream, or no decodable frame;
            in ``strict`` mode also ``video: N decode errors, M of T frames corrupt (corrupt stream; ...)``.
    """
    frames = []
    counting = counting_decode_errors() if strict else contextlib.nullcontext(DecodeErrors())
    with counting as found, open_media(path, "corrupt or truncated video") as container:
        stream = video_stream(container, path)
        stream.thread_type = "NONE"
        fps = average_fps(stream)
        for frame in container.decode(stream):
            found.corrupt_frames += bool(strict and frame.is_corrupt)
            if size is not None:
                frame = frame.reformat(width=size[0], height=size[1], format="rgb24", interpolation="AREA")
            frames.append(frame.to_ndarray(format="rgb24"))
    if not frames:
        raise MediaError(path, "no decodable video frame")
    if found:
        raise MediaError(path, found.reason("video", len(frames)))
    return np.stack(frames), fps


def read_media_audio(path: str | Path) -> tuple[np.ndarray, int]:
    """Decode the first audio stream of any media file (mp4, m4a, ...) as float32 ``(channels, samples)``
    and its sample rate. Raises :class:`MediaError` naming the file and the reason."""
    chunks = []
    with open_media(path, "unreadable audio") as container:
        if not container.streams.audio:
            raise MediaError(path, "no audio stream")
        stream = container.streams.audio[0]
        rate = int(stream.rate)
        for frame in container.decode(stream):
            arr = frame.to_ndarray()
            if not frame.format.is_planar:
                arr = arr.reshape(-1, len(frame.layout.channels)).T
            if np.issubdtype(arr.dtype, np.integer):  # s16/s32 PCM -> [-1, 1]
                arr = arr.astype(np.float32) / float(np.iinfo(arr.dtype).max)
            chunks.append(arr.astype(np.float32))
    if not chunks:
        raise MediaError(path, "no decodable audio")
    return np.concatenate(chunks, axis=1), rate


def _encode_audio(container: av.container.OutputContainer, audio: np.ndarray, rate: int) -> None:
    """Add an AAC stream to ``container`` and encode float ``(C, N)`` audio into it (1 or 2 channels)."""
    if audio.ndim != 2 or audio.shape[0] not in (1, 2):
        raise ValueError(f"audio must be (1 or 2, samples), got {audio.shape}")
    stream = container.add_stream("aac", rate=rate)
    stream.layout = "stereo" if audio.shape[0] == 2 else "mono"
    pcm = np.ascontiguousarray(np.clip(audio, -1, 1).astype(np.float32))
    step = 1 << 16
    for start in range(0, pcm.shape[1], step):
        frame = av.AudioFrame.from_ndarray(
            np.ascontiguousarray(pcm[:, start : start + step]), format="fltp", layout=stream.layout.name
        )
        frame.sample_rate, frame.pts = rate, start
        container.mux(stream.encode(frame))
    container.mux(stream.encode())


def replace_audio(video: str | Path, audio: np.ndarray, rate: int, out: str | Path) -> None:
    """Write ``out``: the video stream of ``video`` copied as is (no re-encoding) with ``audio``
    (float ``(C, N)`` at ``rate``, AAC) in place of its sound. Atomic.

    Raises:
        MediaError: ``video`` is missing, unreadable or has no video stream.
    """
    with open_media(video, "not a readable video") as src, atomic_path(out) as tmp:
        vin = video_stream(src, video)
        with av.open(str(tmp), mode="w", format="mp4") as dst:
            vout = dst.add_stream_from_template(vin)
            _encode_audio(dst, np.asarray(audio), rate)
            for packet in src.demux(vin):
                if packet.dts is None:
                    continue
                packet.stream = vout
                dst.mux(packet)


def media_duration(path: str | Path) -> float:
    """A media file's duration in seconds as its container states it (NaN when it does not)."""
    with open_media(path, "not a readable media file") as container:
        return float(container.duration) / av.time_base if container.duration else float("nan")
