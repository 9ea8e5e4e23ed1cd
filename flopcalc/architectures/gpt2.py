"""GPT-2 (Radford et al. 2019; Hugging Face ``GPT2LMHeadModel``), and nanoGPT's bias-free one.

Pre-norm blocks: ``x + attn(ln_1(x))``, then ``x + mlp(ln_2(x))``; learned positions
(``wpe``); Conv1D weights stored (in, out); the LM head tied to ``wte`` unless untied (then an
``nn.Linear``, stored (vocab, d_model) as in every family).
"""

from __future__ import annotations

from ..architecture import Architecture, ArchitectureError
from ..model import ACTIVATIONS, POSITION_ADD, Dims, Op, Param
from .common import (attention_scores, block_groups, head, keys, layer_window, linear, model,
                     norm, refuse, reshape, residual)

# what GPT-2's blocks are; an Architecture of family gpt2 asking for anything else is refused
GPT2_SHAPE = dict(mlp="plain", norm="layernorm", positions="learned", fused_gate_up=False,
                  qk_norm=False, post_norms=False, parallel_residual=False, embed_scale=False,
                  attn_softcap=None, final_softcap=None)


def build(arch: Architecture, d: Dims):
    refuse(arch, GPT2_SHAPE)
    if arch.n_kv_heads != arch.n_heads or arch.d_head * arch.n_heads != arch.d_model:
        raise ArchitectureError("the gpt2 family has n_heads heads of d_model / n_heads: "
                                "n_kv_heads and d_head need another family (e.g. --family llama)")
    B, L, D, H, Dh, F, V = d.batch, d.seq_len, d.d_model, d.n_heads, d.d_head, d.d_ff, d.vocab
    x = (B, L, D)
    bias = arch.qkv_bias
    act_name, act_cost, act_computes = ACTIVATIONS[arch.activation]

    def b(flag: bool, term: str) -> str:  # a bias term of a computes text, absent without it
        return f" + {term}" if flag else ""

    def ln(name):
        return norm(name, "layernorm", x, name, arch.norm_bias)

    def block(windowed: bool, moe: bool = False) -> list[Op]:
        ops = [ln("ln_1")]
        if arch.fused_qkv:
            ops += [linear("qkv_proj", "attention.qkv", f"[q k v] = x · W_qkv{b(bias, 'b_qkv')} (fused c_attn)",
                           x, D, 3 * D, "attn.c_attn", bias, layout="conv1d"),
                    reshape("split_qkv", "attention.split",
                            "[q k v] → q, k, v, each (B, L, d_model)", (B, L, 3 * D), x)]
        else:
            ops += [linear(f"{t}_proj", f"attention.{t}", f"{t} = x · W_{t}{b(bias, 'b_' + t)}", x, D, D,
                           f"attn.{t}_proj", bias, layout="conv1d") for t in "qkv"]
        ops += [reshape("split_heads", "attention.heads",
                        "q, k, v: (B, L, d_model) → (B, L, h, d_head)", x, (B, L, H, Dh)),
                reshape("transpose_heads", "attention.heads",
                        "q, k, v: (B, L, h, d_head) → (B, h, L, d_head)", (B, L, H, Dh),
                        (B, H, L, Dh)),
                *attention_scores(arch, d, keys(arch, d, windowed), layer_window(d, windowed)),
                reshape("transpose_back", "attention.heads", "(B, h, L, d_head) → (B, L, h, d_head)",
                        (B, H, L, Dh), (B, L, H, Dh)),
                reshape("merge_heads", "attention.heads",
                        "concatenate heads: (B, L, h, d_head) → (B, L, d_model)", (B, L, H, Dh), x),
                linear("out_proj", "attention.o", f"y = A · W_o{b(arch.o_bias, 'b_o')} (c_proj)", x, D, D,
                       "attn.c_proj", arch.o_bias, layout="conv1d"),
                residual("residual_1", x),
                ln("ln_2"),
                linear("ffn_up", "mlp.up", f"u = x · W_1{b(arch.mlp_bias, 'b_1')} (c_fc, d_model → d_ff)", x, D, F,
                       "mlp.c_fc", arch.mlp_bias, layout="conv1d"),
                Op(act_name, "block", "elementwise", act_computes, ((B, L, F),), (B, L, F),
                   cost=act_cost, role="mlp.act"),
                linear("ffn_down", "mlp.down", f"y = u · W_2{b(arch.mlp_bias, 'b_2')} (c_proj, d_ff → d_model)",
                       (B, L, F), F, D, "mlp.c_proj", arch.mlp_bias, layout="conv1d"),
                residual("residual_2", x)]
        return ops

    embedding = [
        Op("embed", "embedding", "lookup", "x = wte[tokens] + wpe[positions]", ((B, L),), x,
           params=(Param("wte.weight", (V, D)), Param("wpe.weight", (d.n_positions, D))),
           role="embedding"),
        Op("embed_add", "embedding", "elementwise", "token + position embedding add", (x, x), x,
           cost=POSITION_ADD, role="embedding.positions"),
    ]
    return model(embedding, block_groups(arch, d, block, "h.i."), head(arch, d, "ln_f", "wte"))
