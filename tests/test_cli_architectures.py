"""The command line for every architecture: presets by either name, config.json files of every
family, the new dimensions' flags, and one-line refusals by the commands that count GPT-2 only
so far. Expected numbers are first-principles arithmetic or published figures."""

from __future__ import annotations

import json

import pytest
from cli_helpers import invoke, one_line_error


def ok(*args):
    result = invoke(*args)
    assert result.exit_code == 0, result.stderr
    return result


def doc(*args) -> dict:
    return json.loads(ok(*args, "-f", "json").stdout)


def test_params_of_a_preset_by_its_hugging_face_name():
    totals = doc("params", "--preset", "mistralai/Mistral-7B-v0.1")["totals"]
    assert totals["total"] == 7_241_732_096          # the published count
    assert doc("params", "--preset", "pythia-1.4b")["totals"]["total"] == 1_414_647_808


def test_the_parameter_table_names_each_models_own_norms_and_tensors():
    """The notes and the head's total name what the checkpoint holds: GPT-2's LayerNorms,
    wte and ln_f; Llama's RMSNorms, its final norm and untied lm_head.weight; Pythia's
    LayerNorms, final_layer_norm and untied embed_out.weight; Gemma-2's head tied to
    embed_tokens."""
    def notes_and_head(*args):
        text = ok("params", *args, "-f", "markdown").stdout
        return text, text.split("**head (", 1)[1].split(")**")[0].join(("head (", ")"))

    notes, head = notes_and_head("--preset", "gpt2")
    assert "every weight, bias and LayerNorm tensor; the LM head is tied to wte (no" in notes
    assert head == "head (ln_f; LM head tied)"
    notes, head = notes_and_head("--preset", "gpt2", "--untied-lm-head")
    assert "the LM head is untied (its own lm_head.weight)" in notes
    assert head == "head (ln_f, lm_head)"
    notes, head = notes_and_head("--preset", "llama-3.1-8b")
    assert "every weight, bias and RMSNorm tensor; the LM head is untied (its own " \
           "lm_head.weight)" in notes
    assert head == "head (norm, lm_head)"
    notes, head = notes_and_head("--preset", "pythia-1.4b")
    assert "LayerNorm tensor; the LM head is untied (its own embed_out.weight)" in notes
    assert head == "head (final_layer_norm, embed_out)"
    notes, head = notes_and_head("--preset", "gemma-2-9b")
    assert "RMSNorm tensor; the LM head is tied to embed_tokens (no tensor" in notes


def test_flops_of_llama_3_1_8b_from_first_principles():
    D, H, KV, DH, F, V, N, L = 4096, 32, 8, 128, 14336, 128256, 32, 128
    d = doc("flops", "--preset", "llama-3.1-8b")
    block = 2 * L * (D * H * DH + 2 * D * KV * DH + H * DH * D + 3 * D * F) + 2 * 2 * H * L * L * DH
    assert d["totals"]["block"] == block
    assert d["totals"]["total"] == N * block + 2 * L * D * V


def test_gemma_2_causal_counts_each_kind_of_layer_and_the_window():
    L, W, H, DH = 8192, 4096, 16, 256
    d = doc("flops", "--preset", "gemma-2-9b", "--attention", "causal", "--seq-len", str(L))
    scores = {r["group"]: r["flops"] for r in d["rows"] if r["name"] == "scores"}
    assert scores == {"sliding": 2 * H * DH * (W * (W + 1) // 2 + (L - W) * W),
                      "full": 2 * H * DH * L * (L + 1) // 2}
    assert {g["name"]: g["repeat"] for g in d["totals"]["groups"]} == {
        "embedding": 1, "sliding": 21, "full": 21, "head": 1}


def test_a_config_json_of_another_family_is_read(tmp_path):
    path = tmp_path / "config.json"
    path.write_text(json.dumps({"model_type": "qwen3", "hidden_size": 64, "num_hidden_layers": 2,
                                "num_attention_heads": 4, "num_key_value_heads": 2,
                                "head_dim": 16, "intermediate_size": 128, "vocab_size": 100,
                                "tie_word_embeddings": True}))
    d = doc("params", "--config", str(path))
    D, H, KV, DH, F, V = 64, 4, 2, 16, 128, 100
    layer = D * H * DH + 2 * D * KV * DH + H * DH * D + 3 * D * F + 2 * D + 2 * DH  # q/k norms
    assert d["totals"]["total"] == V * D + 2 * layer + D                         # tied head


def test_shapes_show_kv_heads_and_their_repeat():
    rows = {r["name"]: r for r in doc("shapes", "--family", "llama", "--n-kv-heads", "8",
                                      "--seq-len", "16")["rows"]}
    assert rows["transpose_kv_heads"]["output"] == [1, 8, 16, 128]
    assert rows["repeat_kv"]["output"] == [1, 32, 16, 128]


def test_the_new_dimensions_change_the_counts_they_should():
    base = doc("flops", "--family", "mistral", "--attention", "causal", "--seq-len", "64",
               "--window", "16")
    rows = {r["name"]: r["flops"] for r in base["rows"]}
    H, DH = 32, 128
    assert rows["scores"] == 2 * H * DH * (16 * 17 // 2 + (64 - 16) * 16)
    mqa = doc("params", "--family", "llama", "--n-kv-heads", "1", "--d-head", "64")
    k = next(r for r in mqa["rows"] if r["name"] == "self_attn.k_proj.weight")
    assert k["shape"] == [64, 4096]                   # (out, in): one KV head of 64


def test_a_gated_rmsnorm_gpt2_shape_needs_another_family():
    message = one_line_error(invoke("flops", "--mlp", "gated"))
    assert "gpt2 family has mlp='plain'" in message


def test_plot_of_the_estimates_refuses_other_architectures_in_one_line(tmp_path):
    message = one_line_error(invoke("plot", "--kind", "estimates", "--seq-len", "8,16",
                                    "-o", tmp_path / "x.png", "--preset", "qwen2.5-7b"))
    assert "plot --kind estimates compares GPT-2 models only so far" in message


def test_formulas_of_a_windowed_family_use_the_window_symbol():
    out = ok("formulas", "--preset", "mistral-7b-v0.1", "--attention", "causal",
             "--mode", "decode").stdout
    assert "Min(W, t)" in out and "h_kv" in out


def test_gpt2_outputs_are_unchanged_by_the_new_options():
    assert doc("flops")["totals"]["total"] == 32_228_179_968   # docs/counting-rules.md
    assert doc("params")["totals"]["total"] == 124_439_808


def test_fewer_layers_keep_the_first_layers_attention_pattern():
    # Gemma-2 alternates: layer 0 sliding, layer 1 full, ... With 3 layers: 2 sliding, 1 full.
    doc = json.loads(ok("flops", "--preset", "gemma-2-9b", "--n-layers", "3",
                        "-f", "json").stdout)
    repeats = {g["name"]: g["repeat"] for g in doc["totals"]["groups"]}
    assert repeats["sliding"] == 2 and repeats["full"] == 1
