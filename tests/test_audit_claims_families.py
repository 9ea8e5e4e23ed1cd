"""Claims files for every architecture (issue 9): the claims vocabulary is found by role in
any family's layer groups, and each wrong claim carries its findings as data (issue 11,
item 5).

Expected values are worked out here from the models' published sizes, never taken from
flopcalc.
"""

from __future__ import annotations

import pytest

from flopcalc.audit.claims import evaluate_claims, parse_claims
from flopcalc.config import FlopcalcError

# Llama-3.1-8B (its config.json)
D, NL, H, HKV, DH, F, V = 4096, 32, 32, 8, 128, 14336, 128256
L = 1024


def claims(config: str, body: str, conventions: str = "") -> dict:
    text = (f'[document]\ntitle = "notes"\n[document.config]\n{config}\n'
            f'[document.conventions]\nembeddings = false\nlm_head = false\n{conventions}\n'
            + body)
    return {r.id: r for r in evaluate_claims(parse_claims(text))}


LLAMA = f'preset = "llama-3.1-8b"\nseq_len = {L}'


def codes(result) -> set[str]:
    return {f["code"] for f in result.findings}


def test_a_llama_claims_file_is_counted_by_role():
    r = claims(LLAMA, f"""
[[claim]]
id = "q"
quantity = "flops.q_proj"
stated = {2 * L * D * H * DH}

[[claim]]
id = "k_as_q"
quantity = "flops.k_proj"
expression = "2 * {L} * {D} * {D}"
stated = {2 * L * D * D}

[[claim]]
id = "mlp"
quantity = "flops.ffn"
stated = {3 * 2 * L * D * F}

[[claim]]
id = "mlp_all"
quantity = "flops.ffn"
blocks = {NL}
stated = {NL * 3 * 2 * L * D * F}

[[claim]]
id = "up"
quantity = "flops.ffn_up"
stated = {2 * L * D * F}

[[claim]]
id = "attention"
quantity = "flops.attention"
stated = {2 * (2 * H * L * L * DH) + 2 * L * H * DH * D}
""")
    assert all(r[i].verdict == "ok" for i in ("q", "mlp", "mlp_all", "up", "attention"))
    wrong = r["k_as_q"]
    # K has 8 heads of 128: 2·L·d·(8·128); the stated figure is the Q (or W_o) projection's
    assert (wrong.verdict, wrong.expected) == ("wrong", 2 * L * D * HKV * DH)
    assert wrong.matches[0].parts == ("q_proj",)
    assert {"count-differs", "equals-another-quantity"} <= codes(wrong)
    right = next(f for f in wrong.findings if f["code"] == "count-differs")["right"]
    assert right == 2 * L * D * HKV * DH


def test_llama_shapes_inputs_and_dimensions():
    r = claims(LLAMA, f"""
[[claim]]
id = "wk_math"
quantity = "shape.wk"
stated_shape = [{D}, {HKV * DH}]

[[claim]]
id = "wk_stored"
quantity = "shape.wk"
stated_shape = [{HKV * DH}, {D}]

[[claim]]
id = "k_heads"
quantity = "shape.k_heads"
stated_shape = ["batch", {L}, {DH}, {HKV}]

[[claim]]
id = "mlp_input"
quantity = "input.ffn_up"
stated = "attention_output"

[[claim]]
id = "kv_heads"
quantity = "dim.n_kv_heads"
stated = {HKV}
""")
    # torch stores a Linear's weight (out, in); written as x·W it is (in, out): both hold
    assert r["wk_math"].verdict == r["wk_stored"].verdict == "ok"
    split = r["k_heads"]
    assert split.verdict == "wrong" and split.expected[1:] == (L, HKV, DH)
    assert "head-split-swapped" in codes(split)
    reads = r["mlp_input"]
    assert (reads.verdict, reads.expected) == ("wrong", "ln_2_output")
    assert next(f for f in reads.findings if f["code"] == "wrong-input")["source"] == \
        "post_attention_layernorm"
    assert r["kv_heads"].verdict == "ok"


def test_gemma2_all_blocks_sum_its_sliding_and_full_layers():
    # Gemma-2-9B: 42 layers alternating sliding (W = 4096) and full; 16 heads of 256
    heads, dh, window, seq = 16, 256, 4096, 8192
    full = seq * (seq + 1) // 2                          # causal pairs, full attention
    sliding = sum(min(i + 1, window) for i in range(seq))  # causal pairs within the window
    per_pair = 2 * heads * dh
    r = claims(f'preset = "gemma-2-9b"\nseq_len = {seq}', f"""
[[claim]]
id = "scores_all"
quantity = "flops.scores"
blocks = 42
stated = {per_pair * (21 * full + 21 * sliding)}

[[claim]]
id = "scores_as_if_full"
quantity = "flops.scores"
blocks = 42
stated = {per_pair * 42 * full}
""", 'attention = "causal"')
    assert r["scores_all"].verdict == "ok"
    assert r["scores_as_if_full"].verdict == "wrong"


def test_a_quantity_the_model_does_not_have_is_one_clear_error():
    with pytest.raises(FlopcalcError, match="no such tensor"):
        claims(LLAMA, """
[[claim]]
id = "wpe"
quantity = "shape.wpe"
stated_shape = [1024, 4096]
""")


def test_a_gpt2_claims_file_without_a_preset_is_the_config_it_always_was():
    r = claims("d_model = 768\nn_heads = 12\nseq_len = 128", """
[[claim]]
id = "qkv"
quantity = "flops.qkv_proj"
stated = 452984832
""")
    assert r["qkv"].verdict == "ok" and not r["qkv"].findings


def test_an_operation_the_model_does_not_have_is_named():
    with pytest.raises(FlopcalcError, match="fuses Q, K and V"):
        claims('preset = "pythia-1.4b"', """
[[claim]]
id = "q"
quantity = "flops.q_proj"
stated = 1
""")
    with pytest.raises(FlopcalcError, match="has no embed_add"):
        claims(LLAMA, """
[[claim]]
id = "positions"
quantity = "flops.embed_add"
stated = 1
""")
