"""The claims audit: the seed document's claims checked against flopcalc's model.

Each expected number is worked out here from the architecture (a (m, k) @ (k, n) matmul is
m*k*n multiply-adds, 2 FLOPs each), never taken from flopcalc. The shipped claims file
(flopcalc/data/gpt2-document.toml) is the transcription of the seed document; these tests
never read the document itself.
"""

from __future__ import annotations

import hashlib
import json
from fractions import Fraction
from pathlib import Path

import pytest

from conftest import B, D, DFF, DH, H, L, NL, V
from flopcalc import render
from flopcalc.audit.claims import (BATCH, Code, claims_for_text, document_sha256, evaluate,
                                   evaluate_claims, load_claims, parse_claims, parse_expression,
                                   shipped_claims, similar_claims, solve)
from flopcalc.audit.report import audit_json, audit_tables, audit_text, run_audit
from flopcalc.config import FlopcalcError

# Per block, per sequence of L = 128 tokens, 2 FLOPs per multiply-add, dense, matmuls only.
PROJ = 2 * B * L * D * D                   # one of Q, K, V, or W_o        = 150,994,944
QKV = 3 * PROJ                             #                                = 452,984,832
SCORES = 2 * B * H * L * L * DH            # Q·Kᵀ, all heads                =  25,165,824
ATTN_V = 2 * B * H * L * L * DH            # softmax·V                      =  25,165,824
ATTENTION = SCORES + ATTN_V + PROJ         # as the document groups it      = 201,326,592
FFN = 2 * (2 * B * L * D * DFF)            # ffn_up + ffn_down              = 1,207,959,552
ONE_BLOCK = QKV + ATTENTION + FFN          #                                = 1,862,270,976
LM_HEAD = 2 * B * L * D * V                #                                = 9,880,928,256
# One token decoded at position 128 with a KV cache (the document's per-token terms).
TOKEN_SCORES = 2 * B * H * 1 * L * DH      # 196,608
TOKEN_W_O = 2 * B * 1 * D * D              # 1,179,648

assert (QKV, ATTENTION, FFN, ONE_BLOCK) == (452_984_832, 201_326_592, 1_207_959_552,
                                            1_862_270_976)


@pytest.fixture(scope="module")
def audit():
    return run_audit(None, "gpt2-document")


def claim(audit, claim_id):
    return audit.claim(claim_id)


def finding(r, code, **facts):
    """The first finding of a checked claim with this reason code (and these facts)."""
    for f in r.findings:
        if f["code"] == code and all(f.get(k) == v for k, v in facts.items()):
            return f
    raise AssertionError(f"{r.id}: no {code} {facts} among {[f['code'] for f in r.findings]}")


def codes(r) -> list:
    return [f["code"] for f in r.findings]


# ---------------------------------------------------------------------------------------
# The shipped claims file
# ---------------------------------------------------------------------------------------

def test_the_seed_documents_claims_file_ships_with_flopcalc():
    assert "gpt2-document" in shipped_claims()
    cf = load_claims("gpt2-document")
    cfg = cf.document.config
    assert (cfg.d_model, cfg.n_heads, cfg.n_layers, cfg.d_ff, cfg.seq_len, cfg.batch) == (
        768, 12, 12, 3072, 128, 1)
    assert cf.document.conventions.flops_per_mac == 2
    ids = [c.id for c in cf.claims]
    assert len(ids) == len(set(ids))
    assert all(c.line is None or 1 <= c.line <= 102 for c in cf.claims)
    # every numeric and shape claim of the FLOP section is transcribed
    assert {"qkv", "mha", "ffn", "total", "w_q", "q", "embedding.heads"} <= set(ids)


def test_the_shipped_claims_file_has_the_documents_fingerprint():
    doc = load_claims("gpt2-document").document
    assert doc.sha256 == "201121f3495a65b9c0cf61625129a34ffac4265237e93bac63d19a533aa59b13"


NOTES = "# My notes\n\nQKV: 3 × 128 × 768 × 768 × 2 = 452,984,832\n"


def test_claims_for_text_finds_the_claims_file_by_the_texts_sha256(tmp_path):
    digest = hashlib.sha256(NOTES.encode("utf-8")).hexdigest()   # LF line ends
    assert document_sha256(NOTES) == document_sha256(NOTES.replace("\n", "\r\n")) == digest
    path = tmp_path / "notes.toml"
    path.write_text(USER_HEADER.replace('title = "My notes"',
                                        f'title = "My notes"\nsha256 = "{digest.upper()}"')
                    + '[[claim]]\nid = "seq_len"\nquantity = "dim.seq_len"\nstated = 128\n',
                    encoding="utf-8")
    assert load_claims(path).document.sha256 == digest
    assert claims_for_text(NOTES, ["gpt2-document", path]) == str(path)
    assert claims_for_text(NOTES.replace("\n", "\r\n"), [path]) == str(path)
    assert claims_for_text(NOTES + "more\n", [path]) is None
    assert claims_for_text(NOTES) is None                 # no shipped file is for these notes
    assert not run_audit(NOTES, path).warnings
    assert "sha256" in run_audit(NOTES + "more\n", path).warnings[0]


