"""One builder per family: an ``Architecture`` and the sizes of a pass in, layer groups out.

>>> from flopcalc.architecture import Architecture
>>> groups = build(Architecture(), Architecture().dims(seq_len=128))
>>> [(g.name, g.repeat, len(g.ops)) for g in groups]
[('embedding', 1, 2), ('block', 12, 19), ('head', 1, 2)]

Adding an architecture is one builder module here (and, for a new kind of operation, one
rule in ``flopcalc.model.RULES``).
"""

from __future__ import annotations

from importlib import import_module

from ..architecture import Architecture
from ..model import Dims, LayerGroup, Op

# family -> its builder's module, imported when the family is first built (a command counts
# one family); Mistral, Qwen2, Qwen3 and Phi-3 are Llama's block with switches; Mixtral,
# Qwen2-MoE and DeepSeek-V3 are Llama's decoder with experts (and DeepSeek's MLA)
BUILDERS = {"gpt2": "gpt2", "llama": "llama", "mistral": "llama", "qwen2": "llama",
            "qwen3": "llama", "phi3": "llama", "gemma2": "gemma2", "gpt_neox": "gpt_neox",
            "mixtral": "mixtral", "qwen2_moe": "qwen2_moe", "deepseek_v3": "deepseek_v3"}


def build(arch: Architecture, dims: Dims) -> tuple[LayerGroup, ...]:
    """The layer groups of ``arch``'s forward pass at ``dims`` (ints, or sympy symbols)."""
    return import_module(f".{BUILDERS[arch.family]}", __name__).build(arch, dims)


def ops_of(groups) -> list[Op]:
    """Every group's operations in order, each once (a block group's ops stand for all its
    repeats)."""
    return [op for g in groups for op in g.ops]
