"""Hugging Face ``config.json`` files read into an ``Architecture``, per ``model_type``.

Each reader uses Hugging Face's field names and, for a missing field, the default of that
family's ``*Config`` class in ``transformers``. A field that would change a count and that
flopcalc does not model is refused in one line naming it, never ignored. Fields with no
effect on any count (dropout, eps, rope_theta, rope_scaling, token ids, dtype) are not read.
"""

from __future__ import annotations

from pathlib import Path

from ..architecture import Architecture, ArchitectureError, exact_share
from ..config import HF_ACTIVATIONS

# Hugging Face's ACT2FN names -> flopcalc's activations: one map for every family
ACTIVATIONS = HF_ACTIVATIONS
# fields of other architectures that change the counts (experts, latent attention, ...):
# refused in a config of a model_type whose reader does not read them
NOT_MODELLED = ("num_local_experts", "num_experts", "n_routed_experts", "moe_intermediate_size",
                "n_shared_experts", "kv_lora_rank", "q_lora_rank", "num_experts_per_tok")
READS = {"mixtral": {"num_local_experts", "num_experts_per_tok"},
         "qwen2_moe": {"num_experts", "moe_intermediate_size", "num_experts_per_tok"},
         "deepseek_v3": {"n_routed_experts", "moe_intermediate_size", "n_shared_experts",
                         "kv_lora_rank", "q_lora_rank", "num_experts_per_tok"}}


class ConfigReader:
    """One config.json's fields, with the family's defaults and one-line errors."""

    def __init__(self, data: dict, source: str):
        self.data, self.source = data, source

    def error(self, message: str) -> ArchitectureError:
        return ArchitectureError(f"config {self.source}: {message}")

    def get(self, key: str, default=None):
        """The field, or ``default`` when it is missing or null (HF's None)."""
        value = self.data.get(key)
        return default if value is None else value

    def int(self, key: str, default=None):
        value = self.get(key, default)
        if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value <= 0):
            raise self.error(f"{key} must be a positive whole number, got {value!r}")
        return value

    def count(self, key: str, default):
        """A whole number that may be 0 (no experts, no shared expert)."""
        value = self.get(key, default)
        if value == 0 and not isinstance(value, bool):
            return 0
        return self.int(key, default)

    def layer_list(self, key: str, n_layers: int) -> list:
        value = self.get(key, [])
        if not isinstance(value, list) or any(not isinstance(i, int) or isinstance(i, bool)
                                              or not 0 <= i < n_layers for i in value):
            raise self.error(f"{key} must list layer indices 0 … {n_layers - 1}")
        return value

    def choice(self, key: str, default: str, allowed: tuple[str, ...]) -> str:
        value = self.get(key, default)
        if value not in allowed:
            raise self.error(f"{key} {value!r} is not modelled; flopcalc counts "
                             f"{', '.join(allowed)}")
        return value

    def present(self, key: str, default):
        """``default`` when the field is missing; None when it is null (e.g. no window)."""
        return default if key not in self.data else self.data[key]

    def bool(self, key: str, default: bool) -> bool:
        value = self.get(key, default)
        if not isinstance(value, bool):
            raise self.error(f"{key} must be true or false, got {value!r}")
        return value

    def number(self, key: str, default=None):
        value = self.get(key, default)
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))
                                  or value <= 0):
            raise self.error(f"{key} must be a positive number, got {value!r}")
        return value

    def fraction(self, key: str, default: float) -> float:
        value = self.number(key, default)
        if value > 1:
            raise self.error(f"{key} must be at most 1, got {value!r}")
        return value

    def activation(self, key: str, default: str) -> str:
        name = self.get(key, default)
        if name not in ACTIVATIONS:
            raise self.error(f"{key} {name!r} is not modelled; flopcalc counts "
                             f"{', '.join(ACTIVATIONS)}")
        return ACTIVATIONS[name]

    def window_layers(self, n_layers: int, window,
                      own: int | None = None) -> tuple[int, ...] | None:
        """Which of ``n_layers`` layers are windowed (None: every layer, or no window): HF's
        explicit ``layer_types``, one per layer of the model's ``own`` layers (default
        n_layers), else the family's rule (``WINDOW_RULES``) for n_layers. Fewer layers than
        layer_types lists: the first n_layers; more: its pattern repeated (``repeated``)."""
        own = n_layers if own is None else own
        types = self.data.get("layer_types")
        rule = WINDOW_RULES.get(self.data.get("model_type"))
        if types is None:
            return None if window is None or rule is None else \
                every_layer_as_none(rule(self, n_layers), n_layers)
        if not isinstance(types, list) or len(types) != own:
            raise self.error(f"layer_types must list one type per layer ({own})")
        if not all(isinstance(t, str) for t in types):
            raise self.error("layer_types must list strings (sliding_attention or "
                             "full_attention)")
        unknown = sorted(set(types) - {"sliding_attention", "full_attention"})
        if unknown:
            raise self.error(f"layer_types {unknown[0]!r} is not modelled; flopcalc counts "
                             f"sliding_attention and full_attention")
        if window is None:
            if "sliding_attention" in types:
                raise self.error("layer_types has sliding_attention layers but no "
                                 "sliding_window")
            return None
        types = self.repeated(types, n_layers)
        return every_layer_as_none(
            tuple(i for i, t in enumerate(types) if t == "sliding_attention"), n_layers)

    def repeated(self, types: list, n_layers: int) -> list:
        """``layer_types`` for ``n_layers`` layers: its first n_layers, or, for more layers
        than it lists, its pattern repeated: the shortest period that repeats through the
        whole list and is seen at least twice (Gemma-2's sliding, full). A list with no such
        pattern says nothing of the layers after it: refused, naming the field."""
        if n_layers <= len(types):
            return types[:n_layers]
        period = next(p for p in range(1, len(types) + 1)
                      if all(types[i] == types[i - p] for i in range(p, len(types))))
        if 2 * period > len(types):
            raise self.error(f"layer_types lists {len(types)} layers and no repeating pattern, "
                             f"so the kind of layers {len(types)} … {n_layers - 1} is unknown: "
                             f"list them in layer_types, or give at most {len(types)} layers")
        return [types[i % period] for i in range(n_layers)]


