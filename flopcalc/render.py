"""Rendering of ``tables.Table`` as Markdown, CSV, JSON text or a rich terminal table."""

import io
from itertools import repeat

from .records import row


def cell_text(value, separators: bool = True) -> str:
    """Exact ints with thousands separators (or plain digits for machines), a ``tables.Num``
    as its text (or its plain number), strings as they are."""
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}" if separators else str(value)
    if not separators and hasattr(value, "plain"):
        return value.plain
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


APPROX = "≈"  # a column restating the count before it, rounded: for people, not in CSV


def csv_columns(table) -> list[tuple[int, str]]:
    """(index, header) of the columns a CSV of ``table`` has: all but the ``≈`` ones, under
    the table's ``csv_columns`` headers where it names one (None leaves a column out)."""
    out = []
    for i, c in enumerate(table.columns):
        header = table.csv_columns.get(c, None if c == APPROX else c)
        if header is not None:
            out.append((i, header))
    return out


def to_csv(table, extra_notes=()) -> str:
    """One table as CSV: a ``# note`` comment line for its title and each note (the table's
    ``csv_notes``, then each of ``extra_notes``), a header, the rows and the total rows; every
    row as long as the header, then the table's ``csv_extra`` columns. ``summary_totals``
    (a verdict in words, as an audit's "3 of 5 wrong") are ``# Total:`` lines, not rows. Counts are plain digits,
    a ``tables.Num`` its plain number (a percentage without its ``%``: the header says %).
    A ``csv_transposed`` quantity/value table becomes one row: a column per quantity (headed
    by its ``csv_columns`` name), so that each column holds one quantity of one type."""
    import csv

    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    summary = [", ".join(t for t in (cell_text(c) for c in row) if t)
               for row in table.totals] if table.summary_totals else []
    for note in [table.title, *table.notes, *table.csv_notes, *extra_notes,
                 *(f"Total: {line}" for line in summary)]:
        buf.write(f"# {note}\n")
    if table.csv_transposed:
        rows = table.rows + table.totals
        writer.writerow([table.csv_columns.get(row[0], row[0]) for row in rows]
                        + [h for h, _ in table.csv_extra])
        writer.writerow([cell_text(row[1], False) for row in rows]
                        + [cell_text(cells[0], False) for _, cells in table.csv_extra])
        return buf.getvalue()
    columns = csv_columns(table)
    writer.writerow([header for _, header in columns] + [h for h, _ in table.csv_extra])
    for n, row in enumerate(table.rows + ([] if table.summary_totals else table.totals)):
        writer.writerow([cell_text(row[i], False) if row[i] is not None else ""
                         for i, _ in columns] + [cells[n] for _, cells in table.csv_extra])
    return buf.getvalue()


def pick_table(tables, name: str | None, csv: bool) -> tuple[list, str]:
    """(the tables to print, a note or ""): the one called ``name`` (``--table``), else every
    table, but for CSV (one table per file) only the first, with a note naming the others."""
    names = [t.name for t in tables]
    if name is not None:
        if name not in names:
            from .config import FlopcalcError
            raise FlopcalcError(f"--table {name!r}: this output's tables are "
                                f"{', '.join(n for n in names if n)}")
        return [tables[names.index(name)]], ""
    if csv and len(tables) > 1:
        others = "|".join(n for n in names[1:] if n)
        return tables[:1], (f"One of {len(tables)} tables ({names[0]}): --table {others} "
                            "picks another.")
    return tables, ""


def to_latex(table) -> str:
    """A two-column table of names and LaTeX expressions as an ``align*`` environment."""
    lines = [f"% {note}" for note in table.notes] + [r"\begin{align*}"]
    lines += [rf"\text{{{name.replace('_', chr(92) + '_')}}} &= {expr} \\"
              for name, expr in table.rows]
    lines[-1] = lines[-1].removesuffix(r" \\")
    return "\n".join(lines + [r"\end{align*}"]) + "\n"


def to_text(table, width: int | None = None) -> str:
    """A two-column table as its notes, a blank line, then ``name  value`` lines; with
    ``width``, the notes are wrapped at spaces and the values between their top-level terms
    (continuation lines indented under the value); a term longer than the room stays whole."""
    import textwrap

    names = max(len(cell_text(row[0])) for row in table.rows)
    if width is None:
        return "\n".join(table.notes + [""] + [f"{cell_text(row[0]):<{names}}  {cell_text(row[1])}"
                                               for row in table.rows]) + "\n"
    lines = [_wrap(note, width) for note in table.notes] + [""]
    for name, value in table.rows:
        line = f"{cell_text(name):<{names}}  "
        for term in _terms(cell_text(value)):
            if len(line) + len(term) > width and line.strip():
                lines.append(line.rstrip())
                term = term.lstrip()   # continued under the value, or less indented if need be
                line = " " * (names + 4 if names + 4 + len(term) <= width else 4) + term
            else:
                line += term
        lines.append(line.rstrip())
    return "\n".join(lines) + "\n"


