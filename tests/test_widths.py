"""Terminal tables at every width from 40 to 200 columns: no line is wider than the terminal
and no number is cut. A column that does not fit is left out and named in a note; a table
of which not two columns fit is stacked, one row after another.

The tables are drawn through the library (``render.to_rich`` into a rich console of the
width, as the CLI draws them); a few CLI runs on top check the commands use it.
"""

from __future__ import annotations

import io
import re
from functools import lru_cache

import pytest
from cli_helpers import invoke

from flopcalc import render
from flopcalc.config import Config, Conventions, Mode

WIDTHS = range(40, 201)
HIDDEN = re.compile(r"Not shown at (\d+) columns: (.*?); --format markdown or csv")
NUMBER = re.compile(r"\d[\d,.]*\d|\d")   # a number as a table prints it: 1,862,270,976  16.87

# a text of our own for the audit's arithmetic table (the seed document is not shipped)
ARITHMETIC = """\
The QKV projection costs $2 \\cdot 128 \\cdot 768 \\cdot 2304 = 452,984,832$ FLOPs, the scores
$2 \\cdot 12 \\cdot 128 \\cdot 128 \\cdot 64 = 25,165,824$, and twelve blocks
$12 \\cdot 1,862,270,976 = 22,347,251,712$. A wrong one: $768 \\cdot 3072 = 2,359,290$.
"""


@lru_cache(maxsize=None)
def all_tables() -> dict:
    """Every command's terminal tables, named by command."""
    from flopcalc import estimates, memory, sweep, tables
    from flopcalc.analysis import flop_report, param_report, shape_report
    from flopcalc.audit.report import audit_tables, audit_text, run_audit
    from flopcalc.config import PRESETS, make_config
    from flopcalc.verify import verify

    cfg = Config()
    conv = Conventions()
    out = {
        "flops": [tables.flop_table(flop_report(cfg))],
        "flops train elementwise": [tables.flop_table(
            flop_report(cfg, Conventions(elementwise=True), Mode("train")))],
        "params": [tables.param_table(param_report(cfg))],
        "shapes": [tables.shape_table(shape_report(cfg))],
        "presets": [tables.presets_table_and_json(
            {name: param_report(make_config(name)) for name in PRESETS})[0]],
        "compare": [estimates.compare_table(cfg, conv, estimates.compare(cfg, conv))],
        "memory train": memory.memory_tables(memory.memory_report(cfg, conv, "train")),
        "sweep": [sweep.sweep_table(sweep.run(
            {}, [sweep.parse_axis("seq_len", "128:1024:x2"), sweep.parse_axis("batch", "1,8")],
            conv, Mode("forward")))],
        "verify": [tables.verify_table(verify(Config(d_model=64, n_heads=2, n_layers=1,
                                                     vocab=50, n_positions=16, seq_len=8)))],
        "audit claims": audit_tables(run_audit(None, "gpt2-document"), brief=True)[:1],
        "audit arithmetic": audit_tables(audit_text(ARITHMETIC, None), brief=True),
    }
    return out


def draw(table, width: int) -> str:
    from rich.console import Console

    console = Console(width=width, file=io.StringIO(), color_system=None)
    console.print(render.to_rich(table, width))
    return console.file.getvalue()


def numbers_of(table) -> dict[str, set[str]]:
    """Per column, the numbers its cells hold as the terminal prints them."""
    out = {}
    for i, column in enumerate(table.columns):
        cells = [render.cell_text(r[i]) for r in table.rows + table.totals]
        out[column] = {n for c in cells for n in NUMBER.findall(c)}
    return out


def check(table, width: int, text: str) -> None:
    lines = text.splitlines()
    assert max(map(len, lines)) <= width, f"wider than {width}"
    flat = " ".join(re.sub(r"[│┃]", " ", text).split())
    said = HIDDEN.search(flat)
    hidden = said[2].split(", ") if said else []
    if said:
        assert int(said[1]) == width
    shown = set(NUMBER.findall(re.sub(r"[│┃┏┓┗┛┡┩└┘├┤─━]", " ", text)))
    for column, numbers in numbers_of(table).items():
        if column in hidden:
            continue
        missing = numbers - shown
        assert not missing, f"{column!r} at {width}: {sorted(missing)[:3]} cut or missing"


