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


def to_latex(table) -> str:
    """A two-column table of names and LaTeX expressions as an ``align*`` environment."""
    lines = [f"% {note}" for note in table.notes] + [r"\begin{align*}"]
    lines += [rf"\text{{{name.replace('_', chr(92) + '_')}}} &= {expr} \\"
              for name, expr in table.rows]
    lines[-1] = lines[-1].removesuffix(r" \\")
    return "\n".join(lines + [r"\end{align*}"]) + "\n"


def to_text(table) -> str:
    """A two-column table as its notes, a blank line, then ``name  value`` lines."""
    width = max(len(cell_text(row[0])) for row in table.rows)
    return "\n".join(table.notes + [""] + [f"{cell_text(row[0]):<{width}}  {cell_text(row[1])}"
                                           for row in table.rows]) + "\n"


def to_json(document: dict) -> str:
    """JSON text; every count is a JSON integer (Python ints are exact at any size)."""
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def to_rich(table, width: int = 200):
    """A rich Table with the notes as caption; on a narrow terminal the ``optional`` columns go.

    Numbers are never cut: ``_fit`` gives the text columns the width the numbers leave (see
    there), leaving out text columns only when even that is too little (a note says which).
    rich is imported only here, when a terminal table is drawn.
    """
    from rich.table import Table as RichTable
    from rich.text import Text

    keep = kept_columns(table, width)
    names_min = min(18, max((len(cell_text(r[keep[0]])) for r in table.rows), default=0)) or None
    bars = bool(table.shares) and width >= 100
    bar_cells = 20 if width >= 130 else 10
    shown = keep
    keep, bars, widths, dropped = _fit(table, keep, width, bars and bar_cells)
    hidden = [c for i, c in enumerate(table.columns) if i not in shown] + dropped
    notes = table.notes + ([f"Not shown at {width} columns: {', '.join(hidden)}; --format "
                            "markdown or csv shows every column."] if hidden else [])
    rt = RichTable(title=table.title, caption="\n".join(notes), caption_justify="left")
    for i in keep:
        numeric = table.align[i] == "r"
        rt.add_column(table.columns[i], justify="right" if numeric else "left",
                      no_wrap=numeric, overflow="fold",  # numbers are never cut
                      width=widths.get(i),
                      min_width=names_min if i == keep[0] and i not in widths else None)
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


PLAIN_ABOVE = 200     # rows: a larger table is drawn by to_plain. rich takes ~0.7 ms a row, the
#                       plain layout ~0.06 ms: here both take ~0.3 s, so no size jumps in time
_PLAIN_CHUNK = 10_000  # rows between progress calls


