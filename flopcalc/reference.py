"""A small, real forward pass of the dense decoder family in NumPy that records every matmul.

This is flopcalc's executable cross-check: it shares no code with the analytical
formulas. Each matmul goes through ``matmul()``, which multiplies the actual arrays and
notes their shapes; the multiply-adds of a record come from those shapes alone.

Laid out like nanoGPT's ``model.py``: config, then attention, MLP, block, model. The
defaults are GPT-2; switches in ``GPTConfig`` give Llama, Mistral, Qwen2/3, Gemma-2, Phi-3
and GPT-NeoX, computed as Hugging Face's modeling files compute them (GQA by repeating K/V
heads, rotary with ``rotate_half``, RMSNorm, gated MLPs, sliding windows, soft-capping, ...).
Parameter names and layouts follow each family's Hugging Face checkpoints: GPT-2's Conv1D
keeps (in, out), every other Linear (out, in); a Linear is ``x @ W`` with W viewed as
(in, out), and a tied LM head is ``x @ wte.T``.
"""

from __future__ import annotations

import functools
import math
import os
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class GPTConfig:
    """The model to run. The defaults are GPT-2's; the other fields are the switches of the
    dense decoder family, named as in the shared design (Hugging Face's field in brackets)."""

    n_layer: int
    n_head: int
    n_embd: int
    d_ff: int
    vocab_size: int
    n_positions: int
    bias: bool = True       # GPT-2 has biases; nanoGPT's bias-free variant uses False
    fused_qkv: bool = True  # GPT-2's fused c_attn (one d->3d matmul) vs separate W_q, W_k, W_v
    activation: str = "gelu_tanh"  # the MLP's (a gated MLP: the gate's); see ACTIVATIONS
    family: str = "gpt2"           # whose checkpoint names and layouts: see WEIGHT_NAMES
    n_kv_head: int | None = None   # K/V heads, GQA / MQA [num_key_value_heads]; None: n_head
    head_dim: int | None = None    # [head_dim]; None: n_embd // n_head
    # Biases of each part; None: as ``bias``. Qwen2: q/k/v biased, output not.
    qkv_bias: bool | None = None
    o_bias: bool | None = None
    mlp_bias: bool | None = None
    norm_bias: bool | None = None  # LayerNorm's (RMSNorm has none)
    mlp: str = "plain"             # plain: down(act(up x)); gated: down(act(gate x) * up x)
    fused_gate_up: bool = False    # Phi-3's gate_up_proj: one d -> 2 d_ff matmul
    norm: str = "layernorm"        # or "rmsnorm"
    norm_eps: float = 1e-5
    norm_plus_one: bool = False    # Gemma's RMSNorm scales by (1 + weight), weight from 0
    qk_norm: bool = False          # Qwen3: a norm over each head's q and k, before rotary
    post_norms: bool = False       # Gemma-2: each sub-layer's output normed before the add
    parallel_residual: bool = False  # GPT-NeoX: x + attn(norm1 x) + mlp(norm2 x)
    positions: str = "learned"     # learned (GPT-2's wpe) or rotary (no parameters)
    rotary_dims: int | None = None  # rotated dims of a head [rotary_pct * head_dim]; None: all
    rope_theta: float = 10000.0
    embed_scale: bool = False      # Gemma: embeddings times sqrt(n_embd)
    query_pre_attn_scalar: float | None = None  # Gemma-2: scale its^-1/2; None: d_head
    attn_softcap: float | None = None   # Gemma-2: scores = cap * tanh(scores / cap)
    final_softcap: float | None = None  # Gemma-2: the same on the logits
    sliding_window: int | None = None   # a windowed layer's query sees its last W keys
    window_layers: tuple[int, ...] | None = None  # the windowed layers; None: all of them
    tied_lm_head: bool = True

    def __post_init__(self):
        if self.head_dim is None and self.n_embd % self.n_head:
            raise ValueError(f"n_embd {self.n_embd} is not divisible by n_head {self.n_head}")
        if self.n_head % self.kv_heads:
            raise ValueError(f"n_head {self.n_head} is not a multiple of n_kv_head {self.kv_heads}")
        for field, allowed in (("family", WEIGHT_NAMES), ("activation", ACTIVATIONS),
                               ("mlp", ("plain", "gated")), ("norm", ("layernorm", "rmsnorm")),
                               ("positions", ("learned", "rotary"))):
            if getattr(self, field) not in allowed:
                raise ValueError(f"{field} must be one of {', '.join(allowed)}, "
                                 f"got {getattr(self, field)!r}")
        if self.positions == "rotary" and not (0 < self.rotary_dim <= self.d_head
                                               and self.rotary_dim % 2 == 0):
            raise ValueError(f"rotary_dims must be even and in (0, d_head = {self.d_head}], "
                             f"got {self.rotary_dim}")
        if self.fused_gate_up and self.mlp != "gated":
            raise ValueError("fused_gate_up needs a gated MLP")
        if self.family == "gpt_neox" and self.fused_qkv and self.kv_heads != self.n_head:
            raise ValueError("GPT-NeoX's query_key_value has as many K/V heads as heads")
        if self.sliding_window is not None and self.sliding_window < 1:
            raise ValueError(f"sliding_window must be at least 1, got {self.sliding_window}")
        if self.window_layers is not None:
            object.__setattr__(self, "window_layers", tuple(self.window_layers))
            if not all(0 <= i < self.n_layer for i in self.window_layers):
                raise ValueError(f"window_layers must lie in [0, {self.n_layer})")

    @classmethod
    def from_architecture(cls, arch) -> GPTConfig:
        """The config of an architecture description with the shared design's field names
        (d_model, n_layers, n_heads, n_kv_heads, d_head, d_ff, vocab, n_positions and the
        switches, which GPTConfig names alike). Read by attribute, so no import ties this
        file to the analytical side. Gemma's (1 + w) RMSNorm goes with the gemma2 family."""
        switches = ("family", "fused_qkv", "activation", "qkv_bias", "o_bias", "mlp_bias",
                    "norm_bias", "mlp", "fused_gate_up", "norm", "qk_norm", "post_norms",
                    "parallel_residual", "positions", "rotary_dims", "embed_scale",
                    "attn_softcap", "final_softcap", "sliding_window", "window_layers",
                    "tied_lm_head")
        return cls(n_layer=arch.n_layers, n_head=arch.n_heads, n_embd=arch.d_model,
                   d_ff=arch.d_ff, vocab_size=arch.vocab, n_positions=arch.n_positions,
                   n_kv_head=arch.n_kv_heads, head_dim=arch.d_head,
                   norm_plus_one=arch.family == "gemma2",
                   **{name: getattr(arch, name) for name in switches})

    @property
    def d_head(self) -> int:
        return self.n_embd // self.n_head if self.head_dim is None else self.head_dim

    @property
    def kv_heads(self) -> int:
        return self.n_head if self.n_kv_head is None else self.n_kv_head

    @property
    def rotary_dim(self) -> int:
        return self.d_head if self.rotary_dims is None else self.rotary_dims

    def has_bias(self, part: str) -> bool:
        """Whether part ("qkv", "o", "mlp" or "norm") has biases: its own switch, else bias."""
        own = getattr(self, part + "_bias")
        return self.bias if own is None else own

    def window(self, layer: int) -> int | None:
        """The sliding window of this layer, None if it attends to every earlier key."""
        if self.window_layers is None or layer in self.window_layers:
            return self.sliding_window
        return None