def test_a_text_no_claims_file_matches_gets_only_its_arithmetic_and_a_note(tmp_path):
    path = tmp_path / "notes.toml"
    digest = document_sha256(NOTES)
    path.write_text(USER_HEADER.replace('title = "My notes"',
                                        f'title = "My notes"\nsha256 = "{digest}"')
                    + '[[claim]]\nid = "seq_len"\nquantity = "dim.seq_len"\nstated = 128\n',
                    encoding="utf-8")
    # the text it was made for: its claims, no note
    exact = audit_text(NOTES, None, "notes.md", candidates=[path])
    assert exact.claims_file is not None and exact.claims and not exact.notes
    # one figure changed: the arithmetic alone, and a note that names the near claims file
    edited = NOTES.replace("452,984,832", "452,984,833")
    result = audit_text(edited, None, "notes.md", candidates=[path])
    assert result.claims_file is None and not result.claims and result.equations
    assert similar_claims(edited, [path]) == [str(path)]
    (note,) = result.notes
    assert "no claims file matches notes.md" in note and "only its arithmetic" in note
    assert f"--claims {path}" in note
    # a text that resembles no claims file: the note says how to give one
    other = audit_text("2 + 2 = 4\n", None, "other.md", candidates=[path])
    assert other.notes == ["no claims file matches other.md; only its arithmetic was "
                           "checked (pass --claims NAME|PATH to check its claims)"]
    assert similar_claims("2 + 2 = 4\n", [path]) == []
    # --claims given: no search, no note
    assert not audit_text(edited, path, "notes.md").notes
    # the shipped files are searched by default
    assert similar_claims("# Details of the  GPT-2\nmodel\n") == ["gpt2-document"]


@pytest.mark.parametrize("value", ['"abc"', "12", f'"{"g" * 64}"'])
def test_a_malformed_sha256_is_an_error(value):
    with pytest.raises(FlopcalcError, match="sha256"):
        parse_claims(f"[document]\nsha256 = {value}\n" + USER_HEADER.split("[document]\n")[1]
                     + '[[claim]]\nid = "a"\nquantity = "dim.seq_len"\nstated = 128\n')


def test_the_document_does_not_pass_the_audit(audit):
    assert audit.ok is False
    assert audit.wrong_claims


# ---------------------------------------------------------------------------------------
# FLOP claims
# ---------------------------------------------------------------------------------------

def test_qkv_states_two_of_the_three_projections(audit):
    r = claim(audit, "qkv")
    assert r.verdict == "wrong"
    assert r.written == 3 * 128 * 768 * 768 * 2 == QKV      # the expression is right
    assert r.stated == 2 * PROJ == 301_989_888             # the stated value is not
    assert r.expected == QKV
    assert r.checks["arithmetic"] == "wrong" and r.checks["model"] == "wrong"
    off = finding(r, Code.ARITHMETIC_MISMATCH)
    assert (off["computed"], off["stated"]) == (QKV, 301_989_888)     # PROJ less than it
    assert finding(r, Code.COUNT_DIFFERS)["right"] == QKV
    assert finding(r, Code.EXPRESSION_RIGHT)["value"] == QKV and r.right == ("expression", QKV)
    two = finding(r, Code.EQUALS_ANOTHER_QUANTITY)["matches"]         # 2 of the 3 projections
    assert (two.quantity, len(two.parts), two.value) == ("subset:qkv_proj", 2, 2 * PROJ)
    assert (two.variant.scope, two.variant.blocks) == ("sequence", 1)


def test_mha_is_per_token_one_block_not_twelve_layers(audit):
    r = claim(audit, "mha")
    assert r.verdict == "wrong"
    assert r.unknowns == {"L": 128}                         # the sum holds only for L = 128
    assert r.written == r.stated == 1_605_632
    assert r.expected == NL * ATTENTION == 2_415_919_104
    assert finding(r, Code.EXPRESSION_HAS_UNKNOWN)["solution"] == {"L": 128}
    count = finding(r, Code.COUNT_DIFFERS)
    assert count["right"] == NL * ATTENTION
    assert sum(x for _, x in count["breakdown"]) == ATTENTION  # one block's correct count
    mixed = finding(r, Code.MIXES_SCOPES)
    assert mixed["token"] == ["mha.scores", "mha.values", "mha.w_o"]
    assert mixed["sequence"] == ["mha.mask"]
    assert finding(r, Code.ONE_BLOCK_FOR_MANY_BLOCKS)["blocks"] == NL
    # without the mask term, the rest is attention for one decoded token in one block
    rest = finding(r, Code.REST_WITHOUT_TERM, term="mha.mask")
    assert rest["rest"] == TOKEN_SCORES + TOKEN_SCORES + TOKEN_W_O
    assert (rest["matches"].quantity, rest["matches"].variant.scope,
            rest["matches"].variant.blocks) == ("attention", "token", 1)


