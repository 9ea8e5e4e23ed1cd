"""A small, real GPT-2 forward pass in NumPy that records every matmul it runs.

This is flopcalc's executable cross-check: it shares no code with the analytical
formulas. Each matmul goes through ``matmul()``, which multiplies the actual arrays and
notes their shapes; the multiply-adds of a record come from those shapes alone.

Laid out like nanoGPT's ``model.py``: config, then attention, MLP, block, model.
Parameter names follow Hugging Face's GPT-2 checkpoints; weights are (in, out) so a
Linear is ``x @ W``, and the LM head is tied to the token embedding: ``x @ wte.T``.
"""

from __future__ import annotations

import functools
import math
import os
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class GPTConfig:
    n_layer: int
    n_head: int
    n_embd: int
    d_ff: int
    vocab_size: int
    n_positions: int
    bias: bool = True       # GPT-2 has biases; nanoGPT's bias-free variant uses False
    fused_qkv: bool = True  # GPT-2's fused c_attn (one d->3d matmul) vs separate W_q, W_k, W_v
    activation: str = "gelu_tanh"  # the FFN's: gelu_tanh (GPT-2), gelu (exact, erf) or relu

    def __post_init__(self):
        if self.n_embd % self.n_head:
            raise ValueError(f"n_embd {self.n_embd} is not divisible by n_head {self.n_head}")

    @property
    def d_head(self) -> int:
        return self.n_embd // self.n_head


# ----------------------------------------------------------------------------- recording

@dataclass(frozen=True)
class MatmulRecord:
    name: str                  # qkv_proj | q_proj | k_proj | v_proj | scores | attn_values
    #                            | out_proj | ffn_up | ffn_down | lm_head
    layer: int | None          # block index, None for lm_head
    a_shape: tuple[int, ...]   # shapes of the arrays actually multiplied
    b_shape: tuple[int, ...]
    out_shape: tuple[int, ...]
    macs: int                  # prod(batch dims) * m * k * n


class MatmulRecorder:
    """Collects a MatmulRecord for every matmul of a forward pass, in execution order."""

    def __init__(self):
        self.records: list[MatmulRecord] = []

    def record(self, name, layer, a_shape, b_shape, out_shape):
        # Every output element took k multiply-adds; plain int arithmetic keeps this cheap.
        macs = math.prod(out_shape) * a_shape[-1]
        self.records.append(MatmulRecord(name, layer, a_shape, b_shape, out_shape, macs))

    def select(self, name=None, layer=...):
        """Records with this name (None: any) in this layer (None: lm_head; ...: any)."""
        return [r for r in self.records
                if (name is None or r.name == name) and (layer is ... or r.layer == layer)]

    def total_macs(self, name=None, layer=...) -> int:
        return sum(r.macs for r in self.select(name, layer))

    def macs_by_name(self) -> dict[str, int]:
        totals: dict[str, int] = {}
        for r in self.records:
            totals[r.name] = totals.get(r.name, 0) + r.macs
        return totals


def matmul(recorder, name, layer, a, b, out=None):
    """a @ b (into out, if given), recorded unless recorder is None.

    Every matmul of the forward pass goes through here.
    """
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


def layer_norm(x, w, b=None, eps=1e-5):
    xc = x - x.mean(-1, keepdims=True)
    var = np.mean(xc * xc, -1, keepdims=True)
    xc /= np.sqrt(var + eps)
    xc *= w
    if b is not None:
        xc += b
    return xc


def gelu(x):
    """GELU, tanh approximation (as GPT-2), computed in place on x to spare copies.

    0.5 * x * (1 + tanh(c * (x + 0.044715 * x^3))), c = sqrt(2 / pi); the tanh argument
    is written as x * (c + c * 0.044715 * x^2) to save passes over the array.
    """
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


ACTIVATIONS = {"gelu_tanh": gelu, "gelu": gelu_exact, "relu": relu}


def softmax(x, axis=-1, out=None):
    """Numerically stable softmax: subtracting the row max keeps exp() from overflowing."""
    out = np.subtract(x, x.max(axis, keepdims=True), out=out)
    np.exp(out, out=out)
    out /= out.sum(axis, keepdims=True)
    return out


