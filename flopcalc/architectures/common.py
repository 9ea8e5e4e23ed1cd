"""The small constructors every builder is made of: Linear, norm, attention, MLP, groups.

Each returns ``model.Op``s whose shapes are all the counting needs; the counts themselves
come from ``model.RULES``. Parameter shapes are as the checkpoint stores them: (out, in)
for torch's ``nn.Linear`` (``layout="linear"``), (in, out) for GPT-2's ``Conv1D``.
"""

from __future__ import annotations

from ..architecture import Architecture, ArchitectureError
from ..model import Dim, Dims, LayerGroup, Op, Param, Shape, window_keys

NORM_TEXT = {"layernorm": "LayerNorm: γ·(x−μ)/σ", "rmsnorm": "RMSNorm: γ·x/rms(x)"}  # (+ β)


def linear(name: str, role: str, computes: str, x: Shape, d_in: Dim, d_out: Dim, param: str,
           bias: bool, layout: str = "linear", section: str = "block",
           tied_to: str | None = None) -> Op:
    """x (..., d_in) @ W (d_in, d_out) [+ b]: a Linear layer owning its weight and bias.

    ``tied_to`` names the tensor it shares (a tied LM head): then it owns no weight.
    """
    weight = (d_in, d_out)
    params = () if tied_to else (
        Param(f"{param}.weight", weight if layout == "conv1d" else (d_out, d_in)),)
    if bias:
        params += (Param(f"{param}.bias", (d_out,)),)
    return Op(name, section, "matmul", computes, (x, weight), x[:-1] + (d_out,), weight=weight,
              params=params, bias=d_out if bias else 0, role=role)


def norm(name: str, kind: str, x: Shape, param: str, bias: bool, section: str = "block",
         role: str = "norm", computes: str | None = None) -> Op:
    """A LayerNorm or RMSNorm over the last dimension of ``x``, with γ (and β if ``bias``)."""
    width = x[-1]
    params = (Param(f"{param}.weight", (width,)),) + (
        (Param(f"{param}.bias", (width,)),) if bias else ())
    computes = computes or NORM_TEXT[kind] + (" + β" if bias else "")
    return Op(name, section, "elementwise", computes, (x,), x, params=params,
              cost=kind, bias=width if bias else 0, role=role)


def elementwise(name: str, role: str, computes: str, x: Shape, cost: str,
                inputs: tuple[Shape, ...] | None = None, section: str = "block") -> Op:
    return Op(name, section, "elementwise", computes, inputs or (x,), x, cost=cost, role=role)


def reshape(name: str, role: str, computes: str, x: Shape, out: Shape) -> Op:
    return Op(name, "block", "reshape", computes, (x,), out, role=role)


def keys(arch: Architecture, d: Dims, windowed: bool) -> Dim:
    """The keys a layer attends to in this pass: all kv_len, or what its window keeps."""
    if windowed and d.cap_keys:
        return window_keys(d.seq_len, d.kv_len, d.window)
    return d.kv_len


def layer_window(d: Dims, windowed: bool) -> Dim:
    """The window a layer's attention ops carry; none when the keys are left uncapped."""
    return d.window if windowed and d.cap_keys else None


def attention_scores(arch: Architecture, d: Dims, T: Dim, window: Dim) -> list[Op]:
    """From Q (B, h, L, d_head) and K, V repeated to (B, h, T, d_head) to the per-head output A.

    Eager attention: S = Q·Kᵀ, scaled, soft-capped (Gemma-2), masked, softmax, P·V. The
    mask is causal, and within the window on a windowed layer.
    """
    B, L, H, Dh = d.batch, d.seq_len, d.n_heads, d.d_head
    heads, scores = (B, H, L, Dh), (B, H, L, T)

    def on_scores(name, role, computes, cost):
        return Op(name, "block", "elementwise", computes, (scores,), scores, cost=cost,
                  on_scores=True, role=role, window=window)

    ops = [Op("scores", "block", "matmul", "S = Q · Kᵀ per head", (heads, (B, H, Dh, T)), scores,
              causal="output", role="attention.scores", window=window),
           on_scores("scale", "attention.scale", "S / √d_head" if arch.family != "gemma2" else
                     "S / √query_pre_attn_scalar", "scale")]
    if arch.attn_softcap is not None:
        ops.append(on_scores("attn_softcap", "attention.softcap",
                             "S = c · tanh(S / c), c = attn_logit_softcapping", "softcap"))
    ops += [on_scores("causal_mask", "attention.mask",
                      "S[i, j>i] = −∞" if window is None else "S[i, j>i or j≤i−W] = −∞", "mask"),
            on_scores("softmax", "attention.softmax", "P = softmax(S) over keys", "softmax"),
            Op("attn_values", "block", "matmul", "A = P · V per head", (scores, (B, H, T, Dh)),
               heads, causal="contraction", role="attention.values", window=window)]
    return ops


