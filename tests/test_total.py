"""flopcalc flops --total and --per-token: the one number a script wants, in any mode."""

from cli_helpers import invoke, one_line_error
from test_cli import ok

D, L, F, V = 768, 12, 3072, 50257
MACS = D * 3 * D + D * D + 2 * D * F  # projections and MLP, per token and block


def forward(tokens, keys):
    """GPT-2 small's forward matmul FLOPs, dense attention: QKᵀ and P·V over ``keys``."""
    return 2 * (tokens * L * (MACS + 2 * keys * D) + tokens * D * V)


def test_total_is_the_plain_integer_of_the_table_s_total():
    assert ok("flops", "--total").stdout == f"{forward(128, 128)}\n"
    assert ok("flops", "--total", "--mode", "train", "--seq-len", "1024").stdout == \
        f"{3 * forward(1024, 1024)}\n"
    assert ok("flops", "--total", "--mode", "decode", "--position", "200").stdout == \
        f"{forward(1, 200)}\n"


def test_total_writes_a_file_and_refuses_a_format(tmp_path):
    ok("flops", "--total", "-o", tmp_path / "n.txt")
    assert (tmp_path / "n.txt").read_text() == f"{forward(128, 128)}\n"
    assert "--total" in one_line_error(invoke("flops", "--total", "-f", "json"))


def test_the_json_carries_the_total_per_token():
    import json
    doc = json.loads(ok("flops", "-f", "json").stdout)
    assert doc["per_token"] == {"tokens": 128, "tokens_are": "tokens of the batch (B·L)",
                                "total": forward(128, 128) // 128, "total_is_exact": True,
                                "total_exact": str(forward(128, 128) // 128)}
    assert forward(128, 128) % 128 == 0
    decode = json.loads(ok("flops", "-f", "json", "--mode", "decode", "--batch", "4").stdout)
    assert decode["per_token"]["tokens"] == 4
    assert decode["per_token"]["total"] == forward(1, 128)  # each sequence's new token
    gen = json.loads(ok("flops", "-f", "json", "--mode", "generate", "--prompt", "3",
                        "--new-tokens", "2").stdout)["per_token"]
    whole = forward(3, 3) + forward(1, 4)
    assert gen["tokens"] == 2 and gen["total_exact"] == (
        str(whole // 2) if whole % 2 == 0 else f"{whole}/2")


def test_per_token_is_the_one_number_of_flops_per_token():
    # a forward pass over the batch's B·L tokens, a training step, a decode step's new tokens
    assert ok("flops", "--per-token").stdout == f"{forward(128, 128) // 128}\n"
    assert ok("flops", "--per-token", "--mode", "train", "--seq-len", "1024",
              "--batch", "2").stdout == f"{3 * forward(1024, 1024) // 1024}\n"
    assert ok("flops", "--per-token", "--mode", "backward").stdout == \
        f"{2 * forward(128, 128) // 128}\n"   # the two gradient matmuls of each forward one
    assert ok("flops", "--per-token", "--mode", "decode", "--batch", "4").stdout == \
        f"{forward(1, 128)}\n"
    # generation: the prefill of 3 tokens and one decode step at position 4, over 2 tokens,
    # exact as n/d when it is not whole
    whole = forward(3, 3) + forward(1, 4)
    assert ok("flops", "--per-token", "--mode", "generate", "--prompt", "3",
              "--new-tokens", "2").stdout == (f"{whole // 2}\n" if whole % 2 == 0 else
                                              f"{whole}/2\n")
    odd = forward(3, 3) + sum(forward(1, t) for t in (4, 5, 6, 7))
    assert odd % 5 != 0   # so odd/5 is in lowest terms
    assert ok("flops", "--per-token", "--mode", "generate", "--prompt", "3",
              "--new-tokens", "5").stdout == f"{odd}/5\n"


def test_per_token_refuses_a_format_and_total():
    assert "--per-token" in one_line_error(invoke("flops", "--per-token", "-f", "csv"))
    assert "--total and --per-token" in one_line_error(invoke("flops", "--total",
                                                              "--per-token"))
