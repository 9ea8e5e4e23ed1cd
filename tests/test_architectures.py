"""The architecture as data: released models' parameter counts, each family's operations
against first-principles arithmetic, Hugging Face config.json reading, and properties over
random configs of every family."""

from __future__ import annotations

from math import prod

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flopcalc import model

import gpt2_oracle as oracle
from flopcalc.architecture import FAMILIES, MLA_FAMILIES, Architecture, ArchitectureError, Workload
from flopcalc.architectures import build, ops_of
from flopcalc.architectures.hf import architecture_fields, load_architecture
from flopcalc.architectures.presets import PRESETS, preset_architecture, preset_name
from flopcalc.config import Conventions, Mode
from flopcalc.analysis import flop_report, op_flops, param_report
from flopcalc.model import Dims, visible_pairs
from fuzz_helpers import examples

PROPERTY = settings(max_examples=examples(30), deadline=None)
CAUSAL = Conventions(attention="causal")

# Published parameter counts (the model cards; Hugging Face's num_parameters()).
PUBLISHED_PARAMETERS = {
    "llama-2-7b": 6_738_415_616,
    "llama-3.1-8b": 8_030_261_248,
    "llama-3.1-70b": 70_553_706_496,
    "mistral-7b-v0.1": 7_241_732_096,
    "qwen2.5-7b": 7_615_616_512,
    "qwen3-8b": 8_190_735_360,
    "gemma-2-9b": 9_241_705_984,
    "phi-3-mini-4k": 3_821_079_552,
    "pythia-1.4b": 1_414_647_808,
}


def flops(arch, seq_len=128, batch=1, conv=None, mode=None) -> int:
    return flop_report(arch, conv, mode, Workload(batch, seq_len)).total


def param_total(arch) -> int:
    return param_report(arch).total


def block_op(arch, name, seq_len=16, group=1, kv_len=None):
    groups = build(arch, arch.dims(1, seq_len, kv_len))
    return {op.name: op for op in groups[group].ops}[name]


# --- released models -------------------------------------------------------------------

@pytest.mark.parametrize("name", PUBLISHED_PARAMETERS)
def test_every_preset_has_its_published_parameter_count(name):
    assert param_total(preset_architecture(name)) == PUBLISHED_PARAMETERS[name]


def test_presets_are_reachable_by_their_hugging_face_names():
    assert preset_name("meta-llama/Llama-3.1-8B") == "llama-3.1-8b"
    assert preset_name("google/gemma-2-9b") == "gemma-2-9b"
    assert preset_name("Llama-3.1-8b") == "llama-3.1-8b"  # any case
    with pytest.raises(ArchitectureError, match="unknown preset 'llama-9'"):
        preset_name("llama-9")


def test_llama_3_1_8b_parameters_from_first_principles():
    D, H, KV, DH, F, V, N = 4096, 32, 8, 128, 14336, 128256, 32
    attention = D * H * DH + 2 * D * KV * DH + H * DH * D   # q, k, v (8 KV heads), o
    layer = attention + 3 * D * F + 2 * D                   # gate, up, down; two RMSNorms
    assert param_total(preset_architecture("llama-3.1-8b")) == 2 * V * D + N * layer + D


def test_llama_3_1_8b_forward_flops_from_first_principles():
    D, H, KV, DH, F, V, N, L = 4096, 32, 8, 128, 14336, 128256, 32, 8192
    linears = D * H * DH + 2 * D * KV * DH + H * DH * D + 3 * D * F
    attention = 2 * H * L * L * DH                          # Q·Kᵀ and P·V over all L×L
    expected = N * 2 * (L * linears + attention) + 2 * L * D * V
    assert flops(preset_architecture("llama-3.1-8b"), L) == expected


def test_gqa_keys_and_values_have_n_kv_heads_and_are_repeated_to_the_query_heads():
    arch = preset_architecture("llama-3.1-8b")
    k = block_op(arch, "k_proj", 16)
    assert k.output == (1, 16, 8 * 128) and k.params[0].shape == (1024, 4096)  # (out, in)
    assert block_op(arch, "transpose_kv_heads", 16).output == (1, 8, 16, 128)
    repeat = block_op(arch, "repeat_kv", 16)
    assert (repeat.inputs, repeat.output) == (((1, 8, 16, 128),), (1, 32, 16, 128))
    assert block_op(arch, "scores", 16).output == (1, 32, 16, 16)