def attention(arch: Architecture, d: Dims, windowed: bool, q: Shape, kv: Shape,
              q_norm: str = "self_attn.q_norm", k_norm: str = "self_attn.k_norm") -> list[Op]:
    """Heads split, q/k norms (Qwen3), rotary, K/V repeated to the query heads (GQA), the
    scores, and the heads merged again: from q (B, L, h·d_head) and k, v (B, L, h_kv·d_head)
    to (B, L, h·d_head)."""
    B, L, H, Hkv, Dh = d.batch, d.seq_len, d.n_heads, d.n_kv_heads, d.d_head
    T, window = keys(arch, d, windowed), layer_window(d, windowed)
    ops = [reshape("split_heads", "attention.heads", "q: (B, L, h·d_head) → (B, L, h, d_head)",
                   q, (B, L, H, Dh)),
           reshape("split_kv_heads", "attention.heads",
                   "k, v: (B, L, h_kv·d_head) → (B, L, h_kv, d_head)", kv, (B, L, Hkv, Dh))]
    if arch.qk_norm:
        ops += [norm("q_norm", "rmsnorm", (B, L, H, Dh), q_norm, False,
                     computes="RMSNorm of each query head (over d_head)"),
                norm("k_norm", "rmsnorm", (B, L, Hkv, Dh), k_norm, False,
                     computes="RMSNorm of each key head (over d_head)")]
    ops += [reshape("transpose_heads", "attention.heads", "q: (B, L, h, d_head) → (B, h, L, d_head)",
                    (B, L, H, Dh), (B, H, L, Dh)),
            reshape("transpose_kv_heads", "attention.heads",
                    "k, v: (B, L, h_kv, d_head) → (B, h_kv, L, d_head)", (B, L, Hkv, Dh),
                    (B, Hkv, L, Dh))]
    if arch.positions == "rotary":
        R = d.rotary_dims
        what = "rotary positions" + ("" if R is Dh or R == Dh else " (first rotary_dims of each head)")
        ops += [elementwise("rotary_q", "attention.rotary", f"q: {what}", (B, H, L, R), "rotary"),
                elementwise("rotary_k", "attention.rotary", f"k: {what}", (B, Hkv, L, R), "rotary")]
    ops.append(reshape("repeat_kv", "attention.repeat_kv",
                       "K, V (with the cache): (B, h_kv, T, d_head) → (B, h, T, d_head), a view",
                       (B, Hkv, T, Dh), (B, H, T, Dh)))
    ops += attention_scores(arch, d, T, window)
    ops += [reshape("transpose_back", "attention.heads", "(B, h, L, d_head) → (B, L, h, d_head)",
                    (B, H, L, Dh), (B, L, H, Dh)),
            reshape("merge_heads", "attention.heads",
                    "concatenate heads: (B, L, h, d_head) → (B, L, h·d_head)", (B, L, H, Dh),
                    (B, L, H * Dh))]
    return ops