def test_mha_says_its_only_twelves_are_the_heads_not_the_blocks(audit):
    # "for 12 layers", but each 12 of the formula multiplies d_head 64 in a per-head term
    # that equals the count over all 12 heads of one block: it is n_heads (12 = 12 here)
    r = claim(audit, "mha")
    blocks = finding(r, Code.ONE_BLOCK_FOR_MANY_BLOCKS, blocks=12)
    assert blocks["factor_of_blocks"] and blocks["heads_in"] == ["mha.scores", "mha.values"]
    # the total has no factor 12 at all
    total = finding(claim(audit, "total"), Code.ONE_BLOCK_FOR_MANY_BLOCKS, blocks=12)
    assert (total["factor_of_blocks"], total["heads_in"]) == (False, None)


def test_a_twelve_that_is_not_the_head_count_is_not_called_n_heads(tmp_path):
    path = tmp_path / "mine.toml"
    path.write_text(USER_HEADER + f"""
[[claim]]
id = "attn"
quantity = "flops.attention"
blocks = 12
expression = "12 × {ATTENTION // 12} + {FFN}"
terms = ["attn.all", "attn.ffn"]
stated = {ATTENTION + FFN}

[[claim]]
id = "attn.all"               # a 12 that splits a whole block's attention, W_o included
quantity = "flops.attention"

[[claim]]
id = "attn.ffn"
quantity = "flops.ffn"
""", encoding="utf-8")
    r = run_audit(None, path).claim("attn")
    blocks = finding(r, Code.ONE_BLOCK_FOR_MANY_BLOCKS, blocks=12)
    assert blocks["factor_of_blocks"] and blocks["heads_in"] is None


def test_a_term_row_records_its_text_and_solved_unknown_and_the_report_writes_the_cell(audit):
    from flopcalc.audit.report import as_written_text

    r = claim(audit, "mha.scores")
    # claims.py records the term as written and the unknown its sum solved (L = 128) ...
    assert (r.as_written, r.unknowns) == ("2 × 12 × L × 64", {"L": 128})
    # ... and report.py alone writes the "as written" cell from them
    assert as_written_text(r) == "2 × 12 × L × 64 (L = 128)"
    # a dimension stated alone is written as its figure: d_ff = 3072, with its separator
    d_ff = claim(audit, "d_ff")
    assert d_ff.claim.expression is None and d_ff.as_written == DFF == 3072
    assert as_written_text(d_ff) == "3,072"


@pytest.mark.parametrize("term, value", [("mha.scores", TOKEN_SCORES),
                                         ("mha.values", TOKEN_SCORES),
                                         ("mha.w_o", TOKEN_W_O)])
def test_mha_terms_are_per_token_counts(audit, term, value):
    r = claim(audit, term)
    assert r.term_of == "mha"
    assert r.written == value
    assert r.verdict == "wrong"
    assert finding(r, Code.COUNT_DIFFERS)["right"] == NL * value * L   # flopcalc's, 12 blocks
    match = finding(r, Code.EQUALS_ANOTHER_QUANTITY)["matches"]
    assert (match.value, match.variant.scope, match.variant.blocks) == (value, "token", 1)


def test_mha_mask_term_is_no_dot_product_and_has_no_heads(audit):
    r = claim(audit, "mha.mask")
    assert r.written == 1 * 128 * 128 * 2
    assert r.expected == 0                                   # a matmul-only count
    assert r.verdict == "wrong"
    ew = finding(r, Code.ELEMENTWISE_NOT_A_DOT_PRODUCT, op="causal_mask", right=0)
    assert ew["per_block"] == H * L * L                       # counted elementwise: 1 per score
    assert ew["counted"] == NL * H * L * L
    match = finding(r, Code.EQUALS_ANOTHER_QUANTITY)["matches"]  # one head, 2 per element
    assert (match.variant.one_head, match.variant.scope, match.variant.ew) == (
        True, "sequence", "as_mac")


def test_ffn_stray_plus_128_and_the_mislabelled_factor(audit):
    r = claim(audit, "ffn")
    assert r.verdict == "wrong"
    assert r.written == 128 * 768 * 3072 * 2 * 2 + 128 == FFN + 128
    assert r.stated == r.expected == FFN                     # the stated value is right
    assert r.checks["arithmetic"] == "wrong" and r.checks["model"] == "ok"
    off = finding(r, Code.ARITHMETIC_MISMATCH)
    assert off["computed"] - off["stated"] == 128
    assert finding(r, Code.STATED_VALUE_RIGHT)["stated"] == FFN
    assert finding(r, Code.TOTAL_WITHOUT_TERM, term="ffn.extra")["value"] == 128
    assert finding(r, Code.TERM_WITHOUT_COUNTERPART, term="ffn.extra")["text"] == "128"
    (label,) = finding(r, Code.TERM_LABEL, term="ffn.matmuls")["findings"]
    assert label["multiplicity"] == {"of": "matmuls", "quantity": "ffn",    # the number of
                                     "parts": ["ffn_up", "ffn_down"],       # FFN matmuls
                                     "dims": [L, D, DFF]}
    extra = claim(audit, "ffn.extra")
    assert extra.verdict == "wrong" and extra.expected == 0
    stray = finding(extra, Code.UNATTRIBUTED_TERM, right=0, value=128)
    assert stray["dimension"] == "seq_len" and stray["sum"] == "flops.ffn"
    matmuls = claim(audit, "ffn.matmuls")
    assert matmuls.written == matmuls.expected == FFN
    assert matmuls.checks["labels"] == "wrong"
    flops = finding(matmuls, Code.FACTOR_LABELLED_WRONGLY, label="flops")
    assert (flops["factors"], flops["extra"]) == (["2", "2"], 2)


