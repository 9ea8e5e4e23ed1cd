"""Hugging Face ``config.json`` files read into an ``Architecture``, per ``model_type``.

Each reader uses Hugging Face's field names and, for a missing field, the default of that
family's ``*Config`` class in ``transformers``. A field that would change a count and that
flopcalc does not model is refused in one line naming it, never ignored. Fields with no
effect on any count (dropout, eps, rope_theta, rope_scaling, token ids, dtype) are not read.
"""

from __future__ import annotations

from pathlib import Path

from ..architecture import Architecture, ArchitectureError

# Hugging Face's ACT2FN names -> flopcalc's activations (the ones with a cost-table entry)
ACTIVATIONS = {"gelu": "gelu", "gelu_new": "gelu_tanh", "gelu_pytorch_tanh": "gelu_tanh",
               "relu": "relu", "silu": "silu", "swish": "silu"}
# fields of other architectures that change the counts (experts, latent attention, ...)
NOT_MODELLED = ("num_local_experts", "num_experts", "n_routed_experts", "moe_intermediate_size",
                "n_shared_experts", "kv_lora_rank", "q_lora_rank", "num_experts_per_tok")


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

    def window_layers(self, n_layers: int, window, default) -> tuple[int, ...] | None:
        """Which layers are windowed: HF's explicit ``layer_types``, else ``default`` (a
        tuple of layer indices, or None for every layer)."""
        types = self.data.get("layer_types")
        if types is None:
            return default
        if not isinstance(types, list) or len(types) != n_layers:
            raise self.error(f"layer_types must list one type per layer ({n_layers})")
        unknown = sorted({t for t in types} - {"sliding_attention", "full_attention"})
        if unknown:
            raise self.error(f"layer_types {unknown[0]!r} is not modelled; flopcalc counts "
                             f"sliding_attention and full_attention")
        if window is None and "sliding_attention" in types:
            raise self.error("layer_types has sliding_attention layers but no sliding_window")
        return tuple(i for i, t in enumerate(types) if t == "sliding_attention")


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


def _windowed(r: ConfigReader, fields: dict, window, default_layers) -> dict:
    n_layers = fields["n_layers"]
    layers = r.window_layers(n_layers, window, default_layers)
    if layers is not None and len(layers) == n_layers:
        layers = None  # every layer
    if window is not None and layers == ():
        window = None  # no layer uses it
        layers = None
    return {**fields, "sliding_window": window, "window_layers": layers}


def _rotary_dims(r: ConfigReader, fields: dict, key: str, default: float) -> dict:
    n_heads = fields["n_heads"]
    d_head = fields["d_head"] or fields["d_model"] // n_heads
    fields["rotary_dims"] = int(d_head * r.fraction(key, default))  # HF truncates, as here
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
    return _windowed(r, fields, window, None)


def _qwen(r: ConfigReader, family: str, qkv_bias: bool, o_bias: bool, head_dim, **extra) -> dict:
    fields = _llama_like(r, family, vocab=151936, d_model=4096, d_ff=22016, n_layers=32,
                         n_heads=32, n_kv_heads=None, n_positions=32768, head_dim=head_dim,
                         activation=r.activation("hidden_act", "silu"), qkv_bias=qkv_bias,
                         o_bias=o_bias, mlp_bias=False,
                         tied_lm_head=r.bool("tie_word_embeddings", False), **extra)
    window = r.int("sliding_window", r.present("sliding_window", 4096))
    if not r.bool("use_sliding_window", False):
        window = None
    first = r.int("max_window_layers", 28)
    if window is None:
        layers = None
    else:  # Qwen2Config: the layers from max_window_layers on are windowed
        layers = tuple(range(min(first, fields["n_layers"]), fields["n_layers"]))
    return _windowed(r, fields, window, layers)


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
    # Gemma2Attention: layer 0, 2, 4, … use the window
    layers = None if window is None else tuple(range(0, fields["n_layers"], 2))
    return _windowed(r, fields, window, layers)


def read_phi3(r: ConfigReader) -> dict:
    fields = _llama_like(r, "phi3", vocab=32064, d_model=3072, d_ff=8192, n_layers=32,
                         n_heads=32, n_kv_heads=None, n_positions=4096,
                         activation=r.activation("hidden_act", "silu"), qkv_bias=False,
                         o_bias=False, mlp_bias=False,
                         tied_lm_head=r.bool("tie_word_embeddings", False))
    fields.update(fused_qkv=True, fused_gate_up=True)
    fields = _rotary_dims(r, fields, "partial_rotary_factor", 1.0)
    return _windowed(r, fields, r.int("sliding_window"), None)


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
    return _rotary_dims(r, fields, key, 0.25)


def read_gpt2(r: ConfigReader) -> dict:
    from ..config import hf_fields  # GPT-2's reader, with its refusals by key

    return {"family": "gpt2", **hf_fields(r.data, r.source)}


READERS = {"gpt2": read_gpt2, "llama": read_llama, "mistral": read_mistral, "qwen2": read_qwen2,
           "qwen3": read_qwen3, "gemma2": read_gemma2, "phi3": read_phi3,
           "gpt_neox": read_gpt_neox}


def architecture_fields(data: dict, source: str) -> dict:
    """Architecture fields of a parsed config.json (its model_type picks the reader)."""
    r = ConfigReader(data, source)
    model_type = data.get("model_type", "gpt2")
    if model_type not in READERS:
        raise r.error(f"model_type {model_type!r} is not supported; flopcalc reads "
                      f"{', '.join(READERS)}")
    for key in NOT_MODELLED:
        if data.get(key):
            raise r.error(f"{key} is not modelled (flopcalc counts dense models only)")
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
