"""Operations, layer groups and the one registry of counting rules, for every architecture.

A builder (``flopcalc.architectures``) turns an ``Architecture`` and the sizes of one pass
(``Dims``) into ``LayerGroup``s of ``Op``s. Every count comes from an op's shapes through
the rule of its ``kind`` in ``RULES``, in the spirit of PyTorch's
``torch/utils/flop_counter.py``: a ``(m, k) @ (k, n)`` matmul is ``m * k * n``
multiply-adds, never a typed-in total. Dimensions may be Python ints (exact numbers; sympy
is never imported), sympy expressions (formulas) or traced sizes (``tracing``: the sweep's
compiled path, which records the int arithmetic).
"""

from math import prod
from typing import Any, Callable

from .records import record, row
from .tracing import Traced, is_traced, node

Dim = Any  # an int, a sympy expression or a traced size (tracing.Traced)
Shape = tuple[Dim, ...]

# Elementwise work, counted per element of the output (or of the input for reductions).
# Derivations and sources are in docs/counting-rules.md; change them only together.
ELEMENTWISE_COST: dict[str, int] = {
    "add": 1,        # residual add: one addition
    "position_add": 1,  # GPT-2's token + position embedding add
    "bias": 1,       # bias add after a Linear: one addition per output element
    "scale": 1,      # scores * 1/sqrt(d_head), or Gemma's embedding * sqrt(d_model): one multiply
    "mask": 1,       # causal (or sliding-window) mask: one select/add per score (dense only)
    "softmax": 5,    # stable softmax: max-compare, subtract, exp, sum-add, divide
    "layernorm": 6,  # mean-add, subtract, square, variance-add, normalise, gamma (beta is a bias)
    "rmsnorm": 4,    # square, mean-add, normalise, gamma
    "gelu": 9,       # tanh approximation: x^3 (2), *c, +x, *sqrt(2/pi), tanh, +1, *x, *0.5
    "gelu_erf": 5,   # exact GELU: *1/sqrt(2), erf, +1, *x, *0.5
    "silu": 4,       # x / (1 + exp(-x)): negate, exp, +1, divide
    "relu": 1,       # max(x, 0): one compare
    "mul": 1,        # a gated MLP's act(gate) * up: one multiply
    "rotary": 3,     # x*cos + rotate_half(x)*sin: two multiplies and an add per rotated element
    "softcap": 3,    # c * tanh(x / c): divide, tanh, multiply
    "sigmoid": 4,    # 1 / (1 + exp(-x)): negate, exp, +1, divide (a router's score)
    "topk": 1,       # choosing the top k of a row: one compare per element scanned
    "select": 1,     # DeepSeek's group limit: zero the scores outside the chosen groups
    "renorm": 2,     # w / Σw over a token's top_k weights: one sum-add and one divide each
    "combine": 2,    # y[token] += w · expert_out: one multiply and one add per element
    "gate_scale": 1,  # Qwen2-MoE's σ(gate) · shared output: one multiply per element
}

