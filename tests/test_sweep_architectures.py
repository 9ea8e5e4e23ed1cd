"""`flopcalc sweep` and `plot` over every architecture: the new sizes sweepable, the compiled
path equal to `flop_report` at every point of every family, and counts and crossovers pinned
by first-principles arithmetic."""

from __future__ import annotations

import csv
import io
import json
from fractions import Fraction
from itertools import product

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from cli_helpers import invoke, one_line_error
from fuzz_helpers import examples

from flopcalc import Conventions, FlopcalcError, flop_report, render
from flopcalc import sweep as sw
from flopcalc.architecture import FAMILIES, Architecture, Workload
from flopcalc.architectures.presets import family_fields, preset_fields
from flopcalc.cli import (ARCHITECTURE_SIZES, EXPERT_SIZES, MODE_POSITIONS, MODEL_SIZES,
                          WORKLOAD)
from flopcalc.config import Mode
from flopcalc.plot import crossover
from flopcalc.sweep import AXES, MODE_AXES, Axis, parse_axis, run, sweep_table
from flopcalc.tables import percent


def test_every_dimension_of_the_option_table_is_sweepable_under_its_option():
    table = {d.field: d.names[0] for d in MODEL_SIZES + WORKLOAD + ARCHITECTURE_SIZES
             + EXPERT_SIZES + MODE_POSITIONS}
    assert AXES == table


# The compiled path equals flop_report at every point, in every family -------------------

SMALL = {"d_model": (8, 48), "n_heads": (1, 8), "n_layers": (1, 4), "d_ff": (4, 64),
         "vocab": (1, 300), "n_positions": (24, 40), "seq_len": (1, 30), "batch": (1, 3),
         "n_kv_heads": (1, 8), "d_head": (2, 16), "sliding_window": (1, 20),
         "rotary_dims": (2, 16), "position": (1, 40), "prompt": (1, 30), "new_tokens": (1, 12),
         "n_experts": (1, 8), "top_k": (1, 4), "d_expert": (1, 16), "d_shared": (1, 16),
         "n_groups": (1, 4), "topk_groups": (1, 4), "q_lora_rank": (1, 16),
         "kv_lora_rank": (1, 16), "qk_nope_head_dim": (1, 16), "qk_rope_head_dim": (2, 16),
         "v_head_dim": (1, 16)}
MOE = ("n_experts", "top_k", "d_expert", "d_shared", "n_groups", "topk_groups")
MLA = ("q_lora_rank", "kv_lora_rank", "qk_nope_head_dim", "qk_rope_head_dim", "v_head_dim")