def to_plain(table, width: int = 200, progress=None) -> str:
    """The table as plain aligned text, quick at any size: the title, a header, one formatted
    line per row (numbers right-aligned with thousands separators), the totals under a rule,
    then the notes wrapped to ``width`` and one saying the layout is plain. The columns are
    ``kept_columns``. ``progress(done, total)`` hears how far it is every ``_PLAIN_CHUNK`` rows.
    """
    import textwrap

    keep = kept_columns(table, width)
    rows = table.rows + table.totals
    total = 2 * len(rows)
    columns = []
    for n, i in enumerate(keep, 1):
        column = [row[i] for row in rows]
        if not all(type(v) is str for v in column):
            column = [f"{v:,}" if type(v) is int else cell_text(v) for v in column]
        columns.append(column)
        if progress:
            progress(n * len(rows) // len(keep), total)
    widths = [max(len(table.columns[i]), max(map(len, c), default=0))
              for i, c in zip(keep, columns)]
    aligns = [">" if table.align[i] == "r" else "<" for i in keep]
    last = "{}" if aligns[-1] == "<" else f"{{:>{widths[-1]}}}"  # no trailing spaces
    line = "  ".join([f"{{:{a}{w}}}" for a, w in zip(aligns[:-1], widths)] + [last]).format
    rule = "  ".join("─" * w for w in widths)
    out = [table.title, line(*(table.columns[i] for i in keep)), rule]
    body = len(table.rows)
    for start in range(0, body, _PLAIN_CHUNK):
        stop = min(start + _PLAIN_CHUNK, body)
        out += [line(*cells) for cells in zip(*(c[start:stop] for c in columns))]
        if progress:
            progress(len(rows) + stop, total)
    if table.totals:
        out += [rule] + [line(*cells) for cells in zip(*(c[body:] for c in columns))]
    if progress:
        progress(total, total)
    note = (f"Plain layout: a table of more than {PLAIN_ABOVE:,} rows is drawn without a grid, "
            "which is much quicker; --format csv, markdown or json for other tools.")
    out += [textwrap.fill(n, width) for n in table.notes + [note]]
    return "\n".join(out) + "\n"


def kept_columns(table, width: int) -> list[int]:
    """The columns shown at ``width``: the ``optional`` ones go below 150, "% of total"
    below 100."""
    return [i for i, c in enumerate(table.columns)
            if width >= 150 or c not in table.optional and (width >= 100 or c != "% of total")]


FOLD_AT = 12   # on a narrow terminal, a text column may fold words longer than this


def _fit(table, keep: list[int], width: int, bar_cells: int):
    """(columns, bars, {text column: its width}, names of the columns left out) for a rich
    table of at most ``width`` characters in which no number is cut.

    Numeric columns keep their full width (rich never wraps them; when they do not fit it
    crops the whole table). The text columns share what is left, each at least its longest
    word (the first at its longest name up to 18: names on one line), and when that is too
    much, in turn: without the share bars, with the first column wrapping its names, with
    words longer than ``FOLD_AT`` folded, and leaving out text columns, the widest first. The
    widths are fixed only when the text columns must shrink (rich's own shrinking takes no
    account of words, and a first column's minimum can push the table past ``width``).
    """
    rows = table.rows + table.totals
    texts = {i: [table.columns[i]] + [cell_text(r[i]) for r in rows] for i in keep}
    full = {i: max(map(len, texts[i])) for i in keep}
    text = [i for i in keep if table.align[i] != "r"]
    word = {i: max(len(w) for t in texts[i] for w in t.split() or [""]) for i in text}
    name = min(18, max((len(cell_text(r[keep[0]])) for r in table.rows), default=0))

    def floors(columns, names: bool, cap: int) -> dict:
        low = {i: min(full[i], word[i], cap) for i in columns if i in word}
        if names and columns[0] in low:
            low[columns[0]] = min(full[columns[0]], max(low[columns[0]], name))
        return low

    def room(columns, bars: int) -> int:  # rich's default box: a border, 2 spaces a column
        return (width - 1 - sum(3 + (0 if i in word else full[i]) for i in columns)
                - (3 + bars if bars else 0))

    keep, dropped = list(keep), []
    for bars, names, cap in ((bar_cells, True, width), (0, True, width), (0, False, width),
                             (0, False, FOLD_AT)):
        low = floors(keep, names, cap)
        if sum(low.values()) <= room(keep, bars):
            break
    else:
        for i in sorted(text[1:] if text[:1] == keep[:1] else text,
                        key=lambda i: (low[i], i), reverse=True):
            if sum(low.values()) <= room(keep, 0):
                break
            keep.remove(i)
            del low[i]
            dropped.append(i)
    space = room(keep, bars)
    if sum(full[i] for i in low) <= space or sum(low.values()) > space:
        widths = {}   # rich's own layout: it fits, or nothing fits anyway
    else:  # the widest text columns shrink to a common level, none below its floor
        level = max(full[i] for i in low)
        while sum(max(low[i], min(full[i], level)) for i in low) > space:
            level -= 1
        widths = {i: max(low[i], min(full[i], level)) for i in low}
    return keep, bool(bars), widths, [table.columns[i] for i in sorted(dropped)]


def share_bar(part: int, whole: int, width: int = 20) -> str:
    """A bar of eighth-blocks, ``width`` cells for 100% (integer arithmetic)."""
    if whole <= 0 or part <= 0:
        return ""
    eighths = (part * width * 8 * 2 + whole) // (2 * whole)
    full, rest = divmod(eighths, 8)
    return "█" * full + ("" if not rest else " ▏▎▍▌▋▊▉"[rest])