# Where each family's Hugging Face checkpoint keeps a weight (block entries after the
# block's prefix). Names no checkpoint of the family has (a GPT-2 with a gated MLP, a
# Llama with a fused qkv) are made up in the family's style.
_LLAMA_NAMES = {
    "tokens": "model.embed_tokens", "positions": "model.embed_positions",
    "block": "model.layers.{}.", "attn_norm": "input_layernorm",
    "mlp_norm": "post_attention_layernorm", "attn_post_norm": "post_attention_norm",
    "mlp_post_norm": "post_feedforward_norm",
    "qkv": "self_attn.qkv_proj", "q": "self_attn.q_proj", "k": "self_attn.k_proj",
    "v": "self_attn.v_proj", "o": "self_attn.o_proj",
    "q_norm": "self_attn.q_norm", "k_norm": "self_attn.k_norm",
    "gate": "mlp.gate_proj", "up": "mlp.up_proj", "gate_up": "mlp.gate_up_proj",
    "down": "mlp.down_proj", "final_norm": "model.norm", "lm_head": "lm_head",
}
WEIGHT_NAMES = {
    "gpt2": {
        "tokens": "wte", "positions": "wpe", "block": "h.{}.", "attn_norm": "ln_1",
        "mlp_norm": "ln_2", "attn_post_norm": "ln_1_post", "mlp_post_norm": "ln_2_post",
        "qkv": "attn.c_attn", "q": "attn.q_proj", "k": "attn.k_proj", "v": "attn.v_proj",
        "o": "attn.c_proj", "q_norm": "attn.q_norm", "k_norm": "attn.k_norm",
        "gate": "mlp.c_gate", "up": "mlp.c_fc", "gate_up": "mlp.c_gate_fc",
        "down": "mlp.c_proj", "final_norm": "ln_f", "lm_head": "lm_head",
    },
    "llama": _LLAMA_NAMES, "mistral": _LLAMA_NAMES, "qwen2": _LLAMA_NAMES,
    "qwen3": _LLAMA_NAMES, "phi3": _LLAMA_NAMES,
    "gemma2": {**_LLAMA_NAMES, "attn_post_norm": "post_attention_layernorm",
               "mlp_norm": "pre_feedforward_layernorm",
               "mlp_post_norm": "post_feedforward_layernorm"},
    "gpt_neox": {**_LLAMA_NAMES, "tokens": "gpt_neox.embed_in",
                 "positions": "gpt_neox.embed_positions", "block": "gpt_neox.layers.{}.",
                 "qkv": "attention.query_key_value", "q": "attention.query",
                 "k": "attention.key", "v": "attention.value", "o": "attention.dense",
                 "q_norm": "attention.q_norm", "k_norm": "attention.k_norm",
                 "up": "mlp.dense_h_to_4h", "down": "mlp.dense_4h_to_h",
                 "final_norm": "gpt_neox.final_layer_norm", "lm_head": "embed_out"},
}


# ----------------------------------------------------------------------------- recording

# Each matmul's role, in the shared vocabulary of flopcalc's operations (the analytical
# side names its operations' roles the same way, so the two can be compared by role).
ROLES = {
    "qkv_proj": "attention.qkv", "q_proj": "attention.q", "k_proj": "attention.k",
    "v_proj": "attention.v", "scores": "attention.scores", "attn_values": "attention.values",
    "out_proj": "attention.o", "ffn_gate": "mlp.gate", "ffn_up": "mlp.up",
    "ffn_gate_up": "mlp.gate_up", "ffn_down": "mlp.down", "lm_head": "lm_head",
}


