"""Derive the packaged HRIR table (``hrir_kemar.npz``) from the MIT KEMAR SOFA file.

Run once by a maintainer (the runtime never reads the SOFA file)::

    python -m avrepro.audio.derive_hrtf \\
        --sofa /path/to/MIT_KEMAR_normal_pinna.sofa --out src/avrepro/audio/hrir_kemar.npz

(the MIT KEMAR "normal pinna" measurements in SOFA format, 710 directions at 44.1 kHz).

Steps: read ``Data.IR`` (M, 2, N) and ``SourcePosition`` (azimuth deg counter-clockwise from
the front, so +90 = left; elevation deg), resample 44.1 kHz -> ``rate`` with
``scipy.signal.resample_poly``, keep the first ``taps`` samples (every direction and ear must
keep at least ``min_energy`` of its energy), store float16 (every HRIR keeps an SNR above
``MIN_SNR_DB`` against the float64 result; ~260 kB instead of ~670 kB as float32). The npz is
written with fixed zip timestamps, so the same input gives byte-identical output (``np.savez``
stamps the wall clock).
"""

from __future__ import annotations

import argparse
import io
import zipfile
from fractions import Fraction
from pathlib import Path

import numpy as np
from scipy.signal import resample_poly

from avrepro.io import atomic_path

DEFAULT_RATE = 16000
DEFAULT_TAPS = 160
MIN_ENERGY = 0.995
MIN_SNR_DB = 60.0


def derive(
    sofa_path: str | Path, rate: int = DEFAULT_RATE, taps: int = DEFAULT_TAPS, min_energy: float = MIN_ENERGY
) -> dict[str, np.ndarray]:
    """Read, resample and truncate the SOFA HRIRs.

    Returns:
        ``{"hrir": (M, 2, taps) float16 (ear 0 = left), "azimuth_deg": (M,), "elevation_deg": (M,),
        "sample_rate": ()}``.
    Raises:
        ValueError: if truncation to ``taps`` loses more than ``1 - min_energy`` of the energy
            of any direction and ear, or float16 rounding costs more than ``MIN_SNR_DB``.
    """
    import h5py

    with h5py.File(sofa_path, "r") as f:
        ir = np.asarray(f["Data.IR"], dtype=np.float64)
        pos = np.asarray(f["SourcePosition"], dtype=np.float64)
        src_rate = float(np.asarray(f["Data.SamplingRate"]).ravel()[0])
    if ir.ndim != 3 or ir.shape[1] != 2:
        raise ValueError(f"{sofa_path}: Data.IR must be (M, 2, N), got {ir.shape}")
    ratio = Fraction(int(rate), int(round(src_rate)))
    res = resample_poly(ir, ratio.numerator, ratio.denominator, axis=-1)
    kept = (res[..., :taps] ** 2).sum(-1) / (res**2).sum(-1)
    if kept.min() < min_energy:
        raise ValueError(
            f"{taps} taps keep only {kept.min():.4f} of some HRIR's energy (need {min_energy}); use more taps"
        )
    hrir = np.ascontiguousarray(res[..., :taps], dtype=np.float16)
    err = ((hrir.astype(np.float64) - res[..., :taps]) ** 2).sum(-1) / (res[..., :taps] ** 2).sum(-1)
    snr_db = -10 * np.log10(err.max())
    if snr_db < MIN_SNR_DB:
        raise ValueError(f"float16 storage gives only {snr_db:.1f} dB SNR (need {MIN_SNR_DB})")
    return {
        "hrir": hrir,
        "azimuth_deg": np.ascontiguousarray(pos[:, 0], dtype=np.float32),
        "elevation_deg": np.ascontiguousarray(pos[:, 1], dtype=np.float32),
        "sample_rate": np.asarray(rate, dtype=np.int64),
    }


def npz_bytes(arrays: dict[str, np.ndarray]) -> bytes:
    """Deterministic npz (deflate, fixed timestamps, keys in the given order)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for key, value in arrays.items():
            arr = io.BytesIO()
            np.lib.format.write_array(arr, np.asarray(value), allow_pickle=False)
            info = zipfile.ZipInfo(f"{key}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            zf.writestr(info, arr.getvalue(), compresslevel=9)
    return buf.getvalue()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sofa", required=True, type=Path, help="MIT KEMAR SOFA file")
    parser.add_argument("--out", required=True, type=Path, help="npz to write")
    parser.add_argument("--rate", type=int, default=DEFAULT_RATE)
    parser.add_argument("--taps", type=int, default=DEFAULT_TAPS)
    args = parser.parse_args(argv)
    data = npz_bytes(derive(args.sofa, args.rate, args.taps))
    with atomic_path(args.out) as tmp:
        tmp.write_bytes(data)
    print(f"wrote {args.out} ({len(data)} bytes)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