# Backward-pass elementwise work per element, for the same keys (docs/counting-rules.md).
BACKWARD_COST: dict[str, int] = {
    "add": 1,        # the two gradients meeting at the residual fork are summed
    "position_add": 0,  # the gradient is copied to both tables: no arithmetic
    "bias": 1,       # dB = sum of dY over tokens: one addition per output element
    "scale": 1,      # dS = dS' * the same constant
    "mask": 1,       # zero the gradient of masked scores (dense attention only)
    "softmax": 4,    # dS = P ⊙ (dP − rowsum(dP ⊙ P)): multiply, sum-add, subtract, multiply
    "layernorm": 10,  # dŷ=dy·γ, two row means (2 adds), dŷ·x̂, x̂·mean, 2 subtracts, ·1/σ, dγ (mul+add)
    "rmsnorm": 8,    # dŷ=dy·γ, one row mean (add), dŷ·x̂, x̂·mean, subtract, ·1/rms, dγ (mul+add)
    "gelu": 13,      # GELU'(x) = ½(1+t) + ½x(1−t²)·√(2/π)(1+3c·x²) from the saved t (12), ·dy
    "gelu_erf": 9,   # Φ(x) + x·φ(x) from the saved e = erf(x/√2): ½(1+e) (2), x², ·(−½), exp,
    #                  ·x, ·1/√(2π), + (6), ·dy (1)
    "silu": 9,       # σ = 1/(1+exp(−x)) (4), then σ·(1 + x·(1−σ)): 1−σ, ·x, +1, ·σ (4), ·dy (1)
    "relu": 1,       # pass or zero the gradient: one select
    "mul": 2,        # d_gate = dy·up and d_up = dy·act(gate)
    "rotary": 3,     # the transposed rotation: dy·cos + rotate_half⁻¹(dy·sin)
    "softcap": 3,    # dy · (1 − t²) from the saved t: square, subtract, multiply
    "lookup": 1,     # scatter-add of the gradient into each gathered table's rows
    "sigmoid": 3,    # dy · σ · (1 − σ) from the saved σ: subtract, two multiplies
    "topk": 0,       # the choice is not differentiated: no arithmetic
    "select": 0,     # (part of the choice)
    "renorm": 4,     # dw = (dŵ − Σ dŵ·ŵ) / Σw: multiply, sum-add, subtract, divide
    "combine": 3,    # d expert_out = dy · w (1); dw = Σ over d_model of dy · expert_out (2)
    "gate_scale": 3,  # d shared = dy · σ (1); dσ = Σ over d_model of dy · shared (2)
}
POSITION_ADD = "position_add"

# The MLP activations flopcalc counts: name -> (GPT-2's op name, ELEMENTWISE_COST key,
# computes text). ``gelu_tanh`` is GPT-2's (Hugging Face's gelu_new); ``gelu`` the exact erf
# form; ``silu`` the Llama family's (SwiGLU with a gated MLP).
ACTIVATIONS: dict[str, tuple[str, str, str]] = {
    "gelu_tanh": ("gelu", "gelu", "GELU(u), tanh approximation"),
    "gelu": ("gelu", "gelu_erf", "GELU(u) = u·Φ(u), exact (erf)"),
    "relu": ("relu", "relu", "ReLU(u) = max(u, 0)"),
    "silu": ("silu", "silu", "SiLU(u) = u·σ(u)"),
}


@record
class Dims:
    """The sizes of one pass of a model; each is an int or a sympy expression.

    ``kv_len`` is the keys each query may attend to: seq_len for a whole sequence; t for
    the token at position t decoded after t-1 cached tokens (K, V from the cache).
    ``window`` is the sliding window W of the windowed layers (None: no window) and
    ``n_windowed`` how many of the n_layers use it. ``cap_keys=False`` leaves a windowed
    layer's keys uncapped (the generate sum takes the cap in closed form instead).
    """

    batch: Dim
    seq_len: Dim
    d_model: Dim
    n_heads: Dim
    d_head: Dim
    d_ff: Dim
    n_layers: Dim
    vocab: Dim
    n_positions: Dim
    kv_len: Dim = None
    n_kv_heads: Dim = None
    rotary_dims: Dim = None
    window: Dim = None
    n_windowed: Dim = 0
    cap_keys: bool = True
    n_experts: Dim = None
    top_k: Dim = None
    d_expert: Dim = None
    d_shared: Dim = None
    n_moe: Dim = 0
    n_windowed_moe: Dim = None      # layers both windowed and MoE (when only some are each)
    q_rank: Dim = None
    kv_rank: Dim = None
    d_nope: Dim = None
    d_rope: Dim = None
    d_v: Dim = None
    n_groups: Dim = None
    topk_groups: Dim = None
    capacity_factor: Any = None     # None, or a fractions.Fraction (a labelled convention)
    mla_absorbed: bool = False      # this pass is a decode step in MLA's absorbed form

    def __post_init__(self) -> None:
        if self.kv_len is None:
            object.__setattr__(self, "kv_len", self.seq_len)
        if self.n_kv_heads is None:
            object.__setattr__(self, "n_kv_heads", self.n_heads)
        if self.rotary_dims is None:
            object.__setattr__(self, "rotary_dims", self.d_head)


@row
class Param:
    """A parameter tensor, named as in the family's Hugging Face checkpoints (without the
    base model's and the layer's prefixes) and shaped as stored there."""

    name: str
    shape: Shape

    @property
    def count(self) -> Dim:
        return prod(self.shape)