def test_total_adds_wrongly_counts_w_o_twice_mixes_scopes_and_is_one_block(audit):
    r = claim(audit, "total")
    assert r.verdict == "wrong"
    terms = [1_207_959_552, 1_605_632, 1_179_648, 301_989_888]
    assert r.written == sum(terms) == 1_512_734_720
    assert r.stated == 1_512_734_848 == sum(terms) + 128     # the FFN's "+ 128" carried over
    assert r.expected == NL * ONE_BLOCK == 22_347_251_712
    off = finding(r, Code.ARITHMETIC_MISMATCH)
    assert off["stated"] - off["computed"] == 128
    taken = finding(r, Code.TOTAL_TAKES_EXPRESSION_VALUE, term="ffn")
    assert (taken["value"], taken["instead"]) == (FFN + 128, FFN)
    twice = finding(r, Code.COUNTED_TWICE, term="total.w_o")
    assert (twice["inside"], twice["inner"], twice["ops"]) == ("mha", ["mha.w_o", TOKEN_W_O],
                                                               ["out_proj"])
    assert finding(r, Code.MIXES_SCOPES)["token"] == ["total.w_o"]
    assert finding(r, Code.ONE_BLOCK_FOR_MANY_BLOCKS)["blocks"] == NL
    assert sum(x for _, x in finding(r, Code.COUNT_DIFFERS)["breakdown"]) == ONE_BLOCK
    assert finding(r, Code.LM_HEAD_OUTSIDE_SCOPE)["value"] == LM_HEAD
    qkv = finding(r, Code.TERM_EQUALS_ANOTHER_QUANTITY, term="qkv")["matches"]
    assert (qkv.quantity, len(qkv.parts)) == ("subset:qkv_proj", 2)   # 2 of the 3
    assert finding(r, Code.TERM_WRONG_ITSELF)["term"] == "mha"
    assert finding(claim(audit, "total.w_o"), Code.COUNTED_TWICE)["inside"] == "mha"


def test_flops_per_mac_is_per_multiply_add_not_per_dot_product(audit):
    r = claim(audit, "flops_per_mac")
    assert r.stated == r.expected == 2
    assert r.verdict == "wrong" and r.checks["labels"] == "wrong"
    dot = finding(r, Code.MULTIPLY_ADD_IS_NOT_A_DOT_PRODUCT)
    assert (dot["per"], dot["d_head"], dot["right"]) == ("dot product", DH, 2)


# ---------------------------------------------------------------------------------------
# Shape claims
# ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("claim_id", ["w_q", "w_k", "w_v", "w_o"])
def test_weights_have_no_batch_dimension(audit, claim_id):
    r = claim(audit, claim_id)
    assert r.stated == (BATCH, 768, 768)
    assert r.expected == (D, D)
    assert r.verdict == "wrong"
    batch = finding(r, Code.WEIGHT_WITH_BATCH_DIMENSION, right=(D, D))
    # GPT-2 stores W_q, W_k, W_v side by side (W_o apart)
    assert batch["fused"] == (None if claim_id == "w_o" else ("gpt2", "attn.c_attn", (D, 3 * D)))


@pytest.mark.parametrize("claim_id", ["embedding.heads", "q.heads", "k.heads", "v.heads"])
def test_head_split_order_is_heads_then_d_head(audit, claim_id):
    r = claim(audit, claim_id)
    assert r.stated == (BATCH, 128, 64, 12)
    assert r.expected == (BATCH, L, H, DH)
    assert r.verdict == "wrong"
    swapped = finding(r, Code.HEAD_SPLIT_SWAPPED)
    assert swapped["right"] == (BATCH, L, H, DH)
    assert swapped["transposed"] == (BATCH, H, L, DH)


def test_the_embedded_input_is_never_split_into_heads(audit):
    # embedding.heads extends the claim "embedding" (shape.embedding_input): a split of it
    r = claim(audit, "embedding.heads")
    never = finding(r, Code.NEVER_SPLIT_INTO_HEADS, claim="embedding")
    assert (never["tensor"], never["q_shape"]) == ("embedding_input", (BATCH, L, D))
    assert "never split into heads" in r.headline and "(B, 128, 12, 64)" in r.headline
    for claim_id in ("q.heads", "k.heads", "v.heads"):    # these splits are of Q, K, V
        assert Code.NEVER_SPLIT_INTO_HEADS not in codes(claim(audit, claim_id))


def test_query_of_a_full_forward_has_all_128_tokens(audit):
    r = claim(audit, "q")
    assert r.written == (BATCH, 1, D)                        # "(batch_size, 1 token, hidden_size)"
    assert r.stated == r.expected == (BATCH, L, D)
    assert r.verdict == "wrong" and r.checks["model"] == "ok"
    decode = finding(r, Code.DECODE_SHAPE_FOR_SEQUENCE, side="written")
    assert (decode["shape"], decode["right"]) == ((BATCH, 1, D), (BATCH, L, D))
    assert r.right == ("stated", (BATCH, L, D))


