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


def _inline(text: str) -> str:
    held: list[str] = []

    def hold(s: str) -> str:
        held.append(s)
        return f"\x00{len(held) - 1}\x00"

    text = re.sub(r"\\([\\`*\[\]|<>_#!()-])", lambda m: hold(html.escape(m.group(1))), text)
    text = re.sub(r"`([^`]+)`", lambda m: hold(f"<code>{html.escape(m.group(1))}</code>"), text)
    text = html.escape(text, quote=True)
    text = re.sub(r"!\[([^\]]*)\]\(([^)\s]+)\)",
                  lambda m: hold(f'<img src="{_safe_url(m.group(2))}" alt="{m.group(1)}">'), text)
    text = re.sub(r"\[([^\]]+)\]\(([^)\s]+)\)",
                  lambda m: f'<a href="{_safe_url(m.group(2))}">{m.group(1)}</a>', text)
    text = re.sub(r"\*\*(.+?)\*\*", r"<strong>\1</strong>", text)
    while "\x00" in text:
        text = re.sub(r"\x00(\d+)\x00", lambda m: held[int(m.group(1))], text)
    return text


def _cells(line: str) -> list[str]:
    line = line.strip()
    line = line[1:] if line.startswith("|") else line
    line = line[:-1] if line.endswith("|") and not line.endswith("\\|") else line
    return [c.strip() for c in re.split(r"(?<!\\)\|", line)]


def markdown_to_html(md: str, title: str = "avrepro report") -> str:
    """A small, safe markdown-to-HTML converter for the report (all text is escaped)."""
    body: list[str] = []
    lines = md.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        if not line.strip():
            i += 1
            continue
        m = re.match(r"^(#{1,6})\s+(.*)$", line)
        if m:
            n = len(m.group(1))
            body.append(f"<h{n}>{_inline(m.group(2))}</h{n}>")
            i += 1
            continue
        if line.lstrip().startswith("|"):
            block = []
            while i < len(lines) and lines[i].lstrip().startswith("|"):
                block.append(lines[i])
                i += 1
            header = _cells(block[0])
            rule = _cells(block[1]) if len(block) > 1 else []
            aligns = ["right" if c.endswith(":") and not c.startswith(":") else "left" for c in rule]
            aligns += ["left"] * (len(header) - len(aligns))
            out = ["<table>", "<thead><tr>"
                   + "".join(f'<th style="text-align:{a}">{_inline(c)}</th>' for c, a in zip(header, aligns))
                   + "</tr></thead>", "<tbody>"]
            for row in block[2:]:
                out.append("<tr>" + "".join(f'<td style="text-align:{a}">{_inline(c)}</td>'
                                            for c, a in zip(_cells(row), aligns)) + "</tr>")
            body.append("\n".join(out + ["</tbody>", "</table>"]))
            continue
        if re.match(r"^\s*- ", line):
            items = []
            while i < len(lines) and re.match(r"^\s*- ", lines[i]):
                items.append(f"<li>{_inline(lines[i].strip()[2:])}</li>")
                i += 1
            body.append("<ul>\n" + "\n".join(items) + "\n</ul>")
            continue
        para = []
        while (i < len(lines) and lines[i].strip() and not re.match(r"^(#{1,6}\s|\s*\||\s*- )", lines[i])):
            para.append(lines[i].strip())
            i += 1
        body.append(f"<p>{_inline(' '.join(para))}</p>")
    style = ("body{font-family:sans-serif;max-width:62em;margin:2em auto;padding:0 1em;"
             "line-height:1.45;color:#222}table{border-collapse:collapse;margin:1em 0}"
             "th,td{border:1px solid #ccc;padding:.3em .6em}th{background:#f3f3f3}"
             "img{max-width:100%}code{background:#f3f3f3;padding:0 .2em}")
    return ("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
            f"<title>{html.escape(title)}</title>\n<style>{style}</style>\n</head>\n<body>\n"
            + "\n".join(body) + "\n</body>\n</html>\n")


