"""`flopcalc sweep`: range syntax, grids, invalid points, and every row equal to a
single-config `flop_report` run, on the compiled path and the per-point path alike."""

from __future__ import annotations

import csv
import io
import json
import random
from itertools import product

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from cli_helpers import invoke, one_line_error

from flopcalc import Config, Conventions, FlopcalcError, flop_report, render
from flopcalc.config import Mode
from flopcalc import sweep as sw
from flopcalc.sweep import (AXES, MODE_AXES, Axis, parse_axis, run, share_columns, shares,
                            stream, sweep_json, sweep_table)
from flopcalc.tables import percent
from fuzz_helpers import examples

# Range syntax -----------------------------------------------------------------------------


@pytest.mark.parametrize("text, values, geometric", [
    ("128:8192:x2", (128, 256, 512, 1024, 2048, 4096, 8192), True),
    ("128:1024:+128", (128, 256, 384, 512, 640, 768, 896, 1024), False),
    ("100:1000:x3", (100, 300, 900), True),           # STOP only when reached exactly
    ("1:10:+4", (1, 5, 9), False),
    ("256,512,768", (256, 512, 768), False),
    (" 768 ", (768,), False),
    ("64:64:+1", (64,), False),
])
def test_parse_axis_lists_and_ranges(text, values, geometric):
    axis = parse_axis("seq_len", text)
    assert (axis.name, tuple(axis.values), axis.geometric) == ("seq_len", values, geometric)
    assert len(axis.values) == len(values) and axis.values[-1] == values[-1]


@pytest.mark.parametrize("text", ["", "128:8192", "128:8192:*2", "128:8192:x1", "128:8192:+0",
                                  "0:8:x2", "8:4:+1", "1.5", "a,b", "256,,512", "-1", "0",
                                  "128:8192:x2:1", "1e3"])
def test_parse_axis_rejects_bad_syntax_naming_the_option(text):
    with pytest.raises(FlopcalcError, match="^--seq-len"):
        parse_axis("seq_len", text)


def test_parse_axis_refuses_absurd_sizes():
    with pytest.raises(FlopcalcError, match="more than"):
        parse_axis("batch", "1:1000000000:+1")


@pytest.fixture
def any_digits():
    """Ints of any length convert to and from text, as in the CLI (``cli.run``)."""
    import sys
    limit = sys.get_int_max_str_digits()
    sys.set_int_max_str_digits(0)
    yield
    sys.set_int_max_str_digits(limit)


def test_a_range_is_counted_not_built(any_digits):
    # within the 10,000,000-point limit: 9,999,999 values, none made yet
    axis = parse_axis("seq_len", "1:9999999:+1")
    assert len(axis.values) == 9_999_999 and axis.values[-1] == 9_999_999
    # 10**20000 lies between 2**66438 and 2**66439 (its binary length is 66,439 digits)
    huge = parse_axis("seq_len", f"1:{10 ** 20000}:x2")
    assert len(huge.values) == 66_439 and huge.values[-1] == 2 ** 66_438
    assert list(parse_axis("seq_len", "3:81:x3").values) == [3, 9, 27, 81]
    assert list(parse_axis("seq_len", "3:80:x3").values) == [3, 9, 27]


@settings(max_examples=examples(200), deadline=None)
@given(st.integers(1, 10**6), st.integers(0, 10**40), st.integers(2, 40))
def test_geometric_counts_equal_the_progression(start, extra, factor):
    stop = start + extra
    powers = [start]
    while powers[-1] * factor <= stop:
        powers.append(powers[-1] * factor)
    axis = parse_axis("seq_len", f"{start}:{stop}:x{factor}")
    assert len(axis.values) == len(powers) and list(axis.values) == powers


def test_eight_huge_axes_are_refused_before_any_value_is_made():
    names = ["d_model", "n_heads", "n_layers", "d_ff", "vocab", "n_positions", "seq_len",
             "batch"]
    args = [a for n in names for a in (AXES[n], "1:9999999:+1")]
    assert f"the sweep has {9_999_999 ** 8:,} points" in one_line_error(invoke("sweep", *args))