def _terms(expression: str) -> list[str]:
    """``expression`` cut before each top-level `` + `` and `` - `` (none inside brackets),
    so that a wrapped formula breaks only between its terms."""
    terms, depth, start = [], 0, 0
    for i, c in enumerate(expression):
        depth += (c in "([") - (c in ")]")
        if depth == 0 and expression[i:i + 3] in (" + ", " - ") and i > start:
            terms.append(expression[start:i])
            start = i
    return terms + [expression[start:]]


def to_json(document: dict) -> str:
    """JSON text; every count is a JSON integer (Python ints are exact at any size)."""
    import json

    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def to_rich(table, width: int = 200):
    """A rich table of at most ``width`` characters with the notes as caption, laid out by
    ``fit`` (no number is ever cut; the columns it leaves out are named in a note), or the
    table stacked (``to_stacked``) when not even two columns fit. rich is imported only here,
    when a terminal table is drawn.
    """
    from rich.table import Table as RichTable
    from rich.text import Text

    layout = fit(table, width)
    bar_cells = layout.bars
    if layout.stacked:   # rich must not re-wrap it: a number wider than the terminal stays whole
        return Text(to_stacked(table, width, layout), no_wrap=True, overflow="ignore")
    rt = RichTable(title=table.title, caption="\n".join(table.notes + layout.notes),
                   caption_justify="left")
    for i in layout.keep:
        numeric = table.align[i] == "r"
        rt.add_column(table.columns[i], justify="right" if numeric else "left",
                      no_wrap=numeric, overflow="fold",  # numbers are never cut
                      width=layout.widths.get(i))
    if layout.bars:
        rt.add_column("share", no_wrap=True, min_width=bar_cells)
    for n, row in enumerate(table.rows):
        cells = [Text(cell_text(row[i])) for i in layout.keep]
        if layout.bars:
            cells.append(Text(share_bar(*table.shares[n], bar_cells), style="cyan"))
        rt.add_row(*cells)
    if table.totals:
        rt.add_section()
    for row in table.totals:
        rt.add_row(*(Text(cell_text(row[i])) for i in layout.keep), *([""] if layout.bars else []),
                   style="bold")
    return rt


PLAIN_ABOVE = 200     # rows: a larger table is drawn by to_plain. rich takes ~0.7 ms a row, the
#                       plain layout ~0.06 ms: here both take ~0.3 s, so no size jumps in time
_PLAIN_CHUNK = 10_000  # rows between progress calls


