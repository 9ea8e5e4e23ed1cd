"""Released models: GPT-2's published sizes and the config.json files shipped in
``flopcalc/data/hf-configs/``, each reachable by a short name and by its Hugging Face name.
"""

from __future__ import annotations

from pathlib import Path

from ..architecture import Architecture, ArchitectureError
from ..config import PRESETS as GPT2_SIZES

# __file__ is already absolute: no resolve() (its lstat calls) on every start
DATA = Path(__file__).parent.parent / "data" / "hf-configs"

# short name -> (Hugging Face name, shipped file or GPT-2's published sizes, which
# ``config.PRESETS`` holds: Radford et al. 2019, Table 2)
PRESETS: dict[str, tuple[str, str | dict]] = {
    **{name: (f"openai-community/{name}", sizes) for name, sizes in GPT2_SIZES.items()},
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
    return _start(preset=name)[0]


def _start(preset=None, config=None, family=None) -> tuple[dict, dict | None, str]:
    """A starting point's Architecture fields, its config.json object (None for GPT-2's
    published sizes) and the name its errors give it."""
    if preset is None and config is None:
        return family_fields(family or "gpt2"), _family_data(family or "gpt2"), \
            f"defaults of {family}"
    if preset is not None:
        short = preset_name(preset)
        source = PRESETS[short][1]
        if isinstance(source, dict):
            return {"family": "gpt2", **source}, None, f"of preset {short}"
    # the config.json reader only when a file is read (GPT-2's sizes need none)
    from .hf import architecture_fields, read_json

    if preset is not None:
        data, where = read_json(DATA / source), f"of preset {short}"
    else:
        data, where = read_json(config), str(config)
    return architecture_fields(data, where), data, where


def preset_architecture(name: str, **overrides) -> Architecture:
    """A preset's Architecture, explicit values (not None) on top."""
    fields = preset_fields(name)
    fields.update({k: v for k, v in overrides.items() if v is not None})
    return Architecture(**fields)


def family_fields(family: str) -> dict:
    """A family's starting point: Hugging Face's defaults for that model_type (GPT-2: the
    small model's sizes)."""
    data = _family_data(family)
    if data is None:
        return {"family": "gpt2"}
    from .hf import architecture_fields

    return architecture_fields(data, f"defaults of {family}")


def _family_data(family: str) -> dict | None:
    """The config.json a family's defaults are read from (None: GPT-2 small's sizes)."""
    from ..architecture import FAMILIES

    if family == "gpt2":
        return None
    if family not in FAMILIES:
        raise ArchitectureError(f"unknown family {family!r}; choose one of {', '.join(FAMILIES)}")
    return {"model_type": family}


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
    fields, data, where = _start(preset, config, family)
    if bias is not None:
        overrides.update(qkv_bias=bias, o_bias=bias, mlp_bias=bias, norm_bias=bias)
    own = fields.get("n_layers")
    fields.update({k: v for k, v in overrides.items() if v is not None})
    if fields.get("window_layers") is not None and overrides.get("n_layers") is not None and \
            overrides.get("window_layers") is None and data is not None:
        from .hf import window_layers_at

        # the windowed layers of n_layers as the config reader places them: the family's rule
        # for n_layers, or the config's layer_types (its first n_layers; more: its pattern
        # repeated, or refused). Fewer layers: the model's first ones keep their kind
        layers = window_layers_at(data, where, own, fields["n_layers"], fields["sliding_window"])
        fields["window_layers"] = layers
    moe = fields.get("moe_layers")
    if moe is not None and overrides.get("n_layers") is not None and \
            overrides.get("moe_layers") is None:
        # fewer layers: the first n_layers; more: the extra ones like the model's last layer
        n = fields["n_layers"]
        fields["moe_layers"] = tuple(i for i in moe if i < n) + (
            tuple(range(own, n)) if own is not None and own - 1 in moe else ())
    return fields