# Rows equal single-config runs ---------------------------------------------------------------

NAMES = ["d_model", "n_heads", "n_layers", "d_ff", "vocab", "n_positions", "seq_len", "batch",
         "position", "prompt", "new_tokens"]
SMALL = {"d_model": (1, 48), "n_heads": (1, 6), "n_layers": (1, 4), "d_ff": (1, 64),
         "vocab": (1, 300), "n_positions": (1, 40), "seq_len": (1, 40), "batch": (1, 3),
         "position": (1, 40), "prompt": (1, 30), "new_tokens": (1, 12)}


@st.composite
def sweeps(draw):
    """A small base, one or two swept dimensions (some points invalid), conventions and mode."""
    h = draw(st.integers(1, 4))
    base = dict(d_model=h * draw(st.integers(1, 8)), n_heads=h,
                n_layers=draw(st.integers(1, 3)), d_ff=draw(st.none() | st.integers(1, 64)),
                vocab=draw(st.integers(1, 300)), n_positions=draw(st.integers(24, 40)),
                seq_len=draw(st.integers(1, 24)), batch=draw(st.integers(1, 3)),
                fused_qkv=draw(st.booleans()), bias=draw(st.booleans()),
                tied_lm_head=draw(st.booleans()))
    if base["d_ff"] is None:
        del base["d_ff"]
    kind = draw(st.sampled_from(["forward", "backward", "train", "decode", "generate"]))
    relevant = {"decode": ("position",), "generate": ("prompt", "new_tokens")}.get(kind, ())
    sweepable = [n for n in NAMES if n not in MODE_AXES or n in relevant]
    names = draw(st.lists(st.sampled_from(sweepable), min_size=1, max_size=2, unique=True))
    axes = []
    for name in names:
        lo, hi = SMALL[name]
        values = draw(st.lists(st.integers(lo, hi), min_size=1, max_size=4, unique=True))
        axes.append(Axis(name, tuple(values)))
        base.pop(name, None)
    conv = Conventions(flops_per_mac=draw(st.sampled_from([1, 2])),
                       attention=draw(st.sampled_from(["dense", "causal"])),
                       elementwise=draw(st.booleans()), embeddings=draw(st.booleans()),
                       lm_head=draw(st.booleans()))
    fixed = {k: draw(st.none() | st.integers(1, 12)) for k in relevant if k not in names}
    mode = Mode(kind, recompute=kind == "train" and draw(st.booleans()), **fixed)
    return base, axes, conv, mode


def single_runs(base, axes, conv, mode):
    """What `flopcalc flops` gives at each point, or None where the point is not a model."""
    out = []
    for values in product(*(a.values for a in axes)):
        point = dict(zip((a.name for a in axes), values))
        try:
            cfg = Config(**base, **{k: v for k, v in point.items() if k not in MODE_AXES})
            m = Mode(mode.kind, mode.recompute,
                     **{k: point.get(k, getattr(mode, k)) for k in MODE_AXES})
            report = flop_report(cfg, conv, m)
        except FlopcalcError:
            out.append(None)
            continue
        n = cfg.n_layers
        out.append((values, tuple(r.flops * (n if r.op.section == "block" else 1)
                                  for r in report.rows), report.total))
    return out


@settings(max_examples=examples(30), deadline=None)
@given(sweeps())
def test_sweep_rows_equal_single_config_runs_on_both_paths(sweep):
    base, axes, conv, mode = sweep
    expected = single_runs(base, axes, conv, mode)
    valid = [e for e in expected if e is not None]
    for fast in (False, True):
        if not valid:
            with pytest.raises(FlopcalcError, match="no valid point"):
                run(base, axes, conv, mode, skip_invalid=True, fast=fast)
            continue
        result = run(base, axes, conv, mode, skip_invalid=True, fast=fast)
        assert [(v[:len(axes)], f, t) for v, f, t in result.rows] == valid
        assert result.skipped == len(expected) - len(valid)
        for (v, _, _), values in zip(result.rows, [e[0] for e in valid]):
            if len(result.columns) > len(axes):       # d_ff follows the swept d_model
                assert v[-1] == 4 * v[result.columns.index("d_model")]
        if None in expected:
            with pytest.raises(FlopcalcError, match="^sweep point "):
                run(base, axes, conv, mode, fast=fast)


