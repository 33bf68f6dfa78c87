"""``avrepro binauralize``: binaural sound for any video, predicted by a trained model with the
evaluation's sliding windows (:func:`~avrepro.tasks.binaural.evaluate.predict_binaural`), and the
DAG's demo of it on held-out test clips.

The input is the video's track or a wav (``--audio``), decoded and resampled to the model's rate
and quantized as the feature cache does (:func:`~avrepro.data.media_clips.decode_clip`), so a
clip of the dataset with its binaural wav gives the evaluation's prediction. A stereo input is
the reference pair the evaluation mixes (L + R, each window scaled by the pair's level); a mono
track is that mixture (:func:`reference_pair`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from torch import nn
from tqdm import tqdm

from avrepro.data.media_clips import MediaClips, decode_clip
from avrepro.media import MediaError, replace_audio, write_wav
from avrepro.metrics.binaural import clip_metrics
from avrepro.tasks.binaural.baselines import mono_mono
from avrepro.tasks.binaural.data import window_samples
from avrepro.tasks.binaural.evaluate import (
    FrameFeatures,
    frame_mode,
    predict_binaural,
    sliding_hop,
    window_frames,
)
from avrepro.tasks.binaural.sliding import window_starts

EVAL_KEYS = ("hop_seconds", "batch_windows", "fusion_output")
"""The ``eval`` settings the sliding-window prediction reads."""
WAV_SUBTYPE = "FLOAT"
"""OUT.wav: 32-bit float stereo, the prediction as computed (no quantization, no clipping)."""


def check_eval_settings(cfg: dict) -> None:
    """Raise ``ValueError`` when the model's configuration lacks the ``eval`` settings."""
    missing = [k for k in EVAL_KEYS if k not in cfg.get("eval", {})]
    if missing:
        raise ValueError(
            f"binaural eval settings missing ({', '.join(missing)}): pass --params with the params "
            f"file the model was trained with (and --profile)"
        )


def output_paths(video: Path, out: Path, wav_only: bool) -> tuple[Path | None, Path]:
    """``(OUT.mp4 or None with --wav-only, OUT.wav)``; raise ``ValueError`` for an output that
    would overwrite the input or an mp4 named ``.wav``."""
    wav = out.with_suffix(".wav")
    if out.suffix.lower() == ".wav" and not wav_only:
        raise ValueError(
            f"{out}: the output is a video (OUT.mp4, OUT.wav beside it); for the wav alone add --wav-only"
        )
    mp4 = None if wav_only else out
    for path in (mp4, wav):
        if path is not None and path.resolve() == video.resolve():
            raise ValueError(f"{path}: the output would overwrite the input video")
    return mp4, wav


def reference_pair(audio: np.ndarray, path: Path) -> np.ndarray:
    """The ``(2, N)`` pair the sliding windows read (their input is its mixture L + R, scaled by
    its level per window): a stereo input as is (the evaluation's mixture of a binaural pair); a
    mono track ``m`` as ``(m, 0)``, whose mixture is ``m`` and whose level, ``rms(m) / sqrt(2)``,
    is that of a pair with uncorrelated ears (the default test pairs' median ratio of mixture to
    pair level is 1.47; equal ears, ``(m/2, m/2)``, would give 2). On 21 default test clips' mixtures
    the trained ``backbone`` scores an STFT distance of 1.799 this way, 1.825 with equal ears, 1.793
    from the true pairs (``full``: 1.857, 1.857, 1.860).

    Raises:
        MediaError: neither mono nor stereo.
    """
    if audio.shape[0] == 2:
        return audio
    if audio.shape[0] == 1:
        return np.concatenate([audio, np.zeros_like(audio)])
    raise MediaError(
        path, f"{audio.shape[0]} audio channels; binauralize takes mono or stereo sound (down-mix it first)"
    )


def check_length(n_samples: int, window: int, sample_rate: int, path: Path) -> None:
    """Raise :class:`MediaError` for audio shorter than one window of the model."""
    if n_samples < window:
        raise MediaError(
            path,
            f"{n_samples / sample_rate:.3f} s of audio is shorter than one window of the model "
            f"({window / sample_rate:.3f} s)",
        )


def predict_pair(
    net: nn.Module, cfg: dict, pair: np.ndarray, frames: np.ndarray, fps: float, progress: bool = True
) -> np.ndarray:
    """The evaluation's sliding-window prediction ``(2, N)`` of the pair's mixture with the
    frames ``(T, H, W, 3)`` at ``fps``: the frames encoded first, all at once (as the evaluation
    does), then a batch of ``eval.batch_windows`` windows at a time, with a progress bar on stderr
    (a long video's windows are never all in memory)."""
    rate = cfg["features"]["sample_rate"]
    n = window_samples(cfg["audio"], rate)
    starts = window_starts(pair.shape[-1], n, sliding_hop(cfg["eval"], rate))
    feats = FrameFeatures(net, cfg, frames, frame_mode(net))
    feats.encode(window_frames(starts, n, rate, fps, len(frames)))
    with tqdm(total=len(starts), desc="binauralize", unit="window", disable=not progress) as bar:
        batch = cfg["eval"]["batch_windows"]
        return predict_binaural(net, cfg, pair, feats, rate, fps, chunk=batch, on_chunk=bar.update)


