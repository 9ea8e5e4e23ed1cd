"""The small constructors every builder is made of: Linear, norm, attention, MLP, groups.

Each returns ``model.Op``s whose shapes are all the counting needs; the counts themselves
come from ``model.RULES``. Parameter shapes are as the checkpoint stores them: (out, in)
for torch's ``nn.Linear`` (``layout="linear"``), (in, out) for GPT-2's ``Conv1D``.
"""

from __future__ import annotations

from ..architecture import Architecture, ArchitectureError
from ..model import Dim, Dims, LayerGroup, Op, Param, Shape, window_keys
from ..tracing import is_traced

NORM_TEXT = {"layernorm": "LayerNorm: γ·(x−μ)/σ", "rmsnorm": "RMSNorm: γ·x/rms(x)"}  # (+ β)


def linear(name: str, role: str, computes: str, x: Shape, d_in: Dim, d_out: Dim, param: str,
           bias: bool, layout: str = "linear", section: str = "block",
           tied_to: str | None = None, experts: tuple[Dim, Dim] | None = None) -> Op:
    """x (..., d_in) @ W (d_in, d_out) [+ b]: a Linear layer owning its weight and bias.

    ``tied_to`` names the tensor it shares (a tied LM head): then it owns no weight.
    ``experts`` (top_k, n_experts) makes it the routed experts' Linear: one parameter tensor
    of all n_experts weights, (n_experts, d_out, d_in), and rows x of tokens × top_k, each
    row multiplied by its own expert's weight (so the count is one expert's per row).
    """
    weight = (d_in, d_out)
    stored = weight if layout == "conv1d" else (d_out, d_in)
    if experts is not None:
        stored = (experts[1],) + stored
    params = () if tied_to else (Param(f"{param}.weight", stored),)
    if bias:
        params += (Param(f"{param}.bias", stored[:-2] + (d_out,)),)
    return Op(name, section, "matmul", computes, (x, weight), x[:-1] + (d_out,), weight=weight,
              params=params, bias=d_out if bias else 0, role=role, experts=experts)


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


def attention_scores(arch: Architecture, d: Dims, T: Dim, window: Dim, d_qk: Dim = None,
                     d_v: Dim = None, scale: str = "S / √d_head", kv_heads: Dim = None) -> list[Op]:
    """From Q (B, h, L, d_head) and K, V repeated to (B, h, T, d_head) to the per-head output A.

    Eager attention: S = Q·Kᵀ, scaled, soft-capped (Gemma-2), masked, softmax, P·V. The
    mask is causal, and within the window on a windowed layer. ``d_qk`` and ``d_v`` are
    the query/key and value widths when they are not d_head (latent attention); ``scale``
    says what the scores are scaled by (Gemma-2: √query_pre_attn_scalar). ``kv_heads=1``
    makes K and V one tensor (B, 1, T, ·) that the matmuls broadcast over the h heads
    (MLA's absorbed latent): each is read once, whatever h.
    """
    B, L, H = d.batch, d.seq_len, d.n_heads
    Dh = d.d_head if d_qk is None else d_qk
    Dv = Dh if d_v is None else d_v
    Hkv = H if kv_heads is None else kv_heads
    scores = (B, H, L, T)

    def on_scores(name, role, computes, cost):
        return Op(name, "block", "elementwise", computes, (scores,), scores, cost=cost,
                  on_scores=True, role=role, window=window)

    ops = [Op("scores", "block", "matmul", "S = Q · Kᵀ per head", ((B, H, L, Dh), (B, Hkv, Dh, T)),
              scores,
              causal="output", role="attention.scores", window=window),
           on_scores("scale", "attention.scale", scale, "scale")]
    if arch.attn_softcap is not None:
        ops.append(on_scores("attn_softcap", "attention.softcap",
                             "S = c · tanh(S / c), c = attn_logit_softcapping", "softcap"))
    ops += [on_scores("causal_mask", "attention.mask",
                      "S[i, j>i] = −∞" if window is None else "S[i, j>i or j≤i−W] = −∞", "mask"),
            on_scores("softmax", "attention.softmax", "P = softmax(S) over keys", "softmax"),
            Op("attn_values", "block", "matmul", "A = P · V per head", (scores, (B, Hkv, T, Dv)),
               (B, H, L, Dv), causal="contraction", role="attention.values", window=window)]
    return ops


