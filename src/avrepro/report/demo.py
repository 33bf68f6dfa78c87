"""The report's "your own videos" block of a task: what its inference verb made of held-out test
clips in the DAG's demo stage (``reports/demos/<task>/demo.json`` and its media), with players."""

from __future__ import annotations

from pathlib import Path

from avrepro.io import read_json
from avrepro.report.kit import ReportContext, code, md_escape


def _number(value) -> str:
    return f"{value:.3g}" if isinstance(value, float) else md_escape(value)


def _numbers(numbers: dict) -> str:
    return ", ".join(f"{md_escape(k)} {_number(v)}" for k, v in numbers.items()) or "-"


def _media(ctx: ReportContext, folder: Path, files: list[str]) -> str:
    """Each file as ``![name](path)``: the HTML report turns mp4 into a video player and wav
    into an audio player."""
    return " ".join(f"![{md_escape(f)}]({ctx.rel(folder / f)})" for f in files) or "-"


def demo_section(ctx: ReportContext, task: str) -> str:
    """The block, or ``""`` when the run has no demo of ``task``."""
    if ctx.demo_dir is None or not (ctx.demo_dir / task / "demo.json").is_file():
        return ""
    folder = ctx.demo_dir / task
    shown = read_json(folder / "demo.json")
    verb = code(f"avrepro {shown['verb']}")
    rows = [
        f"| {md_escape(item['clip'])} | {md_escape(item['title'])} | {_numbers(item.get('numbers', {}))} "
        f"| {_media(ctx, folder, item.get('files', []))} |"
        for item in shown["items"]
    ]
    summary = shown.get("summary") or {}
    return (
        f"\n### Your own videos: {verb}\n\n"
        f"{verb} with the {code(shown['variant'])} model on {len(shown['items'])} held-out test "
        f"item(s) (rule {code('demo_' + task)}); the same command runs on any video (README, "
        '"Your own videos").\n\n'
        "| clip | what | numbers | media |\n|---|---|---|---|\n"
        + "\n".join(rows)
        + ("\n\nOver these items: " + _numbers(summary) + ".\n" if summary else "\n")
    )
