"""Huge and tiny numbers: counts stay exact up to the documented bound (1000 digits per
dimension), device figures lie in 1e-9 … 1e9, and nothing beyond either ends in a traceback."""

from __future__ import annotations

import json
import re
import sys
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cli_helpers import invoke, one_line_error
from flopcalc import Config, FlopcalcError, param_report
from flopcalc.config import Mode
from flopcalc.memory import approx_float, positive_number
from fuzz_helpers import examples

BIGGEST = 10 ** 1000 - 1      # the largest size flopcalc counts (1000 digits)
V, P, NL = 50257, 1024, 12


def test_sizes_of_a_thousand_digits_are_counted_exactly():
    D = BIGGEST
    cfg = Config(d_model=D, n_heads=1)
    # per block: ln_1, ln_2 (2D each), c_attn 3D² + 3D, c_proj D² + D, c_fc 4D² + 4D,
    # mlp.c_proj 4D² + D; plus wte, wpe and ln_f
    assert param_report(cfg).total == (V + P) * D + NL * (12 * D * D + 13 * D) + 2 * D


@pytest.mark.parametrize("field", ["d_model", "n_layers", "vocab", "batch", "n_positions"])
def test_a_size_beyond_a_thousand_digits_is_refused_by_name(field):
    with pytest.raises(FlopcalcError, match=f"{field} has about 1001 digits; flopcalc counts "
                                            "sizes of at most 1000 digits"):
        Config(**{field: 10 ** 1000})
    with pytest.raises(FlopcalcError, match=f"{field} has about"):
        Config(**{field: -10 ** 5000})


def test_d_ff_may_be_four_times_the_largest_width():
    assert Config(d_model=BIGGEST, n_heads=1).d_ff == 4 * BIGGEST
    with pytest.raises(FlopcalcError, match=r"d_ff has about 1001 digits; flopcalc counts d_ff "
                                            r"below 4·10\*\*1000"):
        Config(d_ff=4 * 10 ** 1000)


def test_a_mode_position_beyond_a_thousand_digits_is_refused():
    cfg = Config(n_positions=BIGGEST)
    assert Mode("decode", position=BIGGEST).resolved(cfg).position == BIGGEST
    with pytest.raises(FlopcalcError, match="new_tokens has about 1001 digits"):
        Mode("generate", prompt=1, new_tokens=10 ** 1000).resolved(cfg)


def test_cli_refuses_a_hundred_thousand_digit_width_at_once():
    limit = sys.get_int_max_str_digits()
    sys.set_int_max_str_digits(0)  # as flopcalc.cli.run() does: parse the option in full
    try:
        line = one_line_error(invoke("flops", "--d-model", "1" + "0" * 100_000))
    finally:
        sys.set_int_max_str_digits(limit)
    assert "d_model has about 100001 digits" in line


@pytest.mark.parametrize("text", ["1e-310", "1e999999", "1e10", "-1e99999999999", "nan", "inf",
                                  "1/0", "1" * 101])
def test_device_figures_outside_their_range_are_refused(text):
    for flag in ("--peak-tflops", "--bandwidth-gbs"):
        line = one_line_error(invoke("memory", flag, text))
        assert flag in line


def test_device_figures_are_read_exactly_within_their_range():
    assert positive_number("1e-9", "x") == Fraction(1, 10 ** 9)
    assert positive_number("1e9", "x") == 10 ** 9
    assert positive_number("989.4", "x") == Fraction(9894, 10)
    assert positive_number("1/3", "x") == Fraction(1, 3)