def every_layer_as_none(layers: tuple[int, ...], n_layers: int) -> tuple[int, ...] | None:
    """Layer indices, or None when they are every one of the n_layers."""
    return None if len(layers) == n_layers else layers


def _qwen_windows(r: ConfigReader, n_layers: int) -> tuple[int, ...]:
    # Qwen2Config (and Qwen3's, Qwen2-MoE's): the layers from max_window_layers on
    first = r.int("max_window_layers", 28)
    return tuple(range(min(first, n_layers), n_layers))


def _gemma2_windows(r: ConfigReader, n_layers: int) -> tuple[int, ...]:
    return tuple(range(0, n_layers, 2))  # Gemma2Attention: layer 0, 2, 4, … use the window


# model_type -> which of n_layers layers its window applies to, when layer_types does not say;
# the others (mistral, phi3, mixtral) window every layer. The reader and a changed n_layers
# (``window_layers_at``) both ask here.
WINDOW_RULES = {"qwen2": _qwen_windows, "qwen3": _qwen_windows, "qwen2_moe": _qwen_windows,
                "gemma2": _gemma2_windows}


def window_layers_at(data: dict, source: str, own: int, n_layers: int, window) -> tuple | None:
    """The windowed layers of a config's model (of ``own`` layers, window ``window``) built
    with ``n_layers`` layers instead: as the reader places them (``ConfigReader.window_layers``);
    None: every layer."""
    return ConfigReader(data, source).window_layers(n_layers, window, own)


def _llama_like(r: ConfigReader, family: str, *, vocab, d_model, d_ff, n_layers, n_heads,
                n_kv_heads, n_positions, head_dim=None, **switches) -> dict:
    """The fields every Llama-like family reads, with that family's defaults."""
    n_heads = r.int("num_attention_heads", n_heads)
    return dict(family=family, vocab=r.int("vocab_size", vocab),
                d_model=r.int("hidden_size", d_model), d_ff=r.int("intermediate_size", d_ff),
                n_layers=r.int("num_hidden_layers", n_layers), n_heads=n_heads,
                n_kv_heads=r.int("num_key_value_heads", n_kv_heads),
                d_head=r.int("head_dim", head_dim),
                n_positions=r.int("max_position_embeddings", n_positions),
                mlp="gated", norm="rmsnorm", positions="rotary", norm_bias=False,
                fused_qkv=False, **switches)


