"""The claims check without a claims file (issue 11, item 4): every figure a write-up states,
matched against flopcalc's quantities for a model that is given or inferred from the text.

Each expected value is worked out here from the model's published sizes (a (m, k) @ (k, n)
matmul is m·k·n multiply-adds, 2 FLOPs each), never taken from flopcalc. The findings are
asserted as data (verdict, reason code, the quantity matched), not as English.
"""

from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cli_helpers import invoke
from flopcalc.architecture import Workload
from flopcalc.architectures.presets import make_architecture
from flopcalc.audit.figures import check_figures, find_numbers, infer_model
from flopcalc.audit.report import audit_json, audit_text
from fuzz_helpers import examples

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "figures"
LLAMA_TEXT = (FIXTURES / "llama-3.1-8b.md").read_text(encoding="utf-8")
GPT2_TEXT = (FIXTURES / "gpt2-small.md").read_text(encoding="utf-8")

# Llama-3.1-8B (its config.json): d = 4096, 32 layers, 32 heads of 128, 8 KV heads, d_ff 14336
D, NL, H, HKV, DH, F, V, L = 4096, 32, 32, 8, 128, 14336, 128256, 2048
Q_PROJ = 2 * L * D * (H * DH)                 # 68,719,476,736
K_PROJ = 2 * L * D * (HKV * DH)               # 17,179,869,184
MLP_MACS = 3 * L * D * F                      # gate, up, down: 360,777,252,864 multiply-adds
MLP = 2 * MLP_MACS                            # 721,554,505,728 FLOPs per layer
KV_BF16 = 2 * NL * L * HKV * DH * 2           # K and V, every layer, 2 bytes: 268,435,456
EMBEDDING = V * D                             # 525,336,576
PARAMS = 8_030_261_248                        # Meta's model card: 8.03B

# GPT-2 small at 128 tokens
G_D, G_L, G_NL, G_F = 768, 128, 12, 3072
G_FFN = 2 * (2 * G_L * G_D * G_F)             # 1,207,959,552
G_BLOCK = 1_862_270_976                       # the seed document's one-block count


def findings(text, preset, seq_len, inferred=False):
    arch = make_architecture(preset)
    return [f for f in check_figures(text, arch, Workload(1, seq_len), inferred=inferred)
            if f.code != "dimension"]


def at(found, figure):
    (f,) = [f for f in found if f.value == figure]
    return f


def test_the_figures_are_what_the_text_states_alone():
    numbers = find_numbers("It costs 2 × 128 × 768 = 196,608 FLOPs, about 1.2 TFLOPs, 7.92 GB, "
                           "124M params, $1.5 \\times 10^{9}$ FLOPs and 3.3 billion.")
    alone = [(n.value, n.unit) for n in numbers if not n.operand]
    assert alone == [(196_608, "FLOPs"), (Fraction(12, 10), "TFLOPs"), (Fraction(792, 100), "GB"),
                     (124_000_000, "params"),
                     (1_500_000_000, "FLOPs"), (3_300_000_000, "")]
    assert [n.value for n in numbers if n.operand] == [2, 128, 768]