def widths_to_draw(layouts: dict) -> list[int]:
    """Where the layout (``layouts``: by width) changes (and the width before), and every
    40th: the bands in which tables used to be cut are the widths just below a change."""
    draw_at = {40, 80, 120, 160, 200}
    before = None
    for w in WIDTHS:
        layout = layouts[w]
        key = (tuple(layout.keep), layout.stacked)
        if key != before:
            draw_at |= {w - 1, w} & set(WIDTHS)
        before = key
    return sorted(draw_at)


CASES = [(name, n) for name, ts in all_tables().items() for n in range(len(ts))]


def grid_width(table, layout) -> int:
    """The width of a rich grid of ``layout``: a border, and per column its width, two spaces
    and a rule; a number column is as wide as its widest cell or header (computed here)."""
    def full(i):
        return max([len(table.columns[i])] + [len(render.cell_text(r[i]))
                                              for r in table.rows + table.totals])
    bars = 3 + layout.bars if layout.bars else 0     # the share bars' column
    return 1 + sum(3 + layout.widths.get(i, full(i)) for i in layout.keep) + bars


@pytest.mark.parametrize("name,index", CASES, ids=[f"{n}-{i}" for n, i in CASES])
def test_every_table_fits_every_width_without_cutting_a_number(name, index):
    table = all_tables()[name][index]
    layouts = {width: render.fit(table, width) for width in WIDTHS}   # fit: a pure function
    for width, layout in layouts.items():   # every width: the layout has every column, fits
        assert layout.stacked or set(layout.keep) | {
            table.columns.index(c) for c in layout.hidden} == set(range(len(table.columns)))
        assert layout.stacked or grid_width(table, layout) <= width
    for width in widths_to_draw(layouts):   # drawn: rich draws the grid the layout planned
        text = draw(table, width)
        check(table, width, text)
        layout = layouts[width]
        if not layout.stacked:
            top = next(ln for ln in text.splitlines() if ln.startswith("┏"))
            assert len(top) == grid_width(table, layout)


def test_a_table_too_narrow_for_two_columns_is_stacked_with_whole_numbers():
    from flopcalc.tables import Table

    t = Table("Huge", ["a note"], ["name", "count", "other"], "lrr",
              rows=[["a", 10 ** 25, 10 ** 24], ["b", 7, 8]])   # 10**25 is 34 wide
    text = draw(t, 40)
    assert max(map(len, text.splitlines())) <= 40
    assert f"{10 ** 25:,}" in text and f"{10 ** 24:,}" in text
    assert "b\n  count: 7\n  other: 8" in text


def test_the_plain_layout_of_a_large_table_fits_as_well():
    from flopcalc import sweep

    result = sweep.run({}, [sweep.parse_axis("seq_len", "1:30:+1")], Conventions(),
                       Mode("forward"))
    table = sweep.sweep_table(result)
    for width in (40, 63, 80, 120):
        text = render.to_plain(table, width)
        assert max(map(len, text.splitlines())) <= width
        kept = text.splitlines()[1].split()
        assert all(f"{t:,}" in text for _, _, t in result.rows)   # totals always stay
        if len(kept) < len(table.columns) - 1:
            assert "Not shown at" in text


@pytest.mark.parametrize("args,width", [
    (("flops",), 46), (("flops",), 57), (("presets",), 63), (("compare",), 49),
    (("memory",), 41), (("verify", "--layers", "1", "--d-model", "64", "--heads", "2",
                        "--seq-len", "8", "--vocab", "50", "--n-positions", "16"), 40),
    (("audit", "--claims", "gpt2-document"), 50), (("params",), 40), (("shapes",), 44),
    (("sweep", "--seq-len", "128:1024:x2"), 45),
])
def test_the_commands_draw_their_tables_within_the_terminal(args, width):
    result = invoke(*args, env={"COLUMNS": str(width), "TERMINAL_WIDTH": str(width)})
    assert result.exit_code in (0, 1), result.stderr
    assert max(map(len, result.stdout.splitlines())) <= width
    wide = set(NUMBER.findall(invoke(*args).stdout))   # at 250 columns
    cut = set(NUMBER.findall(result.stdout)) - wide - {str(width)}   # 9,880,928,25 (…256)
    assert not cut, sorted(cut)[:5]


def test_a_table_written_to_a_file_is_as_wide_as_one_written_to_a_pipe(tmp_path):
    target = tmp_path / "flops.txt"
    env = {"COLUMNS": "80", "TERMINAL_WIDTH": "80"}
    assert invoke("flops", "-o", target, env=env).exit_code == 0
    piped = invoke("flops", env=env).stdout
    assert target.read_text(encoding="utf-8") == piped
    assert max(map(len, piped.splitlines())) == 80