@row
class Op:
    """One operation of the forward pass.

    ``kind`` selects its counting rule in ``RULES``: ``matmul`` (FLOPs from operand shapes),
    ``elementwise`` (the element count times ``ELEMENTWISE_COST[cost]``), ``lookup`` (a
    gather: no arithmetic) or ``reshape`` (a view: no arithmetic, listed for its shape).
    ``role`` says what the op is in any architecture (``attention.q``, ``mlp.down``, ...):
    consumers ask for roles, never for one family's operation names.
    """

    name: str
    section: str
    kind: str
    computes: str
    inputs: tuple[Shape, ...]
    output: Shape
    weight: Shape | None = None
    params: tuple[Param, ...] = ()  # the trained parameters it owns (the parameter count)
    cost: str | None = None        # key of ELEMENTWISE_COST for elementwise ops
    bias: Dim = 0                  # bias elements added per token row (Linear, LayerNorm beta)
    causal: str | None = None      # which side of an attention matmul the causal mask thins:
    #                                "output" (scores) or "contraction" (probs @ V)
    on_scores: bool = False        # elementwise op over the (L, T) scores: thinned when causal
    role: str = ""
    window: Dim = None             # sliding window W of this op's layer (attention ops only)
    experts: tuple[Dim, Dim] | None = None  # (top_k, n_experts) of an op on the routed rows:
    #                                each row is one of a token's top_k experts; a token uses
    #                                top_k of the n_experts slices of its params
    buffers: tuple[Param, ...] = ()  # tensors the checkpoint stores that are no trained
    #                                parameters (DeepSeek-V3's e_score_correction_bias): reported
    #                                apart, outside the parameter count


@row
class LayerGroup:
    """Consecutive-or-not layers that are the same operations, counted ``repeat`` times.

    ``prefix`` is what the checkpoint puts before the ops' parameter names (``h.i.``).
    """

    name: str
    section: str
    repeat: Dim
    ops: tuple[Op, ...]
    prefix: str = ""


def half(x: Dim) -> Dim:
    """x / 2, exact for the even integers it is used on (ints and traced sizes: ``//``);
    symbolic otherwise."""
    return x // 2 if isinstance(x, (int, Traced)) else x / 2


def _min(a: Dim, b: Dim) -> Dim:
    if isinstance(a, int) and isinstance(b, int):
        return min(a, b)
    if is_traced(a, b):
        return node("min", a, b)
    import sympy  # only ever reached with sympy dimensions, so sympy is already loaded

    return sympy.Min(a, b)


def _max(a: Dim, b: Dim) -> Dim:
    if isinstance(a, int) and isinstance(b, int):
        return max(a, b)
    if is_traced(a, b):
        return node("max", a, b)
    import sympy

    return sympy.Max(a, b)


def visible_pairs(q_len: Dim, kv_len: Dim, window: Dim = None) -> Dim:
    """(query, key) pairs a causal mask lets through when q_len queries are the last of kv_len.

    Query i (0-based) sees c + i + 1 keys, c = kv_len - q_len being the cached ones: with
    q_len == kv_len == L that is L(L+1)/2; with one query after t-1 cached keys it is t.
    A sliding window W caps each query's keys at W: Σᵢ min(c + i + 1, W). The first k
    queries, k = clamp(W − c, 0, q_len), are under the cap; the others see W each.
    """
    c = kv_len - q_len
    if window is None:
        return q_len * c + half(q_len * (q_len + 1))
    if q_len == 1:  # one query (a decode step): the same count, in its plain form
        return _min(kv_len, window)
    k = _min(_max(window - c, 0), q_len)
    return k * c + half(k * (k + 1)) + (q_len - k) * window


def window_keys(q_len: Dim, kv_len: Dim, window: Dim) -> Dim:
    """Keys a windowed layer holds for q_len queries after kv_len - q_len earlier tokens.

    Its cache keeps at most W − 1 earlier tokens (what the window can still reach) besides
    this pass's q_len: a decode step at position t has min(t, W) keys; a prompt keeps all L.
    """
    if q_len == 1:
        return _min(kv_len, window)
    return _min(kv_len - q_len, window - 1) + q_len