def test_compiled_path_on_a_grid_matches_first_principles():
    # GPT-2 small, dense, matmul-only, one forward pass: per block 2BL(4D² + 2DF) + 4BL²D
    axes = [parse_axis("d_model", "256,512,768"), parse_axis("seq_len", "128:1024:x2")]
    result = run({"n_heads": 4}, axes, Conventions(), Mode(), fast=True)
    assert len(result.rows) == 12 and result.columns == ("d_model", "seq_len", "d_ff")
    for (d, seq, dff), _, total in result.rows:
        assert dff == 4 * d
        block = 2 * seq * (4 * d * d + 2 * d * dff) + 4 * seq * seq * d
        assert total == 12 * block + 2 * seq * d * 50257


def test_a_derived_d_ff_is_four_d_model_in_runs_and_point_by_point():
    # 64 seq_len values: counted in runs (Blocks); their d_ff column follows each d_model
    # as the points counted one by one do (n_heads 3 does not divide 256: those skipped)
    axes = [parse_axis("d_model", "192,256,384"), parse_axis("n_heads", "3,4"),
            parse_axis("seq_len", "1:64:+1")]
    for fast in (True, False):
        result = run({"n_positions": 64}, axes, Conventions(), Mode(), skip_invalid=True,
                     fast=fast)
        assert result.columns == ("d_model", "n_heads", "seq_len", "d_ff")
        assert len(result.rows) == 5 * 64 and result.skipped == 64
        for (d, h, seq, dff), _, total in result.rows:
            assert dff == 4 * d
            block = 2 * seq * (4 * d * d + 2 * d * 4 * d) + 4 * seq * seq * d
            assert total == 12 * block + 2 * seq * d * 50257


def test_first_bad_point_is_named():
    axes = [parse_axis("d_model", "768,1000,960"), parse_axis("seq_len", "128,2048")]
    for fast in (False, True):
        with pytest.raises(FlopcalcError) as e:
            run({}, axes, Conventions(), Mode(), fast=fast)
        assert str(e.value) == ("sweep point d_model=768, seq_len=2048: seq_len (2048) exceeds "
                                "n_positions (1024): GPT-2 has no position embedding beyond "
                                "1024; lower --seq-len or raise --n-positions (or add "
                                "--skip-invalid to leave such points out)")
        result = run({}, axes, Conventions(), Mode(), skip_invalid=True, fast=fast)
        assert [r[0][:2] for r in result.rows] == [(768, 128), (960, 128)]
        assert (result.skipped, result.first_skipped) == (4, "d_model=768, seq_len=2048")


def test_shares_are_tables_percent():
    parts = (0, 1, 5, 7, 333_333, 10**20)
    total = sum(parts)
    assert shares(parts, total) == [percent(p, total) for p in parts]
    assert shares((0, 0), 0) == ["–", "–"]


def chunk_shares(rows, plain=False):
    """Each row's shares, from ``share_columns`` over the chunk's columns."""
    columns = zip(*(per_op for _, per_op, _ in rows))
    return [list(r) for r in zip(*sw.share_columns(columns, [t for *_, t in rows], plain))]