def split_heads(x, n_head):
    """(B, L, d) -> (B, h, L, d_head), a view."""
    B, L, d = x.shape
    return x.reshape(B, L, n_head, d // n_head).transpose(0, 2, 1, 3)


# ----------------------------------------------------------------------------- attention

class KVCache:
    """Keys and values of the tokens seen so far, for one block (incremental decoding)."""

    def __init__(self, batch, n_head, max_len, d_head, dtype):
        self.k = np.empty((batch, n_head, max_len, d_head), dtype)
        self.v = np.empty((batch, n_head, max_len, d_head), dtype)
        self.length = 0

    def append(self, k, v):
        """Store this step's (B, h, 1, d_head) k and v; return all keys and values so far."""
        t = self.length
        self.k[:, :, t:t + 1] = k
        self.v[:, :, t:t + 1] = v
        self.length = t + 1
        return self.k[:, :, :t + 1], self.v[:, :, :t + 1]


def qkv_projection(p, prefix, config, layer, x, recorder):
    """q, k, v of x (B, L, d), each split into heads: (B, h, L, d_head)."""
    attn = prefix + "attn."
    if config.fused_qkv:
        qkv = linear(recorder, "qkv_proj", layer, x, p[attn + "c_attn.weight"],
                     p.get(attn + "c_attn.bias"))
        q, k, v = np.split(qkv, 3, axis=-1)
    else:
        q, k, v = (linear(recorder, f"{t}_proj", layer, x, p[f"{attn}{t}_proj.weight"],
                          p.get(f"{attn}{t}_proj.bias")) for t in "qkv")
    return (split_heads(q, config.n_head), split_heads(k, config.n_head),
            split_heads(v, config.n_head))


@functools.lru_cache(maxsize=2)
def causal_mask(L, dtype):
    """(L, L) additive mask: 0 where key j <= query i, -inf where j > i (the future)."""
    mask = np.triu(np.full((L, L), -np.inf, dtype), k=1)
    mask.flags.writeable = False  # shared between calls
    return mask


def causal_self_attention(p, prefix, config, layer, x, recorder, cache=None, scores_buf=None):
    q, k, v = qkv_projection(p, prefix, config, layer, x, recorder)
    # Scaling q (L*d_head numbers) instead of the (L, L) scores gives the same scores cheaper.
    q *= 1.0 / math.sqrt(config.d_head)
    if cache is not None:
        # One new token: its query sees every cached key, itself included, so no mask.
        k, v = cache.append(k, v)
    scores = matmul(recorder, "scores", layer, q, k.swapaxes(-1, -2), out=scores_buf)
    if cache is None:
        # Dense: all L x L scores were computed; hide the future ones (j > i) from softmax.
        # One head at a time, in place: a head's (L, L) scores fit in the CPU cache, all
        # heads' (50 MB at GPT-2 small, L = 1024) do not.
        L = scores.shape[-1]
        mask = causal_mask(L, scores.dtype)
        for head_scores in scores.reshape(-1, L, L):
            head_scores += mask
            softmax(head_scores, out=head_scores)
    else:
        softmax(scores, out=scores)
    probs = scores
    # Merge heads for free: each head writes its (L, d_head) output straight into its
    # columns of y, so y (B, L, h, d_head) is already the (B, L, d) layout.
    B, L, _ = x.shape
    y = np.empty((B, L, config.n_head, config.d_head), x.dtype)
    matmul(recorder, "attn_values", layer, probs, v, out=y.transpose(0, 2, 1, 3))
    y = y.reshape(B, L, config.n_embd)
    attn = prefix + "attn."
    return linear(recorder, "out_proj", layer, y, p[attn + "c_proj.weight"],
                  p.get(attn + "c_proj.bias"))


def mlp(p, prefix, layer, x, recorder, activation="gelu_tanh"):
    mlp_ = prefix + "mlp."
    h = linear(recorder, "ffn_up", layer, x, p[mlp_ + "c_fc.weight"], p.get(mlp_ + "c_fc.bias"))
    h = ACTIVATIONS[activation](h)
    return linear(recorder, "ffn_down", layer, h, p[mlp_ + "c_proj.weight"],
                  p.get(mlp_ + "c_proj.bias"))


def block(p, config, layer, x, recorder, cache=None, scores_buf=None):
    """Pre-LayerNorm transformer block; updates the residual stream x in place."""
    pre = f"h.{layer}."
    h = layer_norm(x, p[pre + "ln_1.weight"], p.get(pre + "ln_1.bias"))
    x += causal_self_attention(p, pre, config, layer, h, recorder, cache, scores_buf)
    h = layer_norm(x, p[pre + "ln_2.weight"], p.get(pre + "ln_2.bias"))
    x += mlp(p, pre, layer, h, recorder, activation=config.activation)
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
    """GPT-2 initialisation: N(0, 0.02) weights, zero biases, LayerNorm ones/zeros.

    The residual projections (attn.c_proj, mlp.c_proj) get std 0.02 / sqrt(2 * n_layer),
    as GPT-2 and nanoGPT do, so the residual stream's variance does not grow with depth.
    The normal draws are ``fill_normal``'s (16-bit quantised), from PCG64 seeded by ``seed``.
    """
    bits = np.random.PCG64(seed)
    c = config
    residual_std = 0.02 / math.sqrt(2 * c.n_layer)

    def normal(shape, std=0.02):
        return fill_normal(np.empty(shape, dtype), std, bits)

    p = {"wte.weight": normal((c.vocab_size, c.n_embd)),
         "wpe.weight": normal((c.n_positions, c.n_embd))}

    def add_linear(name, d_in, d_out, std=0.02):
        p[name + ".weight"] = normal((d_in, d_out), std)
        if c.bias:
            p[name + ".bias"] = np.zeros(d_out, dtype)

    def add_layer_norm(name):
        p[name + ".weight"] = np.ones(c.n_embd, dtype)
        if c.bias:
            p[name + ".bias"] = np.zeros(c.n_embd, dtype)

    for i in range(c.n_layer):
        pre = f"h.{i}."
        add_layer_norm(pre + "ln_1")
        if c.fused_qkv:
            add_linear(pre + "attn.c_attn", c.n_embd, 3 * c.n_embd)
        else:
            for t in "qkv":
                add_linear(pre + f"attn.{t}_proj", c.n_embd, c.n_embd)
        add_linear(pre + "attn.c_proj", c.n_embd, c.n_embd, residual_std)
        add_layer_norm(pre + "ln_2")
        add_linear(pre + "mlp.c_fc", c.n_embd, c.d_ff)
        add_linear(pre + "mlp.c_proj", c.d_ff, c.n_embd, residual_std)
    add_layer_norm("ln_f")
    return p


def embed(p, idx, start=0):
    """Token + position embedding: a gather and an add, no matmul."""
    L = idx.shape[1]
    return p["wte.weight"][idx] + p["wpe.weight"][start:start + L]


def lm_head(p, x, recorder):
    x = layer_norm(x, p["ln_f.weight"], p.get("ln_f.bias"))
    # Tied to the token embedding; wte.T is a view that BLAS reads transposed, not a copy.
    return matmul(recorder, "lm_head", None, x, p["wte.weight"].T)


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
    x = embed(params, idx)
    # One (B, h, L, L) scores array serves every layer: a fresh one per layer (50 MB at
    # GPT-2 small, L = 1024) would be new memory for the OS to page in each time.
    B, L = idx.shape
    scores_buf = np.empty((B, config.n_head, L, L), x.dtype)
    for layer in range(config.n_layer):
        x = block(params, config, layer, x, recorder, scores_buf=scores_buf)
    del scores_buf  # freed before the head allocates its (B, L, V) logits
    return lm_head(params, x, recorder)


def forward_incremental(params, config, idx, recorder=None):
    """Logits (B, L, V) computed token by token with a KV cache, as in generation."""
    idx = _check_idx(config, idx)
    B, L = idx.shape
    dtype = params["wte.weight"].dtype
    caches = [KVCache(B, config.n_head, L, config.d_head, dtype) for _ in range(config.n_layer)]
    logits = np.empty((B, L, config.vocab_size), dtype)
    for t in range(L):
        x = embed(params, idx[:, t:t + 1], start=t)
        for layer in range(config.n_layer):
            x = block(params, config, layer, x, recorder, caches[layer])
        logits[:, t:t + 1] = lm_head(params, x, recorder)
    return logits


def estimate_memory_bytes(config, batch, seq_len, dtype=np.float32, incremental=False) -> int:
    """Rough peak bytes of forward() (or, with ``incremental``, of forward_incremental()).

    Both hold the parameters and a few (B, L, d) arrays (residual, LayerNorm output, ...).
    forward(): the blocks hold the (B, h, L, L) scores and the (L, L) causal mask throughout,
    and at most the attention's qkv or the MLP's (B, L, d_ff) arrays (two; four for the exact
    GELU's temporaries) on top; the head holds the (B, L, V) logits.
    forward_incremental(): no (B, h, L, L) scores and no mask, but the KV caches (a K and a V
    of (B, h, L, d_head) per block) and the whole (B, L, V) logits live throughout, plus one
    step's arrays: its (B, h, 1, <= L) scores and (B, 1, d_ff) MLP arrays, or its (B, 1, V)
    logits. Not included: the interpreter, NumPy and OpenBLAS's own buffers (some
    100-150 MB).
    """
    c = config
    item = np.dtype(dtype).itemsize
    B, L, d, h, f, V = batch, seq_len, c.n_embd, c.n_head, c.d_ff, c.vocab_size
    # weights, then (an upper bound) every bias and LayerNorm vector as if bias=True
    n_params = (V + c.n_positions) * d + 2 * d
    n_params += c.n_layer * (4 * d * d + 2 * d * f + 9 * d + f)
    live = 4 * B * L * d
    ffn = 4 if c.activation == "gelu" else 2  # (B, L, d_ff) arrays: h and the activation's
    if incremental:
        caches = 2 * c.n_layer * B * L * d
        step = max(B * h * L + 4 * B * d + ffn * B * f, B * V + 2 * B * d)
        return (n_params + caches + B * L * V + step) * item
    blocks = B * h * L * L + L * L + max(3 * B * L * d + B * L * d, ffn * B * L * f)
    head = B * L * V
    return (n_params + live + max(blocks, head)) * item
