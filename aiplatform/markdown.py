"""A small Markdown reader for the guides under docs/ (our own files, the
subset they use): headings, paragraphs, lists, fenced code, tables, block
quotes, links, inline code, bold and italics. Everything is escaped first;
only the tags made here reach the page."""

import re

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe
from django.utils.text import slugify

_INLINE_CODE = re.compile(r"`([^`]+)`")
_LINK = re.compile(r"\[([^\]]+)\]\(([^)\s]+)\)")
_BOLD = re.compile(r"\*\*([^*]+)\*\*")
_ITALIC = re.compile(r"(?<![\w*])\*([^*\s][^*]*)\*(?![\w*])")
_SAFE_URL = re.compile(r"^(https?://|/|#|[\w./-]+(#[\w-]+)?$)")


def _link(match, guide_url) -> str:
    text, url = match.group(1), match.group(2)
    if url.endswith(".md") or ".md#" in url:
        # A link to another guide opens it on the site.
        name, _, anchor = url.rpartition("/")[2].partition(".md")
        target = guide_url(name)
        if target is None:  # not a guide the site shows (the README)
            return text
        url = target + anchor
    if not _SAFE_URL.match(url):
        return text
    return f'<a href="{url}">{text}</a>'


def _inline(text: str, guide_url) -> str:
    # Code spans are cut out first so nothing inside them is formatted.
    spans: list[str] = []

    def keep(match):
        spans.append(f"<code>{match.group(1)}</code>")
        return f"\x00{len(spans) - 1}\x00"

    text = _INLINE_CODE.sub(keep, escape(text))
    text = _LINK.sub(lambda match: _link(match, guide_url), text)
    text = _BOLD.sub(r"<strong>\1</strong>", text)
    text = _ITALIC.sub(r"<em>\1</em>", text)
    return re.sub(r"\x00(\d+)\x00", lambda match: spans[int(match.group(1))], text)


def _table(rows: list[str], guide_url) -> str:
    cells = [[cell.strip() for cell in row.strip().strip("|").split("|")] for row in rows]
    head, body = cells[0], [row for row in cells[2:]]
    out = ['<div class="table-wrap"><table><thead><tr>']
    out += [f"<th>{_inline(cell, guide_url)}</th>" for cell in head]
    out.append("</tr></thead><tbody>")
    for row in body:
        out.append("<tr>" + "".join(f"<td>{_inline(cell, guide_url)}</td>" for cell in row) + "</tr>")
    out.append("</tbody></table></div>")
    return "".join(out)


def render(text: str, *, guide_url) -> SafeString:
    """HTML for a guide; `guide_url(name)` is where the guide `name` is read
    on the site, or None when it is not one."""
    lines = text.splitlines()
    out: list[str] = []
    index = 0
    while index < len(lines):
        line = lines[index]
        stripped = line.strip()
        if stripped.startswith("```"):
            block = []
            index += 1
            while index < len(lines) and not lines[index].strip().startswith("```"):
                block.append(lines[index])
                index += 1
            out.append(f"<pre><code>{escape(chr(10).join(block))}</code></pre>")
        elif stripped.startswith("<!--"):
            while index < len(lines) and "-->" not in lines[index]:
                index += 1
        elif match := re.match(r"^(#{1,6})\s+(.*)$", stripped):
            level = len(match.group(1))
            title = match.group(2)
            out.append(f'<h{level} id="{slugify(title, allow_unicode=True)}">{_inline(title, guide_url)}</h{level}>')
        elif stripped.startswith("|") and index + 1 < len(lines) and re.match(r"^\|?[\s:|-]+\|?$", lines[index + 1]):
            rows = []
            while index < len(lines) and lines[index].strip().startswith("|"):
                rows.append(lines[index])
                index += 1
            out.append(_table(rows, guide_url))
            continue
        elif re.match(r"^([-*]|\d+\.)\s+", stripped):
            ordered = stripped[0].isdigit()
            items: list[str] = []
            while index < len(lines) and lines[index].strip():
                item = lines[index].strip()
                if re.match(r"^([-*]|\d+\.)\s+", item):
                    items.append(re.sub(r"^([-*]|\d+\.)\s+", "", item))
                elif items:
                    items[-1] += " " + item
                index += 1
            tag = "ol" if ordered else "ul"
            out.append(f"<{tag}>" + "".join(f"<li>{_inline(item, guide_url)}</li>" for item in items) + f"</{tag}>")
            continue
        elif stripped.startswith(">"):
            quote = []
            while index < len(lines) and lines[index].strip().startswith(">"):
                quote.append(lines[index].strip().lstrip(">").strip())
                index += 1
            out.append(f"<blockquote>{_inline(' '.join(quote), guide_url)}</blockquote>")
            continue
        elif stripped:
            paragraph = []
            while (
                index < len(lines)
                and lines[index].strip()
                and not re.match(r"^(#{1,6}\s|```|\||[-*]\s|\d+\.\s|>)", lines[index].strip())
            ):
                paragraph.append(lines[index].strip())
                index += 1
            out.append(f"<p>{_inline(' '.join(paragraph), guide_url)}</p>")
            continue
        index += 1
    return mark_safe("\n".join(out))  # noqa: S308 - built from escaped text above