def write_outputs(video: Path, audio: np.ndarray, rate: int, mp4: Path | None, wav: Path | None) -> float:
    """Write ``wav`` (:data:`WAV_SUBTYPE`) and ``mp4`` (``video``'s stream copied, ``audio`` as
    AAC, scaled down if its peak passes 1 so that nothing clips); return that gain."""
    gain = 1.0 / max(1.0, float(np.max(np.abs(audio))))
    if wav is not None:
        write_wav(wav, audio, rate, subtype=WAV_SUBTYPE)
    if mp4 is not None:
        replace_audio(video, audio * gain, rate, mp4)
    return gain


def binauralize_video(
    net: nn.Module,
    cfg: dict,
    video: Path,
    out: Path,
    audio: Path | None = None,
    wav_only: bool = False,
    progress: bool = True,
) -> dict:
    """Predict ``video``'s binaural sound from its track (or the wav ``audio``) and write
    OUT.mp4 and OUT.wav; return what was done (JSON-able).

    Raises:
        MediaError: an unusable input (not a video, no audio stream, more than two channels,
            shorter than one window).
    """
    check_eval_settings(cfg)
    mp4, wav = output_paths(video, out, wav_only)
    wav.parent.mkdir(parents=True, exist_ok=True)
    rate = cfg["features"]["sample_rate"]
    size = (cfg["features"]["frame_width"], cfg["features"]["frame_height"])
    clips = MediaClips([decode_clip(video, rate, size, audio=audio)], rate)
    source = clips.clips[0].audio_path
    pair = reference_pair(clips.audio_float(0), source)
    check_length(pair.shape[-1], window_samples(cfg["audio"], rate), rate, source)
    pred = predict_pair(net, cfg, pair, clips.frames(0), clips.fps, progress)
    gain = write_outputs(video, pred, rate, mp4, wav)
    return {
        "video": str(video),
        "audio_source": str(source),
        "input_channels": int(clips.channels),
        "seconds": pred.shape[-1] / rate,
        "fps": clips.fps,
        "sample_rate": rate,
        "fusion_output": cfg["eval"]["fusion_output"],
        "out_mp4": str(mp4) if mp4 else None,
        "out_wav": str(wav),
        "wav_format": "32-bit float stereo",
        "mp4_gain": gain,
    }


def demo_clip(net: nn.Module, cfg: dict, clip: dict, out_dir: Path) -> dict:
    """The verb on one test clip with its binaural wav (the evaluation's input): write
    ``<clip>_binaural.mp4`` and ``<clip>_mono.mp4`` (the mono input) and score both."""
    rate = cfg["features"]["sample_rate"]
    size = (cfg["features"]["frame_width"], cfg["features"]["frame_height"])
    decoded = decode_clip(clip["video"], rate, size, audio=clip["audio"], meta=clip.get("meta"))
    clips = MediaClips([decoded], rate)
    if clips.channels != 2:
        raise MediaError(
            decoded.audio_path, f"{clips.channels} audio channels; the demo needs a binaural pair"
        )
    true = clips.audio_float(0)
    pred = predict_pair(net, cfg, true, clips.frames(0), clips.fps, progress=False)
    mono = mono_mono(true)
    cid = str(clip["clip_id"])
    files = [f"{cid}_binaural.mp4", f"{cid}_mono.mp4"]
    write_outputs(decoded.video_path, pred, rate, out_dir / files[0], None)
    write_outputs(decoded.video_path, mono[:1], rate, out_dir / files[1], None)
    ours, base = clip_metrics(pred, true, cfg["audio"]), clip_metrics(mono, true, cfg["audio"])
    numbers = {**ours, **{f"mono_mono_{k}": v for k, v in base.items()}}
    return {
        "title": f"{cid}: predicted binaural vs the mono input",
        "clip": cid,
        "files": files,
        "numbers": numbers,
    }


def demo_clips(net: nn.Module, cfg: dict, clips: list[dict], out_dir: Path, progress: bool = True) -> dict:
    """:func:`demo_clip` on each held-out clip; the summary is the mean of each number."""
    check_eval_settings(cfg)
    out_dir.mkdir(parents=True, exist_ok=True)
    items = [demo_clip(net, cfg, c, out_dir) for c in tqdm(clips, desc="demo binaural", disable=not progress)]
    keys = items[0]["numbers"] if items else {}
    summary = {k: float(np.mean([it["numbers"][k] for it in items])) for k in keys}
    return {"items": items, "summary": {"n_clips": len(items), **summary}}