@st.composite
def family_sweeps(draw):
    """A small model of any family (its switches as Hugging Face's defaults), one or two
    swept dimensions (some points invalid), conventions and mode."""
    family = draw(st.sampled_from(FAMILIES))
    base = {k: v for k, v in family_fields(family).items()
            if k not in ("d_model", "n_heads", "n_kv_heads", "d_head", "d_ff", "n_layers",
                         "vocab", "n_positions", "rotary_dims", "sliding_window",
                         "window_layers", "moe_layers")}
    h = draw(st.sampled_from([1, 2, 4]))
    base.update(d_model=h * draw(st.integers(2, 8)), n_heads=h, n_layers=draw(st.integers(2, 4)),
                vocab=draw(st.integers(1, 300)), n_positions=draw(st.integers(24, 40)),
                seq_len=draw(st.integers(1, 24)), batch=draw(st.integers(1, 3)))
    # experts and latent attention of a few units (the families' defaults are thousands)
    moe = [k for k in MOE if base.get(k) is not None]
    mla = [k for k in MLA if base.get(k) is not None]
    if moe:
        E = draw(st.sampled_from([2, 4, 8]))
        base.update(n_experts=E, top_k=draw(st.integers(1, E)), d_expert=draw(st.integers(1, 8)))
        if base.get("d_shared") is not None:
            base["d_shared"] = draw(st.integers(1, 8))
        if base.get("n_groups") is not None:
            base.update(n_groups=2, topk_groups=draw(st.integers(1, 2)), top_k=1)
        if draw(st.booleans()):          # the first layer dense, as DeepSeek's first three
            base["moe_layers"] = tuple(range(1, base["n_layers"]))
    for k in mla:
        base[k] = 2 * draw(st.integers(1, 8))
    if family not in ("gpt2", "gpt_neox") and not mla:
        base["n_kv_heads"] = draw(st.sampled_from([k for k in (1, 2, 4) if h % k == 0]))
        if draw(st.booleans()):
            base["d_head"] = 2 * draw(st.integers(1, 8))
    if family != "gpt2" and not mla and draw(st.booleans()):
        base["sliding_window"] = draw(st.integers(1, 20))
        if draw(st.booleans()):          # some layers windowed, as Gemma 2's odd ones
            base["window_layers"] = (0,)
    kind = draw(st.sampled_from(["forward", "backward", "train", "decode", "generate"]))
    relevant = {"decode": ("position",), "generate": ("prompt", "new_tokens")}.get(kind, ())
    sweepable = ["d_model", "n_heads", "n_layers", "d_ff", "seq_len", "batch", *relevant]
    if family != "gpt2" and not mla:
        sweepable.append("sliding_window")
    if family not in ("gpt2", "gpt_neox") and not mla:
        sweepable += ["n_kv_heads", "d_head"]
    sweepable += moe + mla
    names = draw(st.lists(st.sampled_from(sweepable), min_size=1, max_size=2, unique=True))
    axes = []
    for name in names:
        lo, hi = SMALL[name]
        axes.append(Axis(name, tuple(draw(st.lists(st.integers(lo, hi), min_size=1,
                                                   max_size=3, unique=True)))))
        base.pop(name, None)
    # experts padded to a capacity (ceil(c·T·top_k/E) rows each), latent attention's decode
    # steps in either form
    capacity = draw(st.none() | st.fractions(Fraction(1, 4), 3, max_denominator=8)) if moe \
        else None
    conv = Conventions(flops_per_mac=draw(st.sampled_from([1, 2])),
                       attention=draw(st.sampled_from(["dense", "causal"])),
                       elementwise=draw(st.booleans()), embeddings=draw(st.booleans()),
                       lm_head=draw(st.booleans()), capacity_factor=capacity,
                       mla_decode=draw(st.sampled_from(["naive", "absorbed"])) if mla
                       else "naive")
    fixed = {k: draw(st.none() | st.integers(1, 12)) for k in relevant if k not in names}
    return base, axes, conv, Mode(kind, recompute=kind == "train" and draw(st.booleans()),
                                  **fixed)


def ok(*args):
    result = invoke(*args)
    assert result.exit_code == 0, (args, result.stdout[-2000:], result.stderr)
    return result


def one_by_one(base, axes, conv, mode):
    """Each point as `flopcalc flops` counts it: an Architecture on a Workload, every
    operation times its group's repeat; None where the point is no model."""
    out = []
    for values in product(*(a.values for a in axes)):
        point = {**base, **dict(zip((a.name for a in axes), values))}
        arch_fields = {k: v for k, v in point.items()
                       if k not in MODE_AXES and k not in ("seq_len", "batch")}
        try:
            arch = Architecture(**arch_fields)
            load = Workload(point["batch"], point["seq_len"])
            m = Mode(mode.kind, mode.recompute,
                     **{k: point.get(k, getattr(mode, k)) for k in MODE_AXES})
            report = flop_report(arch, conv, m, load)
        except FlopcalcError:
            out.append(None)
            continue
        out.append((values, [((r.group, r.op.name), r.flops * r.times) for r in report.rows],
                    report.total))
    return in_first_points_columns(out)


def in_first_points_columns(points):
    """Each valid point's per-operation FLOPs under the columns of the first valid point (a
    sweep has one header): a point whose layers group otherwise (windows or experts placed
    anew at its n_layers) puts into a column named after an operation that only one group of
    the first point has the sum of every group's operation of that name, into a GROUP.NAME
    column that group's operation, and 0 where it has none."""
    first = next((p[1] for p in points if p is not None), None)
    out = []
    for p in points:
        if p is None:
            out.append(None)
            continue
        values, rows, total = p
        if [op for op, _ in rows] == [op for op, _ in first]:
            out.append((values, tuple(f for _, f in rows), total))
            continue
        names = [name for (_, name), _ in first]
        out.append((values, tuple(
            sum(f for (g, n), f in rows if n == name and (names.count(name) == 1 or g == group))
            for (group, name), _ in first), total))
    return out