def test_a_llama_write_up_against_its_model():
    found = findings(LLAMA_TEXT, "llama-3.1-8b", L)
    q = at(found, Q_PROJ)
    assert (q.verdict, q.code, q.quantity.key) == ("ok", "equals", "q_proj")
    assert q.quantity.data["variant"].blocks == 1
    k = at(found, K_PROJ)
    assert (k.verdict, k.quantity.key) == ("ok", "k_proj")
    # three matmuls counted as multiply-adds but labelled FLOPs: the MAC count, half the FLOPs
    macs = at(found, MLP_MACS)
    assert (macs.verdict, macs.code, macs.quantity.key, macs.right) == (
        "wrong", "mac-count", "ffn", MLP)
    # the all-layers count, once stated "per layer" (wrong) and once "over all 32 layers" (ok)
    per_layer, over_all = sorted((f for f in found if f.value == NL * MLP),
                                 key=lambda f: f.line)
    assert (per_layer.verdict, per_layer.code, per_layer.said) == ("wrong", "scope", ("block",))
    assert (over_all.verdict, over_all.code) == ("ok", "equals")
    assert over_all.quantity.data["variant"].blocks == NL
    # parameters and bytes, at the precision written
    total = at(found, 8_030_000_000)
    assert (total.verdict, total.quantity.key, total.step) == ("ok", "params.total", 10**7)
    assert abs(total.quantity.value - PARAMS) <= total.step // 2
    weights = at(found, 16_060_000_000)                  # 16.06 GB: 2 bytes per parameter
    assert (weights.quantity.key, weights.quantity.data["dtype"]) == ("bytes.weights", "bf16/fp16")
    assert at(found, EMBEDDING).quantity.key == "tensor:embed_tokens.weight"
    kv = at(found, KV_BF16)
    assert (kv.quantity.key, kv.quantity.data["dtype"], kv.quantity.data["tokens"]) == (
        "bytes.kv_cache", "bf16/fp16", L)
    stray = at(found, 12_345_678)
    assert (stray.verdict, stray.code, stray.quantity) == ("unmatched", "no-quantity", None)


def test_a_gpt2_write_up_with_the_seeds_kinds_of_slip():
    found = findings(GPT2_TEXT, "gpt2", G_L)
    assert at(found, G_FFN).quantity.key == "ffn"
    per_layer, total = sorted((f for f in found if f.value == G_NL * G_BLOCK),
                              key=lambda f: -f.line)
    assert (per_layer.verdict, per_layer.code) == ("wrong", "scope")
    assert (total.verdict, total.quantity.key) == ("ok", "block")
    assert total.quantity.data["variant"].blocks == G_NL
    # one decoded token's scores at position 128: 2 · 12 heads · 128 keys · 64
    token = at(found, 2 * 12 * 128 * 64)
    assert token.quantity.key == "scores" and token.quantity.data["variant"].scope == "token"
    assert at(found, 124_439_808).quantity.key == "params.total"
    assert at(found, 4 * 124_439_808).quantity.data["dtype"] == "fp32"


def test_the_model_is_inferred_from_what_the_text_states():
    guess = infer_model(LLAMA_TEXT)
    assert guess.start == "preset llama-3.1-8b"
    assert guess.workload.seq_len == L
    assert {k: v for k, (v, _) in guess.found.items()} == {
        "n_layers": NL, "d_model": D, "n_heads": H, "n_kv_heads": HKV, "d_ff": F, "vocab": V,
        "seq_len": L}
    sized = infer_model("A toy model: $d = 512$, $h = 8$ heads, 6 layers and $n = 64$ tokens.")
    arch = sized.architecture
    assert (arch.d_model, arch.n_heads, arch.n_layers, arch.d_head, sized.workload.seq_len) == (
        512, 8, 6, 64, 64)
    assert set(sized.assumed) == {"d_ff", "vocab"}
    # D and N are a data set's tokens and a parameter count, not d_model
    assert infer_model("With $N = 175 \\times 10^9$ and $D = 3 \\times 10^{11}$.") is None
    assert infer_model("Nothing about any model here.") is None


@pytest.mark.parametrize("text, start", [
    ("# GPT-2 XL notes", "preset gpt2-xl"),           # spaced and hyphenated as people write
    ("Our GPT2 XL run", "preset gpt2-xl"),
    ("Llama 3.1 8B, in bf16.", "preset llama-3.1-8b"),  # a full stop ends the name
    ("the llama3.1-8b checkpoint", "preset llama-3.1-8b"),
    ("Mixtral 8x7B routes two experts", "preset mixtral-8x7b"),
    ("GPT-2 medium", "preset gpt2-medium"),
    ("pythia-1.4b", "preset pythia-1.4b"),
    ("a gpt2-xlarge model", "family gpt2"),            # no such preset: the family
])
def test_a_model_named_as_people_write_it_is_that_preset(text, start):
    guess = infer_model(text)
    assert (guess.start, guess.named) == (start, True)


