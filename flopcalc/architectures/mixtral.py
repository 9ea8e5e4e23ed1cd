"""Mixtral (Hugging Face ``MixtralForCausalLM``): Mistral's decoder with a sparse MoE block.

Every layer's MLP is ``block_sparse_moe``: a router ``gate`` (d_model → n_experts, no
bias), softmax over the experts, the top_k of them, their weights renormalised to sum to
1, and each of the chosen SwiGLU experts (``w1`` gate, ``w3`` up, ``w2`` down) run on the
token, its output weighted and summed. No shared expert. The checkpoint stores each
expert's tensors apart (``experts.0.w1.weight`` …); flopcalc counts them as one tensor of
all n_experts, named without the index.
"""

from __future__ import annotations

from ..architecture import Architecture
from ..model import Dims
from . import llama
from .common import refuse

MIXTRAL_NAMES = {"router": "block_sparse_moe.gate", "gate": "block_sparse_moe.experts.w1",
                 "up": "block_sparse_moe.experts.w3", "down": "block_sparse_moe.experts.w2"}
MIXTRAL_ROUTER = dict(router_scoring="softmax", norm_topk_prob=True, d_shared=None,
                      routed_scale=None, router_bias=False, n_groups=None, fused_gate_up=False)


def build(arch: Architecture, d: Dims):
    refuse(arch, MIXTRAL_ROUTER)
    return llama.build(arch, d, moe_names=MIXTRAL_NAMES)