@settings(max_examples=examples(80), deadline=None)
@given(family_sweeps())
def test_compiled_and_per_point_rows_equal_flop_report_in_every_family(sweep):
    base, axes, conv, mode = sweep
    valid = [e for e in one_by_one(base, axes, conv, mode) if e is not None]
    for fast in (False, True):
        if not valid:
            with pytest.raises(FlopcalcError, match="no valid point"):
                run(base, axes, conv, mode, skip_invalid=True, fast=fast)
            continue
        result = run(base, axes, conv, mode, skip_invalid=True, fast=fast)
        assert [(v[:len(axes)], f, t) for v, f, t in result.rows] == valid


# Counts from first principles -------------------------------------------------------------

def llama_8b_forward(L: int, kv: int) -> int:
    """Llama-3.1-8B, one dense forward pass, matmuls only, 2 FLOPs per multiply-add: per
    block q and o 2·L·4096², k and v 2·L·4096·(kv·128) each, QKᵀ and P·V 2·32·L²·128 each,
    gate, up and down 2·L·4096·14336 each; 32 blocks and the untied head 2·L·4096·128256."""
    block = (2 * 2 * L * 4096 * 4096 + 2 * 2 * L * 4096 * kv * 128
             + 2 * 2 * 32 * L * L * 128 + 3 * 2 * L * 4096 * 14336)
    return 32 * block + 2 * L * 4096 * 128256


def test_a_llama_sweep_over_seq_len_and_kv_heads_matches_first_principles():
    axes = [parse_axis("seq_len", "1024,8192"), parse_axis("n_kv_heads", "1,8,32")]
    for fast in (False, True):
        result = run(preset_fields("llama-3.1-8b"), axes, Conventions(), Mode(), fast=fast)
        assert [(v, t) for v, _, t in result.rows] == [
            ((L, kv), llama_8b_forward(L, kv)) for L in (1024, 8192) for kv in (1, 8, 32)]


def test_a_window_caps_the_decoded_keys_at_every_point():
    # Mistral-7B, decode at position t, causal, matmuls only: each layer's QKᵀ and P·V are
    # 2·32·min(t, 4096)·128 each; the rest does not depend on t
    axes = [parse_axis("position", "100,4096,4097,9000")]
    conv = Conventions(attention="causal", embeddings=False, lm_head=False)
    rows = {}
    for fast in (False, True):
        result = run(preset_fields("mistral-7b-v0.1"), axes, conv, Mode("decode"), fast=fast)
        rows[fast] = [t for _, _, t in result.rows]
    rest = 32 * (2 * 2 * 4096 * 4096 + 2 * 2 * 4096 * 1024 + 3 * 2 * 4096 * 14336)
    assert rows[True] == rows[False] == [rest + 32 * 2 * 2 * 32 * min(t, 4096) * 128
                                        for t in (100, 4096, 4097, 9000)]


def test_gemma2_columns_are_named_by_group_and_each_group_counts_its_repeats():
    out = ok("sweep", "--preset", "gemma-2-9b", "--seq-len", "8,16", "-f", "csv").stdout
    notes = [line for line in out.splitlines() if line.startswith("#")]
    assert any("GROUP.NAME: sliding ×21, full ×21" in n for n in notes)
    header = next(csv.reader(io.StringIO("\n".join(l for l in out.splitlines()
                                                      if not l.startswith("#")))))
    assert "sliding.scores %" in header and "full.scores %" in header
    # forward, dense, matmuls: q 2·L·3584·4096, k and v 2·L·3584·2048, o 2·L·4096·3584,
    # QKᵀ and P·V 2·16·L²·256 each (no window: L <= 4096), MLP 3·2·L·3584·14336; 42 blocks,
    # the tied head 2·L·3584·256000
    L = 8
    block = (2 * 2 * L * 3584 * 4096 + 2 * 2 * L * 3584 * 2048 + 2 * 2 * 16 * L * L * 256
             + 3 * 2 * L * 3584 * 14336)
    row = next(l for l in out.splitlines() if l.startswith("8,"))
    assert int(row.split(",")[1]) == 42 * block + 2 * L * 3584 * 256000


