"""DeepSeek-V3 (Hugging Face ``DeepseekV3ForCausalLM``): multi-head latent attention, and
a mixture of experts on the layers from ``first_k_dense_replace`` on.

Each layer: ``input_layernorm``, MLA (``common.mla_attention``: q_a_proj → q_a_layernorm →
q_b_proj, kv_a_proj_with_mqa → kv_a_layernorm → kv_b_proj, rotary on the q_pe / k_pe
parts, o_proj), the residual add, ``post_attention_layernorm`` and the MLP: dense SwiGLU of
``intermediate_size`` on the first layers; on the others the MoE: a router ``gate``
(d_model → n_routed_experts) scored by σ, the choice made on the scores plus
``e_score_correction_bias`` within the ``topk_group`` best of ``n_group`` groups (a group
scores the sum of its two best), the chosen weights renormalised (``norm_topk_prob``) and
multiplied by ``routed_scaling_factor``; the routed SwiGLU experts of
``moe_intermediate_size``; a shared expert of n_shared_experts × moe_intermediate_size on
every token, added. The multi-token-prediction layers (``num_nextn_predict_layers``) are
not part of the model counted (Hugging Face does not load them either).
"""

from __future__ import annotations

from ..architecture import Architecture
from ..model import Dims, Op
from . import llama
from .common import mla_attention

DEEPSEEK_V3_NAMES = {"router": "mlp.gate", "gate": "mlp.experts.gate_proj",
                     "up": "mlp.experts.up_proj", "down": "mlp.experts.down_proj",
                     "shared_gate": "mlp.shared_experts.gate_proj",
                     "shared_up": "mlp.shared_experts.up_proj",
                     "shared_down": "mlp.shared_experts.down_proj"}


def attention(arch: Architecture, d: Dims, x, windowed: bool) -> list[Op]:
    return mla_attention(arch, d, x)


def build(arch: Architecture, d: Dims):
    return llama.build(arch, d, attention_ops=attention, moe_names=DEEPSEEK_V3_NAMES)