def test_the_numbers_inside_a_fraction_are_its_operands_not_figures():
    numbers = find_numbers(r"$\frac{3.15 \times 10^{23}}{1.5 \times 10^{17}} = 2.1 \times 10^{6}$")
    assert [(n.value, n.operand) for n in numbers] == [
        (315 * 10**21, True), (15 * 10**16, True), (21 * 10**5, False)]


def test_a_bare_figure_in_a_sentence_that_names_nothing_is_never_called_wrong():
    # Q, K and V of GPT-2 small at 128 tokens: 128 × 768 × 2304 = 226,492,416 multiply-adds
    macs = G_L * G_D * 3 * G_D
    assert macs == 226_492_416 and 2 * macs == G_QKV
    f = gpt2_figure(f"The QKV projections cost {macs:,} FLOPs.")   # FLOPs said: MACs given
    assert (f.verdict, f.code, f.right) == ("wrong", "mac-count", G_QKV)
    f = gpt2_figure(f"We got {macs:,} here.")         # no unit, no quantity, no scope named
    assert (f.verdict, f.code, f.quantity) == ("unmatched", "no-quantity", None)


def test_a_sequence_length_the_text_states_beyond_the_position_table_is_kept():
    guess = infer_model("A GPT-2 at a sequence length of 2048 tokens.")
    assert guess.workload.seq_len == 2048 and guess.architecture.n_positions == 2048
    assert infer_model("GPT-2 small.").architecture.n_positions == 1024


def test_against_an_inferred_model_a_wrong_figure_is_suspect_and_does_not_fail():
    inferred = audit_text(LLAMA_TEXT, name="notes.md")
    assert inferred.guess is not None and inferred.guess.start == "preset llama-3.1-8b"
    codes = {(f.verdict, f.code) for f in inferred.figures}
    assert ("suspect", "mac-count") in codes and ("suspect", "scope") in codes
    assert not inferred.wrong_figures and inferred.exit_code == 0
    given = audit_text(LLAMA_TEXT, name="notes.md",
                       model=(make_architecture("llama-3.1-8b"), Workload(1, L)))
    assert given.guess is None and len(given.wrong_figures) == 2 and given.exit_code == 1


def test_the_cli_checks_the_figures_against_a_given_model(tmp_path):
    path = tmp_path / "notes.md"
    path.write_text(LLAMA_TEXT, encoding="utf-8")
    result = invoke("audit", path, "--preset", "llama-3.1-8b", "--seq-len", str(L),
                    "--format", "json")
    assert result.exit_code == 1
    doc = json.loads(result.stdout)
    assert doc["figures"]["inferred"] is None
    assert doc["figures"]["model"]["d_model"] == D and doc["figures"]["model"]["seq_len"] == L
    records = {r["value"]: r for r in doc["figures"]["findings"]}
    mac = records[MLP_MACS]
    assert (mac["verdict"], mac["reason_code"], mac["right"]) == ("wrong", "mac-count", MLP)
    assert mac["quantity"]["flops_per_mac"] == 1 and mac["quantity"]["key"] == "ffn"
    assert doc["summary"]["figures_wrong"] == 2
    # the same text without a model: the model is inferred and said
    inferred = invoke("audit", path, "--format", "json")
    assert inferred.exit_code == 0
    said = json.loads(inferred.stdout)["figures"]["inferred"]
    assert said["start"] == "preset llama-3.1-8b" and said["stated"]["d_ff"]["value"] == F
    # a claims file carries its own model
    both = invoke("audit", path, "--claims", "gpt2-document", "--preset", "gpt2")
    assert both.exit_code == 2 and "--claims" in both.stderr
    # --no-infer: the arithmetic alone, as before
    alone = invoke("audit", path, "--no-infer", "--format", "json")
    assert json.loads(alone.stdout)["figures"] is None