def test_memory_of_a_huge_model_gives_exact_times_and_no_float_beyond_range():
    D = 10 ** 160
    result = invoke("memory", "--d-model", D, "--heads", 1, "--format", "json")
    assert result.exit_code == 0, result.stderr
    doc = json.loads(result.stdout)
    forward = doc["roofline"]["forward"]
    # the LM head alone is 2·L·D·V FLOPs at 312 TFLOPS: far beyond a double's 1.8e308 s
    assert Fraction(forward["time_s"]) > Fraction(2 * 128 * D * V, 312 * 10 ** 12)
    assert forward["time_s_approx"] is None
    assert doc["roofline"]["decode"]["time_s_approx"] is None
    table = invoke("memory", "--d-model", D, "--heads", 1)
    assert table.exit_code == 0, table.stderr


def test_approx_float_is_none_only_beyond_the_doubles():
    assert approx_float(Fraction(3, 2)) == 1.5
    assert approx_float(Fraction(0)) == 0.0
    assert approx_float(Fraction(10 ** 400)) is None
    assert approx_float(Fraction(1, 10 ** 400)) is None


@pytest.mark.parametrize("option", ["--vocab", "--d-model", "--batch", "--layers"])
def test_verify_refuses_a_pass_no_machine_holds(option, monkeypatch):
    from flopcalc import verify as verification

    monkeypatch.setattr(verification, "available_memory_bytes", lambda: None)  # unknown
    extra = ("--heads", 1) if option == "--d-model" else ()
    line = one_line_error(invoke("verify", option, 10 ** 320, *extra))
    assert "more than 2**62 bytes" in line


def test_verify_memory_message_is_exact_at_any_size(monkeypatch):
    from flopcalc import verify as verification

    monkeypatch.setattr(verification, "available_memory_bytes", lambda: 2 ** 30)
    line = one_line_error(invoke("verify", "--vocab", 10 ** 9))
    # wte alone is 10⁹ × 768 float32 (2,861 GiB), the logits 128 × 10⁹ float32 (477 GiB)
    assert re.search(r"needs about 3,3\d\d\.\d GiB of memory and 1\.0 GiB is available", line)


def test_plot_refuses_values_it_cannot_draw(tmp_path):
    line = one_line_error(invoke("plot", "--seq-len", f"128,{10 ** 310}", "--n-positions",
                                 10 ** 310, "-o", tmp_path / "p.png"))
    assert "below 10**250" in line and not (tmp_path / "p.png").exists()


def test_plot_draws_values_beyond_64_bit_integers(tmp_path):
    big = 10 ** 20
    result = invoke("plot", "--seq-len", f"{big},{2 * big}", "--n-positions", 2 * big,
                    "-o", tmp_path / "p.png")
    assert result.exit_code == 0, result.stderr
    assert (tmp_path / "p.png").stat().st_size > 0


SIZES = st.one_of(st.integers(-3, 4096),
                  st.builds(lambda k, c: 10 ** k + c, st.integers(0, 1100), st.integers(-2, 2)))
FIGURES = st.one_of(st.builds(lambda m, e: f"{m}e{e}", st.integers(-9, 99),
                              st.integers(-400, 400)),
                    st.sampled_from(["0", "-1", "nan", "1/3", "312", "abc", "1e-9", "1e9"]))
OPTIONS = ["--d-model", "--heads", "--layers", "--d-ff", "--vocab", "--n-positions",
           "--seq-len", "--batch"]


@settings(max_examples=examples(40))
@given(command=st.sampled_from(["flops", "memory", "params", "compare", "shapes"]),
       values=st.dictionaries(st.sampled_from(OPTIONS), SIZES, max_size=4),
       peak=st.none() | FIGURES, bandwidth=st.none() | FIGURES)
def test_fuzz_of_sizes_and_figures_finds_no_traceback(command, values, peak, bandwidth):
    args = [command, "--format", "csv"]
    for option, value in values.items():
        args += [option, value]
    if command == "memory":
        args += ["--peak-tflops", peak] if peak is not None else []
        args += ["--bandwidth-gbs", bandwidth] if bandwidth is not None else []
    result = invoke(*args)
    if result.exit_code != 0:
        one_line_error(result)
    assert "Traceback" not in result.stdout + result.stderr