def test_mistral_windows_every_layer_and_causal_counts_the_pairs_in_the_window():
    arch = preset_architecture("mistral-7b-v0.1")
    assert arch.sliding_window == 4096 and arch.n_windowed == 32
    L, W = 8192, 4096
    pairs = sum(min(i + 1, W) for i in range(L))   # query i sees min(i+1, W) keys
    assert pairs == W * (W + 1) // 2 + (L - W) * W
    scores = block_op(arch, "scores", L)
    assert op_flops(scores, CAUSAL) == 2 * 32 * pairs * 128
    # dense counting runs the full L×L scores, as eager kernels do, then masks them
    assert op_flops(scores, Conventions()) == 2 * 32 * L * L * 128


def test_a_windowed_decode_step_attends_to_at_most_w_keys():
    arch = preset_architecture("mistral-7b-v0.1")
    for t, keys in ((100, 100), (4096, 4096), (10000, 4096)):
        scores = block_op(arch, "scores", 1, kv_len=t)
        assert scores.output == (1, 32, 1, keys)
        dense = flops(arch, 16, mode=Mode("decode", position=t))
        causal = flops(arch, 16, conv=CAUSAL, mode=Mode("decode", position=t))
        assert dense == causal


def test_gemma_2_alternates_sliding_and_full_layers():
    arch = preset_architecture("gemma-2-9b")
    groups = build(arch, arch.dims(1, 8192))
    assert [(g.name, g.repeat) for g in groups] == [
        ("embedding", 1), ("sliding", 21), ("full", 21), ("head", 1)]
    assert arch.window_layers == tuple(range(0, 42, 2))    # layer 0, 2, … (HF's is_sliding)
    L, W, H, DH = 8192, 4096, 16, 256
    sliding = {op.name: op for op in groups[1].ops}["scores"]
    full = {op.name: op for op in groups[2].ops}["scores"]
    assert op_flops(sliding, CAUSAL) == 2 * H * DH * (W * (W + 1) // 2 + (L - W) * W)
    assert op_flops(full, CAUSAL) == 2 * H * DH * (L * (L + 1) // 2)


def test_gemma_2_has_its_extra_norms_softcaps_and_embedding_scale():
    arch = preset_architecture("gemma-2-9b")
    groups = build(arch, arch.dims(1, 4))
    names = [op.name for op in groups[1].ops]
    assert [n for n in names if n.endswith("layernorm")] == [
        "input_layernorm", "post_attention_layernorm", "pre_feedforward_layernorm",
        "post_feedforward_layernorm"]
    assert "attn_softcap" in names
    assert [op.role for op in groups[0].ops] == ["embedding", "embedding.scale"]
    assert [op.role for op in groups[-1].ops] == ["norm", "lm_head", "lm_head.softcap"]
    conv = Conventions(elementwise=True)
    softcap = groups[-1].ops[2]
    assert op_flops(softcap, conv) == 3 * 4 * 256000   # divide, tanh, multiply per logit


def test_qwen2_q_k_v_have_a_bias_and_o_has_none():
    arch = preset_architecture("qwen2.5-7b")
    assert [p.name for p in block_op(arch, "q_proj").params] == ["self_attn.q_proj.weight",
                                                                "self_attn.q_proj.bias"]
    assert [p.name for p in block_op(arch, "o_proj").params] == ["self_attn.o_proj.weight"]
    assert arch.sliding_window is None                  # use_sliding_window: false


def test_qwen2_max_window_layers_windows_the_layers_after_it():
    fields = architecture_fields({"model_type": "qwen2", "num_hidden_layers": 6,
                                  "use_sliding_window": True, "sliding_window": 8,
                                  "max_window_layers": 4}, "test")
    arch = Architecture(**fields)
    assert arch.window_layers == (4, 5)
    groups = build(arch, arch.dims(1, 16))
    assert [(g.name, g.repeat) for g in groups[1:-1]] == [("sliding", 2), ("full", 4)]


def test_qwen3_normalises_each_query_and_key_head():
    arch = preset_architecture("qwen3-8b")
    q_norm = block_op(arch, "q_norm", 16)
    assert q_norm.output == (1, 16, 32, 128) and q_norm.params[0].shape == (128,)
    assert block_op(arch, "k_norm", 16).output == (1, 16, 8, 128)


def test_phi_3_fuses_qkv_and_gate_up():
    arch = preset_architecture("phi-3-mini-4k")
    qkv = block_op(arch, "qkv_proj")
    assert qkv.params[0].shape == (3 * 3072, 3072)
    assert block_op(arch, "gate_up_proj").params[0].shape == (2 * 8192, 3072)
    assert arch.sliding_window == 2047 and arch.n_windowed == 32


def test_pythia_rotates_a_quarter_of_each_head_and_runs_attention_and_mlp_in_parallel():
    arch = preset_architecture("pythia-1.4b")
    assert arch.rotary_dims == 32 and arch.parallel_residual   # 128 · rotary_pct 0.25
    rotary = block_op(arch, "rotary_q", 16)
    assert rotary.output == (1, 16, 16, 32)
    assert op_flops(rotary, Conventions(elementwise=True)) == 3 * 16 * 16 * 32
    names = [op.name for op in build(arch, arch.dims(1, 4))[1].ops]
    # both branches read the block's input: the MLP's norm comes before any residual add
    assert names.index("post_attention_layernorm") < names.index("residual_1")


# --- Hugging Face config.json ------------------------------------------------------------

def test_missing_fields_take_hugging_faces_defaults():
    arch = Architecture(**architecture_fields({"model_type": "llama"}, "test"))
    assert (arch.d_model, arch.n_layers, arch.n_heads, arch.n_kv_heads, arch.d_ff,
            arch.vocab, arch.tied_lm_head) == (4096, 32, 32, 32, 11008, 32000, False)
    gemma = Architecture(**architecture_fields({"model_type": "gemma2"}, "test"))
    assert (gemma.d_head, gemma.tied_lm_head, gemma.sliding_window) == (256, True, 4096)
    assert Architecture(**architecture_fields({"model_type": "mistral", "sliding_window": None},
                                              "test")).sliding_window is None


@pytest.mark.parametrize("data, message", [
    ({"model_type": "dbrx"}, "model_type 'dbrx' is not supported"),
    ({"model_type": "llama", "num_local_experts": 8}, "num_local_experts is not modelled"),
    ({"model_type": "llama", "hidden_act": "quick_gelu"}, "hidden_act 'quick_gelu' is not modelled"),
    ({"model_type": "llama", "hidden_size": 4096.5}, "hidden_size must be a positive whole number"),
    ({"model_type": "llama", "tie_word_embeddings": "no"}, "tie_word_embeddings must be true or false"),
    ({"model_type": "qwen2", "num_hidden_layers": 2, "layer_types": ["full_attention", "chunked"]},
     "layer_types 'chunked' is not modelled"),
])
def test_fields_flopcalc_does_not_model_are_refused_by_name(data, message):
    with pytest.raises(ArchitectureError, match=message):
        architecture_fields(data, "test")


def test_a_shipped_preset_reads_like_its_config_file(tmp_path):
    import json
    from flopcalc.architectures.presets import DATA
    for short, (_, source) in PRESETS.items():
        if isinstance(source, str):
            path = tmp_path / "config.json"
            path.write_text((DATA / source).read_text())
            assert load_architecture(path) == preset_architecture(short)
            assert json.loads(path.read_text())["model_type"] == preset_architecture(short).family


# --- properties over random configs of every family ---------------------------------------

def family_switches(family: str) -> dict:
    """A family's switches as Hugging Face's defaults set them."""
    data = {"model_type": family}
    if family == "gpt2":
        data.update(n_embd=8, n_head=2, n_layer=1)
    fields = architecture_fields(data, "test")
    for size in ("d_model", "n_layers", "n_heads", "n_kv_heads", "d_head", "d_ff", "vocab",
                 "n_positions", "rotary_dims", "sliding_window", "window_layers"):
        fields.pop(size, None)
    return fields


@st.composite
def architectures(draw, families=FAMILIES):
    family = draw(st.sampled_from(families))
    fields = family_switches(family)
    kv = draw(st.integers(1, 3))
    n_heads = kv * draw(st.integers(1, 3))
    d_head = 2 * draw(st.integers(1, 4))
    n_layers = draw(st.integers(1, 5))
    fields.update(n_layers=n_layers, n_heads=n_heads, d_ff=draw(st.integers(1, 40)),
                  vocab=draw(st.integers(1, 60)), n_positions=64)
    if family in ("gpt2", "gpt_neox"):
        fields["d_model"] = n_heads * d_head              # their heads split d_model
    else:
        fields.update(d_model=draw(st.integers(1, 32)), n_kv_heads=kv, d_head=d_head)
    if family in MLA_FAMILIES:  # latent attention sets the head widths itself
        del fields["n_kv_heads"], fields["d_head"]
        fields.update(q_lora_rank=draw(st.none() | st.integers(1, 12)),
                      kv_lora_rank=draw(st.integers(1, 12)),
                      qk_nope_head_dim=draw(st.integers(1, 6)),
                      qk_rope_head_dim=2 * draw(st.integers(1, 3)),
                      v_head_dim=draw(st.integers(1, 6)))
    elif fields.get("positions") == "rotary":
        fields["rotary_dims"] = 2 * draw(st.integers(1, d_head // 2))
    if fields.get("n_experts") is not None:  # small experts, on some or every layer
        n_experts = draw(st.integers(1, 6))
        groups = 2 if n_experts % 2 == 0 else 1
        fields.update(n_experts=n_experts, top_k=draw(st.integers(1, n_experts)),
                      d_expert=draw(st.integers(1, 12)),
                      moe_layers=draw(st.none() | st.sets(st.integers(0, n_layers - 1),
                                                          min_size=1).map(tuple)))
        if fields.get("d_shared") is not None:
            fields["d_shared"] = draw(st.integers(1, 12))
        if fields.get("n_groups") is not None:
            fields.update(n_groups=groups, topk_groups=groups)
    if family != "gpt2" and family not in MLA_FAMILIES:
        fields.update(qkv_bias=draw(st.booleans()), mlp_bias=draw(st.booleans()),
                      tied_lm_head=draw(st.booleans()))
    if family not in MLA_FAMILIES and draw(st.booleans()):
        fields["sliding_window"] = draw(st.integers(1, 20))
        fields["window_layers"] = draw(st.none() | st.sets(st.integers(0, n_layers - 1)).map(tuple))
        if fields["window_layers"] == ():
            fields["window_layers"] = None
    return Architecture(**fields)


workloads = st.builds(Workload, batch=st.integers(1, 3), seq_len=st.integers(1, 24))
conventions = st.builds(Conventions, flops_per_mac=st.sampled_from([1, 2]),
                        attention=st.sampled_from(["dense", "causal"]),
                        elementwise=st.booleans(), embeddings=st.booleans(),
                        lm_head=st.booleans())


@PROPERTY
@given(architectures(), workloads, conventions, st.sampled_from(
    ["forward", "backward", "train", "decode", "generate"]))
def test_each_total_is_the_sum_of_its_layer_groups(arch, workload, conv, kind):
    report = flop_report(arch, conv, Mode(kind), workload)
    assert sum(g.repeat for g in report.block_groups) == arch.n_layers
    assert report.total == sum(g.repeat * report.group_total(g.name) for g in report.groups)


@PROPERTY
@given(st.integers(1, 40), st.integers(0, 40), st.integers(1, 50))
def test_the_windowed_closed_form_equals_a_brute_force_count(q_len, cached, window):
    kv_len = cached + q_len
    brute = sum(1 for i in range(q_len) for j in range(kv_len)
                if cached + i - window < j <= cached + i)   # causal, and within the window
    assert visible_pairs(q_len, kv_len, window) == brute
    assert visible_pairs(q_len, kv_len) == sum(cached + i + 1 for i in range(q_len))


@PROPERTY
@given(architectures(), workloads)
def test_every_linear_costs_two_flops_per_token_and_weight(arch, workload):
    for op in ops_of(build(arch, arch.dims(workload.batch, workload.seq_len))):
        if op.weight is None:
            continue
        tokens = prod(op.output[:-1])
        assert op_flops(op, Conventions()) == 2 * tokens * prod(op.weight)
        owned = [p for p in op.params if p.name.endswith(".weight")]
        # a routed experts' Linear owns all n_experts weights; each row uses one of them
        stored = prod(op.weight) * (op.experts[1] if op.experts else 1)
        assert [p.count for p in owned] in ([], [stored])


@PROPERTY
@given(architectures(), workloads, workloads)
def test_parameter_counts_depend_on_neither_seq_len_nor_batch(arch, a, b):
    def tensors(w):
        return [(g.repeat, op.name, p) for g in build(arch, arch.dims(w.batch, w.seq_len))
                for op in g.ops for p in op.params]
    assert tensors(a) == tensors(b)
    assert sum(r * p.count for r, _, p in tensors(a)) == param_total(arch)


@PROPERTY
@given(architectures(), st.integers(1, 12), st.integers(1, 8), conventions)
def test_generation_is_the_prefill_plus_each_decode_step(arch, prompt, new_tokens, conv):
    workload = Workload(2, prompt)
    generate = flops(arch, prompt, 2, conv, Mode("generate", prompt=prompt, new_tokens=new_tokens))
    steps = sum(flops(arch, prompt, 2, conv, Mode("decode", position=t))
                for t in range(prompt + 1, prompt + new_tokens))
    assert generate == flop_report(arch, conv, workload=workload).total + steps


@PROPERTY
@given(architectures(), workloads)
def test_backward_is_twice_the_forward_counting_matmuls(arch, workload):
    forward = flops(arch, workload.seq_len, workload.batch)
    assert flops(arch, workload.seq_len, workload.batch, mode=Mode("backward")) == 2 * forward


@st.composite
def gpt2_cases(draw):
    n_heads, d_head = draw(st.integers(1, 6)), draw(st.integers(1, 12))
    seq_len = draw(st.integers(1, 32))
    d = Dims(batch=draw(st.integers(1, 3)), seq_len=seq_len, d_model=n_heads * d_head,
                   n_heads=n_heads, d_head=d_head, d_ff=draw(st.integers(1, 60)),
                   n_layers=draw(st.integers(1, 4)), vocab=draw(st.integers(1, 80)),
                   n_positions=64, kv_len=seq_len + draw(st.sampled_from([0, 0, 3])))
    return (d, draw(st.booleans()), draw(st.booleans()), draw(st.booleans()),
            draw(st.sampled_from(["gelu_tanh", "gelu", "relu"])))


FIELDS = ("name", "section", "kind", "computes", "inputs", "output", "weight", "cost",
          "bias", "causal", "on_scores")


@PROPERTY
@given(gpt2_cases())
def test_the_gpt2_builder_yields_todays_operations(case):
    d, fused, bias, tied, activation = case
    arch = Architecture(d_model=d.d_model, n_heads=d.n_heads, n_layers=d.n_layers, d_ff=d.d_ff,
                        vocab=d.vocab, n_positions=d.n_positions, fused_qkv=fused,
                        qkv_bias=bias, o_bias=bias, mlp_bias=bias, norm_bias=bias,
                        tied_lm_head=tied, activation=activation)
    new = ops_of(build(arch, d))
    old = oracle.gpt2_ops(d, fused_qkv=fused, bias=bias, tied_lm_head=tied, activation=activation)
    def fields(op):
        return tuple(getattr(op, f) for f in FIELDS) + tuple((p.name, p.shape) for p in op.params)
    assert [fields(op) for op in new] == [fields(op) for op in old]
    for a, b in zip(new, old):
        for causal in (False, True):
            assert oracle.op_macs(b, causal) == model.op_macs(a, causal)
            for backward in (False, True):
                assert oracle.op_elementwise_flops(b, causal, backward) == \
                    model.op_elementwise_flops(a, causal, backward)


@pytest.mark.parametrize("name", [n for n in PRESETS if n != "gpt2-medium" and n not in (
    "gpt2-large", "gpt2-xl", "llama-2-7b", "llama-3.1-70b")])
def test_symbolic_formulas_with_ints_substituted_equal_the_numeric_path(name):
    from flopcalc import formulas as fm
    arch = preset_architecture(name)
    # small sizes of the same kind: windows smaller than the sequences, so every case shows
    split = arch.family in ("gpt2", "gpt_neox")   # their heads split d_model
    partial = arch.rotary_dims not in (None, arch.d_head)
    small = arch.with_(d_model=8 if split else 6, n_heads=2 if split else 4,
                       n_kv_heads=None if split else 2, d_head=None if split else 4, d_ff=7,
                       vocab=11, rotary_dims=2 if partial else None,
                       sliding_window=None if arch.sliding_window is None else 5) \
        if not arch.is_mla else arch.with_(d_model=6, n_heads=4, d_ff=7, vocab=11, d_head=None,
                                           n_kv_heads=None, rotary_dims=None, q_lora_rank=5,
                                           kv_lora_rank=3, qk_nope_head_dim=2,
                                           qk_rope_head_dim=2, v_head_dim=3, d_expert=5,
                                           n_experts=8, top_k=3, d_shared=4, n_groups=4,
                                           topk_groups=2, n_layers=4, moe_layers=(1, 2, 3))
    for conv, kind in ((Conventions(elementwise=True), "forward"),
                       (Conventions(attention="causal", elementwise=True), "generate")):
        f = fm.formulas(conv, mode=fm.symbolic_mode(kind), architecture=small)
        for seq_len, new in ((3, 1), (9, 4)):
            workload = Workload(2, seq_len)
            mode = Mode(kind, prompt=seq_len, new_tokens=new) if kind == "generate" else Mode()
            values = f.evaluate(fm.symbol_values(small, workload), prompt=seq_len, new_tokens=new)
            assert values["total"] == flops(small, seq_len, 2, conv, mode)


def test_a_model_starts_from_one_preset_config_or_family_and_flags_change_it():
    from flopcalc.architectures.presets import make_architecture
    llama = make_architecture(family="llama", d_model=1024, n_heads=8)
    assert (llama.d_head, llama.n_kv_heads, llama.d_ff) == (128, 8, 11008)  # derived; HF default
    windowed = make_architecture("llama-3.1-8b", sliding_window=512)
    assert windowed.n_windowed == 32 and param_total(windowed) == PUBLISHED_PARAMETERS["llama-3.1-8b"]
    assert make_architecture(bias=False).norm_bias is False                 # --no-bias: all
    with pytest.raises(ArchitectureError, match="--preset and --family both set the model"):
        make_architecture("gpt2", family="llama")


# Odd config.json values are one-line errors, never a traceback ---------------------------


@pytest.mark.parametrize("data, words", [
    ({"model_type": ["llama"]}, "model_type"),
    ({"model_type": "gemma2", "num_hidden_layers": 2, "layer_types": [["a"], ["b"]]},
     "layer_types must list strings"),
])
def test_config_values_of_the_wrong_type_are_refused_in_one_line(data, words):
    with pytest.raises(ArchitectureError, match=words):
        architecture_fields(data, "c.json")


def test_a_partial_rotary_share_of_a_huge_head_is_exact():
    """rotary_pct 0.25 of d_head 10**400 // 8: a quarter of it, to the last digit."""
    big = 10**400
    fields = architecture_fields({"model_type": "gpt_neox", "hidden_size": big,
                                  "num_attention_heads": 8, "rotary_pct": 0.25}, "c.json")
    assert Architecture(**fields).rotary_dims == big // 8 // 4


def test_a_latent_attention_family_without_kv_lora_rank_is_refused():
    with pytest.raises(ArchitectureError, match="kv_lora_rank"):
        Architecture(family="deepseek_v3", mlp="gated", norm="rmsnorm", positions="rotary")


def test_formulas_of_gpt_neox_with_its_heads_set_apart_equal_the_numeric_count():
    """d_head and n_kv_heads given apart from d_model / h: the formula takes their symbols."""
    from flopcalc import formulas as fm

    for changes in ({"n_kv_heads": 16}, {"d_head": 64, "n_heads": 8}):
        arch = preset_architecture("pythia-1.4b", **changes)
        work = Workload(seq_len=32)
        values = fm.formulas(architecture=arch).evaluate(fm.symbol_values(arch, work))
        assert values["total"] == flop_report(arch, workload=work).total


# ------------------------------------------------------------ the rotated width follows the head

def rotated(arch):
    """The dims the rotary_q op rotates per head (its output's last axis)."""
    ops = ops_of(build(arch, arch.dims(1, 4)))
    return next(op for op in ops if op.name == "rotary_q").output[-1]


def test_pythia_s_rotated_width_follows_its_heads_when_they_change():
    """rotary_pct 0.25 of each head: Pythia-1.4B's d_model 2048 over 16 heads is 128 wide, 32
    rotated; over 8 heads 256 wide, 64 rotated (not the 32 of the config's own heads)."""
    from flopcalc.architectures.presets import make_architecture

    assert rotated(preset_architecture("pythia-1.4b")) == 128 // 4 == 32
    assert rotated(make_architecture("pythia-1.4b", n_heads=8)) == 2048 // 8 // 4 == 64
    assert rotated(make_architecture("pythia-1.4b", d_head=64, n_heads=16)) == 16
    # an explicit width wins over the share
    assert rotated(make_architecture("pythia-1.4b", n_heads=8, rotary_dims=16)) == 16
    # Phi-3-mini rotates its whole head (partial_rotary_factor 1.0), whatever the head
    assert rotated(make_architecture("phi-3-mini-4k", n_heads=16, n_kv_heads=16)) == 3072 // 16


def test_gpt_neox_defaults_with_narrower_heads_rotate_a_quarter_of_them():
    """GPTNeoXConfig's defaults (hidden 6144, 64 heads) with d_model 1024: heads of 16, 4
    rotated."""
    from flopcalc.architectures.presets import make_architecture

    arch = make_architecture(family="gpt_neox", d_model=1024, n_heads=64)
    assert (arch.d_head, rotated(arch)) == (16, 4)


def test_the_rotated_width_is_hugging_face_s_double_precision_product():
    """int(head_size * rotary_pct) in doubles: 0.29 is 0.28999999999999998… in binary and
    100 × it rounds to 28.999999999999996, so Hugging Face rotates 28 dims of a 100-wide head
    (the decimal 0.29 × 100 would say 29, an odd width HF never builds)."""
    assert int(100 * 0.29) == 28                       # what Hugging Face's expression gives
    fields = architecture_fields({"model_type": "gpt_neox", "hidden_size": 400,
                                  "num_attention_heads": 4, "rotary_pct": 0.29}, "c.json")
    assert Architecture(**fields).rotary_dims == 28
    assert Architecture(**fields).as_dict()["rotary_share"] == "29/100"


def test_a_share_that_rotates_no_dims_is_refused_in_one_line():
    with pytest.raises(ArchitectureError, match="rotary_share 1/100 of d_head"):
        Architecture(family="gpt_neox", positions="rotary", d_model=64, n_heads=2,
                     rotary_share=0.01, fused_qkv=True)


def test_a_pythia_sweep_over_heads_rotates_each_point_s_share():
    """The sweep's compiled path derives each point's width as Architecture does, and agrees
    with the per-point count; at 8 heads of 256 the rotary op of q is 3 FLOPs on each of
    8 tokens × 8 heads × 64 rotated dims (a quarter of the head)."""
    from flopcalc.architectures.presets import make_architecture, model_fields
    from flopcalc.sweep import parse_axis, run

    conv = Conventions(elementwise=True)
    base = {**model_fields("pythia-1.4b"), "seq_len": 8}
    fast = run(base, [parse_axis("n_heads", "8,16,32")], conv, Mode(), fast=True)
    slow = run(base, [parse_axis("n_heads", "8,16,32")], conv, Mode(), fast=False)
    assert [r[-1] for r in fast.rows] == [r[-1] for r in slow.rows]
    report = flop_report(make_architecture("pythia-1.4b", n_heads=8), conv,
                         workload=Workload(seq_len=8))
    assert next(r.flops for r in report.rows if r.op.name == "rotary_q") == 3 * 8 * 8 * 64


# ------------------------------------------------------------------ GPT-2's LM head and sizes

def test_an_untied_gpt2_lm_head_is_stored_vocab_by_d_model_as_hugging_face_stores_it():
    """GPT2LMHeadModel.lm_head = nn.Linear(n_embd, vocab_size, bias=False): weight (V, D)."""
    report = param_report(Architecture(tied_lm_head=False))
    shapes = {r.param.name: r.param.shape for r in report.rows}
    assert shapes["lm_head.weight"] == (50257, 768)
    assert report.total == 124_439_808 + 50257 * 768   # HF's GPT-2 small plus the head
    tied = param_report(Architecture())
    assert "lm_head.weight" not in {r.param.name for r in tied.rows}
    assert tied.total == 124_439_808


def test_gpt2_s_published_sizes_are_written_once():
    from flopcalc import config

    for name, sizes in config.PRESETS.items():
        assert PRESETS[name] == (f"openai-community/{name}", sizes)
        assert PRESETS[name][1] is sizes
    # Radford et al. 2019, Table 2
    assert [(s["n_layers"], s["d_model"]) for s in config.PRESETS.values()] == \
        [(12, 768), (24, 1024), (36, 1280), (48, 1600)]


# ------------------------------------------------------------------ consumers ask the architecture

def test_generic_modules_ask_the_architecture_not_the_family_name():
    """No `family == "…"`, `family != "…"` or `family in (…)` in the modules every family
    shares: they ask for a property, a field or the ops' roles."""
    import re
    from pathlib import Path

    import flopcalc

    root = Path(flopcalc.__file__).parent
    shared = ["analysis.py", "estimates.py", "formulas.py", "frameworks.py", "memory.py",
              "plot.py", "tables.py", "architectures/common.py"]
    check = re.compile(r"family\s*(==|!=|in\s*\()")
    for name in shared:
        hits = [line for line in (root / name).read_text().splitlines() if check.search(line)]
        assert hits == [], (name, hits)


def test_the_multi_token_prediction_note_follows_the_config_s_field():
    """DeepSeek-V3's config has num_nextn_predict_layers 1: noted; a config with 0 has none."""
    from flopcalc.tables import moe_param_notes

    arch = preset_architecture("deepseek-v3")
    assert arch.mtp_layers == 1
    assert any("multi-token-prediction" in n for n in moe_param_notes(param_report(arch)))
    assert not any("multi-token-prediction" in n
                   for n in moe_param_notes(param_report(arch.with_(mtp_layers=0))))
    assert preset_architecture("llama-3.1-8b").mtp_layers == 0


def test_maxtext_takes_its_deepseek_decoder_for_latent_attention():
    from flopcalc.frameworks import from_architecture as summarize, maxtext_deepseek

    assert maxtext_deepseek(summarize(preset_architecture("deepseek-v3"), Workload()))
    assert not maxtext_deepseek(summarize(preset_architecture("mixtral-8x7b"), Workload()))


def test_non_embedding_names_the_embedding_tensors_of_each_family():
    from flopcalc.tables import param_table

    for preset, names in (("gpt2", "wte, wpe"), ("llama-3.1-8b", "embed_tokens"),
                          ("pythia-1.4b", "embed_in")):
        note = param_table(param_report(preset_architecture(preset))).notes[1]
        assert f"Non-embedding: all but {names} and an untied LM head" in note


def test_only_gemma_2_scales_its_scores_by_query_pre_attn_scalar():
    def scale(arch):
        return next(op.computes for op in ops_of(build(arch, arch.dims(1, 4)))
                    if op.role == "attention.scale")
    assert scale(preset_architecture("gemma-2-9b")) == "S / √query_pre_attn_scalar"
    for name in ("gpt2", "llama-3.1-8b", "pythia-1.4b", "deepseek-v3"):
        assert scale(preset_architecture(name)) == "S / √d_head"


# A six-layer Qwen2-MoE whose layers 2-5 are windowed (max_window_layers 2) and whose odd
# layers are MoE (decoder_sparse_step 2): all four layer kinds at once.
SOME_WINDOWED_SOME_MOE = {
    "model_type": "qwen2_moe", "num_hidden_layers": 6, "hidden_size": 8,
    "num_attention_heads": 4, "num_key_value_heads": 2, "intermediate_size": 10,
    "vocab_size": 13, "use_sliding_window": True, "sliding_window": 3,
    "max_window_layers": 2, "num_experts": 4, "num_experts_per_tok": 2,
    "moe_intermediate_size": 6, "shared_expert_intermediate_size": 5,
    "decoder_sparse_step": 2}


def test_formulas_of_some_windowed_and_some_moe_layers_equal_the_numeric_count():
    """A Qwen2-MoE with use_sliding_window: layers 2 … 5 windowed (max_window_layers 2), MoE
    where (i + 1) % 2 = 0: 1, 3, 5. Kinds: full-dense {0}, full-moe {1}, sliding-dense {2, 4},
    sliding-moe {3, 5}: n_wm = 2 windowed MoE layers. The formulas with ints substituted give
    the numeric count in every mode, the window capping the keys."""
    from flopcalc import formulas as fm

    fields = architecture_fields(SOME_WINDOWED_SOME_MOE, "c.json")
    arch = Architecture(**fields)
    assert (arch.n_windowed, arch.n_moe, arch.n_windowed_moe) == (4, 3, 2)
    groups = {g.name: g.repeat for g in build(arch, arch.dims(1, 5))}
    assert groups == {"embedding": 1, "full-dense": 1, "full-moe": 1, "sliding-dense": 2,
                      "sliding-moe": 2, "head": 1}
    work = Workload(2, 7)
    for conv, mode, extra in (
            (Conventions(elementwise=True), Mode(), {}),
            (Conventions(attention="causal", elementwise=True), Mode(), {}),
            (Conventions(attention="causal"), Mode("train"), {}),
            (Conventions(elementwise=True), Mode("decode", position=6), {"position": 6}),
            (Conventions(attention="causal", elementwise=True),
             Mode("generate", prompt=5, new_tokens=4), {"prompt": 5, "new_tokens": 4})):
        f = fm.formulas(conv, mode=fm.symbolic_mode(mode.kind), architecture=arch)
        assert {g for g, _, _ in f.groups} == set(groups)
        values = f.evaluate(fm.symbol_values(arch, work), **extra)
        report = flop_report(arch, conv, mode, work)
        assert values["total"] == report.total
        assert all(values[r.group, r.op.name] == r.flops for r in report.rows)  # one repeat


def test_a_sweep_of_some_windowed_and_some_moe_layers_counts_every_point():
    """Its compiled function has no argument for n_wm: every point is counted per point, and
    the fast and the per-point sweeps agree."""
    from flopcalc.sweep import parse_axis, run

    fields = architecture_fields(SOME_WINDOWED_SOME_MOE, "c.json")
    conv = Conventions(attention="causal", elementwise=True)
    axes = [parse_axis("seq_len", "2,5,9")]
    fast = run(fields, axes, conv, Mode(), fast=True)
    slow = run(fields, axes, conv, Mode(), fast=False)
    assert [r[-1] for r in fast.rows] == [r[-1] for r in slow.rows]
    assert fast.rows[-1][-1] == flop_report(Architecture(**fields), conv,
                                            workload=Workload(1, 9)).total