def mlp(arch: Architecture, d: Dims, x: Shape, names: dict[str, str]) -> list[Op]:
    """A two-matrix MLP (up, activation, down) or a gated one (gate, up — fused or not —,
    act(gate) · up, down). ``names`` maps up/down/gate/gate_up to parameter names."""
    F, bias = d.d_ff, arch.mlp_bias
    h = x[:-1] + (F,)
    act = arch.activation_cost
    if arch.mlp == "plain":
        return [linear("up_proj", "mlp.up", "u = x · W_up (d_model → d_ff)", x, d.d_model, F,
                       names["up"], bias),
                elementwise("act_fn", "mlp.act", f"{arch.activation}(u)", h, act),
                linear("down_proj", "mlp.down", "y = u · W_down (d_ff → d_model)", h, F,
                       d.d_model, names["down"], bias)]
    if arch.fused_gate_up:
        ops = [linear("gate_up_proj", "mlp.gate_up", "[g u] = x · W_gate_up (d_model → 2·d_ff)",
                      x, d.d_model, 2 * F, names["gate_up"], bias),
               reshape("split_gate_up", "mlp.split", "[g u] → g, u, each (B, L, d_ff)",
                       x[:-1] + (2 * F,), h)]
    else:
        ops = [linear("gate_proj", "mlp.gate", "g = x · W_gate (d_model → d_ff)", x, d.d_model, F,
                      names["gate"], bias),
               linear("up_proj", "mlp.up", "u = x · W_up (d_model → d_ff)", x, d.d_model, F,
                      names["up"], bias)]
    return ops + [elementwise("act_fn", "mlp.act", f"{arch.activation}(g)", h, act),
                  elementwise("gate_mul", "mlp.mul", "act(g) · u", h, "mul", inputs=(h, h)),
                  linear("down_proj", "mlp.down", "y = (act(g) · u) · W_down (d_ff → d_model)",
                         h, F, d.d_model, names["down"], bias)]


def residual(name: str, x: Shape, computes: str = "x = x + y") -> Op:
    return elementwise(name, "residual", computes, x, "add", inputs=(x, x))


def embedding(arch: Architecture, d: Dims, table: str) -> list[Op]:
    """The token lookup (no positions: rotary ones have no table), and Gemma's x·√d_model."""
    B, L, D = d.batch, d.seq_len, d.d_model
    x = (B, L, D)
    ops = [Op("embed", "embedding", "lookup", f"x = {table}[tokens]", ((B, L),), x,
              params=(Param(f"{table}.weight", (d.vocab, D)),), role="embedding")]
    if arch.embed_scale:
        ops.append(elementwise("embed_scale", "embedding.scale", "x = x · √d_model", x, "scale",
                               section="embedding"))
    return ops


def head(arch: Architecture, d: Dims, norm_name: str, table: str, lm_head: str = "lm_head") -> list[Op]:
    """The final norm, the LM head (tied to the token table or its own weight) and Gemma-2's
    logit soft-cap."""
    x = (d.batch, d.seq_len, d.d_model)
    ops = [norm(norm_name, arch.norm, x, norm_name, arch.norm_bias, section="head"),
           linear("lm_head", "lm_head", f"logits = x · {table}ᵀ (tied to the token embedding)"
                  if arch.tied_lm_head else f"logits = x · W_{lm_head} (untied LM head)",
                  x, d.d_model, d.vocab, lm_head, False, section="head",
                  tied_to=table if arch.tied_lm_head else None)]
    if arch.final_softcap is not None:
        ops.append(elementwise("logit_softcap", "lm_head.softcap",
                               "logits = c · tanh(logits / c), c = final_logit_softcapping",
                               (d.batch, d.seq_len, d.vocab), "softcap", section="head"))
    return ops


def block_groups(arch: Architecture, d: Dims, block, prefix: str) -> list[LayerGroup]:
    """The blocks as layer groups: one group when every layer is alike, else the windowed
    (``sliding``) layers and the ``full`` ones. ``block(windowed)`` builds one block's ops."""
    n, w = d.n_layers, d.n_windowed
    if d.window is None or w == 0:
        return [LayerGroup("block", "block", n, tuple(block(False)), prefix)]
    if w is n or w == n:
        return [LayerGroup("block", "block", n, tuple(block(True)), prefix)]
    return [LayerGroup("sliding", "block", w, tuple(block(True)), prefix),
            LayerGroup("full", "block", n - w, tuple(block(False)), prefix)]


def model(embedding_ops: list[Op], blocks: list[LayerGroup], head_ops: list[Op]) -> tuple[LayerGroup, ...]:
    return (LayerGroup("embedding", "embedding", 1, tuple(embedding_ops)), *blocks,
            LayerGroup("head", "head", 1, tuple(head_ops)))


def refuse(arch: Architecture, fixed: dict) -> None:
    """A builder's switches that its family does not have: one line naming the first."""
    for name, value in fixed.items():
        if getattr(arch, name) != value:
            raise ArchitectureError(f"the {arch.family} family has {name}={value!r}; "
                                    f"{name}={getattr(arch, name)!r} needs another family")
