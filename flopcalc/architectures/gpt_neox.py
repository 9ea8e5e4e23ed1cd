"""GPT-NeoX and Pythia (Hugging Face ``GPTNeoXForCausalLM``).

LayerNorm blocks with biases everywhere; one fused ``query_key_value`` Linear; rotary
positions on the first ``rotary_pct`` of each head; with ``use_parallel_residual`` the
attention and the MLP both read the block's input, ``x + attn(ln1(x)) + mlp(ln2(x))``;
an untied LM head (``embed_out``).
"""

from __future__ import annotations

from ..architecture import Architecture
from ..model import Dims, Op
from .common import attention, block_groups, embedding, head, linear, mlp, model, norm, refuse, \
    reshape, residual

NEOX_SHAPE = dict(mlp="plain", norm="layernorm", positions="rotary", fused_qkv=True,
                  qk_norm=False, post_norms=False, embed_scale=False, attn_softcap=None,
                  final_softcap=None)
MLP_NAMES = {"up": "mlp.dense_h_to_4h", "down": "mlp.dense_4h_to_h"}


def build(arch: Architecture, d: Dims):
    refuse(arch, NEOX_SHAPE)
    B, L, D, H, Hkv, Dh = d.batch, d.seq_len, d.d_model, d.n_heads, d.n_kv_heads, d.d_head
    x = (B, L, D)
    width = (H + 2 * Hkv) * Dh

    def block(windowed: bool, moe: bool = False) -> list[Op]:
        ops = [norm("input_layernorm", arch.norm, x, "input_layernorm", arch.norm_bias),
               linear("query_key_value", "attention.qkv", "[q k v] = x · W_qkv + b (fused)", x,
                      D, width, "attention.query_key_value", arch.qkv_bias),
               reshape("split_qkv", "attention.split", "[q k v] → q, k, v, each (B, L, h·d_head)",
                       x[:-1] + (width,), x[:-1] + (H * Dh,)),
               *attention(arch, d, windowed, (B, L, H * Dh), (B, L, Hkv * Dh)),
               linear("dense", "attention.o", "y = A · W_o + b_o (dense)", (B, L, H * Dh), H * Dh,
                      D, "attention.dense", arch.o_bias)]
        ln2 = norm("post_attention_layernorm", arch.norm, x, "post_attention_layernorm",
                   arch.norm_bias)
        if arch.parallel_residual:
            return ops + [ln2, *mlp(arch, d, x, MLP_NAMES),
                          residual("residual_1", x, "y = attn + mlp (parallel branches)"),
                          residual("residual_2", x, "x = x + y")]
        return ops + [residual("residual_1", x), ln2, *mlp(arch, d, x, MLP_NAMES),
                      residual("residual_2", x)]

    return model(embedding(arch, d, "embed_in"), block_groups(arch, d, block, "layers.i."),
                 head(arch, d, "final_layer_norm", "embed_in", lm_head="embed_out"))