def test_input_embedding_is_an_activation_not_a_weight_matrix(audit):
    r = claim(audit, "embedding")
    assert r.stated == r.expected == (BATCH, L, D)
    assert r.verdict == "wrong" and r.checks["labels"] == "wrong"
    listed = finding(r, Code.ACTIVATION_LISTED_AS_WEIGHT, right="activation")
    assert listed["weights"][0] == ("wte.weight", (V, D)) and listed["shape_right"]


# ---------------------------------------------------------------------------------------
# The English, written by report.py from the findings: every reason, and a headline per
# wrong claim (one sentence: what is wrong and the right value)
# ---------------------------------------------------------------------------------------

def test_each_finding_of_the_qkv_claim_is_written_as_one_reason(audit):
    r = claim(audit, "qkv")
    assert r.reasons == [
        f"the expression evaluates to {QKV:,}; the stated 301,989,888 is {PROJ:,} less",
        f"flopcalc: {QKV:,} (per sequence of 128 tokens, one block = q_proj {PROJ:,} + "
        f"k_proj {PROJ:,} + v_proj {PROJ:,})",
        "the expression is right; the stated result is not",
        f"the stated 301,989,888 equals 2 of the 3 Q, K, V projections (2 × {PROJ:,}), per "
        "sequence of 128 tokens, for one block"]
    assert r.reason == "; ".join(r.reasons)
    assert r.headline == f"the stated 301,989,888 is 2 of the 3 Q, K, V projections; the " \
                         f"expression's {QKV:,} is right"


@pytest.mark.parametrize("claim_id, words", [
    ("embedding", ["activation, not a weight matrix", f"({V}, {D})"]),
    ("w_q", ["no batch dimension", f"({D}, {D})"]),
    ("q", ["one decoded token", "(B, 128, 768)"]),
    ("q.heads", ["swapped", "(B, 128, 12, 64)"]),
    ("flops_per_mac", ["multiply-add, not one dot product", f"{2 * DH - 1} FLOPs"]),
    ("qkv", ["2 of the 3", f"{QKV:,} is right"]),
    ("mha", ["one block, not 12", "its 12s are n_heads", f"{NL * ATTENTION:,}"]),
    ("mha.scores", ["per token, for one block", f"{NL * SCORES:,}"]),
    ("mha.mask", ["elementwise", "0 FLOPs"]),
    ("ffn", ["adds 128 (ffn.extra)", f"{FFN:,} is right"]),
    ("ffn.matmuls", ["number of FFN matmuls"]),
    ("ffn.extra", ["128 is seq_len", "0"]),
    ("total", ["one block, not 12", f"{NL * ONE_BLOCK:,}"]),
    ("total.w_o", ["counted twice"]),
])
def test_a_wrong_claims_headline_says_what_is_wrong_and_the_right_value(audit, claim_id, words):
    r = claim(audit, claim_id)
    for w in words:
        assert w in r.headline, (w, r.headline)


def test_every_wrong_claim_has_a_short_headline_and_keeps_every_reason(audit):
    for r in audit.claims:
        if r.verdict == "ok":
            assert r.headline == ""
            continue
        assert r.headline and len(r.headline) <= 120, (r.id, r.headline)
        assert ". " not in r.headline and "\n" not in r.headline    # one sentence
        assert len(r.reason) >= len(r.headline) or r.reason in r.headline
    doc = audit_json(audit)
    mha = next(c for c in doc["claims"] if c["id"] == "mha")
    assert mha["headline"] == audit.claim("mha").headline
    assert mha["reason"] == "; ".join(mha["reasons"]) and len(mha["reasons"]) > 3


def test_the_terminal_table_shows_headlines_the_markdown_every_reason(audit):
    brief, full = audit_tables(audit, brief=True)[0], audit_tables(audit)[0]
    reason = full.columns.index("reason")
    by_id = {row[0]: row for row in brief.rows}
    assert by_id["mha"][reason] == audit.claim("mha").headline
    assert {row[0]: row for row in full.rows}["mha"][reason] == audit.claim("mha").reason
    # a narrow terminal keeps id, line, verdict and reason
    assert set(brief.columns) - set(brief.optional) == {"id", "line", "verdict", "reason"}


@pytest.mark.parametrize("claim_id", [
    "n_layers", "seq_len", "d_model", "d_ff", "k", "v", "w_ffn_up", "w_ffn_down",
    "attention.d_model", "attention.seq_len", "attention.n_heads", "d_head", "ffn.d_model",
    "ffn.seq_len", "ffn.d_ff"])
def test_correct_claims_are_ok(audit, claim_id):
    r = claim(audit, claim_id)
    assert r.verdict == "ok", r.reason
    assert r.findings == [] and r.reason == ""