def attention(arch: Architecture, d: Dims, windowed: bool, q: Shape, kv: Shape,
              q_norm: str = "self_attn.q_norm", k_norm: str = "self_attn.k_norm",
              scale: str = "S / √d_head") -> list[Op]:
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
    ops += attention_scores(arch, d, T, window, scale=scale)
    ops += [reshape("transpose_back", "attention.heads", "(B, h, L, d_head) → (B, L, h, d_head)",
                    (B, H, L, Dh), (B, L, H, Dh)),
            reshape("merge_heads", "attention.heads",
                    "concatenate heads: (B, L, h, d_head) → (B, L, h·d_head)", (B, L, H, Dh),
                    (B, L, H * Dh))]
    return ops


def mlp(arch: Architecture, d: Dims, x: Shape, names: dict[str, str], width: Dim = None,
        role: str = "mlp", prefix: str = "", label: str = "d_ff",
        experts: tuple[Dim, Dim] | None = None) -> list[Op]:
    """A two-matrix MLP (up, activation, down) or a gated one (gate, up — fused or not —,
    act(gate) · up, down). ``names`` maps up/down/gate/gate_up to parameter names.

    The same MLP serves as an expert: ``width`` (called ``label``) instead of d_ff, roles
    under ``role`` (``mlp.shared``, ``mlp.expert``), op names under ``prefix``, and with
    ``experts`` the routed experts' Linears (see ``linear``)."""
    F, bias = (d.d_ff if width is None else width), arch.mlp_bias
    D = d.d_model
    h = x[:-1] + (F,)
    act = arch.activation_cost

    def lin(op, part, computes, x_in, d_in, d_out):
        return linear(f"{prefix}{op}", f"{role}.{part}", computes, x_in, d_in, d_out,
                      names[part], bias, experts=experts)

    def ew(op, part, computes, cost, inputs=None):
        return elementwise(f"{prefix}{op}", f"{role}.{part}", computes, h, cost, inputs)

    if arch.mlp == "plain":
        return [lin("up_proj", "up", f"u = x · W_up (d_model → {label})", x, D, F),
                ew("act_fn", "act", f"{arch.activation}(u)", act),
                lin("down_proj", "down", f"y = u · W_down ({label} → d_model)", h, F, D)]
    if arch.fused_gate_up:
        ops = [lin("gate_up_proj", "gate_up", f"[g u] = x · W_gate_up (d_model → 2·{label})",
                   x, D, 2 * F),
               reshape(f"{prefix}split_gate_up", f"{role}.split",
                       f"[g u] → g, u, each (B, L, {label})", x[:-1] + (2 * F,), h)]
    else:
        ops = [lin("gate_proj", "gate", f"g = x · W_gate (d_model → {label})", x, D, F),
               lin("up_proj", "up", f"u = x · W_up (d_model → {label})", x, D, F)]
    return ops + [ew("act_fn", "act", f"{arch.activation}(g)", act),
                  ew("gate_mul", "mul", "act(g) · u", "mul", inputs=(h, h)),
                  lin("down_proj", "down", f"y = (act(g) · u) · W_down ({label} → d_model)",
                      h, F, D)]