def matmul_macs(a: Shape, b: Shape, causal: str | None = None, window: Dim = None) -> Dim:
    """Multiply-adds of ``a @ b`` for a: (..., m, k), b: (..., k, n).

    With ``causal="output"`` only the visible (m, n) output entries are computed (scores);
    with ``causal="contraction"`` only the visible (m, k) entries of ``a`` are non-zero
    (probs @ V). ``window`` caps each query's visible keys.
    """
    *batch, m, k = a
    n = b[-1]
    if causal == "output":
        return prod(batch) * visible_pairs(m, n, window) * k
    if causal == "contraction":
        return prod(batch) * visible_pairs(m, k, window) * n
    return prod(batch) * m * k * n


def elements(shape: Shape, causal: bool = False, window: Dim = None) -> Dim:
    """Element count of a tensor; for (..., q, k) scores under a causal count, the visible ones."""
    if causal:
        *batch, q_len, kv_len = shape
        return prod(batch) * visible_pairs(q_len, kv_len, window)
    return prod(shape)


@row
class Rule:
    """How one kind of operation is counted: its multiply-adds, and its elementwise FLOPs
    (forward, or with ``backward`` its gradient's)."""

    macs: Callable[[Op, bool], Dim]
    elementwise: Callable[[Op, bool, bool], Dim]


def _matmul_rule_macs(op: Op, causal: bool) -> Dim:
    return matmul_macs(op.inputs[0], op.inputs[1], op.causal if causal else None, op.window)


def _bias_flops(op: Op, cost: dict) -> Dim:
    return prod(op.output[:-1]) * op.bias * cost["bias"]


def _elementwise_rule_flops(op: Op, causal: bool, backward: bool) -> Dim:
    cost = BACKWARD_COST if backward else ELEMENTWISE_COST
    flops = _bias_flops(op, cost)
    if not (op.cost == "mask" and causal):
        # (a causal kernel never computes the masked entries, so there is nothing to mask)
        flops += elements(op.output, causal and op.on_scores, op.window) * cost[op.cost]
    return flops


def _lookup_rule_flops(op: Op, causal: bool, backward: bool) -> Dim:
    # the gather does no arithmetic; its gradient is scattered into every gathered table
    return prod(op.output) * len(op.params) * BACKWARD_COST["lookup"] if backward else 0


def _no_macs(op: Op, causal: bool) -> Dim:
    return 0


def _matmul_rule_flops(op: Op, causal: bool, backward: bool) -> Dim:
    return _bias_flops(op, BACKWARD_COST if backward else ELEMENTWISE_COST)


# The one registry: kind -> rule. A new kind of operation brings one entry here.
RULES: dict[str, Rule] = {
    "matmul": Rule(_matmul_rule_macs, _matmul_rule_flops),
    "elementwise": Rule(_no_macs, _elementwise_rule_flops),
    "lookup": Rule(_no_macs, _lookup_rule_flops),
    "reshape": Rule(_no_macs, lambda op, causal, backward: 0),
}


def op_macs(op: Op, causal: bool = False) -> Dim:
    """Multiply-adds of one operation (0 unless it is a matmul)."""
    return RULES[op.kind].macs(op, causal)


def op_elementwise_flops(op: Op, causal: bool = False, backward: bool = False) -> Dim:
    """FLOPs of an operation's elementwise work: the op itself and its bias (Linear, norms).

    ``backward`` gives the work of its gradient instead (``BACKWARD_COST``).
    """
    return RULES[op.kind].elementwise(op, causal, backward)


def build_ops(d: Dims, fused_qkv: bool = True, bias: bool = True,
              tied_lm_head: bool = True, activation: str = "gelu_tanh") -> list[Op]:
    """The operations of a GPT-2 forward pass in order: the GPT-2 builder's layer groups,
    flattened (block operations appear once and stand for each of the n_layers blocks).
    ``activation`` is a key of ``ACTIVATIONS``."""
    from .architecture import Architecture
    from .architectures import build, ops_of

    arch = Architecture(fused_qkv=fused_qkv, qkv_bias=bias, o_bias=bias, mlp_bias=bias,
                        norm_bias=bias, tied_lm_head=tied_lm_head, activation=activation)
    return ops_of(build(arch, d))
