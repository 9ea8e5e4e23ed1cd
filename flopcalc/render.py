"""Rendering of ``tables.Table`` as Markdown, CSV, JSON text or a rich terminal table."""

from __future__ import annotations

import csv
import io
import json


def cell_text(value, separators: bool = True) -> str:
    """Exact ints with thousands separators (or plain digits for machines), strings as they are."""
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}" if separators else str(value)
    return str(value)


def _md_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")


def to_markdown(tables) -> str:
    """GitHub-flavoured pipe tables, each headed by its title and the notes that state its conventions."""
    out = []
    for t in tables:
        out.append(f"### {t.title}\n")
        out += [f"{_md_escape(note)}  " for note in t.notes]
        out.append("")
        out.append("| " + " | ".join(_md_escape(c) for c in t.columns) + " |")
        out.append("|" + "|".join("---:" if a == "r" else ":---" for a in t.align) + "|")
        for row in t.rows:
            out.append("| " + " | ".join(_md_escape(cell_text(v)) or " " for v in row) + " |")
        for row in t.totals:
            out.append("| " + " | ".join(f"**{_md_escape(cell_text(v))}**" if cell_text(v) else " "
                                         for v in row) + " |")
        out.append("")
    return "\n".join(out)


def to_csv(tables) -> str:
    """One CSV block per table: a ``# note`` comment line per note, a header, rows, total rows."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    for i, t in enumerate(tables):
        if i:
            buf.write("\n")
        for note in [t.title] + t.notes:
            buf.write(f"# {note}\n")
        writer.writerow(t.columns)
        for row in t.rows + t.totals:
            # csv writes str(v) itself for every cell but None (as ""): convert only then
            writer.writerow(row if None not in row else [cell_text(v, False) for v in row])
    return buf.getvalue()


def to_json(document: dict) -> str:
    """JSON text; every count is a JSON integer (Python ints are exact at any size)."""
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def to_rich(table, width: int = 200):
    """A rich Table with the notes as caption; on a narrow terminal the ``optional`` columns go.

    rich is imported only here, when a terminal table is drawn.
    """
    from rich.table import Table as RichTable
    from rich.text import Text

    keep = [i for i, c in enumerate(table.columns)
            if width >= 150 or c not in table.optional and (width >= 100 or c != "% of total")]
    rt = RichTable(title=table.title, caption="\n".join(table.notes), caption_justify="left")
    for i in keep:
        numeric = table.align[i] == "r"
        names = [cell_text(row[i]) for row in table.rows] if i == keep[0] else []
        rt.add_column(table.columns[i], justify="right" if numeric else "left",
                      no_wrap=numeric, overflow="fold",  # numbers are never cut
                      min_width=min(18, max(map(len, names), default=0)) or None)
    bars = bool(table.shares) and width >= 100
    bar_cells = 20 if width >= 130 else 10
    if bars:
        rt.add_column("share", no_wrap=True, min_width=bar_cells)
    for n, row in enumerate(table.rows):
        cells = [Text(cell_text(row[i])) for i in keep]
        if bars:
            cells.append(Text(share_bar(*table.shares[n], bar_cells), style="cyan"))
        rt.add_row(*cells)
    if table.totals:
        rt.add_section()
    for row in table.totals:
        rt.add_row(*(Text(cell_text(row[i])) for i in keep), *([""] if bars else []), style="bold")
    return rt


def share_bar(part: int, whole: int, width: int = 20) -> str:
    """A bar of eighth-blocks, ``width`` cells for 100% (integer arithmetic)."""
    if whole <= 0 or part <= 0:
        return ""
    eighths = (part * width * 8 * 2 + whole) // (2 * whole)
    full, rest = divmod(eighths, 8)
    return "█" * full + ("" if not rest else " ▏▎▍▌▋▊▉"[rest])
