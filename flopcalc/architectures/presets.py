"""Released models: GPT-2's published sizes and the config.json files shipped in
``flopcalc/data/hf-configs/``, each reachable by a short name and by its Hugging Face name.
"""

from __future__ import annotations

from pathlib import Path

from ..architecture import Architecture, ArchitectureError

DATA = Path(__file__).resolve().parent.parent / "data" / "hf-configs"

# short name -> (Hugging Face name, shipped file or GPT-2's published sizes)
# GPT-2 sizes: Radford et al. 2019, Table 2 (the Hugging Face model cards agree).
PRESETS: dict[str, tuple[str, str | dict]] = {
    "gpt2": ("openai-community/gpt2", dict(d_model=768, n_heads=12, n_layers=12)),
    "gpt2-medium": ("openai-community/gpt2-medium", dict(d_model=1024, n_heads=16, n_layers=24)),
    "gpt2-large": ("openai-community/gpt2-large", dict(d_model=1280, n_heads=20, n_layers=36)),
    "gpt2-xl": ("openai-community/gpt2-xl", dict(d_model=1600, n_heads=25, n_layers=48)),
    "llama-2-7b": ("meta-llama/Llama-2-7b-hf", "Llama-2-7B.json"),
    "llama-3.1-8b": ("meta-llama/Llama-3.1-8B", "Llama-3.1-8B.json"),
    "llama-3.1-70b": ("meta-llama/Llama-3.1-70B", "Llama-3.1-70B.json"),
    "mistral-7b-v0.1": ("mistralai/Mistral-7B-v0.1", "Mistral-7B-v0.1.json"),
    "qwen2.5-7b": ("Qwen/Qwen2.5-7B", "Qwen2.5-7B.json"),
    "qwen3-8b": ("Qwen/Qwen3-8B", "Qwen3-8B.json"),
    "gemma-2-9b": ("google/gemma-2-9b", "Gemma-2-9B.json"),
    "phi-3-mini-4k": ("microsoft/Phi-3-mini-4k-instruct", "Phi-3-mini-4k.json"),
    "pythia-1.4b": ("EleutherAI/pythia-1.4b", "Pythia-1.4B.json"),
    "mixtral-8x7b": ("mistralai/Mixtral-8x7B-v0.1", "Mixtral-8x7B.json"),
    "qwen1.5-moe-a2.7b": ("Qwen/Qwen1.5-MoE-A2.7B", "Qwen1.5-MoE-A2.7B.json"),
    "deepseek-v3": ("deepseek-ai/DeepSeek-V3", "DeepSeek-V3.json"),
}
_BY_HF_NAME = {hf.lower(): short for short, (hf, _) in PRESETS.items()}


def preset_name(name: str) -> str:
    """The short name of a preset given by its short or its Hugging Face name (any case)."""
    key = name.lower()
    if key in PRESETS:
        return key
    if key in _BY_HF_NAME:
        return _BY_HF_NAME[key]
    raise ArchitectureError(f"unknown preset {name!r}; choose one of {', '.join(PRESETS)} "
                            f"(or their Hugging Face names, e.g. {PRESETS['llama-3.1-8b'][0]})")


def preset_fields(name: str) -> dict:
    """The Architecture fields of a preset."""
    short = preset_name(name)
    source = PRESETS[short][1]
    if isinstance(source, dict):
        return {"family": "gpt2", **source}
    from .hf import architecture_fields, read_json

    return architecture_fields(read_json(DATA / source), f"of preset {short}")


def preset_architecture(name: str, **overrides) -> Architecture:
    """A preset's Architecture, explicit values (not None) on top."""
    fields = preset_fields(name)
    fields.update({k: v for k, v in overrides.items() if v is not None})
    return Architecture(**fields)


def family_fields(family: str) -> dict:
    """A family's starting point: Hugging Face's defaults for that model_type (GPT-2: the
    small model's sizes)."""
    from ..architecture import FAMILIES

    if family == "gpt2":
        return {"family": "gpt2"}
    if family not in FAMILIES:
        raise ArchitectureError(f"unknown family {family!r}; choose one of {', '.join(FAMILIES)}")
    from .hf import architecture_fields

    return architecture_fields({"model_type": family}, f"defaults of {family}")


def make_architecture(preset: str | None = None, config: str | Path | None = None,
                      family: str | None = None, bias: bool | None = None,
                      **overrides) -> Architecture:
    """An Architecture from one starting point — a preset, a config.json, a family's
    defaults, or GPT-2 small — with explicit fields (not None) on top. ``bias`` sets every
    bias at once (GPT-2's --no-bias). Sizes that follow from others (d_head, d_ff) and were
    not set by the starting point follow the new values."""
    return Architecture(**model_fields(preset, config, family, bias, **overrides))


def model_fields(preset: str | None = None, config: str | Path | None = None,
                 family: str | None = None, bias: bool | None = None, **overrides) -> dict:
    """``make_architecture``'s fields before the Architecture is made: sizes that follow
    others and are not set stay None (a sweep derives them again at each point)."""
    starts = [name for name, given in (("--preset", preset), ("--config", config),
                                       ("--family", family)) if given is not None]
    if len(starts) > 1:
        raise ArchitectureError(f"{' and '.join(starts)} both set the model: give one of them "
                                f"(and flags such as --d-model to change it)")
    if preset is not None:
        fields = preset_fields(preset)
    elif config is not None:
        from .hf import architecture_fields, read_json

        fields = architecture_fields(read_json(config), str(config))
    else:
        fields = family_fields(family or "gpt2")
    if bias is not None:
        overrides.update(qkv_bias=bias, o_bias=bias, mlp_bias=bias, norm_bias=bias)
    own = fields.get("n_layers")
    fields.update({k: v for k, v in overrides.items() if v is not None})
    windowed = fields.get("window_layers")
    if windowed is not None and overrides.get("n_layers") is not None and \
            overrides.get("window_layers") is None:
        n = fields["n_layers"]
        # fewer layers: the model's first n_layers, each keeping its kind of attention; more:
        # the family's rule laid over them (a pattern that follows none keeps its layers)
        fields["window_layers"] = tuple(i for i in windowed if i < n) if own is None or \
            n <= own else window_pattern(fields["family"], windowed, own, n)
    moe = fields.get("moe_layers")
    if moe is not None and overrides.get("n_layers") is not None and \
            overrides.get("moe_layers") is None:
        # fewer layers: the first n_layers; more: the extra ones like the model's last layer
        n = fields["n_layers"]
        fields["moe_layers"] = tuple(i for i in moe if i < n) + (
            tuple(range(own, n)) if own is not None and own - 1 in moe else ())
    return fields


def window_pattern(family: str, windowed: tuple, own: int, n_layers: int) -> tuple:
    """The windowed layers of a model of ``own`` layers, ``windowed``, laid over
    ``n_layers`` by its family's rule, as Hugging Face's config classes place them:
    Gemma-2 every other layer from layer 0; Qwen2, Qwen3 and Qwen2-MoE every layer from
    ``max_window_layers`` (the first windowed one) on. Mistral windows every layer
    (``window_layers`` None: nothing to lay over). Layers that follow no such rule (an
    explicit ``layer_types``) stay as they were, the new ones full attention."""
    windowed = tuple(windowed)
    if family == "gemma2" and windowed == tuple(range(0, own, 2)):
        return tuple(range(0, n_layers, 2))
    if family in ("qwen2", "qwen3", "qwen2_moe") and windowed and \
            windowed == tuple(range(windowed[0], own)):
        return tuple(range(windowed[0], n_layers))
    return windowed