@dataclass(frozen=True)
class MatmulRecord:
    name: str                  # a key of ROLES: qkv_proj | q_proj | ... | ffn_down | lm_head
    layer: int | None          # block index, None for lm_head
    a_shape: tuple[int, ...]   # shapes of the arrays actually multiplied
    b_shape: tuple[int, ...]
    out_shape: tuple[int, ...]
    macs: int                  # prod(batch dims) * m * k * n
    role: str | None = None    # ROLES[name]; None for a name ROLES lacks


class MatmulRecorder:
    """Collects a MatmulRecord for every matmul of a forward pass, in execution order."""

    def __init__(self):
        self.records: list[MatmulRecord] = []

    def record(self, name, layer, a_shape, b_shape, out_shape):
        # Every output element took k multiply-adds; plain int arithmetic keeps this cheap.
        macs = math.prod(out_shape) * a_shape[-1]
        self.records.append(MatmulRecord(name, layer, a_shape, b_shape, out_shape, macs,
                                         ROLES.get(name)))

    def select(self, name=None, layer=..., role=None):
        """Records with this name and role (None: any) in this layer (None: lm_head; ...: any)."""
        return [r for r in self.records
                if (name is None or r.name == name) and (layer is ... or r.layer == layer)
                and (role is None or r.role == role)]

    def total_macs(self, name=None, layer=..., role=None) -> int:
        return sum(r.macs for r in self.select(name, layer, role))

    def macs_by_name(self) -> dict[str, int]:
        totals: dict[str, int] = {}
        for r in self.records:
            totals[r.name] = totals.get(r.name, 0) + r.macs
        return totals

    def macs_by_role(self) -> dict[str | None, int]:
        totals: dict[str | None, int] = {}
        for r in self.records:
            totals[r.role] = totals.get(r.role, 0) + r.macs
        return totals


def matmul(recorder, name, layer, a, b, out=None):
    """a @ b (into out, if given), recorded unless recorder is None.

    Every matmul of the forward pass goes through here. A stack of rows (B, L, k) times one
    matrix (k, n) is handed to BLAS as the one 2-D product it is, (B*L, k) @ (k, n), and a
    single row as a vector-matrix product: NumPy's loop over the stack ran the LM head's
    product of one token 1.5 times slower on its own, a GPT-2 decode step some 5% slower.
    The same multiply-adds either way; the shapes recorded are those of a, b and the result.
    """
    if out is None and b.ndim == 2 and a.ndim > 2 and a.flags.c_contiguous:
        rows = a.reshape(-1, a.shape[-1]) if a.size > a.shape[-1] else a.reshape(-1)
        out = np.matmul(rows, b).reshape(*a.shape[:-1], b.shape[-1])
    else:
        out = np.matmul(a, b, out=out)
    if recorder is not None:
        recorder.record(name, layer, a.shape, b.shape, out.shape)
    return out


# ----------------------------------------------------------------------------- BLAS threads

def pass_threads(cores: int | None = None, load: float | None = None) -> int:
    """How many BLAS threads a pass should use: the cores the machine leaves idle (``cores``
    minus the one-minute load average), at least one.

    Why (benchmarks/bench_reference.py measures both): each BLAS thread of a product waits at
    its end for the others, so a thread that loses its core to another process stalls the
    whole product. On a busy 2-core machine two threads ran the dense GPT-2 pass 2-9 times
    slower than one, and the incremental pass's small matrix-vector products 4-10 times
    slower; on an idle one, every core adds arithmetic and memory bandwidth.
    """
    if cores is None:
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (
            os.cpu_count() or 1)
    if load is None:
        try:
            load = os.getloadavg()[0]
        except (AttributeError, OSError):   # not on this platform: assume it is idle
            load = 0.0
    return max(1, min(cores, round(cores - load)))


def blas_threads(n: int):
    """A context manager in which NumPy's BLAS uses at most ``n`` threads (never more than it
    was started with: OPENBLAS_NUM_THREADS and the like still cap it)."""
    from threadpoolctl import threadpool_info, threadpool_limits

    started = max((lib["num_threads"] for lib in threadpool_info()
                   if lib["user_api"] == "blas"), default=n)
    return threadpool_limits(limits=min(n, started), user_api="blas")


# ----------------------------------------------------------------------------- layers

def linear(recorder, name, layer, x, w, b=None):
    y = matmul(recorder, name, layer, x, w)
    if b is not None:
        y += b
    return y


def linear_weight(p, config, key):
    """The weight of the Linear at key as (in, out): GPT-2's Conv1D stores it so, every other
    family's nn.Linear as (out, in), whose transpose is a view BLAS reads as it is."""
    w = p[key + ".weight"]
    return w if config.family == "gpt2" else w.T


def project(p, config, key, recorder, name, layer, x):
    """x through the Linear at key: its weight, and its bias if the checkpoint has one."""
    return linear(recorder, name, layer, x, linear_weight(p, config, key), p.get(key + ".bias"))


def layer_norm(x, w, b=None, eps=1e-5):
    xc = x - x.mean(-1, keepdims=True)
    var = np.mean(xc * xc, -1, keepdims=True)
    xc /= np.sqrt(var + eps)
    xc *= w
    if b is not None:
        xc += b
    return xc