def test_every_family_sweeps_on_the_command_line():
    for preset in ("qwen2.5-7b", "qwen3-8b", "phi-3-mini-4k", "pythia-1.4b"):
        ok("sweep", "--preset", preset, "--seq-len", "8,16", "--n-layers", "1,2", "-f", "csv")
    ok("sweep", "--family", "llama", "--n-kv-heads", "1,2,4", "--d-head", "64,128",
       "--rotary-dims", "16,32", "--window", "512,4096", "-f", "json")


# The crossover, by role ---------------------------------------------------------------------

LLAMA = Architecture(**preset_fields("llama-3.1-8b"))


def test_llama_dense_crossover_is_where_4_h_dhead_L_equals_6_d_dff():
    # per block QKᵀ + P·V = 4·L²·32·128, the gated MLP 3·2·L·4096·14336: equal at
    # L = 6·4096·14336 / (4·4096) = 21504
    cross = crossover({}, "seq_len", Conventions(), Mode(), LLAMA, Workload())
    assert (cross.root, cross.attention_above) == (21504, True)
    assert "scores + attn_values" in cross.describe()
    assert "gate_proj + up_proj + down_proj" in cross.describe()


def test_llama_causal_crossover_counts_the_triangle():
    # causal pairs L(L+1)/2: 4·4096·L(L+1)/2 = 6·4096·14336·L at L = 43007
    cross = crossover({}, "seq_len", Conventions(attention="causal"), Mode(), LLAMA, Workload())
    assert cross.root == 43007


def test_a_window_crossover_is_solved_on_its_piece():
    # Mistral-7B with d_ff 2048, causal: pairs k(k+1)/2 + (L − k)·W with k = min(L, W),
    # W = 4096, against 6·4096·2048·L / (4·4096) = 3072·L. Below W: (L+1)/2 = 3072 needs
    # L = 6143 > W; above: W(W+1)/2 + (L − W)·W = 3072·L at L = W(W−1)/2 / (W − 3072) = 8190
    mistral = Architecture(**{**preset_fields("mistral-7b-v0.1"), "d_ff": 2048})
    conv = Conventions(attention="causal")
    cross = crossover({"d_ff": 2048}, "seq_len", conv, Mode(), mistral, Workload())
    assert (cross.root, cross.attention_above) == (8190, True)
    # with the full d_ff the window keeps attention below the MLP at every length
    assert crossover({}, "seq_len", conv, Mode(),
                     Architecture(**preset_fields("mistral-7b-v0.1")), Workload()) is None


def test_plot_draws_every_family(tmp_path):
    pytest.importorskip("matplotlib")
    for preset in ("llama-3.1-8b", "gemma-2-9b"):
        ok("plot", "--preset", preset, "--seq-len", "1024:65536:x2", "-o",
           str(tmp_path / f"{preset}.svg"))
        assert (tmp_path / f"{preset}.svg").stat().st_size > 0
    result = invoke("plot", "--preset", "llama-3.1-8b", "--kind", "estimates", "--d-model",
                    "2048,4096", "-o", str(tmp_path / "e.png"))
    assert "GPT-2 models only so far" in one_line_error(result)


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("swept", [("d_model", (16, 32, 48)), ("n_heads", (1, 2, 4)),
                                   ("n_layers", (2, 3))])
def test_sizes_that_follow_the_swept_one_follow_it_on_the_compiled_path(family, swept):
    # d_head = d_model / n_heads, n_kv_heads = n_heads, d_ff = 4·d_model and the rotated
    # dims = d_head when the model does not set them (Gemma 2: its first layer windowed;
    # DeepSeek-V3: its second layer MoE, the first dense; latent attention fixes d_head)
    base = {k: v for k, v in family_fields(family).items()
            if k not in ("d_model", "n_heads", "n_kv_heads", "d_head", "d_ff", "rotary_dims",
                         "n_layers", "vocab", "moe_layers")}
    base.update(d_model=32, n_heads=2, n_layers=4, vocab=64, seq_len=8, batch=1,
                n_positions=64)
    if family == "gemma2":
        base["window_layers"] = (0,)
    if family == "deepseek_v3":          # its first layer dense, the second MoE
        base["moe_layers"] = (1,)
    name, values = swept
    base.pop(name)
    conv = Conventions(attention="causal", elementwise=True)
    for mode in (Mode(), Mode("decode", position=9), Mode("generate", new_tokens=3)):
        expected = one_by_one(base, [Axis(name, values)], conv, mode)
        assert None not in expected
        assert run(base, [Axis(name, values)], conv, mode, fast=True).rows == [
            (v + ((4 * v[0],) if name == "d_model" else ()), f, t) for v, f, t in expected]