def test_ffn_weight_shapes_are_right(audit):
    assert claim(audit, "w_ffn_up").expected == (D, DFF)
    assert claim(audit, "w_ffn_down").expected == (DFF, D)
    assert claim(audit, "d_head").written == Fraction(768, 12) == DH


# ---------------------------------------------------------------------------------------
# A user's own claims file
# ---------------------------------------------------------------------------------------

USER_HEADER = """
[document]
title = "My notes"
[document.config]
seq_len = 128
[document.conventions]
embeddings = false
lm_head = false
"""


def test_a_users_correct_claims_pass(tmp_path):
    path = tmp_path / "mine.toml"
    path.write_text(USER_HEADER + f"""
[[claim]]
id = "qkv"
quantity = "flops.qkv_proj"
expression = "3 × 128 × 768 × 768 × 2"
labels = ["", "tokens", "embeddings", "embeddings", "FLOPs"]
stated = {QKV}

[[claim]]
id = "blocks"
quantity = "flops.block"
blocks = 12
stated = "{NL * ONE_BLOCK:,}"

[[claim]]
id = "token"
quantity = "flops.scores"
scope = "token"
stated = {TOKEN_SCORES}

[[claim]]
id = "w_q"
quantity = "shape.wq"
stated_shape = [768, 768]
""", encoding="utf-8")
    result = run_audit(None, path)
    assert result.ok, [(r.id, r.reason) for r in result.wrong_claims]


def test_a_users_wrong_claim_fails_with_a_diagnosis(tmp_path):
    path = tmp_path / "mine.toml"
    path.write_text(USER_HEADER + f"""
[[claim]]
id = "ffn"
quantity = "flops.ffn"
stated = {FFN // 2}
""", encoding="utf-8")
    result = run_audit(None, str(path))
    assert not result.ok
    r = result.claim("ffn")
    assert r.verdict == "wrong" and r.expected == FFN
    match = finding(r, Code.EQUALS_ANOTHER_QUANTITY)["matches"]
    assert match.value == FFN // 2
    assert match.variant.fpm == 1 or match.quantity == "subset:ffn"   # MACs, or 1 of the 2


def test_the_documented_example_runs(tmp_path):
    doc = docs_example()
    path = tmp_path / "example.toml"
    path.write_text(doc, encoding="utf-8")
    result = run_audit(None, path)
    assert result.claim("qkv").verdict == "ok"
    attn = result.claim("attn")
    assert attn.verdict == "wrong" and attn.unknowns == {"L": 128}
    assert attn.expected == NL * ATTENTION


def docs_example() -> str:
    """The TOML example of docs/audit.md."""
    text = (Path(__file__).parent.parent / "docs" / "audit.md").read_text(encoding="utf-8")
    start = text.index("```toml\n") + len("```toml\n")
    return text[start:text.index("```", start)]


def test_term_claims_inherit_the_sums_scope_and_sums_check_double_counting():
    cf = parse_claims(USER_HEADER + f"""
[[claim]]
id = "sum"
quantity = "flops.attention"
expression = "{SCORES} + {ATTN_V} + {PROJ} + {PROJ}"
terms = ["s", "v", "o", "o2"]
stated = {ATTENTION + PROJ}
[[claim]]
id = "s"
quantity = "flops.scores"
[[claim]]
id = "v"
quantity = "flops.attn_values"
[[claim]]
id = "o"
quantity = "flops.out_proj"
[[claim]]
id = "o2"
quantity = "flops.out_proj"
""")
    results = {r.id: r for r in evaluate_claims(cf)}
    assert results["s"].verdict == results["v"].verdict == results["o"].verdict == "ok"
    assert results["sum"].verdict == "wrong"
    assert finding(results["sum"], Code.COUNTED_TWICE, term="o2")["inside"] == "o"


# ---------------------------------------------------------------------------------------
# Label claims: what an operation reads (input.<op>) and the unit (convention.unit)
# ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("claim_id, verdict, expected, facts", [
    ("ffn.input.ln", "ok", "ln_2_output", None),
    ("ffn.input", "wrong", "ln_2_output", dict(code=Code.WRONG_INPUT, source="ln_2",
                                               before="out_proj", path=["residual_1", "ln_2"],
                                               residual_stream=False)),
    ("qkv.input", "wrong", "ln_1_output", dict(code=Code.WRONG_INPUT, source="ln_1",
                                               before="embed_add", path=["ln_1"],
                                               residual_stream=True)),   # block 0's stream
    ("unit", "wrong", "FLOPs", dict(code=Code.RATE_FOR_COUNT, stated="FLOPS")),
])
def test_the_documents_label_claims(audit, claim_id, verdict, expected, facts):
    r = claim(audit, claim_id)
    assert (r.verdict, r.expected) == (verdict, expected), r.reason
    if verdict == "wrong":
        finding(r, facts.pop("code"), right=expected, **facts)
        assert r.headline and r.right is None      # the headline names the right input itself
    else:
        assert r.findings == []
    row = next(c for c in audit_json(audit)["claims"] if c["id"] == claim_id)
    assert row["stated"] == r.stated and row["flopcalc"] == expected


