"""The GPT-2 forward pass exactly as flopcalc's ``model.build_ops`` wrote it before the
builders (issue 9), with that time's cost functions: the oracle the GPT-2 builder must
reproduce op for op. One correction since: an untied LM head's weight is stored (vocab,
d_model), as Hugging Face's nn.Linear stores it (it was written (d_model, vocab))."""

from __future__ import annotations

from math import prod

from flopcalc.model import (BACKWARD_COST, ELEMENTWISE_COST, POSITION_ADD, Dim, Dims, Op, Param,
                            Shape)


# The FFN activations flopcalc counts: name -> (op name, ELEMENTWISE_COST key, computes text).
# ``gelu_tanh`` is GPT-2's (Hugging Face's gelu_new); ``gelu`` the exact erf form.
ACTIVATIONS: dict[str, tuple[str, str, str]] = {
    "gelu_tanh": ("gelu", "gelu", "GELU(u), tanh approximation"),
    "gelu": ("gelu", "gelu_erf", "GELU(u) = u·Φ(u), exact (erf)"),
    "relu": ("relu", "relu", "ReLU(u) = max(u, 0)"),
}


def half(x: Dim) -> Dim:
    """x / 2, exact for the even integers it is used on; symbolic otherwise."""
    return x // 2 if isinstance(x, int) else x / 2


def visible_pairs(q_len: Dim, kv_len: Dim) -> Dim:
    """(query, key) pairs a causal mask lets through when q_len queries are the last of kv_len.

    Query i (0-based) sees kv_len - q_len + i + 1 keys: with q_len == kv_len == L that is
    L(L+1)/2; with one query after t-1 cached keys it is t.
    """
    return q_len * (kv_len - q_len) + half(q_len * (q_len + 1))


def matmul_macs(a: Shape, b: Shape, causal: str | None = None) -> Dim:
    """Multiply-adds of ``a @ b`` for a: (..., m, k), b: (..., k, n).

    With ``causal="output"`` only the visible (m, n) output entries are computed (scores);
    with ``causal="contraction"`` only the visible (m, k) entries of ``a`` are non-zero
    (probs @ V).
    """
    *batch, m, k = a
    n = b[-1]
    if causal == "output":
        return prod(batch) * visible_pairs(m, n) * k
    if causal == "contraction":
        return prod(batch) * visible_pairs(m, k) * n
    return prod(batch) * m * k * n


def elements(shape: Shape, causal: bool = False) -> Dim:
    """Element count of a tensor; for (..., q, k) scores under a causal count, the visible ones."""
    if causal:
        *batch, q_len, kv_len = shape
        return prod(batch) * visible_pairs(q_len, kv_len)
    return prod(shape)


def op_macs(op: Op, causal: bool = False) -> Dim:
    """Multiply-adds of one operation (0 unless it is a matmul)."""
    if op.kind != "matmul":
        return 0
    return matmul_macs(op.inputs[0], op.inputs[1], op.causal if causal else None)


def op_elementwise_flops(op: Op, causal: bool = False, backward: bool = False) -> Dim:
    """FLOPs of an operation's elementwise work: the op itself and its bias (Linear, LayerNorm).

    ``backward`` gives the work of its gradient instead (``BACKWARD_COST``).
    """
    cost = BACKWARD_COST if backward else ELEMENTWISE_COST
    flops = prod(op.output[:-1]) * op.bias * cost["bias"]
    if op.kind == "elementwise" and not (op.cost == "mask" and causal):
        # (a causal kernel never computes the masked entries, so there is nothing to mask)
        flops += elements(op.output, causal and op.on_scores) * cost[op.cost]
    if op.kind == "lookup" and backward:
        flops += prod(op.output) * 2 * cost["lookup"]  # into the wte and the wpe rows
    return flops


def _linear(name, section, computes, x: Shape, d_in: Dim, d_out: Dim, weight_name: str,
            bias: bool, transposed_weight: bool = False, stored: Shape | None = None) -> Op:
    """x (..., d_in) @ W (d_in, d_out) [+ b]: a Linear layer, owning its weight and bias
    (stored as ``stored``, by default (d_in, d_out) as GPT-2's Conv1D)."""
    weight = (d_in, d_out)
    params = () if transposed_weight else (Param(f"{weight_name}.weight", stored or weight),)
    if bias:
        params += (Param(f"{weight_name}.bias", (d_out,)),)
    return Op(name, section, "matmul", computes, (x, weight), x[:-1] + (d_out,),
              weight=weight, params=params, bias=d_out if bias else 0)