# n_layers swept on a model whose windows or experts are on some layers ----------------------

def _csv_totals(*args) -> dict:
    result = invoke("sweep", *args, "-f", "csv")
    assert result.exit_code == 0, result.stderr
    rows = csv.DictReader(line for line in io.StringIO(result.stdout) if not line.startswith("#"))
    return {int(r["n_layers"]): int(r["total FLOPs"]) for r in rows}


def test_sweeping_n_layers_places_windows_by_the_familys_rule():
    """Gemma-2's defaults: layers 0, 2, 4, … slide over 4096 keys. One layer is one sliding
    layer (the sweep once refused it: 'window_layers must be layer indices 0 … 0'); two add
    a full one. Causal, 5000 tokens; d_model 2304, 8 heads and 4 K/V heads of 256, d_ff
    9216, vocab 256000 (tied head)."""
    D, H, KV, Dh, F, V, L, W = 2304, 8, 4, 256, 9216, 256000, 5000, 4096
    linears = 2 * L * (D * H * Dh + 2 * D * KV * Dh + H * Dh * D + 3 * D * F)
    full_pairs = L * (L + 1) // 2
    window_pairs = W * (W + 1) // 2 + (L - W) * W          # Σ min(i + 1, W)
    attention = 2 * 2 * H * Dh                              # QKᵀ and P·V per visible pair
    sliding, full = linears + attention * window_pairs, linears + attention * full_pairs
    totals = _csv_totals("--family", "gemma2", "--n-layers", "1,2", "--attention", "causal",
                         "--seq-len", str(L))
    assert totals == {1: sliding + 2 * L * D * V, 2: sliding + full + 2 * L * D * V}


def test_a_point_whose_layers_group_otherwise_keeps_each_operations_own_share():
    """Gemma-2 at one layer is one 'block' group; at four, two sliding and two full blocks.
    The columns are the first point's operations, and the four-layer row's q_proj column is
    the q_proj of all four blocks: 4 · 2·L·D·(H·Dh) over the row's total (L = 128 tokens,
    D = 3584, 16 heads of 256)."""
    result = invoke("sweep", "--preset", "gemma-2-9b", "--n-layers", "1,4", "-f", "csv")
    assert result.exit_code == 0, result.stderr
    rows = list(csv.DictReader(line for line in io.StringIO(result.stdout)
                               if not line.startswith("#")))
    four = next(r for r in rows if r["n_layers"] == "4")
    q_proj = 4 * 2 * 128 * 3584 * (16 * 256)
    total = int(four["total FLOPs"])
    assert float(four["q_proj %"]) == round(100 * q_proj / total, 2) == 3.43
    assert "layer groups differ from the first point's" in result.stdout


def test_sweeping_n_layers_past_deepseek_v3s_61_adds_moe_layers_as_flops_does():
    """DeepSeek-V3's layers from 3 on are MoE; extra layers are like its last (as
    `flops --n-layers` counts them): layer 63 adds one MoE block. 128 tokens, naive MLA
    (q 7168 → 1536 → 128·192, kv 7168 → 576, kv_b 512 → 128·256, o 128·128 → 7168), router
    to 256 experts, 8 routed rows of 2048 per token, one shared expert of 2048."""
    D, H, L = 7168, 128, 128
    attention = 2 * L * (D * 1536 + 1536 * H * 192 + D * 576 + 512 * H * 256 + H * 128 * D) \
        + 2 * H * L * L * (192 + 128)
    moe_mlp = 2 * L * (D * 256 + 3 * 8 * D * 2048 + 3 * D * 2048)
    totals = _csv_totals("--preset", "deepseek-v3", "--n-layers", "62,63")
    assert totals[63] - totals[62] == attention + moe_mlp


