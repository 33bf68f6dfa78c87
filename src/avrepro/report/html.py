"""Markdown -> a self-contained HTML page: the subset the report uses (headings, paragraphs,
lists, tables, images, links, code spans, bold); everything else is escaped text."""

from __future__ import annotations

import html
import re

_SAFE_URL = re.compile(r"^(?:[a-zA-Z][a-zA-Z0-9+.-]*:)")


def _safe_url(url: str) -> str:
    if _SAFE_URL.match(url) and not url.lower().startswith(("http:", "https:", "mailto:")):
        return "#"
    return url


_VIDEO = (".mp4", ".webm", ".mov")
_AUDIO = (".wav", ".mp3", ".ogg", ".flac")


def _embed(alt: str, url: str) -> str:
    """``![alt](url)``: a video or audio player for media files, else an image."""
    url = _safe_url(url)
    path = url.lower().split("?")[0]
    if path.endswith(_VIDEO):
        return f'<video controls preload="metadata" width="320" src="{url}" title="{alt}"></video>'
    if path.endswith(_AUDIO):
        return f'<audio controls preload="none" src="{url}" title="{alt}"></audio>'
    return f'<img src="{url}" alt="{alt}">'


def _inline(text: str) -> str:
    held: list[str] = []

    def hold(s: str) -> str:
        held.append(s)
        return f"\x00{len(held) - 1}\x00"

    text = re.sub(r"\\([\\`*\[\]|<>_#!()-])", lambda m: hold(html.escape(m.group(1))), text)
    text = re.sub(r"`([^`]+)`", lambda m: hold(f"<code>{html.escape(m.group(1))}</code>"), text)
    text = html.escape(text, quote=True)
    text = re.sub(r"!\[([^\]]*)\]\(([^)\s]+)\)", lambda m: hold(_embed(m.group(1), m.group(2))), text)
    text = re.sub(
        r"\[([^\]]+)\]\(([^)\s]+)\)", lambda m: f'<a href="{_safe_url(m.group(2))}">{m.group(1)}</a>', text
    )
    text = re.sub(r"\*\*(.+?)\*\*", r"<strong>\1</strong>", text)
    while "\x00" in text:
        text = re.sub(r"\x00(\d+)\x00", lambda m: held[int(m.group(1))], text)
    return text


def _cells(line: str) -> list[str]:
    line = line.strip()
    line = line[1:] if line.startswith("|") else line
    line = line[:-1] if line.endswith("|") and not line.endswith("\\|") else line
    return [c.strip() for c in re.split(r"(?<!\\)\|", line)]


_STYLE = (
    "body{font-family:sans-serif;max-width:62em;margin:2em auto;padding:0 1em;"
    "line-height:1.45;color:#222}table{border-collapse:collapse;margin:1em 0}"
    "th,td{border:1px solid #ccc;padding:.3em .6em}th{background:#f3f3f3}"
    "img{max-width:100%}code{background:#f3f3f3;padding:0 .2em}"
)
_LIST_ITEM = re.compile(r"^\s*- ")
_BLOCK_START = re.compile(r"^(#{1,6}\s|\s*\||\s*- )")


def markdown_to_html(md: str, title: str = "avrepro report") -> str:
    """A small, safe markdown-to-HTML converter for the report (all text is escaped)."""
    body: list[str] = []
    lines = md.splitlines()
    i = 0
    while i < len(lines):
        if not lines[i].strip():
            i += 1
            continue
        html_block, i = _block(lines, i)
        body.append(html_block)
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"<title>{html.escape(title)}</title>\n<style>{_STYLE}</style>\n</head>\n<body>\n"
        + "\n".join(body)
        + "\n</body>\n</html>\n"
    )


def _block(lines: list[str], i: int) -> tuple[str, int]:
    """The HTML of the block starting at line ``i`` (a heading, table, list or paragraph) and
    the index of the line after it."""
    line = lines[i]
    m = re.match(r"^(#{1,6})\s+(.*)$", line)
    if m:
        n = len(m.group(1))
        return f"<h{n}>{_inline(m.group(2))}</h{n}>", i + 1
    if line.lstrip().startswith("|"):
        j = i
        while j < len(lines) and lines[j].lstrip().startswith("|"):
            j += 1
        return _table(lines[i:j]), j
    if _LIST_ITEM.match(line):
        j = i
        while j < len(lines) and _LIST_ITEM.match(lines[j]):
            j += 1
        items = [f"<li>{_inline(item.strip()[2:])}</li>" for item in lines[i:j]]
        return "<ul>\n" + "\n".join(items) + "\n</ul>", j
    j = i
    while j < len(lines) and lines[j].strip() and not _BLOCK_START.match(lines[j]):
        j += 1
    return f"<p>{_inline(' '.join(p.strip() for p in lines[i:j]))}</p>", j


def _table(block: list[str]) -> str:
    """A markdown table (header, alignment rule, rows) as an HTML table."""
    header = _cells(block[0])
    rule = _cells(block[1]) if len(block) > 1 else []
    aligns = ["right" if c.endswith(":") and not c.startswith(":") else "left" for c in rule]
    aligns += ["left"] * (len(header) - len(aligns))

    def row(cells: list[str], tag: str) -> str:
        return "".join(
            f'<{tag} style="text-align:{a}">{_inline(c)}</{tag}>' for c, a in zip(cells, aligns, strict=False)
        )

    out = ["<table>", "<thead><tr>" + row(header, "th") + "</tr></thead>", "<tbody>"]
    out += ["<tr>" + row(_cells(r), "td") + "</tr>" for r in block[2:]]
    return "\n".join(out + ["</tbody>", "</table>"])