def rms_norm(x, w, eps=1e-6, plus_one=False):
    """x / sqrt(mean(x^2) + eps), times w (Llama) or (1 + w) (Gemma); no mean, no bias."""
    y = x * (1.0 / np.sqrt(np.mean(x * x, -1, keepdims=True) + eps))
    y *= (1.0 + w) if plus_one else w
    return y


def norm(p, config, key, x):
    """The config's norm (LayerNorm or RMSNorm) with the weights at key, over x's last axis."""
    w = p[key + ".weight"]
    if config.norm == "rmsnorm":
        return rms_norm(x, w, config.norm_eps, config.norm_plus_one)
    return layer_norm(x, w, p.get(key + ".bias"), config.norm_eps)


GELU_ROWS = 32  # rows per step of gelu: its eight passes stay in the CPU cache


def gelu(x):
    """GELU, tanh approximation (as GPT-2), computed in place on x to spare copies.

    0.5 * x * (1 + tanh(c * (x + 0.044715 * x^3))), c = sqrt(2 / pi); the tanh argument
    is written as x * (c + c * 0.044715 * x^2) to save passes over the array. A contiguous
    x goes GELU_ROWS rows at a time (the same numbers: each element on its own).
    """
    if x.ndim > 1 and x.flags.c_contiguous:
        rows = x.reshape(-1, x.shape[-1])
        for start in range(0, rows.shape[0], GELU_ROWS):
            _gelu(rows[start:start + GELU_ROWS])
        return x
    return _gelu(x)


def _gelu(x):
    c = math.sqrt(2.0 / math.pi)
    t = x * x
    t *= c * 0.044715
    t += c
    t *= x
    np.tanh(t, out=t)
    t += 1.0
    t *= 0.5
    x *= t
    return x


def gelu_exact(x):
    """GELU x·Φ(x) = 0.5·x·(1 + erf(x/√2)), in place on x.

    NumPy has no erf: Abramowitz & Stegun's 7.1.26 (absolute error below 1.5e-7, under
    float32's resolution near 1) stands in for it. Three temporaries of x's size.
    """
    z = np.abs(x)
    z *= 1 / math.sqrt(2.0)
    k = z * 0.3275911
    k += 1.0
    np.reciprocal(k, out=k)
    poly = k * 1.061405429  # Horner's scheme over k, in place
    for a in (-1.453152027, 1.421413741, -0.284496736, 0.254829592):
        poly += a
        poly *= k
    del k
    z *= z
    z *= -1.0
    np.exp(z, out=z)
    poly *= z                        # 1 − erf(|x|/√2)
    np.subtract(1.0, poly, out=poly)
    np.copysign(poly, x, out=poly)   # erf(x/√2)
    poly += 1.0
    poly *= 0.5                      # Φ(x)
    x *= poly
    return x


def relu(x):
    """max(x, 0), in place on x."""
    return np.maximum(x, 0, out=x)


def silu(x):
    """x * sigmoid(x) = x / (1 + exp(-x)), in place on x (SwiGLU's gate activation)."""
    with np.errstate(over="ignore"):  # x << 0: exp(-x) = inf, x / inf = -0, the limit
        t = np.exp(-x)
    t += 1.0
    x /= t
    return x


ACTIVATIONS = {"gelu_tanh": gelu, "gelu": gelu_exact, "relu": relu, "silu": silu}


def softcap(x, cap):
    """cap * tanh(x / cap), in place on x (Gemma-2's soft-capping of scores and logits)."""
    x /= cap
    np.tanh(x, out=x)
    x *= cap
    return x


def softmax(x, axis=-1, out=None):
    """Numerically stable softmax: subtracting the row max keeps exp() from overflowing."""
    out = np.subtract(x, x.max(axis, keepdims=True), out=out)
    np.exp(out, out=out)
    out /= out.sum(axis, keepdims=True)
    return out


SOFTMAX_ROWS = 64  # rows of scores per step of masked_softmax: 256 KB at L = 1024, float32


def masked_softmax(scores, mask, window=None):
    """softmax(scores + mask) over the last axis, in place on one head's (L, L) scores, with
    ``mask`` the (L, L) ``causal_mask`` of ``window``.

    SOFTMAX_ROWS rows at a time, so that the passes over them stay in the CPU cache, and
    over the keys those rows can see only: rows r0 <= i < r1 see no key j >= r1 (nor, in a
    window W, any j <= r0 - W), whose probabilities are exactly 0. The mask is added only
    where some row of the step has a hidden key among its columns. The same numbers as
    softmax over all L keys, up to the order of the sum's terms.
    """
    L = scores.shape[-1]
    for r0 in range(0, L, SOFTMAX_ROWS):
        r1 = min(r0 + SOFTMAX_ROWS, L)
        lo = 0 if window is None else max(0, r0 - window + 1)
        rows = scores[r0:r1, lo:r1]
        rows[:, r0 - lo:] += mask[r0:r1, r0:r1]       # keys j > i
        if window is not None and r1 - window > lo:  # keys j <= i - W
            edge = min(r1 - window, r0) - lo
            rows[:, :edge] += mask[r0:r1, lo:lo + edge]
        softmax(rows, out=rows)
        scores[r0:r1, :lo] = 0.0
        scores[r0:r1, r1:] = 0.0
    return scores