def expert_rows(d: Dims) -> Dim:
    """Rows the routed experts process together in one pass: every token's top_k choices,
    T·top_k, exact whatever the routing; with a capacity factor c each of the E experts
    processes ceil(c·T·top_k/E) rows (padded or dropped), E·ceil(c·T·top_k/E) in all."""
    routed = d.batch * d.seq_len * d.top_k
    c = d.capacity_factor
    if c is None:
        return routed
    E = d.n_experts
    if isinstance(routed, int) and isinstance(E, int) or is_traced(routed, E):
        return E * -(-(c.numerator * routed) // (c.denominator * E))
    import sympy  # only reached with sympy dimensions

    return E * sympy.ceiling(sympy.Rational(c.numerator, c.denominator) * routed / E)


def moe(arch: Architecture, d: Dims, x: Shape, names: dict[str, str]) -> list[Op]:
    """A mixture-of-experts MLP on x (B, L, d_model): the router (a Linear to n_experts
    scores, softmax or sigmoid, the top_k choice — group-limited for DeepSeek — and the
    picked weights renormalised and scaled), the routed experts on the T·top_k rows routed
    to them (one op per matmul of all experts together), each row weighted and added into
    its token's output, and a shared expert on every token (sigmoid-gated for Qwen2-MoE).

    ``names``: router, the experts' gate/up/down/gate_up, and shared_gate/shared_up/...
    and shared_router (Qwen2-MoE's shared_expert_gate) parameter names."""
    B, L, D, E, k = d.batch, d.seq_len, d.d_model, d.n_experts, d.top_k
    scores, picked = (B, L, E), (B, L, k)
    ops = [linear("router", "mlp.router", "s = x · W_router (d_model → n_experts)", x, D, E,
                  names["router"], False),
           elementwise("router_score", "mlp.router.score",
                       "p = softmax(s) over the experts" if arch.router_scoring == "softmax"
                       else "p = σ(s), each expert's score", scores, arch.router_scoring)]
    if arch.router_bias:  # a stored (n_experts,) buffer, never trained by the gradient
        ops.append(elementwise(
            "router_correction", "mlp.router.topk",
            "p + e_score_correction_bias (for the choice only)", scores, "add")._replace(
            buffers=(Param(f"{names['router']}.e_score_correction_bias", (E,)),)))
    if d.n_groups is not None:
        G = d.n_groups
        ops += [elementwise("router_group_top2", "mlp.router.topk",
                            "each group's two best scores (n_groups groups)", scores, "topk"),
                elementwise("router_group_score", "mlp.router.topk",
                            "a group's score: the sum of its two best", (B, L, G), "add"),
                elementwise("router_group_topk", "mlp.router.topk",
                            "the topk_groups best groups", (B, L, G), "topk"),
                elementwise("router_group_mask", "mlp.router.topk",
                            "scores outside the chosen groups set to 0", scores, "select")]
    ops.append(elementwise("router_topk", "mlp.router.topk", "the top_k experts of each token",
                           scores, "topk"))
    if arch.norm_topk_prob:
        ops.append(elementwise("router_renorm", "mlp.router.norm",
                               "w = w / Σw over the top_k weights", picked, "renorm"))
    if arch.routed_scale is not None:
        ops.append(elementwise("router_scale", "mlp.router.norm",
                               f"w = w · {arch.routed_scale} (routed_scaling_factor)", picked,
                               "scale"))
    R = expert_rows(d)
    rows = (R, D)
    routed = {part: names[part] for part in ("gate", "up", "down", "gate_up") if part in names}
    ops.append(reshape("dispatch", "mlp.expert.dispatch",
                       "each token's row to each of its top_k experts: (B, L, d_model) → "
                       "(rows, d_model)" + ("" if d.capacity_factor is None else
                                            ", padded or dropped to each expert's capacity"),
                       x, rows))
    expert_ops = mlp(arch, d, rows, routed, d.d_expert, "mlp.expert", "expert_", "d_expert",
                     experts=(k, E))
    expert_ops.append(elementwise("expert_combine", "mlp.expert.combine",
                                  "y[token] += w · expert output, for each routed row", rows,
                                  "combine"))
    # every op on the routed rows is marked: each row is one of a token's top_k experts'
    ops += [op._replace(experts=(k, E)) for op in expert_ops]
    if d.d_shared is not None:
        shared = {part[len("shared_"):]: name for part, name in names.items()
                  if part.startswith("shared_") and part != "shared_router"}
        ops += mlp(arch, d, x, shared, d.d_shared, "mlp.shared", "shared_", "d_shared")
        if arch.shared_gate:
            ops += [linear("shared_router", "mlp.shared.router",
                           "g = x · W_shared_gate (d_model → 1)", x, D, 1,
                           names["shared_router"], False),
                    elementwise("shared_sigmoid", "mlp.shared.sigmoid", "σ(g)", (B, L, 1),
                                "sigmoid"),
                    elementwise("shared_scale", "mlp.shared.scale",
                                "σ(g) · shared output", x, "gate_scale", inputs=(x, (B, L, 1)))]
        ops.append(elementwise("shared_add", "mlp.shared.add", "y = routed + shared output", x,
                               "add", inputs=(x, x)))
    return ops


def feed_forward(arch: Architecture, d: Dims, x: Shape, moe_layer: bool,
                 names: dict[str, str]) -> list[Op]:
    """A layer's MLP: the mixture of experts on an MoE layer, else the dense MLP of d_ff."""
    return moe(arch, d, x, names) if moe_layer else mlp(arch, d, x, names)


def mla_attention(arch: Architecture, d: Dims, x: Shape) -> list[Op]:
    """Multi-head latent attention (DeepSeek-V2/V3), from x (B, L, d_model) to the output
    projection's result.

    Queries: q_a_proj to q_lora_rank, RMSNorm, q_b_proj to h·(d_nope + d_rope) (or one
    q_proj). Keys and values: kv_a_proj_with_mqa to the latent (kv_lora_rank) and one
    rotary key k_pe (d_rope) shared by the heads, the latent RMS-normed: the cache holds
    these. The naive form (every forward pass, and a decode step by default) runs
    kv_b_proj on the cached latent of all T keys, giving each head's k_nope (d_nope) and
    value (d_v). The absorbed form (a decode step with ``d.mla_absorbed``) folds kv_b_proj's
    key part into the query (q_nope · W_UK) and its value part after the attention
    (· W_UV), and attends over the latent itself.
    """
    B, L, D, H = d.batch, d.seq_len, d.d_model, d.n_heads
    Dn, Dr, Dv, Rkv, T = d.d_nope, d.d_rope, d.d_v, d.kv_rank, d.kv_len
    Dqk, bias = Dn + Dr, arch.qkv_bias
    absorbed = d.mla_absorbed and L == 1
    if d.q_rank is None:
        ops = [linear("q_proj", "attention.q", "q = x · W_q (d_model → h·(d_nope+d_rope))", x,
                      D, H * Dqk, "self_attn.q_proj", False)]
    else:
        Rq = d.q_rank
        ops = [linear("q_a_proj", "attention.q_a", "c_q = x · W_qa (d_model → q_lora_rank)", x,
                      D, Rq, "self_attn.q_a_proj", bias),
               norm("q_a_layernorm", "rmsnorm", (B, L, Rq), "self_attn.q_a_layernorm", False,
                    role="attention.q_a_norm"),
               linear("q_b_proj", "attention.q_b",
                      "q = c_q · W_qb (q_lora_rank → h·(d_nope+d_rope))", (B, L, Rq), Rq,
                      H * Dqk, "self_attn.q_b_proj", False)]
    ops += [linear("kv_a_proj", "attention.kv_a", "[c_kv k_pe] = x · W_kva (d_model → "
                   "kv_lora_rank + d_rope; kv_a_proj_with_mqa)", x, D, Rkv + Dr,
                   "self_attn.kv_a_proj_with_mqa", bias),
            reshape("split_kv_a", "attention.split", "[c_kv k_pe] → c_kv (B, L, kv_lora_rank), "
                    "k_pe (B, L, d_rope)", (B, L, Rkv + Dr), (B, L, Rkv)),
            norm("kv_a_layernorm", "rmsnorm", (B, L, Rkv), "self_attn.kv_a_layernorm", False,
                 role="attention.kv_a_norm"),
            reshape("split_heads", "attention.heads", "q: (B, L, h·(d_nope+d_rope)) → (B, h, L, "
                    "d_nope+d_rope), split into q_nope and q_pe", (B, L, H * Dqk), (B, H, L, Dqk)),
            elementwise("rotary_q", "attention.rotary", "q_pe: rotary positions", (B, H, L, Dr),
                        "rotary"),
            elementwise("rotary_k", "attention.rotary", "k_pe: rotary positions (one head, "
                        "shared)", (B, 1, L, Dr), "rotary")]
    kv_b = linear("kv_b_proj", "attention.kv_b", "[k_nope v] = c_kv · W_kvb (kv_lora_rank → "
                  "h·(d_nope+d_v)), on the latent of all T keys", (B, T, Rkv), Rkv,
                  H * (Dn + Dv), "self_attn.kv_b_proj", False)
    if not absorbed:
        ops += [kv_b,
                reshape("split_kv_heads", "attention.heads", "[k_nope v] → k_nope (B, h, T, "
                        "d_nope), v (B, h, T, d_v)", (B, T, H * (Dn + Dv)), (B, H, T, Dn + Dv)),
                reshape("concat_k", "attention.repeat_kv", "K = [k_nope, k_pe repeated to the "
                        "h heads]: (B, h, T, d_nope+d_rope), a view and a copy",
                        (B, 1, T, Dr), (B, H, T, Dqk)),
                *attention_scores(arch, d, T, None, Dqk, Dv)]
    else:
        # W_UK and W_UV are kv_b_proj's key and value halves: this op owns the one tensor
        w_uk = Op("absorb_k", "block", "matmul", "q_lat = q_nope · W_UK per head (d_nope → "
                  "kv_lora_rank)", ((B, H, L, Dn), (H, Dn, Rkv)), (B, H, L, Rkv),
                  weight=(H, Dn, Rkv), params=kv_b.params, role="attention.absorb_k")
        ops += [w_uk,
                reshape("concat_q", "attention.heads", "[q_lat q_pe]: (B, h, 1, kv_lora_rank + "
                        "d_rope)", (B, H, L, Rkv), (B, H, L, Rkv + Dr)),
                reshape("concat_k", "attention.repeat_kv", "K = [c_kv k_pe] of the cache as one "
                        "key head, broadcast over the h heads: (B, 1, T, kv_lora_rank + "
                        "d_rope), a view; V = its c_kv", (B, T, Rkv + Dr), (B, 1, T, Rkv + Dr)),
                *attention_scores(arch, d, T, None, Rkv + Dr, Rkv, kv_heads=1),
                Op("absorb_v", "block", "matmul", "A = (P · c_kv) · W_UV per head (kv_lora_rank "
                   "→ d_v)", ((B, H, L, Rkv), (H, Rkv, Dv)), (B, H, L, Dv), weight=(H, Rkv, Dv),
                   role="attention.absorb_v")]
    return ops + [reshape("merge_heads", "attention.heads", "(B, h, L, d_v) → (B, L, h·d_v)",
                          (B, H, L, Dv), (B, L, H * Dv)),
                  linear("o_proj", "attention.o", "y = A · W_o (h·d_v → d_model)", (B, L, H * Dv),
                         H * Dv, D, "self_attn.o_proj", arch.o_bias)]


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
    """The blocks as layer groups, one per kind of layer: one group ``block`` when every
    layer is alike, else the windowed (``sliding``) and ``full`` layers, the ``dense`` and
    ``moe`` ones, or both (``sliding-moe``, ``full-dense``, …) in order of first
    appearance. ``block(windowed, moe)`` builds one block's ops. In formulas the four
    kinds repeat n_wm (windowed MoE), n_w − n_wm, n_moe − n_wm and n_layers − n_w − n_moe +
    n_wm times (``Dims.n_windowed_moe``; a kind the model lacks counts 0 at its values)."""
    n, w, m = d.n_layers, d.n_windowed, d.n_moe
    windows = d.window is not None and w != 0
    experts = d.n_experts is not None and m != 0

    def every(count):
        return count is n or count == n
    if not (windows and not every(w)) or not (experts and not every(m)):
        split_w, split_m = windows and not every(w), experts and not every(m)
        if split_w:
            return [LayerGroup("sliding", "block", w, tuple(block(True, experts)), prefix),
                    LayerGroup("full", "block", n - w, tuple(block(False, experts)), prefix)]
        if split_m:
            return [LayerGroup("dense", "block", n - m, tuple(block(windows, False)), prefix),
                    LayerGroup("moe", "block", m, tuple(block(windows, True)), prefix)]
        return [LayerGroup("block", "block", n, tuple(block(windows, experts)), prefix)]
    kinds = arch.layer_kinds()
    order = list(dict.fromkeys(kinds))
    if isinstance(n, int):
        counts = {kind: kinds.count(kind) for kind in order}
    else:
        wm = d.n_windowed_moe
        if wm is None:
            raise ArchitectureError("formulas of a model with some windowed and some MoE "
                                    "layers need the count of windowed MoE layers")
        counts = {(True, True): wm, (True, False): w - wm, (False, True): m - wm,
                  (False, False): n - w - m + wm}
    return [LayerGroup(f"{'sliding' if wk else 'full'}-{'moe' if mk else 'dense'}", "block",
                       counts[wk, mk], tuple(block(wk, mk)), prefix)
            for wk, mk in order]


def model(embedding_ops: list[Op], blocks: list[LayerGroup], head_ops: list[Op]) -> tuple[LayerGroup, ...]:
    return (LayerGroup("embedding", "embedding", 1, tuple(embedding_ops)), *blocks,
            LayerGroup("head", "head", 1, tuple(head_ops)))


def refuse(arch: Architecture, fixed: dict) -> None:
    """A builder's switches that its family does not have: one line naming the first."""
    for name, value in fixed.items():
        if getattr(arch, name) != value:
            raise ArchitectureError(f"the {arch.family} family has {name}={value!r}; "
                                    f"{name}={getattr(arch, name)!r} needs another family")