def test_a_users_input_and_unit_claims(tmp_path):
    cases = [("input.q_proj", "ln_1_output", "ok"), ("input.qkv_proj", "ln_1_output", "ok"),
             ("input.k_proj", "embedding", "wrong"), ("input.v_proj", "residual", "wrong"),
             ("input.out_proj", "heads_concat", "ok"), ("input.out_proj", "attention_output",
                                                        "wrong"),
             ("input.ffn_up", "ln_2_output", "ok"), ("input.ffn_up", "attention_output", "wrong"),
             ("input.ffn_down", "ffn_hidden", "ok"), ("input.ffn_down", "ln_2_output", "wrong"),
             ("input.lm_head", "ln_f_output", "ok"), ("input.lm_head", "ffn_output", "wrong"),
             ("convention.unit", "FLOPs", "ok"), ("convention.unit", "FLOP", "ok"),
             ("convention.unit", "FLOPS", "wrong"), ("convention.unit", "FLOP/s", "wrong")]
    path = tmp_path / "labels.toml"
    path.write_text(USER_HEADER + "".join(
        f'[[claim]]\nid = "c{i}"\nquantity = "{q}"\nstated = "{s}"\n'
        for i, (q, s, _) in enumerate(cases)), encoding="utf-8")
    result = run_audit(None, path)
    for i, (q, s, verdict) in enumerate(cases):
        r = result.claim(f"c{i}")
        assert r.verdict == verdict, (q, s, r.reason)
        assert r.claim.kind == ("convention" if q == "convention.unit" else "input")
    # the residual stream the V projection is said to read comes after it
    assert finding(result.claim("c3"), Code.WRONG_INPUT, source="ln_1")["before"] is None
    assert result.claim("c3").headline == ("its input is ln_1(x), not the residual stream "
                                           "after a residual add")
    assert json.loads(json.dumps(audit_json(result)))["summary"]["claims_wrong"] == 8


# ---------------------------------------------------------------------------------------
# Bad input: one-line FlopcalcError
# ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("text, words", [
    ("[document\n", "invalid TOML"),
    (USER_HEADER + '[[claim]]\nid = "a"\nquantity = "flops.fnn"\nstated = 1\n',
     "unknown quantity 'flops.fnn'"),
    (USER_HEADER + '[[claim]]\nid = "a"\nquantity = "flops.ffn"\n', "needs stated"),
    (USER_HEADER + '[[claim]]\nid = "a"\nquantity = "flops.ffn"\nstated = 1\nscop = "token"\n',
     "unknown key 'scop'"),
    (USER_HEADER + '[[claim]]\nid = "a"\nquantity = "flops.ffn"\nstated = 1\n'
     'expression = "2 ×"\n', "expression"),
    (USER_HEADER + '[[claim]]\nid = "a"\nquantity = "shape.wq"\nstated_shape = ["foo", 2]\n',
     "'foo'"),
    (USER_HEADER + '[[claim]]\nid = "h"\nquantity = "shape.heads"\nof = "x"\n'
     'stated_shape = [128, 12, 64]\n', "of 'x' is not a shape claim"),
    (USER_HEADER + '[[claim]]\nid = "a"\nquantity = "flops.ffn"\nstated = 1\nof = "a"\n',
     "of belongs to a shape"),
    (USER_HEADER + '[[claim]]\nid = "a"\nquantity = "input.qkv"\nstated = "embedding"\n',
     "unknown quantity 'input.qkv' (did you mean 'input.qkv_proj'?)"),
    (USER_HEADER + '[[claim]]\nid = "a"\nquantity = "input.ffn_up"\nstated = "ln2_output"\n',
     "unknown input label 'ln2_output' (did you mean 'ln_2_output'?)"),
    (USER_HEADER + '[[claim]]\nid = "a"\nquantity = "input.ffn_up"\nstated = 3\n',
     "needs stated, an input label"),
    (USER_HEADER + '[[claim]]\nid = "a"\nquantity = "input.ffn_up"\nstated = "residual"\n'
     'scope = "token"\n', "scope does not apply to input.ffn_up"),
    (USER_HEADER + '[[claim]]\nid = "a"\nquantity = "convention.unit"\nstated = "flops"\n',
     "unknown unit 'flops' (did you mean 'FLOPs'?"),
    (USER_HEADER + '[[claim]]\nid = "a"\nquantity = "convention.unit"\n', "needs stated, a unit"),
])
def test_malformed_claims_files_raise_one_line_errors(tmp_path, text, words):
    path = tmp_path / "bad.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(FlopcalcError) as e:
        run_audit(None, path)
    message = str(e.value)
    assert "\n" not in message and words in message and str(path) in message


def test_unknown_shipped_name_and_missing_file(tmp_path):
    with pytest.raises(FlopcalcError, match="gpt2-document"):
        run_audit(None, "no-such-claims")
    with pytest.raises(FlopcalcError, match="cannot read"):
        run_audit(None, tmp_path / "missing.toml")
    with pytest.raises(FlopcalcError):
        run_audit(None, None)


# ---------------------------------------------------------------------------------------
# The text's arithmetic, tables and JSON
# ---------------------------------------------------------------------------------------

