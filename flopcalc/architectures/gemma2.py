"""Gemma 2 (Hugging Face ``Gemma2ForCausalLM``).

A Llama-like block with four RMSNorms, the attention's and the MLP's outputs normalised
before their residual adds (``post_norms``); the embedding scaled by √d_model; the scores
and the logits soft-capped (c·tanh(x/c)); GeGLU (tanh-approximated GELU); every other
layer windowed (layer 0, 2, …); the LM head tied to the token table.
"""

from __future__ import annotations

from ..architecture import Architecture
from ..model import Dims, Op
from .common import attention, block_groups, embedding, head, linear, mlp, model, norm, refuse, residual
from .llama import MLP_NAMES, projections

GEMMA2_SHAPE = dict(mlp="gated", norm="rmsnorm", positions="rotary", parallel_residual=False,
                    fused_gate_up=False)


def build(arch: Architecture, d: Dims):
    refuse(arch, GEMMA2_SHAPE)
    B, L, D, H, Hkv, Dh = d.batch, d.seq_len, d.d_model, d.n_heads, d.n_kv_heads, d.d_head
    x = (B, L, D)

    def rms(name):
        return norm(name, arch.norm, x, name, arch.norm_bias)

    def block(windowed: bool, moe: bool = False) -> list[Op]:
        ops = [rms("input_layernorm"),
               *projections(arch, d, x),
               *attention(arch, d, windowed, (B, L, H * Dh), (B, L, Hkv * Dh),
                          scale="S / √query_pre_attn_scalar"),
               linear("o_proj", "attention.o", "y = A · W_o (h·d_head → d_model)", (B, L, H * Dh),
                      H * Dh, D, "self_attn.o_proj", arch.o_bias)]
        if arch.post_norms:
            ops.append(rms("post_attention_layernorm"))
        ops += [residual("residual_1", x), rms("pre_feedforward_layernorm"),
                *mlp(arch, d, x, MLP_NAMES)]
        if arch.post_norms:
            ops.append(rms("post_feedforward_layernorm"))
        return ops + [residual("residual_2", x)]

    return model(embedding(arch, d, "embed_tokens"), block_groups(arch, d, block, "layers.i."),
                 head(arch, d, "norm", "embed_tokens"))