@st.composite
def long_last_axis_sweeps(draw):
    """``family_sweeps`` with a last axis of 32 to 44 values, in order or not, of a size the
    rules bound from above only or not at all: seq_len and batch, the vocabulary, the decode
    position or generation prompt and length, the experts' top_k and widths. The compiled path
    counts such an axis in runs (some past n_positions or n_experts: invalid)."""
    base, axes, conv, mode = draw(family_sweeps())
    names = ["seq_len", "batch", "vocab",
             *{"decode": ("position",), "generate": ("prompt", "new_tokens")}.get(mode.kind, ())]
    if base.get("n_experts") is not None:
        names += ["top_k", "d_expert"] + (["d_shared"] if base.get("d_shared") else [])
    name = draw(st.sampled_from(names))
    if name == "top_k":  # experts enough for some runs to be valid throughout (groups of E/2)
        base["n_experts"] = draw(st.sampled_from([44, 64, 128]))
        axes = [a for a in axes if a.name != "n_experts"]
    values = range(1, draw(st.integers(sw.RUN_FROM + 1, 45)))
    if draw(st.booleans()):
        values = tuple(draw(st.permutations(values)))
    axes = [a for a in axes if a.name != name] + [Axis(name, values)]
    base.pop(name, None)
    return base, axes, conv, mode


@settings(max_examples=examples(40), deadline=None)
@given(long_last_axis_sweeps())
def test_runs_of_a_long_last_axis_equal_flop_report_at_every_point(sweep):
    base, axes, conv, mode = sweep
    valid = [e for e in one_by_one(base, axes, conv, mode) if e is not None]
    # (points of other layer groups, as n_layers 1 and 2 with layer 0 windowed, have other
    # columns: no one table; see the report)
    assume(valid and len({len(f) for _, f, _ in valid}) == 1)
    result = run(base, axes, conv, mode, skip_invalid=True, fast=True)
    assert [(v[:len(axes)], f, t) for v, f, t in result.rows] == valid
    # written from runs, CSV and JSON lines are the text of the per-point rows
    reference = run(base, axes, conv, mode, skip_invalid=True, fast=False)
    streamed = sw.stream(base, axes, conv, mode, skip_invalid=True)
    assert "".join(sw.csv_chunks(streamed)) == render.to_csv(
        sweep_table(reference, approximate=False))
    lines = "".join(sw.json_chunks(sw.stream(base, axes, conv, mode, True))).splitlines()
    rows = [json.loads(line.strip().removesuffix(",")) for line in lines
            if line.startswith('    {"point"')]
    assert [(tuple(r["point"][:len(axes)]), tuple(r["flops"]), r["total"]) for r in rows] \
        == valid
    assert [r["share"] for r in rows] == [[percent(f, t) for f in fs] for _, fs, t in valid]
    assert [line.strip().removesuffix(",") for line in lines if line.startswith('    {"p')] \
        == [json.dumps(r, ensure_ascii=False) for r in rows]


def test_a_run_is_counted_at_once_and_its_rows_equal_flop_report(monkeypatch):
    # seq_len 1…1025 of GPT-2 small (runs of 100: the last, past n_positions 1024, point by
    # point) and 1…100 of a decode step of a Llama: Blocks, but the first point's
    monkeypatch.setattr(sw, "CHUNK", 100)
    for base, length, mode in (({"batch": 1}, "1:1025:+1", Mode()),
                               ({**preset_fields("llama-3.1-8b"), "batch": 1}, "1:100:+1",
                                Mode("decode"))):
        axes = [parse_axis("n_layers", "1,2"), parse_axis("seq_len", length)]
        items = list(sw._items(base, axes, Conventions(), mode, True, True, None,
                               sw._empty_result(axes, base, Conventions())))
        assert [len(i.totals) for i in items if isinstance(i, sw.Block)] == (
            [99] + [100] * 9 + [100] * 10 if mode.kind == "forward" else [99, 100])
        rows = list(sw._flat(items))
        assert [(v, f, t) for v, f, t in rows] == [
            e for e in one_by_one(base, axes, Conventions(), mode) if e is not None]