def test_with_a_text_the_arithmetic_runs_too(tmp_path):
    path = tmp_path / "mine.toml"
    path.write_text(USER_HEADER + f"""
[[claim]]
id = "qkv"
line = 1
quantity = "flops.qkv_proj"
expression = "3 × 128 × 768 × 768 × 2"
stated = {QKV}
""", encoding="utf-8")
    good = run_audit(f"QKV: 3 × 128 × 768 × 768 × 2 = {QKV:,}\n", path)
    assert good.equations and good.ok and not good.warnings
    bad = run_audit(f"QKV: 3 × 128 × 768 × 768 × 2 = {QKV:,}\nand 2 + 2 = 5\n", path)
    assert not bad.ok and bad.claim("qkv").verdict == "ok"   # the claims hold, the text not
    moved = run_audit(f"\nQKV: 3 × 128 × 768 × 768 × 2 = {QKV:,}\n", path)
    assert moved.warnings and "line 1" in moved.warnings[0]


def test_tables_claims_then_corrected_flops_and_shapes(audit):
    tables = audit_tables(audit)
    assert len(tables) == 3                                # claims, FLOPs, shapes
    claims_table = tables[0]
    assert claims_table.columns == ["id", "line", "quantity", "as written", "stated",
                                    "recomputed", "flopcalc", "verdict", "reason"]
    assert len(claims_table.rows) == len(audit.claims)
    assert [t.title for t in tables[1:]][0].startswith("FLOPs")
    flops = tables[1]
    assert any(row[1] == "one block" and row[5] == ONE_BLOCK for row in flops.totals)
    assert tables[2].title == "Shapes"
    markdown = render.to_markdown(tables)
    assert "301,989,888" in markdown and "| wrong |" in markdown
    assert render.to_csv(tables[0]).count("# ") >= 3


def test_json_is_serialisable_with_integer_counts(audit):
    doc = audit_json(audit)
    text = json.dumps(doc)
    back = json.loads(text)
    assert back["schema"] == "flopcalc.audit" and back["ok"] is False
    assert back["summary"]["claims"] == len(audit.claims)
    by_id = {c["id"]: c for c in back["claims"]}
    assert by_id["qkv"]["stated"] == 301_989_888 and by_id["qkv"]["flopcalc"] == QKV
    assert by_id["total"]["flopcalc"] == NL * ONE_BLOCK
    assert by_id["w_q"]["stated"] == ["batch_size", 768, 768]
    assert by_id["mha"]["unknowns"] == {"L": 128}
    assert back["flopcalc"]["block"] == ONE_BLOCK
    assert back["flopcalc"]["lm_head"] == LM_HEAD

    def no_floats(x):
        if isinstance(x, dict):
            return all(no_floats(v) for v in x.values())
        if isinstance(x, list):
            return all(no_floats(v) for v in x)
        return not isinstance(x, float)

    assert no_floats(back)


# ---------------------------------------------------------------------------------------
# The claims' expressions: read by flopcalc.audit.arithmetic, the parser of the text's equations
# ---------------------------------------------------------------------------------------

def test_claims_use_the_arithmetic_parser():
    from flopcalc.audit import arithmetic, claims

    for name in ("parse_expression", "evaluate", "solve", "additive_terms", "factors",
                 "ExpressionError"):
        assert getattr(claims, name) is getattr(arithmetic, name)


def test_expressions_are_exact_with_separators_units_and_one_unknown():
    assert (evaluate("1,207,959,552 + (1,179,648 + 301,989,888)")
            == 1207959552 + 1179648 + 301989888)
    assert evaluate("3 × 128 tokens × 768 embeddings x 768 * 2 FLOPs") == QKV
    assert evaluate("768 / 12") == 64
    assert evaluate("4 * hidden_size", {"hidden_size": 768}) == 3072
    expr = parse_expression("2 × 12 × L × 64 + 1")
    assert expr.symbols == ("L",)
    assert evaluate(expr, {"L": 0}) == 1 and evaluate(expr, {"L": 1}) == 2 * 12 * 64 + 1
    assert solve(expr, {}, 2 * 12 * 128 * 64 + 1) == 128


@pytest.mark.parametrize("fpm, attention, elementwise", [(2, "dense", False), (1, "causal", True),
                                                          (2, "causal", False)])
def test_the_audits_counts_are_flopcalcs_own(fpm, attention, elementwise):
    """The claims engine counts through the same model as `flopcalc flops` (any conventions)."""
    from flopcalc.analysis import decode_report, flop_report
    from flopcalc.audit.claims import Model

    cf = parse_claims(f"""
[document.conventions]
flops_per_mac = {fpm}
attention = "{attention}"
elementwise = {str(elementwise).lower()}
[[claim]]
id = "x"
quantity = "flops.block"
stated = 1
""")
    doc = cf.document
    model = Model(doc)
    full = flop_report(doc.config, doc.conventions)
    token = decode_report(doc.config, doc.config.seq_len, doc.conventions)
    assert model.expected("flops.block", "sequence", NL) == full.blocks_total
    assert model.expected("flops.block", "token", 1) == token.block_total
    assert model.expected("flops.forward", "sequence", 1) == full.total