def test_a_text_whose_only_figures_are_its_dimensions_still_checked_nothing():
    result = audit_text("GPT-2 small has 12 layers and 12 heads.\n")
    assert result.figures and all(f.code == "dimension" for f in result.figures)
    assert result.exit_code == 3


def test_the_json_carries_each_finding_as_a_record():
    doc = audit_json(audit_text(GPT2_TEXT))
    record = next(r for r in doc["figures"]["findings"] if r["value"] == G_FFN)
    assert record["verdict"] == "ok" and record["reason_code"] == "equals"
    assert record["quantity"]["key"] == "ffn" and record["quantity"]["blocks"] == 1
    assert record["quantity"]["value"] == G_FFN and record["reason"]


@pytest.mark.parametrize("preset", ["gemma-2-9b", "pythia-1.4b", "phi-3-mini-4k", "qwen3-8b"])
def test_every_family_has_its_quantities(preset):
    arch = make_architecture(preset)
    ffn = 2 * 128 * arch.d_model * arch.d_ff * (3 if arch.mlp == "gated" else 2)
    found = check_figures(f"The MLP of one layer costs {ffn:,} FLOPs.", arch, Workload(1, 128))
    (f,) = found
    assert (f.verdict, f.quantity.key) == ("ok", "ffn")


CORPUS = sorted((Path(__file__).resolve().parent / "fixtures").rglob("*.md"))


@pytest.mark.parametrize("path", CORPUS, ids=lambda p: p.name)
def test_an_inferred_model_never_fails_a_write_up_the_arithmetic_passes(path):
    text = path.read_text(encoding="utf-8")
    alone, inferred = audit_text(text, infer=False), audit_text(text)
    assert not inferred.wrong_figures
    assert inferred.exit_code in (alone.exit_code, 0 if alone.exit_code == 3 else None)


FIGURE_PIECES = ["4096", "32", "1.2", "8.03B", "16.06 ", "GB", "GiB", " TFLOPs", " MACs",
                 " FLOPs", " parameters", " layers", " heads", " KV heads", "a hidden size of ",
                 "d = ", "h = ", "n = ", "$", "\\times 10^{9}", "× 10⁹", "per layer ", "in total ",
                 "per token ", "llama-3.1-8b ", "gemma-2-9b ", "Mistral ", "GPT-2 ", " = ", "\n",
                 ", ", "0", "1,024", "0.0", "e30", "-", "(", ")", "per head "]


@settings(max_examples=examples(25), deadline=None)
@given(st.lists(st.sampled_from(FIGURE_PIECES), max_size=40).map("".join))
def test_random_figures_raise_nothing(text):
    result = audit_text(text)
    json.dumps(audit_json(result))
    for f in result.figures or ():
        assert f.verdict in ("ok", "suspect", "unmatched")   # an inferred model: never wrong


# The quantity a sentence names: a figure is matched against it first
G_QKV = 3 * 2 * G_L * G_D * G_D                            # 452,984,832
G_PARAMS = 124_439_808
G_FFN_PARAMS = (G_D * G_F + G_F) + (G_F * G_D + G_D)        # c_fc and c_proj: 4,722,432
G_ATTN_PARAMS = (G_D * 3 * G_D + 3 * G_D) + (G_D * G_D + G_D)  # c_attn and c_proj: 2,362,368


def gpt2_figure(sentence):
    (f,) = check_figures(sentence, make_architecture("gpt2"), Workload(1, G_L))
    return f