def test_a_point_whose_layers_group_otherwise_is_written_under_the_first_points_columns():
    # Llama with a window on layer 0 only: one layer is one (windowed) group, two layers are a
    # windowed and a full group. At one token a window of 1 sees all there is, so layer 1
    # costs what layer 0 does. d_model 2, one head of 2, d_ff 8, 1 FLOP per MAC:
    # q, k, v and o 2·2 = 4 each, scores and values 1·1·2 = 2, gate, up and down 2·8 = 16.
    base = {**family_fields("llama"), "d_model": 2, "n_heads": 1, "n_kv_heads": 1,
            "d_ff": 8, "vocab": 1, "n_positions": 24, "seq_len": 1, "batch": 1,
            "sliding_window": 1, "window_layers": (0,)}
    one_layer = (4, 4, 4, 2, 2, 4, 16, 16, 16)
    conv = Conventions(flops_per_mac=1, embeddings=False, lm_head=False)
    for fast in (False, True):   # per point, and by the compiled model
        rows = list(run(base, [Axis("n_layers", (1, 2))], conv, Mode("forward"),
                        fast=fast).rows)
        assert rows == [((1,), one_layer, 68), ((2,), tuple(2 * f for f in one_layer), 136)]


def test_every_path_and_writer_puts_a_regrouped_point_under_the_first_points_columns():
    # the Llama above over seq_len 1…40 (runs of the compiled path) at one and two layers:
    # with dense attention (the full L×L scores in every layer), a layer of L tokens is
    # q, k, v and o 4·L each, scores and values 2·L² each, gate, up and down 16·L each
    base = {**family_fields("llama"), "d_model": 2, "n_heads": 1, "n_kv_heads": 1,
            "d_ff": 8, "vocab": 1, "n_positions": 64, "batch": 1,
            "sliding_window": 1, "window_layers": (0,)}
    conv = Conventions(flops_per_mac=1, embeddings=False, lm_head=False)
    axes = [Axis("n_layers", (1, 2)), Axis("seq_len", tuple(range(1, 41)))]
    expected = []
    for n, L in product((1, 2), range(1, 41)):
        layer = (4 * L, 4 * L, 4 * L, 2 * L * L, 2 * L * L, 4 * L, 16 * L, 16 * L, 16 * L)
        expected.append(((n, L), tuple(n * f for f in layer), n * (64 * L + 4 * L * L)))
    names = ["q_proj", "k_proj", "v_proj", "scores", "attn_values", "o_proj", "gate_proj",
             "up_proj", "down_proj"]
    for fast in (False, True):
        assert run(base, axes, conv, Mode(), fast=fast).rows == expected
    for precheck in (True, False):
        assert list(sw.stream(base, axes, conv, Mode(), precheck=precheck).rows) == expected
        text = "".join(sw.csv_chunks(sw.stream(base, axes, conv, Mode(), precheck=precheck)))
        assert any("its columns hold its FLOPs of the first point's operations" in line
                   for line in text.splitlines() if line.startswith("#"))
        rows = list(csv.reader(line for line in text.splitlines() if not line.startswith("#")))
        assert rows[0][-len(names):] == [f"{n} %" for n in names]
        assert [(int(r[0]), int(r[1]), int(r[2])) for r in rows[1:]] == [
            (*v, t) for v, _, t in expected]
        doc = json.loads("".join(sw.json_chunks(sw.stream(base, axes, conv, Mode(),
                                                          precheck=precheck))))
        assert [op["name"] for op in doc["operations"]] == names
        assert [(tuple(r["point"]), tuple(r["flops"]), r["total"]) for r in doc["rows"]] \
            == expected


def test_the_regrouping_note_is_given_only_when_fixed_layers_are_every_layer_at_some_n():
    # windows on layers 0 and 1 are every layer at n_layers 2 (one group) and not at 3 (two
    # groups); windows on layers 1 and 2 are every layer at no n_layers (n_layers 2 cannot
    # hold layer 2; at 3, layer 0 is full): one layout throughout
    base = {**family_fields("llama"), "d_model": 2, "n_heads": 1, "n_kv_heads": 1,
            "d_ff": 8, "vocab": 1, "n_positions": 24, "seq_len": 4, "batch": 1,
            "sliding_window": 2}
    axis = [Axis("n_layers", (2, 3))]
    for layers, regrouped in (((0, 1), True), ((1, 2), False)):
        result = run({**base, "window_layers": layers}, axis, Conventions(), Mode("forward"),
                     skip_invalid=True)
        assert result.regrouped is regrouped, layers
