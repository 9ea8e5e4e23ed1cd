"""Llama and the models built like it: Mistral, Qwen2, Qwen3 (Hugging Face ``LlamaForCausalLM``,
``MistralForCausalLM``, ``Qwen2ForCausalLM``, ``Qwen3ForCausalLM``), and Phi-3, which fuses
the projections (``Phi3ForCausalLM``).

Pre-norm RMSNorm blocks: ``x + o_proj(attn(input_layernorm(x)))``, then
``x + down_proj(act(gate_proj(x)) · up_proj(x))`` on ``post_attention_layernorm(x)``;
rotary positions (no table); grouped-query attention (K and V with n_kv_heads heads,
repeated to the query heads). The switches say where the families differ: q/k/v bias
(Qwen2), q/k norms (Qwen3), sliding windows (Mistral, Qwen2's max_window_layers, Phi-3),
fused qkv_proj and gate_up_proj (Phi-3).
"""

from __future__ import annotations

from ..architecture import Architecture
from ..model import Dims, Op
from .common import (attention, block_groups, embedding, feed_forward, head, linear, model, norm,
                     refuse, reshape, residual)

LLAMA_SHAPE = dict(mlp="gated", norm="rmsnorm", positions="rotary", post_norms=False,
                   parallel_residual=False, embed_scale=False, attn_softcap=None,
                   final_softcap=None)
MLP_NAMES = {"gate": "mlp.gate_proj", "up": "mlp.up_proj", "down": "mlp.down_proj",
             "gate_up": "mlp.gate_up_proj"}


def projections(arch: Architecture, d: Dims, x) -> list[Op]:
    """q, k, v from x: three Linears, or Phi-3's one qkv_proj split in three."""
    D, H, Hkv, Dh = d.d_model, d.n_heads, d.n_kv_heads, d.d_head
    if arch.fused_qkv:
        width = (H + 2 * Hkv) * Dh
        return [linear("qkv_proj", "attention.qkv", "[q k v] = x · W_qkv (fused qkv_proj)", x, D,
                       width, "self_attn.qkv_proj", arch.qkv_bias),
                reshape("split_qkv", "attention.split", "[q k v] → q (B, L, h·d_head), "
                        "k, v (B, L, h_kv·d_head)", x[:-1] + (width,), x[:-1] + (H * Dh,))]
    return [linear("q_proj", "attention.q", "q = x · W_q (d_model → h·d_head)", x, D, H * Dh,
                   "self_attn.q_proj", arch.qkv_bias),
            linear("k_proj", "attention.k", "k = x · W_k (d_model → h_kv·d_head)", x, D,
                   Hkv * Dh, "self_attn.k_proj", arch.qkv_bias),
            linear("v_proj", "attention.v", "v = x · W_v (d_model → h_kv·d_head)", x, D,
                   Hkv * Dh, "self_attn.v_proj", arch.qkv_bias)]


def self_attention(arch: Architecture, d: Dims, x, windowed: bool) -> list[Op]:
    """Llama's attention: q, k, v projections, the heads' attention, o_proj."""
    B, L, D, H, Hkv, Dh = d.batch, d.seq_len, d.d_model, d.n_heads, d.n_kv_heads, d.d_head
    return [*projections(arch, d, x),
            *attention(arch, d, windowed, (B, L, H * Dh), (B, L, Hkv * Dh)),
            linear("o_proj", "attention.o", "y = A · W_o (h·d_head → d_model)", (B, L, H * Dh),
                   H * Dh, D, "self_attn.o_proj", arch.o_bias)]


def build(arch: Architecture, d: Dims, attention_ops=self_attention, moe_names=None):
    """Llama's model; the MoE families (Mixtral, Qwen2-MoE, DeepSeek-V3) are this decoder
    with their own ``attention_ops`` and the parameter names of their experts (``moe_names``,
    see ``common.moe``)."""
    refuse(arch, LLAMA_SHAPE)
    x = (d.batch, d.seq_len, d.d_model)

    def block(windowed: bool, moe: bool = False) -> list[Op]:
        return [norm("input_layernorm", arch.norm, x, "input_layernorm", arch.norm_bias),
                *attention_ops(arch, d, x, windowed),
                residual("residual_1", x),
                norm("post_attention_layernorm", arch.norm, x, "post_attention_layernorm",
                     arch.norm_bias),
                *feed_forward(arch, d, x, moe, moe_names if moe else MLP_NAMES),
                residual("residual_2", x)]

    return model(embedding(arch, d, "embed_tokens"), block_groups(arch, d, block, "layers.i."),
                 head(arch, d, "norm", "embed_tokens"))