def _windowed(r: ConfigReader, fields: dict, window) -> dict:
    layers = r.window_layers(fields["n_layers"], window)
    if window is not None and layers == ():
        window = None  # no layer uses it
        layers = None
    return {**fields, "sliding_window": window, "window_layers": layers}


def _rotary_share(r: ConfigReader, fields: dict, key: str, default: float) -> dict:
    """The share of each head that rotates, exact (the decimal as written); the width follows
    the head (``architecture.rotary_width``), also when d_model or the heads change later."""
    fields["rotary_share"] = exact_share(r.fraction(key, default))
    return fields


def read_llama(r: ConfigReader) -> dict:
    bias = r.bool("attention_bias", False)
    return _llama_like(r, "llama", vocab=32000, d_model=4096, d_ff=11008, n_layers=32, n_heads=32,
                       n_kv_heads=None, n_positions=2048,
                       activation=r.activation("hidden_act", "silu"), qkv_bias=bias, o_bias=bias,
                       mlp_bias=r.bool("mlp_bias", False),
                       tied_lm_head=r.bool("tie_word_embeddings", False))


def read_mistral(r: ConfigReader) -> dict:
    fields = _llama_like(r, "mistral", vocab=32000, d_model=4096, d_ff=14336, n_layers=32,
                         n_heads=32, n_kv_heads=8, n_positions=4096 * 32,
                         activation=r.activation("hidden_act", "silu"), qkv_bias=False,
                         o_bias=False, mlp_bias=False,
                         tied_lm_head=r.bool("tie_word_embeddings", False))
    # MistralConfig's default window is 4096; a null in the file means none
    window = r.int("sliding_window", r.present("sliding_window", 4096))
    return _windowed(r, fields, window)


QWEN2_SIZES = dict(vocab=151936, d_model=4096, d_ff=22016, n_layers=32, n_heads=32,
                   n_kv_heads=None, n_positions=32768)


def _qwen(r: ConfigReader, family: str, qkv_bias: bool, o_bias: bool, head_dim,
          sizes: dict = QWEN2_SIZES, **extra) -> dict:
    fields = _llama_like(r, family, **sizes, head_dim=head_dim,
                         activation=r.activation("hidden_act", "silu"), qkv_bias=qkv_bias,
                         o_bias=o_bias, mlp_bias=False,
                         tied_lm_head=r.bool("tie_word_embeddings", False), **extra)
    window = r.int("sliding_window", r.present("sliding_window", 4096))
    if not r.bool("use_sliding_window", False):
        window = None
    r.int("max_window_layers", 28)  # checked even when no window uses it
    return _windowed(r, fields, window)


def read_qwen2(r: ConfigReader) -> dict:
    return _qwen(r, "qwen2", qkv_bias=True, o_bias=False, head_dim=None)  # q/k/v bias, o none


def read_qwen3(r: ConfigReader) -> dict:
    bias = r.bool("attention_bias", False)
    return _qwen(r, "qwen3", qkv_bias=bias, o_bias=bias, head_dim=128, qk_norm=True)


def read_gemma2(r: ConfigReader) -> dict:
    bias = r.bool("attention_bias", False)
    fields = _llama_like(r, "gemma2", vocab=256000, d_model=2304, d_ff=9216, n_layers=26,
                         n_heads=8, n_kv_heads=4, n_positions=8192, head_dim=256,
                         activation=r.activation("hidden_activation", "gelu_pytorch_tanh"),
                         qkv_bias=bias, o_bias=bias, mlp_bias=False,
                         tied_lm_head=r.bool("tie_word_embeddings", True), post_norms=True,
                         embed_scale=True,
                         attn_softcap=r.number("attn_logit_softcapping",
                                               r.present("attn_logit_softcapping", 50.0)),
                         final_softcap=r.number("final_logit_softcapping",
                                                r.present("final_logit_softcapping", 30.0)))
    window = r.int("sliding_window", r.present("sliding_window", 4096))
    return _windowed(r, fields, window)


def read_phi3(r: ConfigReader) -> dict:
    fields = _llama_like(r, "phi3", vocab=32064, d_model=3072, d_ff=8192, n_layers=32,
                         n_heads=32, n_kv_heads=None, n_positions=4096,
                         activation=r.activation("hidden_act", "silu"), qkv_bias=False,
                         o_bias=False, mlp_bias=False,
                         tied_lm_head=r.bool("tie_word_embeddings", False))
    fields.update(fused_qkv=True, fused_gate_up=True)
    fields = _rotary_share(r, fields, "partial_rotary_factor", 1.0)
    return _windowed(r, fields, r.int("sliding_window"))