@pytest.mark.parametrize("sentence, verdict, code, key", [
    (f"The QKV projections cost {G_QKV:,} FLOPs.", "ok", "equals", "qkv_proj"),
    # the Q, K, V count said to be the FFN's: neither confirmed nor a false "wrong"
    (f"The FFN of one block costs {G_QKV:,} FLOPs.", "unmatched", "another-quantity",
     "qkv_proj"),
    # the FFN's count said to be attention's; attention's at 1 FLOP per multiply-add over 12
    # blocks is the same figure, but as usually counted it is the FFN: not called wrong
    (f"The attention costs {G_FFN:,} FLOPs.", "unmatched", "another-quantity", "ffn"),
    (f"{G_FFN:,} FLOPs go to the MLP.", "ok", "equals", "ffn"),   # named after the figure
    # bytes: the weights in fp32 are not the KV cache
    (f"The KV cache holds {4 * G_PARAMS:,} bytes.", "unmatched", "another-quantity",
     "bytes.weights"),
    (f"The weights take {4 * G_PARAMS:,} bytes in fp32.", "ok", "equals", "bytes.weights"),
    # parameters of one part of a block, and of a part that is only some of it
    (f"The FFN has {G_FFN_PARAMS:,} parameters per block.", "ok", "equals", "params.ffn"),
    (f"The MLP has {G_NL * G_FFN_PARAMS:,} parameters in total.", "ok", "equals", "params.ffn"),
    (f"The attention has {G_ATTN_PARAMS:,} parameters per layer.", "ok", "equals",
     "params.attention"),
    (f"The QKV weights hold {G_ATTN_PARAMS:,} parameters.", "unmatched", "another-quantity",
     "params.attention"),
    # a figure with no unit: the kind the sentence names ("parameters") decides
    (f"Its parameters: {G_PARAMS:,}.", "ok", "equals", "params.total"),
    # a size below 2 in its unit is still a size: 2 bytes × 124,439,808 = 248,879,616 bytes,
    # 0.2489 GB (0.25 to the hundredth) and 248,879,616 / 2^30 = 0.2318 GiB (0.23)
    ("The weights take 0.25 GB in fp16.", "ok", "equals", "bytes.weights"),
    ("The weights take 0.23 GiB in fp16.", "ok", "equals", "bytes.weights"),
])
def test_a_figure_is_matched_against_the_quantity_its_sentence_names(sentence, verdict, code,
                                                                     key):
    f = gpt2_figure(sentence)
    assert (f.verdict, f.code, f.quantity.key) == (verdict, code, key)


def test_the_words_of_an_earlier_figure_name_that_figure_not_the_next():
    text = (f"The FFN of one block costs {G_FFN:,} FLOPs, and in total the 12 blocks cost "
            f"{G_NL * G_BLOCK:,} FLOPs.")
    ffn, blocks = [f for f in check_figures(text, make_architecture("gpt2"), Workload(1, G_L))
                   if f.code != "dimension"]             # the 12 is n_layers
    assert (ffn.quantity.key, ffn.named) == ("ffn", ("FFN",))
    assert (blocks.verdict, blocks.quantity.key, blocks.named) == ("ok", "block", ("FLOPs",))
    record = audit_json(audit_text(f"The FFN of one block costs {G_QKV:,} FLOPs.\n",
                                   model=(make_architecture("gpt2"), Workload(1, G_L))))
    (finding,) = record["figures"]["findings"]
    assert finding["reason_code"] == "another-quantity" and finding["quantity_words"] == ["FFN"]
    assert finding["quantity"]["key"] == "qkv_proj" and "“FFN”" in finding["reason"]


def test_an_operation_that_only_some_block_groups_have_is_counted_over_those_blocks():
    # DeepSeek-V3's first 3 of 61 blocks are dense, with a gate projection of d_model 7168 to
    # d_ff 18432; its 58 MoE blocks have experts instead. At 128 tokens, 2 FLOPs per
    # multiply-add, the gate projections of all blocks are 3 · 2 · 128 · 7168 · 18432.
    all_gates = 3 * 2 * 128 * 7168 * 18432
    found = findings(f"The gate projections of all blocks take {all_gates:,} FLOPs.\n",
                     "deepseek-v3", 128)
    gate = at(found, all_gates)
    assert (gate.verdict, gate.code, gate.quantity.key) == ("ok", "equals", "gate_proj")
    # named in a write-up, the model is inferred and audited without error
    assert audit_text("DEEPSEEKV3\n").figures is not None
