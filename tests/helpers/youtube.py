"""A stand-in yt-dlp: a script that answers like yt-dlp for the ids of a plan (a file to copy,
`private` or `unavailable`), so YouTube-listed datasets run offline. With a ``yt-dlp.py.calls``
file beside it, each call takes 0.5 s and appends ``<id> <start> <end>`` to that file."""

from __future__ import annotations

import json
import sys
from pathlib import Path

FAKE_YTDLP = r"""
import json, os, shutil, sys, time
args = sys.argv[1:]
out = args[args.index("-o") + 1]
vid = args[-1].split("v=", 1)[1]
plan = json.load(open(sys.argv[0] + ".json"))
if os.path.exists(sys.argv[0] + ".calls"):  # record when each fetch ran (it takes 0.5 s)
    start = time.time()
    time.sleep(0.5)
    with open(sys.argv[0] + ".calls", "a") as fh:
        fh.write(f"{vid} {start} {time.time()}\n")
what = plan.get(vid, "unavailable")
if what == "private":
    msg = f"ERROR: [youtube] {vid}: Private video. Sign in if you've been granted access"
    sys.exit(print(msg, file=sys.stderr) or 1)
if what == "unavailable":
    sys.exit(print(f"ERROR: [youtube] {vid}: Video unavailable", file=sys.stderr) or 1)
shutil.copyfile(what, out)
"""


def fake_ytdlp(tmp_path: Path, plan: dict) -> str:
    """The command line (params ``ytdlp``) of a stand-in yt-dlp under ``tmp_path/bin`` that
    serves ``plan`` (id -> file to copy, ``private`` or ``unavailable``; unlisted ids: unavailable)."""
    script = tmp_path / "bin" / "yt-dlp.py"
    script.parent.mkdir(parents=True, exist_ok=True)
    script.write_text(FAKE_YTDLP)
    (tmp_path / "bin" / "yt-dlp.py.json").write_text(json.dumps({k: str(v) for k, v in plan.items()}))
    return f"{sys.executable} {script}"