def gpt2_ops(d: Dims, fused_qkv: bool = True, bias: bool = True,
              tied_lm_head: bool = True, activation: str = "gelu_tanh") -> list[Op]:
    """The forward pass of a GPT-2 model as an ordered list of operations.

    Block operations appear once (section ``block``) and stand for each of the
    ``d.n_layers`` identical blocks. Parameter names follow Hugging Face's GPT-2
    (``h.{i}.`` is left out of block parameter names). ``activation`` is a key of
    ``ACTIVATIONS``.
    """
    B, L, D, H, Dh, F, V = d.batch, d.seq_len, d.d_model, d.n_heads, d.d_head, d.d_ff, d.vocab
    T = d.kv_len
    x = (B, L, D)
    heads = (B, H, L, Dh)
    scores = (B, H, L, T)
    keys = (B, H, T, Dh)  # K and V: this pass's tokens after any cached ones
    act_name, act_cost, act_computes = ACTIVATIONS[activation]

    def b(term: str) -> str:  # a bias term of a computes text, absent without biases
        return f" + {term}" if bias else ""

    def ln(name, section, prefix):
        params = (Param(f"{prefix}.weight", (D,)),) + ((Param(f"{prefix}.bias", (D,)),) if bias else ())
        return Op(name, section, "elementwise", f"LayerNorm: γ·(x−μ)/σ{b('β')}", (x,), x,
                  params=params, cost="layernorm", bias=D if bias else 0)

    ops = [
        Op("embed", "embedding", "lookup", "x = wte[tokens] + wpe[positions]", ((B, L),), x,
           params=(Param("wte.weight", (V, D)), Param("wpe.weight", (d.n_positions, D)))),
        Op("embed_add", "embedding", "elementwise", "token + position embedding add",
           (x, x), x, cost=POSITION_ADD),
        ln("ln_1", "block", "ln_1"),
    ]
    if fused_qkv:
        ops.append(_linear("qkv_proj", "block", f"[q k v] = x · W_qkv{b('b_qkv')} (fused c_attn)",
                           x, D, 3 * D, "attn.c_attn", bias))
        ops.append(Op("split_qkv", "block", "reshape", "[q k v] → q, k, v, each (B, L, d_model)",
                      ((B, L, 3 * D),), x))
    else:
        for t in "qkv":
            ops.append(_linear(f"{t}_proj", "block", f"{t} = x · W_{t}{b('b_' + t)}",
                               x, D, D, f"attn.{t}_proj", bias))
    ops += [
        Op("split_heads", "block", "reshape", "q, k, v: (B, L, d_model) → (B, L, h, d_head)",
           (x,), (B, L, H, Dh)),
        Op("transpose_heads", "block", "reshape", "q, k, v: (B, L, h, d_head) → (B, h, L, d_head)",
           ((B, L, H, Dh),), heads),
        Op("scores", "block", "matmul", "S = Q · Kᵀ per head", (heads, (B, H, Dh, T)), scores,
           causal="output"),
        Op("scale", "block", "elementwise", "S / √d_head", (scores,), scores, cost="scale",
           on_scores=True),
        Op("causal_mask", "block", "elementwise", "S[i, j>i] = −∞", (scores,), scores,
           cost="mask", on_scores=True),
        Op("softmax", "block", "elementwise", "P = softmax(S) over keys", (scores,), scores,
           cost="softmax", on_scores=True),
        Op("attn_values", "block", "matmul", "A = P · V per head", (scores, keys), heads,
           causal="contraction"),
        Op("transpose_back", "block", "reshape", "(B, h, L, d_head) → (B, L, h, d_head)",
           (heads,), (B, L, H, Dh)),
        Op("merge_heads", "block", "reshape", "concatenate heads: (B, L, h, d_head) → (B, L, d_model)",
           ((B, L, H, Dh),), x),
        _linear("out_proj", "block", f"y = A · W_o{b('b_o')} (c_proj)", x, D, D, "attn.c_proj",
                bias),
        Op("residual_1", "block", "elementwise", "x = x + y", (x, x), x, cost="add"),
        ln("ln_2", "block", "ln_2"),
        _linear("ffn_up", "block", f"u = x · W_1{b('b_1')} (c_fc, d_model → d_ff)", x, D, F,
                "mlp.c_fc", bias),
        Op(act_name, "block", "elementwise", act_computes, ((B, L, F),), (B, L, F),
           cost=act_cost),
        _linear("ffn_down", "block", f"y = u · W_2{b('b_2')} (c_proj, d_ff → d_model)", (B, L, F),
                F, D, "mlp.c_proj", bias),
        Op("residual_2", "block", "elementwise", "x = x + y", (x, x), x, cost="add"),
        ln("ln_f", "head", "ln_f"),
        _linear("lm_head", "head", "logits = x · wteᵀ (tied to the token embedding)", x, D, V,
                "wte", bias=False, transposed_weight=True) if tied_lm_head else
        # an untied head is GPT2LMHeadModel's nn.Linear(n_embd, vocab_size): stored (V, D)
        _linear("lm_head", "head", "logits = x · W_lm_head (untied LM head)", x, D, V, "lm_head",
                bias=False, stored=(V, D)),
    ]
    return ops
