"""Qwen2-MoE (Hugging Face ``Qwen2MoeForCausalLM``; Qwen1.5-MoE): Qwen2's decoder with a
sparse MoE block on the layers ``decoder_sparse_step`` picks (and not in
``mlp_only_layers``), the others a dense MLP of ``intermediate_size``.

The MoE block: a router ``gate`` (d_model → n_experts, no bias), softmax, the top_k
weights (renormalised only with ``norm_topk_prob``), the routed SwiGLU experts of
``moe_intermediate_size``; and a ``shared_expert`` of ``shared_expert_intermediate_size``
on every token, multiplied by σ(``shared_expert_gate``(x)) (a Linear d_model → 1) and
added to the routed output.
"""

from __future__ import annotations

from ..architecture import Architecture
from ..model import Dims
from . import llama
from .common import refuse

QWEN2_MOE_NAMES = {"router": "mlp.gate", "gate": "mlp.experts.gate_proj",
                   "up": "mlp.experts.up_proj", "down": "mlp.experts.down_proj",
                   "shared_gate": "mlp.shared_expert.gate_proj",
                   "shared_up": "mlp.shared_expert.up_proj",
                   "shared_down": "mlp.shared_expert.down_proj",
                   "shared_router": "mlp.shared_expert_gate"}
QWEN2_MOE_ROUTER = dict(router_scoring="softmax", routed_scale=None, router_bias=False,
                        n_groups=None, fused_gate_up=False)


def build(arch: Architecture, d: Dims):
    refuse(arch, QWEN2_MOE_ROUTER)
    return llama.build(arch, d, moe_names=QWEN2_MOE_NAMES)
