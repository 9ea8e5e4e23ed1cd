"""`flopcalc plot`: the exact attention/FFN crossover, PNG and SVG files, and the one-line
errors (including a missing matplotlib)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from cli_helpers import invoke, one_line_error

from flopcalc import Config, Conventions, flop_report
from flopcalc.config import Mode
from flopcalc.plot import INSTALL, crossover

# The one-line message names both installs: from PyPI, and from a clone as the README does
FROM_PYPI, FROM_CLONE = "pip install 'flopcalc[plot]'", "pip install '.[plot]'"
INSTALL_LINE = f"{FROM_PYPI} (from a clone: {FROM_CLONE})"


def attention_and_ffn(cfg: Config, conv: Conventions, mode: Mode = Mode()) -> tuple[int, int]:
    rows = {r.op.name: r.flops for r in flop_report(cfg, conv, mode).rows}
    return rows["scores"] + rows["attn_values"], rows["ffn_up"] + rows["ffn_down"]


# The crossover, from first principles ------------------------------------------------------

def test_dense_crossover_is_at_seq_len_equal_to_d_ff():
    # per block: QKᵀ and P·V are 2·B·L²·d each, 4·B·L²·d together; the FFN is
    # 2·B·L·d·d_ff twice, 4·B·L·d·d_ff: equal when L = d_ff
    d_ff = 3072
    cross = crossover({}, "seq_len", Conventions(), Mode(), Config())
    assert (cross.root, cross.attention_above, cross.first_above) == (d_ff, True, d_ff + 1)
    at = Config(n_positions=8192, seq_len=d_ff)
    attn, ffn = attention_and_ffn(at, Conventions())
    assert attn == ffn == 4 * d_ff * 768 * d_ff
    attn, ffn = attention_and_ffn(at.with_(seq_len=d_ff + 1), Conventions())
    assert attn > ffn
    assert "seq_len = 3072; attention is larger above it" in cross.describe()


def test_causal_crossover_is_at_two_d_ff_minus_one():
    # causal: 2 · B·d·L(L+1)/2 · 2 = 2·B·L(L+1)·d against 4·B·L·d·d_ff: L + 1 = 2·d_ff
    cross = crossover({}, "seq_len", Conventions(attention="causal"), Mode(), Config(d_ff=1000))
    assert cross.root == 2 * 1000 - 1 and cross.attention_above


def test_d_model_crossover_with_d_ff_following_d_model():
    # 4·B·L²·d against 4·B·L·d·(4d): equal at d = L/4, attention larger below
    cross = crossover({}, "d_model", Conventions(), Mode(), Config(seq_len=128))
    assert (cross.root, cross.attention_above) == (32, False)


def test_decode_crossover_and_no_crossover():
    # one token at position t: 4·B·t·d against 4·B·d·d_ff per block, t = d_ff
    cross = crossover({}, "position", Conventions(), Mode("decode"), Config(d_ff=512))
    assert cross.root == 512
    assert crossover({}, "batch", Conventions(), Mode(), Config()) is None


def test_elementwise_crossover_is_an_exact_root():
    conv = Conventions(elementwise=True)
    cross = crossover({}, "seq_len", conv, Mode(), Config())
    below, above = cross.first_above - 1, cross.first_above
    cfg = Config(n_positions=8192)
    a, f = attention_and_ffn(cfg.with_(seq_len=below), conv)
    assert a <= f
    a, f = attention_and_ffn(cfg.with_(seq_len=above), conv)
    assert a > f


# Files -----------------------------------------------------------------------------------

def test_plot_writes_png_atomically(tmp_path):
    pytest.importorskip("matplotlib")
    out = tmp_path / "shares.png"
    result = invoke("plot", "--seq-len", "128:8192:x2", "--n-positions", "8192", "-o", str(out))
    assert result.exit_code == 0, result.stderr
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert result.stderr == "" and result.stdout == ""  # silent on success, as every command
    assert [p.name for p in tmp_path.iterdir()] == ["shares.png"]  # no temporary file left


def test_plot_estimates_writes_svg(tmp_path):
    pytest.importorskip("matplotlib")
    out = tmp_path / "estimates.svg"
    result = invoke("plot", "--kind", "estimates", "--d-model", "256:1024:+256", "--heads", "4",
                    "--output", str(out))
    assert result.exit_code == 0, result.stderr
    text = out.read_text(encoding="utf-8")
    assert text.startswith("<?xml") and "<svg" in text


@pytest.mark.parametrize("args, message", [
    (["-o", "x.pdf", "--seq-len", "128,256"], ".png or .svg"),
    (["-o", "x.png", "--seq-len", "128,256", "--batch", "1,2"], "exactly one dimension"),
    (["-o", "x.png", "--seq-len", "128:8192:x2"], "sweep point seq_len=2048"),
    (["-o", "x.png", "--seq-len", "128:8192:x2"], "raise --n-positions (or add --skip-invalid"),
    (["-o", "x.png", "--kind", "estimates", "--d-model", "768,1000"],
     "give --n-heads a value that divides every d_model, or add --skip-invalid"),
    (["--seq-len", "128,256"], "--output"),
])
def test_plot_bad_input_is_one_line_exit_2(args, message, tmp_path, monkeypatch):
    pytest.importorskip("matplotlib")
    monkeypatch.chdir(tmp_path)
    assert message in one_line_error(invoke("plot", *args))
    assert list(tmp_path.iterdir()) == []


def test_plot_without_matplotlib_says_how_to_install(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib -> ImportError
    out = tmp_path / "shares.png"
    line = one_line_error(invoke("plot", "--seq-len", "128,256", "-o", str(out)))
    assert INSTALL == INSTALL_LINE and INSTALL_LINE in line
    assert line.endswith(f"flopcalc plot needs matplotlib: {INSTALL_LINE}")
    assert not out.exists()


def test_the_clone_install_in_the_message_is_the_readmes():
    readme = (Path(__file__).parent.parent / "README.md").read_text(encoding="utf-8")
    assert FROM_CLONE in readme