def read_gpt_neox(r: ConfigReader) -> dict:
    bias = r.bool("attention_bias", True)
    n_heads = r.int("num_attention_heads", 64)
    fields = dict(family="gpt_neox", vocab=r.int("vocab_size", 50432),
                  d_model=r.int("hidden_size", 6144), d_ff=r.int("intermediate_size", 24576),
                  n_layers=r.int("num_hidden_layers", 44), n_heads=n_heads, d_head=None,
                  n_positions=r.int("max_position_embeddings", 2048), mlp="plain",
                  activation=r.activation("hidden_act", "gelu"), norm="layernorm",
                  positions="rotary", qkv_bias=bias, o_bias=bias, mlp_bias=True, norm_bias=True,
                  fused_qkv=True, parallel_residual=r.bool("use_parallel_residual", True),
                  tied_lm_head=r.bool("tie_word_embeddings", False))
    key = "rotary_pct" if "rotary_pct" in r.data or "partial_rotary_factor" not in r.data \
        else "partial_rotary_factor"
    return _rotary_share(r, fields, key, 0.25)


def _experts(r: ConfigReader, fields: dict, n_experts: str, default_experts: int, top_k: int,
             d_expert, moe_layers, **router) -> dict:
    """The MoE fields: ``n_experts`` routed experts (0: a dense model), ``top_k`` per token,
    each ``d_expert`` wide, on ``moe_layers`` (a function of n_layers: the MoE layers' indices)."""
    E = r.count(n_experts, default_experts)
    if not E:
        return fields
    layers = tuple(moe_layers(fields["n_layers"]))
    if len(layers) == fields["n_layers"]:
        layers = None  # every layer
    elif not layers:
        return fields  # no layer has experts: a dense model
    top = r.int("num_experts_per_tok", top_k)
    if top > E:
        raise r.error(f"num_experts_per_tok ({top}) exceeds {n_experts} ({E})")
    return {**fields, "n_experts": E, "top_k": top, "d_expert": d_expert, "moe_layers": layers,
            **router}


def read_mixtral(r: ConfigReader) -> dict:
    fields = _llama_like(r, "mixtral", vocab=32000, d_model=4096, d_ff=14336, n_layers=32,
                         n_heads=32, n_kv_heads=8, n_positions=4096 * 32,
                         activation=r.activation("hidden_act", "silu"), qkv_bias=False,
                         o_bias=False, mlp_bias=False,
                         tied_lm_head=r.bool("tie_word_embeddings", False))
    # MixtralSparseMoeBlock: softmax over the experts, the top_k weights renormalised; every
    # expert is a SwiGLU of intermediate_size. Router jitter multiplies the hidden states by
    # noise in training: work flopcalc does not count
    jitter = r.get("router_jitter_noise", 0)
    if jitter != 0:
        raise r.error(f"router_jitter_noise {jitter!r} is not modelled (a training-time "
                      f"multiply); flopcalc counts 0")
    fields = _experts(r, fields, "num_local_experts", 8, 2, fields["d_ff"], range,
                      norm_topk_prob=True)
    return _windowed(r, fields, r.int("sliding_window"))  # MixtralConfig: no window


def read_qwen2_moe(r: ConfigReader) -> dict:
    sizes = dict(vocab=151936, d_model=2048, d_ff=5632, n_layers=24, n_heads=16,
                 n_kv_heads=16, n_positions=32768)
    fields = _qwen(r, "qwen2_moe", qkv_bias=r.bool("qkv_bias", True), o_bias=False,
                   head_dim=None, sizes=sizes)
    n_layers = fields["n_layers"]
    dense = set(r.layer_list("mlp_only_layers", n_layers))
    step = r.int("decoder_sparse_step", 1)
    shared = r.count("shared_expert_intermediate_size", 5632) or None
    # Qwen2MoeDecoderLayer: a sparse MoE block where (i + 1) % decoder_sparse_step == 0 and i
    # is not in mlp_only_layers; its shared expert's output is gated by σ(shared_expert_gate)
    return _experts(r, fields, "num_experts", 60, 4, r.int("moe_intermediate_size", 1408),
                    lambda n: [i for i in range(n) if i not in dense and (i + 1) % step == 0],
                    d_shared=shared, shared_gate=shared is not None,
                    norm_topk_prob=r.bool("norm_topk_prob", False))