def to_plain(table, width: int = 200, progress=None) -> str:
    """The table as plain aligned text, quick at any size: the title, a header, one formatted
    line per row (numbers right-aligned with thousands separators), the totals under a rule,
    then the notes wrapped to ``width`` and one saying the layout is plain. The columns are
    ``fit``'s for a plain layout (two spaces between columns; text is not wrapped).
    ``progress(done, total)`` hears how far it is every ``_PLAIN_CHUNK`` rows.
    """
    rows = table.rows + table.totals
    total = 2 * len(rows)
    columns, full, whole = [], [], set()   # whole: the columns of ints, formatted in the body
    for i, column in enumerate(map(list, zip(*rows)) if rows else [[]] * len(table.columns)):
        types = set(map(type, column))
        if types == {int}:  # (a sweep's value and count columns) the widest: at an end
            whole.add(i)
            widest = max(len(f"{min(column):,}"), len(f"{max(column):,}"))
        else:
            if not types <= {str}:
                column = [f"{v:,}" if type(v) is int else cell_text(v) for v in column]
            widest = max(map(len, column), default=0)
        columns.append(column)
        full.append(max(len(table.columns[i]), widest))
        if progress:
            progress((i + 1) * len(rows) // len(table.columns), total)
    layout = fit(table, width, plain=True, full=full)
    if layout.stacked:
        if progress:
            progress(total, total)
        return to_stacked(table, width, layout)
    keep = layout.keep
    kept_whole = [i in whole for i in keep]
    columns = [columns[i] for i in keep]
    widths = [full[i] for i in keep]
    aligns = [">" if table.align[i] == "r" else "<" for i in keep]
    last = "{}" if aligns[-1] == "<" else f"{{:>{widths[-1]}}}"  # no trailing spaces
    line = "  ".join([f"{{:{a}{w}}}" for a, w in zip(aligns[:-1], widths)] + [last]).format
    rule = "  ".join("─" * w for w in widths)
    out = [table.title, line(*(table.columns[i] for i in keep)), rule]
    body = len(table.rows)
    # the body's cells padded a column at a time (ints formatted and padded at once), each
    # line joined: what ``line`` writes
    pads = [(format, f"{a}{w},") if is_int else (str.rjust if a == ">" else str.ljust, w)
            for a, w, is_int in zip(aligns, widths, kept_whole)]
    if aligns[-1] == "<":  # no trailing spaces
        pads[-1] = (format, ",") if kept_whole[-1] else None
    for start in range(0, body, _PLAIN_CHUNK):
        stop = min(start + _PLAIN_CHUNK, body)
        cells = [c[start:stop] if pad is None else _each(pad[0], c[start:stop], pad[1])
                 for c, pad in zip(columns, pads)]
        out += map("  ".join, zip(*cells))
        if progress:
            progress(len(rows) + stop, total)
    if table.totals:
        out += [rule] + [line(*cells) for cells in zip(*(
            [f"{v:,}" for v in c[body:]] if is_int else c[body:]
            for c, is_int in zip(columns, kept_whole)))]
    if progress:
        progress(total, total)
    note = (f"Plain layout: a table of more than {PLAIN_ABOVE:,} rows is drawn without a grid, "
            "which is much quicker; --format csv, markdown or json for other tools.")
    out += [_wrap(n, width) for n in table.notes + layout.notes + [note]]
    return "\n".join(out) + "\n"


def _each(function, column, *args) -> list:
    """``function(value, *args)`` of each value of ``column`` (ints or strs), in C; in a
    column of few distinct values (a sweep's swept sizes, its shares) once per value."""
    distinct = set(column)
    if len(distinct) * 4 <= len(column):
        made = {v: function(v, *args) for v in distinct}
        return list(map(made.__getitem__, column))
    return list(map(function, column, *map(repeat, args)))


def _wrap(text: str, width: int, indent: str = "") -> str:
    """``text`` wrapped at spaces to ``width``; a word (a number) is never split."""
    import textwrap

    return textwrap.fill(text, width, initial_indent=indent, subsequent_indent=indent + "  ",
                         break_long_words=False, break_on_hyphens=False)


def to_stacked(table, width: int, layout) -> str:
    """The table for a terminal too narrow for two of its columns: each row as its name, then
    one ``column: value`` line per other cell, wrapped at spaces (numbers stay whole)."""
    keep = [i for i in range(len(table.columns)) if table.columns[i] not in layout.hidden]
    out = [_wrap(table.title, width), ""]
    for n, row in enumerate(table.rows + table.totals):
        if n == len(table.rows):
            out.append("─" * min(width, 20))
        out.append(_wrap(cell_text(row[keep[0]]) or "—", width))
        for i in keep[1:]:
            value = cell_text(row[i])
            line = f"  {table.columns[i]}: {value}"
            if not value:
                continue
            if len(line) <= width or " " in value:
                out.append(_wrap(line[2:], width, "  "))
            else:   # a number on a line of its own, indented as far as it allows
                out += [f"  {table.columns[i]}:", " " * max(0, min(4, width - len(value))) + value]
    out += [""] + [_wrap(n, width) for n in table.notes + layout.notes]
    return "\n".join(out) + "\n"


@row
class Layout:
    """How a table is drawn at a width: the columns shown (in order), the widths of the text
    columns, whether the share bars fit, the columns left out and the note naming them, or
    ``stacked`` (one row after another) when not even two columns fit."""

    keep: list
    widths: dict
    bars: int       # the share bars' cells (0: no bars)
    hidden: list
    width: int
    stacked: bool = False

    @property
    def notes(self) -> list[str]:
        if not self.hidden:
            return []
        return [f"Not shown at {self.width} columns: {', '.join(self.hidden)}; --format "
                "markdown or csv shows every column."]


FOLD_AT = 12   # on a narrow terminal, a text column may fold words longer than this
WIDE = 150     # below this many columns a table's ``optional`` columns are left out


def drop_order(table, keep: list[int], word: dict) -> list[int]:
    """The order in which columns give way when a table does not fit: the table's own
    ``drop_order`` names first, then the ``≈`` columns, the text columns (the widest words
    first), then the numbers from the right. The first column (the row names) and the
    table's ``keep`` columns (a sweep's swept ones) stay."""
    named = [table.columns.index(c) for c in table.drop_order if c in table.columns]
    rest = [i for i in keep[1:] if table.columns[i] not in table.keep]
    order = named + [i for i in rest if table.columns[i] == APPROX]
    order += sorted((i for i in rest if i in word), key=lambda i: (-word[i], -i))
    order += [i for i in reversed(rest) if table.align[i] == "r"]
    seen = set()
    return [i for i in order if i in rest and not (i in seen or seen.add(i))]


def fit(table, width: int, plain: bool = False, full=None) -> Layout:
    """The one rule by which every terminal table meets the terminal's ``width``: no line
    is wider and no number is cut.

    Below ``WIDE`` columns the ``optional`` columns go. Numbers keep their full width. In a
    rich grid (a border, and 2 spaces and a rule per column) the text columns share what the
    numbers leave, each at least its longest word (the first at its longest name up to 18);
    when that is too much, in turn: without the share bars, with the first column wrapping
    its names, with words longer than ``FOLD_AT`` folded. A plain layout (``plain``: two
    spaces between columns) does not wrap. When even that does not fit, columns are left out
    in ``drop_order``; when not two columns fit, the table is ``stacked``. The columns left
    out are named in a note. ``full``: the columns' widths, when the caller has them.
    """
    rows = table.rows + table.totals
    n = len(table.columns)
    bar_cells = (20 if width >= 130 else 10) if table.shares and width >= 100 and not plain else 0
    if full is None:
        full = [max([len(table.columns[i])] + [len(cell_text(r[i])) for r in rows])
                for i in range(n)]
    keep = [i for i in range(n) if width >= WIDE or table.columns[i] not in table.optional
            or table.columns[i] in table.keep]
    word, number = {}, {}   # text columns: the longest word, the longest word with a digit
    for i in range(n):
        if table.align[i] != "r" and plain:
            word[i] = number[i] = full[i]
        elif table.align[i] != "r":
            words = [w for t in [table.columns[i]] + [cell_text(r[i]) for r in rows]
                     for w in t.split() or [""]]
            word[i] = full[i] if plain else max(map(len, words))
            number[i] = max((len(w) for w in words if any(c.isdigit() for c in w)), default=0)
    name = 0 if plain else min(18, max((len(cell_text(r[0])) for r in table.rows), default=0))

    def floors(columns, names: bool, cap: int) -> dict:
        low = {i: max(min(full[i], word[i], cap), number[i]) if not plain else full[i]
               for i in columns if i in word}   # a number in a text is not folded either
        if names and columns[0] in low:
            low[columns[0]] = min(full[columns[0]], max(low[columns[0]], name))
        return low

    def room(columns, bars: int) -> int:
        if plain:
            return width + 2 - sum(2 + (0 if i in word else full[i]) for i in columns)
        return (width - 1 - sum(3 + (0 if i in word else full[i]) for i in columns)
                - (3 + bars if bars else 0))

    def attempt(columns):
        for bars, names, cap in ((bar_cells, True, width), (0, True, width),
                                 (0, False, width), (0, False, FOLD_AT)):
            if bars and not bar_cells or plain and (bars or cap != width):
                continue
            low = floors(columns, names, cap)
            if sum(low.values()) <= room(columns, bars):
                return bars, low
        return None

    preferred = [table.columns[i] for i in range(n) if i not in keep]
    hidden = [i for i in range(n) if i not in keep]
    order = drop_order(table, keep, word)
    while (found := attempt(keep)) is None:
        if len(keep) <= 2 or not order:
            return Layout(keep, {}, 0, preferred, width, stacked=True)
        i = order.pop(0)
        keep.remove(i)
        hidden.append(i)
    bars, low = found
    space = room(keep, bars)
    level = max((full[i] for i in low), default=0)   # the widest text columns shrink to a
    while sum(max(low[i], min(full[i], level)) for i in low) > space:   # common level
        level -= 1
    return Layout(keep, {i: max(low[i], min(full[i], level)) for i in low}, bars,
                  [table.columns[i] for i in sorted(hidden)], width)


def share_bar(part: int, whole: int, width: int = 20) -> str:
    """A bar of eighth-blocks, ``width`` cells for 100% (integer arithmetic)."""
    if whole <= 0 or part <= 0:
        return ""
    eighths = (part * width * 8 * 2 + whole) // (2 * whole)
    full, rest = divmod(eighths, 8)
    return "█" * full + ("" if not rest else " ▏▎▍▌▋▊▉"[rest])