def test_shares_of_a_chunk_are_each_rows_shares():
    rng = random.Random(5)
    rows = []
    for _ in range(3000):
        total = rng.choice([rng.randrange(1, 10**6), rng.randrange(1, 10**14), 20000, 40000])
        # total 20000: a part of 1 is exactly 0.005%, which rounds up, as percent does
        cut = rng.choice([rng.randrange(total + 1), 1, total // 2])
        rows.append(((1,), (cut, total - cut), total))
    expected = [[percent(f, total) for f in per_op] for _, per_op, total in rows]
    assert chunk_shares(rows) == expected
    assert chunk_shares(rows[:999]) == expected[:999]
    huge = [((1,), (10**30, 3 * 10**30 + 1), 4 * 10**30 + 1)] * 1000   # beyond int64
    assert chunk_shares(huge) == [["25.00%", "75.00%"]] * 1000
    assert chunk_shares([((1,), (0, 0), 0)] * 1000) == [["–", "–"]] * 1000
    assert chunk_shares([((1,), (0, 0), 0), ((1,), (1, 3), 4)], plain=True) == [
        ["", ""], ["25.00", "75.00"]]


def test_table_and_json_documents():
    result = run({}, [parse_axis("seq_len", "128,256")], Conventions(), Mode())
    table = sweep_table(result)
    assert table.columns[:3] == ["seq_len", "total FLOPs", "≈"] and "qkv_proj %" in table.columns
    assert table.rows[0][:2] == [128, 32_228_179_968]
    doc = json.loads(sweep_json(result))
    assert doc["schema"] == "flopcalc.sweep" and doc["columns"] == ["seq_len"]
    row = doc["rows"][0]
    assert row["point"] == [128] and row["total"] == 32_228_179_968
    assert sum(row["flops"]) == row["total"]
    assert [o["name"] for o in doc["operations"]][:2] == ["embed", "qkv_proj"]


# CLI ----------------------------------------------------------------------------------------

def test_cli_sweep_csv_rows_equal_flops_runs():
    result = invoke("sweep", "--seq-len", "64:256:x2", "--batch", "1,2", "--attention",
                    "causal", "--format", "csv")
    assert result.exit_code == 0, result.stderr
    lines = [ln for ln in result.stdout.splitlines() if not ln.startswith("#")]
    rows = list(csv.DictReader(io.StringIO("\n".join(lines))))
    assert [(r["seq_len"], r["batch"]) for r in rows] == [
        ("64", "1"), ("64", "2"), ("128", "1"), ("128", "2"), ("256", "1"), ("256", "2")]
    for r in rows:
        doc = json.loads(invoke("flops", "--seq-len", r["seq_len"], "--batch", r["batch"],
                                "--attention", "causal", "--format", "json").stdout)
        assert int(r["total FLOPs"]) == doc["totals"]["total"]
        for op in doc["rows"]:
            assert r[f"{op['name']} %"] + "%" == percent(op["flops"] * op["times"],
                                                         doc["totals"]["total"])


def test_cli_sweep_table_markdown_json_and_skip():
    out = " ".join(invoke("sweep", "--d-model", "768,1024", "--heads", "16").stdout.split())
    assert "32,228,179,968" in out and "52,634,583,040" in out  # heads change no matmul
    assert "d_ff = 4·d_model" in out and "n_heads=16" in out
    md = invoke("sweep", "--seq-len", "128,1024", "--mode", "train", "--recompute",
                "--format", "markdown").stdout
    assert "| seq_len |" in md and "training step" in md
    doc = json.loads(invoke("sweep", "--position", "1:1024:x4", "--mode", "decode",
                            "--format", "json").stdout)
    assert [r["point"] for r in doc["rows"]] == [[1], [4], [16], [64], [256], [1024]]
    skipped = invoke("sweep", "--d-model", "768,1000", "--skip-invalid", "--format", "markdown")
    assert skipped.exit_code == 0 and "Skipped 1 invalid points" in skipped.stdout


@pytest.mark.parametrize("args, message", [
    (["--seq-len", "128:8192:*2"], "--seq-len '128:8192:*2'"),
    (["--seq-len", "128:2048:x2"], "sweep point seq_len=2048: seq_len (2048) exceeds"),
    (["--d-model", "768,1000"], "sweep point d_model=1000: n_heads (12) must divide"),
    (["--seq-len", "128"], "at least one dimension"),
    (["--mode", "decode", "--position", "512:2048:x2"], "sweep point position=2048"),
])
def test_cli_sweep_bad_input_is_one_line_exit_2(args, message):
    assert message in one_line_error(invoke("sweep", *args))


@pytest.mark.parametrize("args, fix", [
    (["--d-model", "768,1000"], "give --n-heads a value that divides every d_model"),
    (["--heads", "5,12"], "give --n-heads a value that divides every d_model"),
    (["--d-model", "768,1000", "--seq-len", "1:4000:+1", "--n-positions", "4000"],  # compiled
     "give --n-heads a value that divides every d_model"),
    (["--seq-len", "128:2048:x2"], "raise --n-positions"),
    (["--mode", "decode", "--position", "512:2048:x2"], "raise --n-positions"),
    (["--mode", "generate", "--new-tokens", "100,1000"], "raise --n-positions"),
])
def test_an_invalid_point_says_which_option_fixes_it_and_skip_invalid(args, fix):
    line = one_line_error(invoke("sweep", *args))
    assert "sweep point" in line and fix in line
    assert "add --skip-invalid to leave such points out" in line
    assert invoke("sweep", *args, "--skip-invalid", "-f", "csv").exit_code == 0


def test_an_n_positions_too_long_to_count_is_not_told_to_be_raised():
    huge = "1" + "0" * 2000                           # 2,001 digits: past the 1,000-digit bound
    line = one_line_error(invoke("sweep", "--seq-len", "128,256", "--n-positions", huge))
    assert "at most 1000 digits" in line and "raise --n-positions" not in line


# Large tables: a plain layout instead of rich's grid -----------------------------------------

def data_lines(text: str, header: str) -> tuple[str, list[str]]:
    """The header line of a plain table and its row lines (up to the first blank or note)."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.lstrip().startswith(header))
    rows = []
    for line in lines[start + 2:]:
        if not line.strip() or line[0] == "─" or line.startswith(("Config:", "Swept:")):
            break
        rows.append(line)
    return lines[start], rows


def test_a_large_sweep_table_is_drawn_plain_with_every_value_of_the_csv():
    args = ["sweep", "--seq-len", "1:100:+1", "--batch", "1,2,3"]
    result = invoke(*args)                          # 300 rows, the default --format table
    assert result.exit_code == 0, result.stderr
    text = result.stdout
    assert not set("│┃┏┡└") & set(text)              # no rich grid
    assert text.splitlines()[0] == "FLOP sweep (300 points)"
    assert "Plain layout: a table of more than 200 rows" in text
    assert "Config: d_model=768" in text and "Swept: seq_len 1…100" in text
    header, rows = data_lines(text, "seq_len")
    columns = header.split()
    assert columns[:2] == ["seq_len", "batch"] and len(rows) == 300
    assert len({len(line) for line in rows + [header]}) == 1   # numbers right-aligned
    lines = [ln for ln in invoke(*args, "-f", "csv").stdout.splitlines() if ln[:1] != "#"]
    expected = list(csv.DictReader(io.StringIO("\n".join(lines))))
    for line, want in zip(rows, expected):
        cells = line.split()
        assert cells[0] == f"{int(want['seq_len']):,}" and cells[1] == want["batch"]
        assert cells[2] == f"{int(want['total FLOPs']):,}"   # thousands separators
        shares = [c for c in cells if c.endswith("%")]
        assert shares == [want[c] + "%" for c in want if c.endswith(" %")]


def test_the_plain_layout_starts_where_rich_would_be_slower():
    # rich draws ~0.7 ms a row, the plain layout ~0.06 ms (benchmarks/bench_sweep.py): the
    # cut-off sits where both take about as long, so a table one row longer is no slower
    rich = invoke("sweep", "--seq-len", "1:200:+1").stdout
    plain = invoke("sweep", "--seq-len", "1:201:+1").stdout
    assert "│" in rich and "Plain layout" not in rich
    assert "│" not in plain and "Plain layout: a table of more than 200 rows" in plain


def test_the_plain_layout_starts_above_the_threshold_and_goes_to_files(tmp_path, monkeypatch):
    from flopcalc import render
    monkeypatch.setattr(render, "PLAIN_ABOVE", 3)
    grid = invoke("sweep", "--seq-len", "128,256,512").stdout         # 3 rows: rich
    assert "│" in grid and "Plain layout" not in grid
    plain = invoke("sweep", "--seq-len", "128,256,512,1024").stdout   # 4 rows: plain
    assert "│" not in plain and "Plain layout: a table of more than 3 rows" in plain
    out = tmp_path / "sweep.txt"
    assert invoke("sweep", "--seq-len", "128,256,512,1024", "-o", out).exit_code == 0
    assert out.read_text(encoding="utf-8").startswith("FLOP sweep (4 points)\nseq_len")
    # any command's table: the flops table has totals (under a rule) and text columns
    flops = invoke("flops").stdout
    assert "│" not in flops and "Plain layout" in flops
    header, rows = data_lines(flops, "section")
    assert [r.split()[1] for r in rows][:2] == ["embed", "qkv_proj"]
    lines = flops.splitlines()
    total = next(ln for ln in lines if ln.split()[:1] == ["total"])
    assert "32,228,179,968" in total and lines[lines.index(total) - 5][0] == "─"


def test_to_plain_keeps_title_notes_and_reports_progress():
    from flopcalc.render import to_plain
    from flopcalc.tables import Table

    table = Table("T", ["first note", "second note"], ["name", "count", "share"], "lrr",
                  rows=[["a", 1234567, "1.00%"], ["bb", 5, "99.00%"]],
                  totals=[["total", 1234572, "100.00%"]])
    calls = []
    text = to_plain(table, 80, lambda done, total: calls.append((done, total)))
    rule = "─────  ─────────  ───────"
    assert text.splitlines()[:9] == ["T",
                                     "name       count    share",
                                     rule,
                                     "a      1,234,567    1.00%",
                                     "bb             5   99.00%",
                                     rule,
                                     "total  1,234,572  100.00%",
                                     "first note", "second note"]
    assert text.splitlines()[9].startswith("Plain layout:")
    assert calls == sorted(calls) and calls[-1] == (6, 6)


def test_the_sweeps_bar_covers_rendering_and_is_gone_before_output(monkeypatch):
    from flopcalc import cli, render
    monkeypatch.setattr(render, "PLAIN_ABOVE", 3)
    events = []

    class Recorder:
        def __init__(self, what):
            pass

        def __call__(self, done, total):
            events.append((done, total))

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            events.append("closed")

    real_write = cli.write_output
    monkeypatch.setattr(cli, "_LazyProgress", Recorder)
    monkeypatch.setattr(cli, "write_output", lambda *a: (events.append("write"), real_write(*a)))
    assert invoke("sweep", "--seq-len", "128,256,512,1024").exit_code == 0
    calls = [e for e in events if isinstance(e, tuple)]
    assert calls == sorted(calls) and calls[-1] == (8, 8)    # 4 points, then 4 rendered rows
    assert any(4 < done < 8 for done, _ in calls)             # the bar moves while rendering
    assert events[-2:] == ["closed", "write"]



# Streaming: CSV and JSON rows made and written in chunks ------------------------------------

# 3 x 14 x 2 points; 12 heads divide only d_model 768: 28 rows, 56 invalid points
GRID = ["--d-model", "768,1024,1000", "--seq-len", "1:40:+3", "--batch", "1,2"]


def test_streamed_rows_equal_the_kept_rows_across_chunk_boundaries(monkeypatch):
    monkeypatch.setattr(sw, "CHUNK", 7)
    # 3 x 20 points; valid: d_model 768 and 960 (12 heads) with seq_len 1...1001 (<= 1024)
    axes = [parse_axis("d_model", "768,1024,960"), parse_axis("seq_len", "1:2000:+100")]
    kept = run({}, axes, Conventions(), Mode(), skip_invalid=True)
    streamed = stream({}, axes, Conventions(), Mode(), skip_invalid=True)
    # everything but the rows is known before the first row is made: 22 rows, chunks 7, 7, 7, 1
    assert (streamed.points, streamed.skipped, streamed.first_skipped) == (
        len(kept.rows), kept.skipped, kept.first_skipped) == (22, 38, "d_model=768, seq_len=1101")
    assert not isinstance(streamed.rows, list) and list(streamed.rows) == kept.rows
    with pytest.raises(FlopcalcError, match="^sweep point d_model=768, seq_len=1101"):
        stream({}, axes, Conventions(), Mode())          # raised before any row is made
    assert "".join(sw.csv_chunks(stream({}, axes, Conventions(), Mode(), True))) == \
        render.to_csv(sweep_table(kept, approximate=False))
    doc = json.loads("".join(sw.json_chunks(stream({}, axes, Conventions(), Mode(), True))))
    assert doc["skipped"] == 38 and [(r["point"], tuple(r["flops"]), r["total"]) for r in
                                    doc["rows"]] == [(list(v), f, t) for v, f, t in kept.rows]


def test_chunks_hold_a_bounded_number_of_digits():
    small = [((1,), (1,), 1)] * 25
    assert [len(c) for c in sw.chunks(small, 10)] == [10, 10, 5]
    huge = [((1,), (10**20000,), 10**20000)] * 1000          # 66,439 bits each
    sizes = [len(c) for c in sw.chunks(huge, 10_000)]
    assert sum(sizes) == 1000 and max(sizes) == sw.CHUNK_BITS // 66_439 + 1


def test_cli_csv_and_json_stream_what_the_rows_are(tmp_path, monkeypatch):
    monkeypatch.setattr(sw, "CHUNK", 5)
    csv_text = invoke("sweep", *GRID, "--skip-invalid", "-f", "csv").stdout
    lines = [ln for ln in csv_text.splitlines() if not ln.startswith("#")]
    rows = list(csv.DictReader(io.StringIO("\n".join(lines))))
    assert len(rows) == 28 and "# FLOP sweep (28 points)" in csv_text
    assert ("# Skipped 56 invalid points (--skip-invalid), the first d_model=1024, seq_len=1, "
            "batch=1.") in csv_text
    out = tmp_path / "sweep.json"
    assert invoke("sweep", *GRID, "--skip-invalid", "-f", "json", "-o", out).exit_code == 0
    doc = json.loads(out.read_text(encoding="utf-8"))
    assert [r["total"] for r in doc["rows"]] == [int(r["total FLOPs"]) for r in rows]
    # one row a line, between the header and the closing brackets
    assert out.read_text(encoding="utf-8").count('\n    {"point": ') == 28


def test_a_failure_while_streaming_leaves_the_old_file_and_no_temporary(tmp_path, monkeypatch):
    out = tmp_path / "sweep.csv"
    out.write_text("old\n")
    calls = []

    def failing_shares(*args, **kwargs):
        calls.append(1)
        if len(calls) > 2:            # after the header and the first chunk are written
            raise FlopcalcError("disk on fire")
        return share_columns(*args, **kwargs)

    monkeypatch.setattr(sw, "CHUNK", 10)
    monkeypatch.setattr(sw, "share_columns", failing_shares)
    for fmt in ("csv", "json"):
        calls.clear()
        assert one_line_error(invoke("sweep", *GRID, "--skip-invalid", "-f", fmt, "-o", out)) \
            == "flopcalc: error: disk on fire"
        assert out.read_text() == "old\n" and sorted(tmp_path.iterdir()) == [out]


def test_an_invalid_point_stops_a_streamed_sweep_before_any_output(tmp_path):
    result = invoke("sweep", *GRID, "-f", "csv")
    assert "sweep point d_model=1024, seq_len=1, batch=1" in one_line_error(result)
    assert result.stdout == ""


def test_an_invalid_point_midway_leaves_the_file_as_it_was(tmp_path, monkeypatch):
    # to a file there is no checking pass: the rows before d_model=1024 are written first,
    # then the temporary file is dropped
    monkeypatch.setattr(sw, "CHUNK", 5)
    out = tmp_path / "sweep.json"
    out.write_text("old\n")
    for fmt in ("csv", "json"):
        line = one_line_error(invoke("sweep", *GRID, "-f", fmt, "-o", out))
        assert "sweep point d_model=1024, seq_len=1, batch=1" in line
        assert out.read_text() == "old\n" and sorted(tmp_path.iterdir()) == [out]


def test_a_sweep_too_long_for_a_table_says_how_to_write_a_file():
    line = one_line_error(invoke("sweep", "--seq-len", "1:100001:+1", "--n-positions", "200000"))
    assert "100,001 points, too many to read as a table (at most 100,000)" in line
    assert "--format csv --output sweep.csv" in line


def test_traced_sizes_write_out_the_int_arithmetic_done_on_them():
    from flopcalc.model import visible_pairs
    from flopcalc.tracing import function, size

    L, T, W = size("L"), size("T"), size("W")
    # a window's causal pairs: half, min and max on traced sizes, replayed on ints
    source = function("pairs", {"L": 0, "T": 1, "W": 2}, [visible_pairs(L, T, W), 2 * (L * 12)])
    namespace = {}
    exec(source, namespace)
    for q, keys, window in product(range(1, 7), range(1, 9), range(1, 9)):
        if q <= keys:
            # query i (0-based) of the last q sees min(keys - q + i + 1, window) keys
            pairs = sum(min(keys - q + i + 1, window) for i in range(q))
            assert namespace["pairs"]([q, keys, window]) == (pairs, 24 * q)
    assert "24 * L" in source and "/" not in source.replace("//", "")


def test_traced_sizes_write_out_the_same_arithmetic_over_a_column_of_values():
    from operator import add, floordiv, mul, sub
    from itertools import repeat

    from flopcalc.model import visible_pairs
    from flopcalc.tracing import column_function, size

    L, T, W, D = size("L"), size("T"), size("W"), size("D")
    # the decode keys T follow L; sums and products of L and fixed sizes are regrouped
    results = [visible_pairs(L, T, W), 2 * (L * D) * 3 + L * (L * D) + 5 * L + D,
               (L * D - 3) // 7, D * D + 1]
    source = column_function("pairs", {"L": 0, "T": 1, "W": 2, "D": 3},
                             frozenset({"L", "T"}), results)
    namespace = {"add": add, "sub": sub, "mul": mul, "floordiv": floordiv, "repeat": repeat}
    exec(source, namespace)
    lengths = list(range(1, 40))
    for window, d in product(range(1, 9), (1, 5, 64)):
        columns = namespace["pairs"]([None, None, window, d], lengths)
        # query i (0-based) of the last q of q keys sees min(i + 1, window) keys
        assert [list(c) for c in columns] == [
            [sum(min(i + 1, window) for i in range(q)) for q in lengths],
            [6 * q * d + q * q * d + 5 * q + d for q in lengths],
            [(q * d - 3) // 7 for q in lengths], [d * d + 1] * len(lengths)]
    # 2·L·D·3 + L·L·D + 5·L + D: L times (6·D + 5), L·L times D, their sum, plus D: three
    # multiplications and two additions per value (as written: seven and three)
    source = column_function("f", {"L": 0, "D": 3}, frozenset({"L"}), results[1:2])
    assert source.count("map(mul") == 3 and source.count("map(add") == 2


def test_a_value_in_e_notation_is_refused_with_it_written_out():
    from flopcalc.sweep import parse_axis
    with pytest.raises(FlopcalcError, match=r"'15e12'.*\(15000000000000 for 15e12\)"):
        parse_axis("tokens", "15e12")
    with pytest.raises(FlopcalcError, match="not a list or range of whole numbers"):
        parse_axis("seq_len", "1.5")