def read_deepseek_v3(r: ConfigReader) -> dict:
    bias = r.bool("attention_bias", False)
    fields = _llama_like(r, "deepseek_v3", vocab=129280, d_model=7168, d_ff=18432, n_layers=61,
                         n_heads=128, n_kv_heads=None, n_positions=4096,
                         activation=r.activation("hidden_act", "silu"), qkv_bias=bias,
                         o_bias=bias, mlp_bias=False,
                         tied_lm_head=r.bool("tie_word_embeddings", False))
    # MLA fixes the head widths (HF's head_dim is the rope part) and has a key per head
    fields.update(d_head=None, n_kv_heads=None,
                  q_lora_rank=r.int("q_lora_rank", r.present("q_lora_rank", 1536)),
                  kv_lora_rank=r.int("kv_lora_rank", 512),
                  qk_nope_head_dim=r.int("qk_nope_head_dim", 128),
                  qk_rope_head_dim=r.int("qk_rope_head_dim", 64),
                  v_head_dim=r.int("v_head_dim", 128))
    # DeepseekV3TopkRouter: σ scores, the choice on scores + e_score_correction_bias within
    # the topk_group best of n_group groups, renormalised, times routed_scaling_factor
    r.choice("scoring_func", "sigmoid", ("sigmoid",))
    r.choice("topk_method", "noaux_tc", ("noaux_tc",))
    first = r.count("first_k_dense_replace", 3)
    every = r.int("moe_layer_freq", 1)
    d_expert = r.int("moe_intermediate_size", 2048)
    shared = r.count("n_shared_experts", 1)
    return _experts(r, fields, "n_routed_experts", 256, 8, d_expert,
                    lambda n: [i for i in range(first, n) if i % every == 0],
                    d_shared=shared * d_expert or None,
                    norm_topk_prob=r.bool("norm_topk_prob", True),
                    router_scoring="sigmoid",
                    routed_scale=r.number("routed_scaling_factor", 2.5), router_bias=True,
                    n_groups=r.int("n_group", 8), topk_groups=r.int("topk_group", 4),
                    mtp_layers=r.count("num_nextn_predict_layers", 1))


def read_gpt2(r: ConfigReader) -> dict:
    from ..config import hf_fields  # GPT-2's reader, with its refusals by key

    return {"family": "gpt2", **hf_fields(r.data, r.source)}


READERS = {"gpt2": read_gpt2, "llama": read_llama, "mistral": read_mistral, "qwen2": read_qwen2,
           "qwen3": read_qwen3, "gemma2": read_gemma2, "phi3": read_phi3,
           "gpt_neox": read_gpt_neox, "mixtral": read_mixtral, "qwen2_moe": read_qwen2_moe,
           "deepseek_v3": read_deepseek_v3}


def architecture_fields(data: dict, source: str) -> dict:
    """Architecture fields of a parsed config.json (its model_type picks the reader)."""
    r = ConfigReader(data, source)
    model_type = data.get("model_type", "gpt2")
    if not isinstance(model_type, str) or model_type not in READERS:
        raise r.error(f"model_type {model_type!r} is not supported; flopcalc reads "
                      f"{', '.join(READERS)}")
    for key in NOT_MODELLED:
        if data.get(key) and key not in READS.get(model_type, ()):
            raise r.error(f"{key} is not modelled for model_type {model_type!r} (flopcalc "
                          f"counts experts in {', '.join(READS)} models only)")
    return READERS[model_type](r)


def read_json(path: str | Path) -> dict:
    """A config.json's object (``-``: standard input), or a one-line error."""
    from ..files import CONFIG_LIMIT
    from ..files import read_json as read

    data = read(path, "config", CONFIG_LIMIT)
    if not isinstance(data, dict):
        raise ArchitectureError(f"config {path} is not a JSON object")
    return data


def load_architecture(path: str | Path, **overrides) -> Architecture:
    """The Architecture of a Hugging Face config.json, explicit values (not None) on top."""
    fields = architecture_fields(read_json(path), str(path))
    fields.update({k: v for k, v in overrides.items() if v is not None})
    return Architecture(**fields)