def split_heads(x, n_head):
    """(B, L, d) -> (B, h, L, d_head), a view."""
    B, L, d = x.shape
    return x.reshape(B, L, n_head, d // n_head).transpose(0, 2, 1, 3)


def repeat_kv(x, n_rep):
    """(B, kv, T, d_head) -> (B, kv * n_rep, T, d_head): K/V head j serves query heads
    j * n_rep ... j * n_rep + n_rep - 1, as Hugging Face's repeat_kv (a copy)."""
    return x if n_rep == 1 else np.repeat(x, n_rep, axis=1)


@functools.lru_cache(maxsize=8)
def rotary_tables(start, length, dims, theta, dtype):
    """cos and sin (length, dims) of positions start ... start + length - 1.

    As Hugging Face's rotary embedding: frequencies theta^(-2i / dims), i < dims / 2, the
    angle table position * frequency repeated as two halves, [f, f].
    """
    inv_freq = 1.0 / theta ** (np.arange(0, dims, 2) / dims)
    angles = np.outer(np.arange(start, start + length), inv_freq)
    angles = np.concatenate([angles, angles], axis=-1)
    cos, sin = np.cos(angles).astype(dtype), np.sin(angles).astype(dtype)
    cos.flags.writeable = sin.flags.writeable = False  # shared between calls
    return cos, sin


def rotate_half(x):
    """[x1, x2] -> [-x2, x1] over the last axis (HF's convention: halves, not pairs)."""
    half = x.shape[-1] // 2
    return np.concatenate([-x[..., half:], x[..., :half]], axis=-1)


def rotary(x, cos, sin):
    """Rotary embedding of x (B, h, L, d_head): x * cos + rotate_half(x) * sin on the first
    cos.shape[-1] dims of each head; the rest pass unchanged (partial rotary, GPT-NeoX)."""
    dims = cos.shape[-1]
    rot = x[..., :dims]
    out = rot * cos
    out += rotate_half(rot) * sin
    return out if dims == x.shape[-1] else np.concatenate([out, x[..., dims:]], axis=-1)


# ----------------------------------------------------------------------------- attention

class KVCache:
    """Keys and values of the last ``slots`` tokens, for one block (incremental decoding).

    A full-attention block has a slot for every token; a windowed one only W, reused in turn
    (a ring buffer): the oldest key, the one leaving the window, is overwritten. Attention
    does not depend on the order of its keys (given values in the same order), and each key
    carries its own position (rotated before it is cached), so the ring's order is harmless.
    """

    def __init__(self, batch, n_head, slots, d_head, dtype):
        self.k = np.empty((batch, n_head, slots, d_head), dtype)
        self.v = np.empty((batch, n_head, slots, d_head), dtype)
        self.length = 0  # tokens seen so far (the position of the next one)

    def append(self, k, v):
        """Store this step's (B, kv, 1, d_head) k and v; return the keys and values in view."""
        slots = self.k.shape[2]
        slot = self.length % slots
        self.k[:, :, slot:slot + 1] = k
        self.v[:, :, slot:slot + 1] = v
        self.length += 1
        n = min(self.length, slots)
        return self.k[:, :, :n], self.v[:, :, :n]


def qkv_projection(p, prefix, config, layer, x, recorder):
    """q (B, h, L, d_head) and k, v (B, kv, L, d_head) of x (B, L, d)."""
    names = WEIGHT_NAMES[config.family]
    h, kv, dh = config.n_head, config.kv_heads, config.d_head
    if not config.fused_qkv:
        q, k, v = (project(p, config, prefix + names[t], recorder, f"{t}_proj", layer, x)
                   for t in "qkv")
    else:
        qkv = project(p, config, prefix + names["qkv"], recorder, "qkv_proj", layer, x)
        if config.family == "gpt_neox":
            # query_key_value's outputs are grouped by head: q, k, v of head 0, of head 1, ...
            B, L, _ = qkv.shape
            qkv = qkv.reshape(B, L, h, 3 * dh).transpose(0, 2, 1, 3)
            return qkv[..., :dh], qkv[..., dh:2 * dh], qkv[..., 2 * dh:]
        q, k, v = np.split(qkv, [h * dh, (h + kv) * dh], axis=-1)
    return split_heads(q, h), split_heads(k, kv), split_heads(v, kv)


@functools.lru_cache(maxsize=4)
def causal_mask(L, dtype, window=None):
    """(L, L) additive mask: 0 where query i sees key j, -inf elsewhere.

    Query i sees keys j <= i (causal), and with a sliding window W only the last W of them,
    i - W < j <= i (Hugging Face's sliding_window_overlay).
    """
    mask = np.triu(np.full((L, L), -np.inf, dtype), k=1)
    if window is not None:
        mask += np.tril(np.full((L, L), -np.inf, dtype), k=-window)
    mask.flags.writeable = False  # shared between calls
    return mask


def causal_self_attention(p, prefix, config, layer, x, recorder, cache=None, scores_buf=None):
    names = WEIGHT_NAMES[config.family]
    q, k, v = qkv_projection(p, prefix, config, layer, x, recorder)
    if config.qk_norm:  # Qwen3: each head's q and k normed over d_head, before rotary
        q = norm(p, config, prefix + names["q_norm"], q)
        k = norm(p, config, prefix + names["k_norm"], k)
    if config.positions == "rotary":
        start = 0 if cache is None else cache.length
        cos, sin = rotary_tables(start, x.shape[1], config.rotary_dim, config.rope_theta,
                                 x.dtype)
        q, k = rotary(q, cos, sin), rotary(k, cos, sin)
    # Scaling q (L*d_head numbers) instead of the (L, L) scores gives the same scores cheaper.
    q *= (config.query_pre_attn_scalar or config.d_head) ** -0.5
    if cache is not None:
        # One new token: its query sees every cached key, itself included, so no mask (a
        # windowed cache holds only the last W keys).
        k, v = cache.append(k, v)
    # GQA / MQA: each K/V head serves n_head / kv query heads.
    n_rep = config.n_head // config.kv_heads
    k, v = repeat_kv(k, n_rep), repeat_kv(v, n_rep)
    scores = matmul(recorder, "scores", layer, q, k.swapaxes(-1, -2), out=scores_buf)
    if config.attn_softcap is not None:
        softcap(scores, config.attn_softcap)
    if cache is None:
        # Dense: all L x L scores were computed; hide the future ones (j > i), and those
        # before a window, from softmax.
        L = scores.shape[-1]
        window = config.window(layer)
        mask = causal_mask(L, scores.dtype, window)
        for head_scores in scores.reshape(-1, L, L):
            masked_softmax(head_scores, mask, window)
    else:
        softmax(scores, out=scores)
    probs = scores
    # Merge heads for free: each head writes its (L, d_head) output straight into its
    # columns of y, so y (B, L, h, d_head) is already the (B, L, h * d_head) layout.
    B, L, _ = x.shape
    y = np.empty((B, L, config.n_head, config.d_head), x.dtype)
    matmul(recorder, "attn_values", layer, probs, v, out=y.transpose(0, 2, 1, 3))
    y = y.reshape(B, L, config.n_head * config.d_head)
    return project(p, config, prefix + names["o"], recorder, "out_proj", layer, y)


def mlp(p, prefix, layer, x, recorder, config):
    """down(act(up x)): GPT-2's c_fc and c_proj, GPT-NeoX's dense_h_to_4h and dense_4h_to_h."""
    names = WEIGHT_NAMES[config.family]
    h = project(p, config, prefix + names["up"], recorder, "ffn_up", layer, x)
    return project(p, config, prefix + names["down"], recorder, "ffn_down", layer,
                   ACTIVATIONS[config.activation](h))


def gated_mlp(p, prefix, layer, x, recorder, config):
    """down(act(gate x) * up x): SwiGLU (silu), GeGLU (gelu_tanh); Phi-3 fuses gate and up
    into one gate_up_proj whose first d_ff outputs are the gate."""
    names = WEIGHT_NAMES[config.family]
    if config.fused_gate_up:
        gate_up = project(p, config, prefix + names["gate_up"], recorder, "ffn_gate_up", layer, x)
        gate, up = np.split(gate_up, 2, axis=-1)
    else:
        gate = project(p, config, prefix + names["gate"], recorder, "ffn_gate", layer, x)
        up = project(p, config, prefix + names["up"], recorder, "ffn_up", layer, x)
    h = ACTIVATIONS[config.activation](gate)
    h *= up
    return project(p, config, prefix + names["down"], recorder, "ffn_down", layer, h)


def block(p, config, layer, x, recorder, cache=None, scores_buf=None):
    """Pre-norm transformer block; updates the residual stream x in place.

    x += attn(norm1 x), then x += mlp(norm2 x); GPT-NeoX's parallel residual takes both
    norms of the block's input, x += attn(norm1 x) + mlp(norm2 x); Gemma-2 norms each
    sub-layer's output too before adding it (post norms).
    """
    names = WEIGHT_NAMES[config.family]
    pre = names["block"].format(layer)
    h = norm(p, config, pre + names["attn_norm"], x)
    a = causal_self_attention(p, pre, config, layer, h, recorder, cache, scores_buf)
    if config.post_norms:
        a = norm(p, config, pre + names["attn_post_norm"], a)
    if not config.parallel_residual:
        x += a
    h = norm(p, config, pre + names["mlp_norm"], x)
    feed_forward = gated_mlp if config.mlp == "gated" else mlp
    m = feed_forward(p, pre, layer, h, recorder, config=config)
    if config.post_norms:
        m = norm(p, config, pre + names["mlp_post_norm"], m)
    if config.parallel_residual:
        x += a
    x += m
    return x


# ----------------------------------------------------------------------------- model

NORMAL_LEVELS = 1 << 16   # values of the weights' normal distribution (one per 16 random bits)
_FILL_CHUNK = 1 << 18     # weights drawn at a time: the index temporaries stay in the CPU cache


@functools.lru_cache(maxsize=1)
def _normal_quantiles() -> np.ndarray:
    """The standard normal's quantiles at (i + 1/2) / NORMAL_LEVELS, i = 0 … LEVELS-1: a
    16-bit stand-in for N(0, 1), symmetric (mean exactly 0), variance 0.99999, tails cut at
    4.33 sigma. Computed once per process (one half, mirrored)."""
    from statistics import NormalDist

    inv_cdf, half = NormalDist().inv_cdf, NORMAL_LEVELS // 2
    upper = np.array([inv_cdf((half + i + 0.5) / NORMAL_LEVELS) for i in range(half)])
    table = np.concatenate([-upper[::-1], upper])
    table.flags.writeable = False
    return table


def fill_normal(w: np.ndarray, std: float, bits: np.random.BitGenerator) -> np.ndarray:
    """Fill ``w`` in place with independent draws of N(0, std), as quantised by
    ``_normal_quantiles``: each weight is the quantile that 16 random bits pick.

    About ten times quicker than ``Generator.standard_normal`` (a table look-up per weight
    instead of a ziggurat draw), so filling GPT-2 small's 124M weights costs about what
    writing that memory costs; mean, standard deviation and shape are the normal's.
    """
    table = (_normal_quantiles() * std).astype(w.dtype)
    flat = w.reshape(-1)   # a view: w is contiguous
    for start in range(0, flat.size, _FILL_CHUNK):
        part = flat[start:start + _FILL_CHUNK]
        picks = bits.random_raw(-(-part.size // 4)).view(np.uint16)[:part.size]
        np.take(table, picks, out=part, mode="clip")   # picks < LEVELS: no bounds to check
    return w


def init_params(config, seed=0, dtype=np.float32) -> dict[str, np.ndarray]:
    """GPT-2 initialisation: N(0, 0.02) weights, zero biases, norms' weights ones (Gemma's
    (1 + weight) RMSNorm: zeros, the same scale) and LayerNorm biases zeros.

    The residual projections (attention output, MLP down) get std 0.02 / sqrt(2 * n_layer),
    as GPT-2 and nanoGPT do, so the residual stream's variance does not grow with depth.
    The normal draws are ``fill_normal``'s (16-bit quantised), from PCG64 seeded by ``seed``.
    Names and layouts are the family's checkpoint's (WEIGHT_NAMES, ``linear_weight``).
    """
    bits = np.random.PCG64(seed)
    c = config
    names = WEIGHT_NAMES[c.family]
    residual_std = 0.02 / math.sqrt(2 * c.n_layer)
    h, kv, dh = c.n_head, c.kv_heads, c.d_head

    def normal(shape, std=0.02):
        return fill_normal(np.empty(shape, dtype), std, bits)

    p = {names["tokens"] + ".weight": normal((c.vocab_size, c.n_embd))}
    if c.positions == "learned":
        p[names["positions"] + ".weight"] = normal((c.n_positions, c.n_embd))

    def add_linear(name, d_in, d_out, bias, std=0.02):
        p[name + ".weight"] = normal((d_in, d_out) if c.family == "gpt2" else (d_out, d_in), std)
        if bias:
            p[name + ".bias"] = np.zeros(d_out, dtype)

    def add_norm(name, width=c.n_embd):
        p[name + ".weight"] = (np.zeros if c.norm_plus_one else np.ones)(width, dtype)
        if c.norm == "layernorm" and c.has_bias("norm"):
            p[name + ".bias"] = np.zeros(width, dtype)

    for i in range(c.n_layer):
        pre = names["block"].format(i)
        add_norm(pre + names["attn_norm"])
        if c.fused_qkv:
            add_linear(pre + names["qkv"], c.n_embd, (h + 2 * kv) * dh, c.has_bias("qkv"))
        else:
            for t, heads in zip("qkv", (h, kv, kv)):
                add_linear(pre + names[t], c.n_embd, heads * dh, c.has_bias("qkv"))
        if c.qk_norm:
            add_norm(pre + names["q_norm"], dh)
            add_norm(pre + names["k_norm"], dh)
        add_linear(pre + names["o"], h * dh, c.n_embd, c.has_bias("o"), residual_std)
        if c.post_norms:
            add_norm(pre + names["attn_post_norm"])
        add_norm(pre + names["mlp_norm"])
        if c.mlp == "gated" and c.fused_gate_up:
            add_linear(pre + names["gate_up"], c.n_embd, 2 * c.d_ff, c.has_bias("mlp"))
        elif c.mlp == "gated":
            add_linear(pre + names["gate"], c.n_embd, c.d_ff, c.has_bias("mlp"))
        if not c.fused_gate_up:
            add_linear(pre + names["up"], c.n_embd, c.d_ff, c.has_bias("mlp"))
        add_linear(pre + names["down"], c.d_ff, c.n_embd, c.has_bias("mlp"), residual_std)
        if c.post_norms:
            add_norm(pre + names["mlp_post_norm"])
    add_norm(names["final_norm"])
    if not c.tied_lm_head:  # an nn.Linear in every family: (vocab, n_embd)
        p[names["lm_head"] + ".weight"] = normal((c.vocab_size, c.n_embd))
    return p


def embed(p, config, idx, start=0):
    """Token embedding (+ learned position embedding), a gather and an add, no matmul;
    Gemma scales it by sqrt(n_embd), rounded to the dtype as Hugging Face does."""
    names = WEIGHT_NAMES[config.family]
    x = p[names["tokens"] + ".weight"][idx]
    if config.positions == "learned":
        x += p[names["positions"] + ".weight"][start:start + idx.shape[1]]
    if config.embed_scale:
        x *= np.asarray(math.sqrt(config.n_embd), x.dtype)
    return x


def lm_head(p, config, x, recorder):
    names = WEIGHT_NAMES[config.family]
    x = norm(p, config, names["final_norm"], x)
    # Tied to the token embedding or not, the weight is (vocab, n_embd); its .T is a view
    # that BLAS reads transposed, not a copy.
    w = p[names["tokens" if config.tied_lm_head else "lm_head"] + ".weight"]
    logits = matmul(recorder, "lm_head", None, x, w.T)
    if config.final_softcap is not None:
        softcap(logits, config.final_softcap)
    return logits


def _check_idx(config, idx):
    idx = np.asarray(idx)
    if idx.ndim != 2:
        raise ValueError(f"idx must be (batch, seq_len), got shape {idx.shape}")
    if idx.shape[1] > config.n_positions:
        raise ValueError(f"seq_len {idx.shape[1]} exceeds n_positions {config.n_positions}")
    if idx.size and not 0 <= idx.min() <= idx.max() < config.vocab_size:
        raise ValueError(f"token ids must lie in [0, {config.vocab_size})")
    return idx


def forward(params, config, idx, recorder=None):
    """Logits (B, L, V) for token ids idx (B, L), all positions at once."""
    idx = _check_idx(config, idx)
    x = embed(params, config, idx)
    # One (B, h, L, L) scores array serves every layer: a fresh one per layer (50 MB at
    # GPT-2 small, L = 1024) would be new memory for the OS to page in each time.
    B, L = idx.shape
    scores_buf = np.empty((B, config.n_head, L, L), x.dtype)
    for layer in range(config.n_layer):
        x = block(params, config, layer, x, recorder, scores_buf=scores_buf)
    del scores_buf  # freed before the head allocates its (B, L, V) logits
    return lm_head(params, config, x, recorder)


def forward_incremental(params, config, idx, recorder=None):
    """Logits (B, L, V) computed token by token with a KV cache, as in generation.

    A windowed layer's cache keeps only the last W tokens' keys and values.
    """
    idx = _check_idx(config, idx)
    B, L = idx.shape
    dtype = params[WEIGHT_NAMES[config.family]["tokens"] + ".weight"].dtype
    caches = [KVCache(B, config.kv_heads, min(L, config.window(layer) or L), config.d_head,
                      dtype) for layer in range(config.n_layer)]
    logits = np.empty((B, L, config.vocab_size), dtype)
    for t in range(L):
        x = embed(params, config, idx[:, t:t + 1], start=t)
        for layer in range(config.n_layer):
            x = block(params, config, layer, x, recorder, caches[layer])
        logits[:, t:t + 1] = lm_head(params, config, x, recorder)
    return logits


def estimate_memory_bytes(config, batch, seq_len, dtype=np.float32, incremental=False) -> int:
    """Rough peak bytes of forward() (or, with ``incremental``, of forward_incremental()).

    Both hold the parameters and a few (B, L, d) arrays (residual, norm output, ...).
    forward(): the blocks hold the (B, h, L, L) scores and the (L, L) masks throughout, and
    at most the attention's arrays (q, k, v, their rotated and repeated copies, the output)
    or the MLP's (B, L, d_ff) arrays (up's output, and gate's when gated, plus the
    activation's temporaries: one, three for the exact GELU) on top; the head holds the
    (B, L, V) logits.
    forward_incremental(): no (B, h, L, L) scores and no mask, but the KV caches (a K and a V
    of (B, kv, slots, d_head) per block, slots = min(L, W) in a windowed one) and the whole
    (B, L, V) logits live throughout, plus one step's arrays: its (B, h, 1, <= L) scores and
    (B, 1, d_ff) MLP arrays, or its (B, 1, V) logits. Not included: the interpreter, NumPy
    and OpenBLAS's own buffers (some 100-150 MB).
    """
    c = config
    item = np.dtype(dtype).itemsize
    B, L, d, f, V = batch, seq_len, c.n_embd, c.d_ff, c.vocab_size
    h, kv, dh = c.n_head, c.kv_heads, c.d_head
    mlp_mats = 3 if c.mlp == "gated" else 2
    # (B, L, d_ff) arrays: up (and gate), the activation's temporaries (three for exact GELU)
    mlp_arrays = mlp_mats - 1 + (3 if c.activation == "gelu" else 1)
    # weights, then (an upper bound) every bias and norm vector as if all were there
    n_params = V * d * (1 if c.tied_lm_head else 2) + 2 * d
    n_params += c.n_positions * d if c.positions == "learned" else 0
    n_params += c.n_layer * ((h + 2 * kv) * dh * (d + 1) + h * dh * d + d
                             + (mlp_mats - 1) * d * f + f * d + (mlp_mats - 1) * f + d
                             + 8 * d + 4 * dh)
    live = 4 * B * L * d
    q_k_v = B * L * (h + 2 * kv) * dh
    # counted, not looped over: n_layer may be any size (verify refuses what cannot fit)
    W = c.sliding_window
    windowed = 0 if W is None else (c.n_layer if c.window_layers is None
                                    else len(c.window_layers))
    if incremental:
        caches = 2 * B * kv * dh * (windowed * min(L, W or L) + (c.n_layer - windowed) * L)
        step = max(B * h * L + 4 * B * d + mlp_arrays * B * f, B * V + 2 * B * d)
        return (n_params + caches + B * L * V + step) * item
    attention = q_k_v + B * L * h * dh  # the projections' outputs and the heads' output y
    if c.positions == "rotary":
        attention += 2 * B * L * (h + kv) * dh  # rotated q, k and rotate_half's temporary
    if kv != h:
        attention += 2 * B * L * h * dh  # K and V repeated to the query heads
    masks = L * L * ((windowed > 0) + (windowed < c.n_layer))  # one per kind of layer
    blocks = B * h * L * L + masks + max(attention, mlp_arrays * B * L * f)
    head = B * L * V
    return (n_params + live + max(blocks, head)) * item
