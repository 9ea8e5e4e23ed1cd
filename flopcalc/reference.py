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
import time
from dataclasses import dataclass
from fractions import Fraction

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
    # Mixture of experts (Mixtral, Qwen2-MoE, DeepSeek-V3); None: a dense MLP everywhere
    n_experts: int | None = None     # routed experts [num_local_experts, num_experts, ...]
    top_k: int | None = None         # experts per token [num_experts_per_tok]
    d_expert: int | None = None      # one routed expert's width [moe_intermediate_size]
    d_shared: int | None = None      # the shared expert's width, run on every token
    shared_gate: bool = False        # Qwen2-MoE: sigmoid(x @ shared_expert_gate) scales it
    router_scoring: str = "softmax"  # or "sigmoid" (DeepSeek-V3 [scoring_func])
    norm_topk_prob: bool = True      # the picked weights renormalised to sum to 1
    routed_scale: float | None = None  # DeepSeek-V3: the weights times routed_scaling_factor
    router_bias: bool = False        # DeepSeek-V3's e_score_correction_bias, for the choice
    n_groups: int | None = None      # DeepSeek-V3: experts in n_group groups, of which
    topk_groups: int | None = None   # ... the topk_group best are eligible
    moe_layers: tuple[int, ...] | None = None  # the MoE layers; None: all of them
    # the run's, not the model's: each expert takes a buffer of ceil(c·tokens·top_k/E) rows
    # (the first tokens routed to it; the rest dropped, the free rows zero); None: exactly
    # the tokens routed to it
    capacity_factor: Fraction | None = None
    # Multi-head latent attention (DeepSeek-V2/V3) when kv_lora_rank is set
    q_lora_rank: int | None = None   # None: one q_proj
    kv_lora_rank: int | None = None
    qk_nope_head_dim: int | None = None
    qk_rope_head_dim: int | None = None
    v_head_dim: int | None = None

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
        for field in ("window_layers", "moe_layers"):
            if getattr(self, field) is not None:
                object.__setattr__(self, field, tuple(getattr(self, field)))
                if not all(0 <= i < self.n_layer for i in getattr(self, field)):
                    raise ValueError(f"{field} must lie in [0, {self.n_layer})")
        self._check_experts()
        self._check_latent_attention()

    def _check_experts(self):
        if self.router_scoring not in ("softmax", "sigmoid"):
            raise ValueError(f"router_scoring must be softmax or sigmoid, "
                             f"got {self.router_scoring!r}")
        if self.n_experts is None:
            return
        if "router" not in WEIGHT_NAMES[self.family]:
            raise ValueError(f"the {self.family} family has no experts")
        if self.mlp != "gated" or self.fused_gate_up:
            raise ValueError("experts are gated MLPs with separate gate and up projections")
        if self.top_k is None or self.d_expert is None or not 1 <= self.top_k <= self.n_experts:
            raise ValueError("experts need d_expert and 1 <= top_k <= n_experts")
        if self.shared_gate and not self.d_shared:
            raise ValueError("shared_gate needs a shared expert (d_shared)")
        if (self.n_groups is None) != (self.topk_groups is None):
            raise ValueError("group-limited routing needs both n_groups and topk_groups")
        if self.n_groups is not None and (
                self.n_experts % self.n_groups or not 1 <= self.topk_groups <= self.n_groups
                or self.top_k > self.topk_groups * (self.n_experts // self.n_groups)):
            raise ValueError("n_groups must divide n_experts, and the topk_groups chosen "
                             "groups must hold top_k experts")

    def _check_latent_attention(self):
        if self.kv_lora_rank is None:
            return
        if "kv_a" not in WEIGHT_NAMES[self.family]:
            raise ValueError(f"the {self.family} family has no latent attention")
        if None in (self.qk_nope_head_dim, self.qk_rope_head_dim, self.v_head_dim):
            raise ValueError("latent attention needs qk_nope_head_dim, qk_rope_head_dim "
                             "and v_head_dim")
        if self.qk_rope_head_dim % 2:
            raise ValueError("qk_rope_head_dim must be even (rotary pairs)")
        if self.d_head != self.qk_nope_head_dim + self.qk_rope_head_dim:
            raise ValueError("latent attention's head_dim is qk_nope_head_dim + "
                             "qk_rope_head_dim")
        if self.kv_heads != self.n_head:
            raise ValueError("latent attention has as many K/V heads as heads")

    @classmethod
    def from_architecture(cls, arch) -> GPTConfig:
        """The config of an architecture description with the shared design's field names
        (d_model, n_layers, n_heads, n_kv_heads, d_head, d_ff, vocab, n_positions and the
        switches, the experts' and latent attention's fields, which GPTConfig names alike). Read by attribute, so no import ties this
        file to the analytical side. Gemma's (1 + w) RMSNorm goes with the gemma2 family."""
        switches = ("family", "fused_qkv", "activation", "qkv_bias", "o_bias", "mlp_bias",
                    "norm_bias", "mlp", "fused_gate_up", "norm", "qk_norm", "post_norms",
                    "parallel_residual", "positions", "rotary_dims", "embed_scale",
                    "attn_softcap", "final_softcap", "sliding_window", "window_layers",
                    "tied_lm_head")
        # a description without the experts' or latent attention's fields has neither
        switches += tuple(n for n in EXPERT_FIELDS + LATENT_FIELDS if hasattr(arch, n))
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
        if self.kv_lora_rank is not None:  # latent attention rotates the q_pe / k_pe part
            return self.qk_rope_head_dim or 0
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

    def is_moe(self, layer: int) -> bool:
        """Whether this layer's MLP is the mixture of experts (else the dense one of d_ff)."""
        return self.n_experts is not None and (self.moe_layers is None
                                               or layer in self.moe_layers)

    @property
    def latent(self) -> bool:
        """Whether attention is multi-head latent attention (DeepSeek-V2/V3)."""
        return self.kv_lora_rank is not None


EXPERT_FIELDS = ("n_experts", "top_k", "d_expert", "d_shared", "shared_gate",
                 "router_scoring", "norm_topk_prob", "routed_scale", "router_bias", "n_groups",
                 "topk_groups", "moe_layers")
LATENT_FIELDS = ("q_lora_rank", "kv_lora_rank", "qk_nope_head_dim", "qk_rope_head_dim",
                 "v_head_dim")


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
_MOE_NAMES = {"router": "mlp.gate", "router_bias": "mlp.gate.e_score_correction_bias",
              "expert": "mlp.experts.{}.", "expert_gate": "gate_proj", "expert_up": "up_proj",
              "expert_down": "down_proj", "shared": "mlp.shared_experts.",
              "shared_router": "mlp.shared_expert_gate"}
_MLA_NAMES = {"q_a": "self_attn.q_a_proj", "q_a_norm": "self_attn.q_a_layernorm",
              "q_b": "self_attn.q_b_proj", "kv_a": "self_attn.kv_a_proj_with_mqa",
              "kv_a_norm": "self_attn.kv_a_layernorm", "kv_b": "self_attn.kv_b_proj"}
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
    # The MoE families: an expert's tensors carry its index ({} in "experts.{}."). Every one
    # of them can take latent attention and a shared expert (DeepSeek's names, Mixtral's
    # shared expert in its style).
    "mixtral": {**_LLAMA_NAMES, **_MLA_NAMES, "router": "block_sparse_moe.gate",
                "expert": "block_sparse_moe.experts.{}.",
                "expert_gate": "w1", "expert_up": "w3", "expert_down": "w2",
                "shared": "block_sparse_moe.shared_expert.",
                "shared_router": "block_sparse_moe.shared_expert_gate",
                "router_bias": "block_sparse_moe.gate.e_score_correction_bias"},
    "qwen2_moe": {**_LLAMA_NAMES, **_MLA_NAMES, **_MOE_NAMES,
                  "shared": "mlp.shared_expert."},
    "deepseek_v3": {**_LLAMA_NAMES, **_MLA_NAMES, **_MOE_NAMES},
}


# ----------------------------------------------------------------------------- recording

# Each matmul's role, in the shared vocabulary of flopcalc's operations (the analytical
# side names its operations' roles the same way, so the two can be compared by role).
ROLES = {
    "qkv_proj": "attention.qkv", "q_proj": "attention.q", "k_proj": "attention.k",
    "v_proj": "attention.v", "scores": "attention.scores", "attn_values": "attention.values",
    "out_proj": "attention.o", "ffn_gate": "mlp.gate", "ffn_up": "mlp.up",
    "ffn_gate_up": "mlp.gate_up", "ffn_down": "mlp.down", "lm_head": "lm_head",
    # mixture of experts: the router, each routed expert (one record per expert that got
    # tokens, its rows the tokens routed to it), the shared expert and its gate
    "router": "mlp.router", "expert_gate": "mlp.expert.gate", "expert_up": "mlp.expert.up",
    "expert_down": "mlp.expert.down", "shared_gate": "mlp.shared.gate",
    "shared_up": "mlp.shared.up", "shared_down": "mlp.shared.down",
    "shared_router": "mlp.shared.router",
    # latent attention, and its absorbed decode form's two folded products
    "q_a_proj": "attention.q_a", "q_b_proj": "attention.q_b", "kv_a_proj": "attention.kv_a",
    "kv_b_proj": "attention.kv_b", "absorb_k": "attention.absorb_k",
    "absorb_v": "attention.absorb_v",
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
    matrix (k, n) is handed on as the one 2-D product it is, (B*L, k) @ (k, n): NumPy's
    loop over the stack ran the LM head's product of one token 1.5 times slower. Up to
    FEW_ROWS rows (decode steps of a small batch, an expert's few tokens) are
    ``rows_times_matrix``'s, more go to BLAS's sgemm. The same multiply-adds either way; the
    shapes recorded are those of a, b and the result.
    """
    if out is None and b.ndim == 2 and a.ndim >= 2 and a.flags.c_contiguous:
        k, n = b.shape
        rows = a.reshape(-1, k)
        if 1 <= len(rows) <= FEW_ROWS:
            out = rows_times_matrix(rows, b)
        else:
            out = np.matmul(rows, b)
        out = out.reshape(*a.shape[:-1], n)
    else:
        out = np.matmul(a, b, out=out)
    if recorder is not None:
        recorder.record(name, layer, a.shape, b.shape, out.shape)
    return out


FEW_ROWS = 8            # products of at most this many rows: rows_times_matrix's
ROWS_BLOCK_BYTES = 2**20  # (k, n) weights, 2 or 3 rows: w in blocks this size (in L2)
STORED_FEW_ROWS = 3       # ... and from 4 rows, sgemm
STREAMS = 4             # one row times an (n, k) array: its stored rows read as 4 streams
STORED_BLOCK_BYTES = 2**18  # ... 2 or 3 rows: the streams in blocks this size (in L2)


def rows_times_matrix(x, w):
    """x @ w for a few rows x (m, k) and a matrix w (k, n): decode steps' products.

    The time these take is the time memory takes to deliver w, if w is read once, in the
    order it is stored; OpenBLAS's sgemm does neither for a few rows (it copies w into its
    packed layout first, and the copy is read again: GPT-2's tied LM head at 3.6 GB/s for
    two rows, where one row reads it at 10-25). So:

    - a transposed view of an (n, k) array (every family's nn.Linear, the tied LM head):
      one row is ``stored_rows_dot``'s, 2 or 3 ``stored_rows_dots``' (its streams in
      blocks, each block times each row while it is in the cache: GPT-2's LM head at two
      rows 13 -> 10.6 ms on one core); more rows, each stored row dotted with the m rows of
      x while it is in the cache (np.vecdot broadcast over (n, m)). Up to 8 rows this beat
      sgemm (two rows at 70-80% of one row's speed, eight at 1.2x sgemm's);
    - a (k, n) array (GPT-2's Conv1Ds): one row by sgemv, which reads w as stored (17-21
      GB/s on one core of the benchmark machine, where einsum's weighted sum of w's rows
      read 12-13); 2 or 3 rows take w in blocks of ROWS_BLOCK_BYTES of stored rows, each
      block times each row of x by sgemv while it is in the cache (two rows 1.3-1.5x
      faster than sgemm); from 4 rows sgemm, whose copy then costs less than the extra
      passes over each block;
    - any other layout (a strided view): np.matmul.

    benchmarks/bench_reference.py measures decode at batch 1 and 2 against a memory copy.
    """
    m, (k, n) = len(x), w.shape
    if w.T.flags.c_contiguous and m == 1:
        return stored_rows_dot(w.T, x[0])[None]
    if w.T.flags.c_contiguous and m <= STORED_FEW_ROWS:
        return stored_rows_dots(w.T, x)
    if w.T.flags.c_contiguous and hasattr(np, "vecdot"):  # NumPy >= 2.0
        return np.vecdot(w.T[:, None, :], x[None, :, :]).T   # (n, m) computed, then (m, n)
    if not w.flags.c_contiguous or m > STORED_FEW_ROWS:
        return np.matmul(x, w)
    if m == 1:
        return np.matmul(x[0], w)[None]
    out = np.zeros((m, 1, n), np.result_type(x, w))
    step = max(1, ROWS_BLOCK_BYTES // (n * w.itemsize))
    for start in range(0, k, step):  # a stack of m (1, step) rows: each times the block by sgemv
        out += np.matmul(x[:, None, start:start + step], w[start:start + step])
    return out[:, 0]


def stored_rows_dot(rows, v):
    """rows @ v for a C-contiguous (n, k) array and a vector v (k,): the same n dot products
    as ``rows @ v``, the rows read as STREAMS streams n / STREAMS rows apart (a stack of
    (STREAMS, k) matrix-vector products, rows i, i + n/STREAMS, ... at a time), then the
    few rows left over.

    One sequential stream of rows (sgemv, or a dot per row) read GPT-2's tied LM head at
    13-15 GB/s on one core of the benchmark machine; four streams keep more reads from
    memory in flight and read it at 17-21, as fast as sgemv reads a (k, n) array (whose
    kernel reads four stored rows, n apart, at once).
    """
    n, k = rows.shape
    span = n // STREAMS
    out = np.empty(n, np.result_type(rows, v))
    streams = rows[:span * STREAMS].reshape(STREAMS, span, k).swapaxes(0, 1)
    # streams[i, s] is row s·span + i, so product (i, s) goes to out[s·span + i]
    out[:span * STREAMS].reshape(STREAMS, span).T[...] = np.matmul(streams, v)
    out[span * STREAMS:] = rows[span * STREAMS:] @ v
    return out


def stored_rows_dots(rows, x):
    """x @ rows.T for a C-contiguous (n, k) array and a few rows x (m, k): ``stored_rows_dot``
    for each row of x, its STREAMS streams taken in blocks of STORED_BLOCK_BYTES, each
    block times every row of x while it is in the cache (one np.matmul over the stack of
    blocks, rows and stream positions, in that order), then the rows left over."""
    (n, k), m = rows.shape, len(x)
    span = max(1, STORED_BLOCK_BYTES // (STREAMS * k * rows.itemsize))  # rows per stream
    size = STREAMS * span
    blocks = n // size
    out = np.empty((m, n), np.result_type(rows, x))
    streams = rows[:blocks * size].reshape(blocks, 1, STREAMS, span, k).swapaxes(2, 3)
    # products[b, r, i, s, 0] = stored row b·size + s·span + i times row r of x
    products = np.matmul(streams, x[None, :, None, :, None])
    out[:, :blocks * size].reshape(m, blocks, STREAMS, span)[...] = (
        products[..., 0].transpose(1, 0, 3, 2))
    out[:, blocks * size:] = x @ rows[blocks * size:].T
    return out


# ----------------------------------------------------------------------------- BLAS threads

LOADAVG = "/proc/loadavg"  # Linux: the 1-, 5- and 15-minute load, then runnable/all tasks
PRESSURE = "/proc/pressure/cpu"  # Linux PSI: "some avg10=…": % of the last 10 s some task
                                 # waited for a CPU
CONTENDED = 10.0   # PSI's avg10 from which the CPUs count as contended, %
NOW_SAMPLES = 5    # readings of the runnable tasks ...
NOW_INTERVAL = 0.002  # ... this many seconds apart


def busy_cores(path: str = LOADAVG, pressure: str = PRESSURE,
               samples: int = NOW_SAMPLES, interval: float = NOW_INTERVAL) -> float:
    """Cores that other work keeps busy: the tasks runnable now besides the one reading (the
    median of ``samples`` readings of /proc/loadavg ``interval`` seconds apart), or the
    one-minute load average if that is higher and the CPUs were contended lately.

    The average lags a minute behind: after work finishes it still counts it (a machine idle
    again read as busy: the test suite just run), and it misses work that has just started,
    which the count catches. So it counts only where PSI says some task waited for a CPU in
    CONTENDED % or more of the last 10 s (a machine shared by more runnable work than cores,
    where a second thread would wait for its core too), or where the kernel has no PSI.
    Without /proc/loadavg, os.getloadavg()'s one-minute figure; without either, 0 (idle).
    """
    try:
        counts = []
        for i in range(samples):
            if i:
                time.sleep(interval)
            with open(path) as f:
                fields = f.read().split()
            counts.append(int(fields[3].split("/")[0]) - 1)
        now = sorted(counts)[len(counts) // 2]
        average = float(fields[0])
    except (OSError, ValueError, IndexError):
        try:
            return os.getloadavg()[0]
        except (AttributeError, OSError):
            return 0.0
    try:
        with open(pressure) as f:
            some = f.readline().split()
        contended = float(some[1].removeprefix("avg10=")) >= CONTENDED
    except (OSError, ValueError, IndexError):
        contended = True  # no PSI: the average's hedge, as before PSI
    return max(average, now) if contended else now


def pass_threads(cores: int | None = None, load: float | None = None) -> int:
    """How many BLAS threads a pass should use: the cores the machine leaves idle (``cores``
    minus ``load``, by default ``busy_cores()``, rounded), at least one.

    Why (benchmarks/bench_reference.py measures both counts, interleaved, and says whether
    this picked the faster): each BLAS thread of a product waits at its end for the others,
    so a thread that loses its core to another process stalls the whole product. On the
    busy 2-core benchmark machine (load 6-15) two threads ran the dense GPT-2 pass 1.3-1.8
    times slower than one, and decode 2.3-3.7 times slower in wall time; on an idle one,
    every core adds arithmetic and memory bandwidth. The costs are uneven, so the rule
    leans to one thread where the machine is contended (``busy_cores`` then takes the
    busier of the load average and the tasks runnable now), but an idle machine is read
    as idle, whatever it ran a minute ago.
    """
    if cores is None:
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (
            os.cpu_count() or 1)
    if load is None:
        load = busy_cores()
    return max(1, min(cores, round(cores - load)))


def blas_threads(n: int):
    """A context manager in which NumPy's BLAS uses at most ``n`` threads (never more than it
    was started with: OPENBLAS_NUM_THREADS and the like still cap it)."""
    from threadpoolctl import threadpool_info, threadpool_limits

    started = max((lib["num_threads"] for lib in threadpool_info()
                   if lib["user_api"] == "blas"), default=n)
    return threadpool_limits(limits=min(n, started), user_api="blas")


@functools.lru_cache(maxsize=1)
def _blas_libraries():
    from threadpoolctl import ThreadpoolController

    return ThreadpoolController().select(user_api="blas").lib_controllers


def blas_thread_count() -> int:
    """The threads NumPy's BLAS may use now (as ``blas_threads`` or the environment set it);
    1 if no BLAS is found."""
    return max((lib.get_num_threads() for lib in _blas_libraries()), default=1)


def over_threads(work, array):
    """work(part) for ``array`` split along its first axis into as many parts as BLAS may
    use threads now, each part on a Python thread of its own.

    The dense pass's elementwise work (softmax, GELU) then takes the cores its matmuls take:
    NumPy's loops release the GIL. On one thread (a busy machine, see ``pass_threads``)
    work(array) runs here, in one piece.
    """
    n = min(blas_thread_count(), len(array))
    if n <= 1:
        work(array)
        return
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(n) as pool:
        list(pool.map(work, np.array_split(array, n)))


# ----------------------------------------------------------------------------- layers

def linear(recorder, name, layer, x, w, b=None, out=None):
    y = matmul(recorder, name, layer, x, w, out)
    if b is not None:
        y += b
    return y


def linear_weight(p, config, key):
    """The weight of the Linear at key as (in, out): GPT-2's Conv1D stores it so, every other
    family's nn.Linear as (out, in), whose transpose is a view BLAS reads as it is."""
    w = p[key + ".weight"]
    return w if config.family == "gpt2" else w.T


def project(p, config, key, recorder, name, layer, x, out=None):
    """x through the Linear at key (into out, if given): its weight, and its bias if the
    checkpoint has one."""
    return linear(recorder, name, layer, x, linear_weight(p, config, key), p.get(key + ".bias"),
                  out)


def mean_last(x):
    """The mean over x's last axis, kept as an axis of length 1: the sum over n, divided by n,
    as ndarray.mean computes it, without mean's Python wrapper (a decode step's 25 one-row
    norms of GPT-2 small spent about 0.4 ms in it)."""
    return np.add.reduce(x, -1, keepdims=True) / x.shape[-1]


def sum_of_squares_last(x):
    """The sum of x * x over x's last axis, kept as an axis of length 1, with no (x * x)
    temporary."""
    return np.einsum("...i,...i->...", x, x)[..., None]


def layer_norm(x, w, b=None, eps=1e-5, out=None):
    """(x - mean) / sqrt(variance + eps), times w, plus b (into out, if given)."""
    xc = np.subtract(x, mean_last(x), out=out)
    var = sum_of_squares_last(xc) / x.shape[-1]
    xc *= 1.0 / np.sqrt(var + eps)
    xc *= w
    if b is not None:
        xc += b
    return xc


def rms_norm(x, w, eps=1e-6, plus_one=False, out=None):
    """x / sqrt(mean(x^2) + eps), times w (Llama) or (1 + w) (Gemma), into out if given; no
    mean, no bias."""
    y = np.multiply(x, 1.0 / np.sqrt(sum_of_squares_last(x) / x.shape[-1] + eps), out=out)
    y *= (1.0 + w) if plus_one else w
    return y


def norm(p, config, key, x, out=None):
    """The config's norm (LayerNorm or RMSNorm) with the weights at key, over x's last axis
    (into out, if given)."""
    w = p[key + ".weight"]
    if config.norm == "rmsnorm":
        return rms_norm(x, w, config.norm_eps, config.norm_plus_one, out)
    return layer_norm(x, w, p.get(key + ".bias"), config.norm_eps, out)


def scratch(buffers, name, shape, dtype):
    """The array ``name`` of a dense pass's ``buffers`` (a dict): made by the first block that
    asks, reused by every later one, so that the blocks' big arrays are paged in once per
    pass, not once per block (freed, glibc hands a block's 27 MB back to the OS at GPT-2
    small, seq 1024, and the next block faults it in again: 36,000 page faults and
    0.1-0.3 s of kernel time a pass on the benchmark machine). None without buffers: the caller makes a fresh array."""
    if buffers is None:
        return None
    a = buffers.get(name)
    if a is None or a.shape != shape or a.dtype != dtype:
        a = buffers[name] = np.empty(shape, dtype)
    return a


GELU_ROWS = 32  # rows per step of gelu: its passes stay in the CPU cache


def gelu(x):
    """GELU, tanh approximation (as GPT-2), computed in place on x to spare copies.

    0.5 * x * (1 + tanh(u)), u = c * (x + 0.044715 * x^3), c = sqrt(2 / pi), is computed as
    x * sigmoid(2u) = x / (1 + exp(-2u)), the same function: NumPy's float32 tanh costs twice
    its exp, and no 0.5 pass. -2u is written as x * (-2c - 2c * 0.044715 * x^2) to save
    passes over the array. A contiguous x goes GELU_ROWS rows at a time (the same numbers:
    each element on its own), its rows split between the threads BLAS may use now.
    """
    if x.ndim > 1 and x.flags.c_contiguous:
        over_threads(_gelu_in_steps, x.reshape(-1, x.shape[-1]))
        return x
    return _gelu(x)


def _gelu_in_steps(rows):
    for start in range(0, rows.shape[0], GELU_ROWS):
        _gelu(rows[start:start + GELU_ROWS])


def _gelu(x):
    c = -2.0 * math.sqrt(2.0 / math.pi)
    t = x * x
    t *= c * 0.044715
    t += c
    t *= x  # -2u
    with np.errstate(over="ignore"):  # x << 0: exp(-2u) = inf, x / inf = -0, the limit
        np.exp(t, out=t)
    t += 1.0
    x /= t
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


def qkv_projection(p, prefix, config, layer, x, recorder, buffers=None):
    """q (B, h, L, d_head) and k, v (B, kv, L, d_head) of x (B, L, d)."""
    names = WEIGHT_NAMES[config.family]
    h, kv, dh = config.n_head, config.kv_heads, config.d_head
    rows = x.shape[:-1]
    if not config.fused_qkv:
        q, k, v = (project(p, config, prefix + names[t], recorder, f"{t}_proj", layer, x,
                           scratch(buffers, t, (*rows, heads * dh), x.dtype))
                   for t, heads in zip("qkv", (h, kv, kv)))
    else:
        qkv = project(p, config, prefix + names["qkv"], recorder, "qkv_proj", layer, x,
                      scratch(buffers, "qkv", (*rows, (h + 2 * kv) * dh), x.dtype))
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


def causal_self_attention(p, prefix, config, layer, x, recorder, cache=None, buffers=None):
    names = WEIGHT_NAMES[config.family]
    B, L, _ = x.shape
    q, k, v = qkv_projection(p, prefix, config, layer, x, recorder, buffers)
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
    scores = matmul(recorder, "scores", layer, q, k.swapaxes(-1, -2),
                    out=scratch(buffers, "scores", (B, config.n_head, L, L), x.dtype))
    if config.attn_softcap is not None:
        softcap(scores, config.attn_softcap)
    if cache is None:
        # Dense: all L x L scores were computed; hide the future ones (j > i), and those
        # before a window, from softmax.
        window = config.window(layer)
        mask = causal_mask(L, scores.dtype, window)
        over_threads(lambda heads: [masked_softmax(s, mask, window) for s in heads],
                     scores.reshape(-1, L, L))
    else:
        softmax(scores, out=scores)
    probs = scores
    # Merge heads for free: each head writes its (L, d_head) output straight into its
    # columns of y, so y (B, L, h, d_head) is already the (B, L, h * d_head) layout.
    shape = (B, L, config.n_head, config.d_head)
    y = scratch(buffers, "heads", shape, x.dtype)
    y = np.empty(shape, x.dtype) if y is None else y
    matmul(recorder, "attn_values", layer, probs, v, out=y.transpose(0, 2, 1, 3))
    y = y.reshape(B, L, config.n_head * config.d_head)
    return project(p, config, prefix + names["o"], recorder, "out_proj", layer, y,
                   scratch(buffers, "attn_out", x.shape, x.dtype))


class LatentCache:
    """What a latent-attention block keeps of each token (incremental decoding): its
    RMS-normed latent c_kv (kv_lora_rank) and its rotated shared key k_pe
    (qk_rope_head_dim), side by side, kv_lora_rank + qk_rope_head_dim values per token.

    ``absorbed`` picks the decode form run on it (see ``latent_attention``).
    """

    def __init__(self, batch, slots, width, dtype, absorbed=False):
        self.latent = np.empty((batch, slots, width), dtype)
        self.absorbed = absorbed
        self.length = 0  # tokens seen so far (the position of the next one)

    def append(self, latent):
        """Store this step's (B, 1, width) latent; return every cached one (B, T, width)."""
        self.latent[:, self.length:self.length + 1] = latent
        self.length += 1
        return self.latent[:, :self.length]


def latent_attention(p, prefix, config, layer, x, recorder, cache=None, buffers=None):
    """Multi-head latent attention (DeepSeek-V2/V3, Hugging Face's DeepseekV3Attention).

    Query: q_a_proj, q_a_layernorm, q_b_proj (or one q_proj), per head a q_nope
    (qk_nope_head_dim) and a q_pe (qk_rope_head_dim). Keys and values: kv_a_proj_with_mqa
    gives each token a latent c_kv (kv_lora_rank, then kv_a_layernorm) and one k_pe shared
    by every head; q_pe and k_pe are rotated. The softmax scale is qk_head_dim^-1/2,
    qk_head_dim = qk_nope_head_dim + qk_rope_head_dim (Hugging Face multiplies it by YaRN's
    mscale^2 when rope_scaling says so, YaRN changes the rotary frequencies, and
    rope_interleave first regroups each rotary part's interleaved pairs into halves: none
    of them changes a count, and none is modelled).

    Naive form (every full pass, and decoding by default): kv_b_proj expands the latent of
    all T keys to each head's k_nope (qk_nope_head_dim) and value (v_head_dim); scores are
    [q_nope, q_pe] · [k_nope, k_pe]. Absorbed form (the decode steps of a LatentCache with
    ``absorbed``, after its first token, which is a prefill):
    kv_b_proj's key half W_UK is folded into the query, q_nope · W_UK (kv_lora_rank per
    head), so the scores are [q_nope W_UK, q_pe] · [c_kv, k_pe] against the cache itself,
    the values are c_kv, and the value half W_UV maps each head's output to v_head_dim
    afterwards; kv_b_proj never runs on the cache. Both forms compute the same function.
    """
    names = WEIGHT_NAMES[config.family]
    c = config
    B, L, _ = x.shape
    h, d_nope, d_rope = c.n_head, c.qk_nope_head_dim, c.qk_rope_head_dim
    d_v, rank = c.v_head_dim, c.kv_lora_rank
    if c.q_lora_rank is None:
        q = project(p, c, prefix + names["q"], recorder, "q_proj", layer, x)
    else:
        q = project(p, c, prefix + names["q_a"], recorder, "q_a_proj", layer, x)
        q = norm(p, c, prefix + names["q_a_norm"], q)
        q = project(p, c, prefix + names["q_b"], recorder, "q_b_proj", layer, q)
    q = split_heads(q, h)  # (B, h, L, d_nope + d_rope)
    latent = project(p, c, prefix + names["kv_a"], recorder, "kv_a_proj", layer, x)
    latent[..., :rank] = norm(p, c, prefix + names["kv_a_norm"], latent[..., :rank])
    cos, sin = rotary_tables(0 if cache is None else cache.length, L, d_rope, c.rope_theta,
                             x.dtype)
    q_pe = rotary(q[..., d_nope:], cos, sin)
    latent[..., rank:] = rotary(latent[:, None, :, rank:], cos, sin)[:, 0]
    # the first token is the prompt's prefill, naive as every prefill; the absorbed form
    # serves the decode steps after it
    absorbed = cache is not None and cache.absorbed and cache.length > 0
    if cache is not None:
        latent = cache.append(latent)  # (B, T, rank + d_rope): every token seen so far
    T = latent.shape[1]
    if absorbed:
        w = p[prefix + names["kv_b"] + ".weight"].reshape(h, d_nope + d_v, rank)
        q_latent = matmul(recorder, "absorb_k", layer, q[..., :d_nope], w[:, :d_nope])
        q = np.concatenate([q_latent, q_pe], axis=-1)
        # one key per token for all heads: the cached [c_kv, k_pe] as a single key head
        # (B, 1, T, rank + d_rope), which the matmuls broadcast over the h query heads
        k = latent[:, None]
        v = k[..., :rank]
    else:
        kv = project(p, c, prefix + names["kv_b"], recorder, "kv_b_proj", layer,
                     latent[..., :rank])
        kv = split_heads(kv, h)  # (B, h, T, d_nope + d_v)
        k_pe = np.broadcast_to(latent[:, None, :, rank:], (B, h, T, d_rope))
        k = np.concatenate([kv[..., :d_nope], k_pe], axis=-1)
        v = kv[..., d_nope:]
        q = np.concatenate([q[..., :d_nope], q_pe], axis=-1)
    q *= (d_nope + d_rope) ** -0.5
    scores = matmul(recorder, "scores", layer, q, k.swapaxes(-1, -2),
                    out=scratch(buffers, "scores", (B, h, L, T), x.dtype))
    if cache is None:  # all L x L scores: hide the future ones, one head at a time
        mask = causal_mask(L, scores.dtype)
        over_threads(lambda heads: [masked_softmax(s, mask) for s in heads],
                     scores.reshape(-1, L, L))
    else:
        softmax(scores, out=scores)
    y = matmul(recorder, "attn_values", layer, scores, v)  # (B, h, L, d_v or rank)
    if absorbed:
        y = matmul(recorder, "absorb_v", layer, y, w[:, d_nope:].swapaxes(-1, -2))
    y = y.transpose(0, 2, 1, 3).reshape(B, L, h * d_v)
    return project(p, c, prefix + names["o"], recorder, "out_proj", layer, y)


def mlp(p, prefix, layer, x, recorder, config, buffers=None):
    """down(act(up x)): GPT-2's c_fc and c_proj, GPT-NeoX's dense_h_to_4h and dense_4h_to_h."""
    names = WEIGHT_NAMES[config.family]
    h = project(p, config, prefix + names["up"], recorder, "ffn_up", layer, x,
                scratch(buffers, "up", (*x.shape[:-1], config.d_ff), x.dtype))
    return project(p, config, prefix + names["down"], recorder, "ffn_down", layer,
                   ACTIVATIONS[config.activation](h), scratch(buffers, "down", x.shape, x.dtype))


def gated_mlp(p, prefix, layer, x, recorder, config, names=None, kind="ffn", buffers=None):
    """down(act(gate x) * up x): SwiGLU (silu), GeGLU (gelu_tanh); Phi-3 fuses gate and up
    into one gate_up_proj whose first d_ff outputs are the gate.

    The same MLP is each expert of a mixture: ``names`` then maps gate/up/down to that
    expert's Linears (default: the family's dense MLP), and ``kind`` (ffn, expert, shared)
    starts the records' names."""
    names = names or WEIGHT_NAMES[config.family]
    rows, d_ff = x.shape[:-1], config.d_ff
    if config.fused_gate_up:
        gate_up = project(p, config, prefix + names["gate_up"], recorder, f"{kind}_gate_up",
                          layer, x, scratch(buffers, "gate_up", (*rows, 2 * d_ff), x.dtype))
        gate, up = np.split(gate_up, 2, axis=-1)
    else:
        gate = project(p, config, prefix + names["gate"], recorder, f"{kind}_gate", layer, x,
                       scratch(buffers, "gate", (*rows, d_ff), x.dtype))
        up = project(p, config, prefix + names["up"], recorder, f"{kind}_up", layer, x,
                     scratch(buffers, "up", (*rows, d_ff), x.dtype))
    h = ACTIVATIONS[config.activation](gate)
    h *= up
    return project(p, config, prefix + names["down"], recorder, f"{kind}_down", layer, h,
                   scratch(buffers, "down", x.shape, x.dtype))


# ----------------------------------------------------------------------------- experts

def sigmoid(x):
    """1 / (1 + exp(-x)), in place on x."""
    np.negative(x, out=x)
    with np.errstate(over="ignore"):  # x << 0: exp(-x) = inf, 1 / inf = 0, the limit
        np.exp(x, out=x)
    x += 1.0
    return np.reciprocal(x, out=x)


def route(scores, config, correction=None):
    """The top_k experts (T, top_k) of each of T tokens, best first, from its scores (T, E).

    DeepSeek-V3 chooses on the scores plus ``correction`` (e_score_correction_bias), and
    only among the topk_groups of its n_groups groups of experts whose two best scores sum
    highest; as Hugging Face, the other groups' scores are set to 0, not to -inf. The
    correction decides the choice only: the weights are the scores themselves.
    """
    choice = scores if correction is None else scores + correction
    if config.n_groups is not None:
        T, E = choice.shape
        G = config.n_groups
        best_two = np.sort(choice.reshape(T, G, E // G), axis=-1)[..., -2:].sum(-1)
        kept = np.argsort(-best_two, axis=-1, kind="stable")[:, :config.topk_groups]
        eligible = np.zeros((T, G), bool)
        np.put_along_axis(eligible, kept, True, axis=-1)
        choice = np.where(np.repeat(eligible, E // G, axis=1), choice, 0.0)
    return np.argsort(-choice, axis=-1, kind="stable")[:, :config.top_k]


def moe_mlp(p, prefix, layer, x, recorder, config):
    """A mixture of experts on x (B, L, d): route each token to top_k gated-MLP experts,
    run each expert on exactly the tokens routed to it, and add up their outputs weighted
    by the router; then the shared expert on every token (Qwen2-MoE: scaled by
    sigmoid(x @ shared_expert_gate)), added.

    Scores: softmax over the experts (Mixtral, Qwen2-MoE) or each expert's sigmoid
    (DeepSeek-V3). The picked weights are renormalised to sum to 1 if norm_topk_prob (the
    sigmoid's with DeepSeek's 1e-20 in the denominator) and multiplied by routed_scale.
    Each expert's three matmuls are recorded with its own row count; an expert no token
    picked does no work and records nothing. With a ``capacity_factor`` c each expert runs
    on a buffer of ceil(c·T·top_k/E) rows of the T tokens: the first routed to it (the
    others dropped from it), then zero rows; every expert runs, routed to or not.
    """
    names = WEIGHT_NAMES[config.family]
    B, L, d = x.shape
    tokens = x.reshape(B * L, d)  # a view: the experts take rows of it
    logits = project(p, config, prefix + names["router"], recorder, "router", layer, x)
    logits = logits.reshape(B * L, config.n_experts)
    sigmoid_scores = config.router_scoring == "sigmoid"
    scores = sigmoid(logits) if sigmoid_scores else softmax(logits, out=logits)
    correction = p[prefix + names["router_bias"]] if config.router_bias else None
    chosen = route(scores, config, correction)
    weights = np.take_along_axis(scores, chosen, axis=-1)
    if config.norm_topk_prob:
        weights /= weights.sum(-1, keepdims=True) + (1e-20 if sigmoid_scores else 0.0)
    if config.routed_scale is not None:
        weights *= config.routed_scale
    out = np.zeros_like(tokens)
    c = config.capacity_factor
    if c is not None:  # every expert's buffer: ceil(c · T · top_k / E) rows
        capacity = -(-(c.numerator * B * L * config.top_k) // (c.denominator * config.n_experts))
    for e in range(config.n_experts):
        rows, slots = np.nonzero(chosen == e)  # the tokens that picked e, and as which pick
        if c is None and rows.size == 0:
            continue
        expert = {part: names["expert"].format(e) + names["expert_" + part]
                  for part in ("gate", "up", "down")}
        if c is None:
            x_e = tokens[rows]
        else:  # the first tokens up to the capacity, zero rows after them
            rows, slots = rows[:capacity], slots[:capacity]
            x_e = np.zeros((capacity, d), tokens.dtype)
            x_e[:rows.size] = tokens[rows]
        y = gated_mlp(p, prefix, layer, x_e, recorder, config, expert, "expert")[:rows.size]
        y *= weights[rows, slots, None]
        out[rows] += y  # a token picks an expert at most once: the rows are distinct
    if config.d_shared:
        shared = {part: names["shared"] + names["expert_" + part]
                  for part in ("gate", "up", "down")}
        y = gated_mlp(p, prefix, layer, x, recorder, config, shared, "shared")
        if config.shared_gate:
            y *= sigmoid(project(p, config, prefix + names["shared_router"], recorder,
                                 "shared_router", layer, x))
        out += y.reshape(B * L, d)
    return out.reshape(B, L, d)


def block(p, config, layer, x, recorder, cache=None, buffers=None):
    """Pre-norm transformer block; updates the residual stream x in place.

    x += attn(norm1 x), then x += mlp(norm2 x); GPT-NeoX's parallel residual takes both
    norms of the block's input, x += attn(norm1 x) + mlp(norm2 x); Gemma-2 norms each
    sub-layer's output too before adding it (post norms). ``buffers``: the dense pass's
    arrays reused from block to block (see ``scratch``).
    """
    names = WEIGHT_NAMES[config.family]
    pre = names["block"].format(layer)
    h = norm(p, config, pre + names["attn_norm"], x, scratch(buffers, "norm", x.shape, x.dtype))
    attention = latent_attention if config.latent else causal_self_attention
    a = attention(p, pre, config, layer, h, recorder, cache, buffers)
    if config.post_norms:
        a = norm(p, config, pre + names["attn_post_norm"], a)
    if not config.parallel_residual:
        x += a
    h = norm(p, config, pre + names["mlp_norm"], x, scratch(buffers, "norm", x.shape, x.dtype))
    if config.is_moe(layer):  # the experts' arrays differ in rows: fresh ones
        m = moe_mlp(p, pre, layer, h, recorder, config)
    else:
        feed_forward = gated_mlp if config.mlp == "gated" else mlp
        m = feed_forward(p, pre, layer, h, recorder, config=config, buffers=buffers)
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

    def add_gated_mlp(pre, d_ff):  # an expert's: separate gate, up and down
        add_linear(pre + names["expert_gate"], c.n_embd, d_ff, c.has_bias("mlp"))
        add_linear(pre + names["expert_up"], c.n_embd, d_ff, c.has_bias("mlp"))
        add_linear(pre + names["expert_down"], d_ff, c.n_embd, c.has_bias("mlp"), residual_std)

    def add_experts(pre):
        # Hugging Face stores the router as a bias-free Linear and DeepSeek's correction
        # bias as a (n_experts,) buffer starting at zero
        add_linear(pre + names["router"], c.n_embd, c.n_experts, False)
        if c.router_bias:
            p[pre + names["router_bias"]] = np.zeros(c.n_experts, dtype)
        for e in range(c.n_experts):
            add_gated_mlp(pre + names["expert"].format(e), c.d_expert)
        if c.d_shared:
            add_gated_mlp(pre + names["shared"], c.d_shared)
            if c.shared_gate:
                add_linear(pre + names["shared_router"], c.n_embd, 1, False)

    def add_latent_attention(pre):
        # as DeepseekV3Attention: attention_bias on q_a_proj, kv_a_proj_with_mqa and o_proj
        d_qk, rank = c.qk_nope_head_dim + c.qk_rope_head_dim, c.kv_lora_rank
        if c.q_lora_rank is None:
            add_linear(pre + names["q"], c.n_embd, h * d_qk, False)
        else:
            add_linear(pre + names["q_a"], c.n_embd, c.q_lora_rank, c.has_bias("qkv"))
            add_norm(pre + names["q_a_norm"], c.q_lora_rank)
            add_linear(pre + names["q_b"], c.q_lora_rank, h * d_qk, False)
        add_linear(pre + names["kv_a"], c.n_embd, rank + c.qk_rope_head_dim, c.has_bias("qkv"))
        add_norm(pre + names["kv_a_norm"], rank)
        add_linear(pre + names["kv_b"], rank, h * (c.qk_nope_head_dim + c.v_head_dim), False)
        add_linear(pre + names["o"], h * c.v_head_dim, c.n_embd, c.has_bias("o"), residual_std)

    for i in range(c.n_layer):
        pre = names["block"].format(i)
        add_norm(pre + names["attn_norm"])
        if c.latent:
            add_latent_attention(pre)
        elif c.fused_qkv:
            add_linear(pre + names["qkv"], c.n_embd, (h + 2 * kv) * dh, c.has_bias("qkv"))
        else:
            for t, heads in zip("qkv", (h, kv, kv)):
                add_linear(pre + names[t], c.n_embd, heads * dh, c.has_bias("qkv"))
        if c.qk_norm:
            add_norm(pre + names["q_norm"], dh)
            add_norm(pre + names["k_norm"], dh)
        if not c.latent:
            add_linear(pre + names["o"], h * dh, c.n_embd, c.has_bias("o"), residual_std)
        if c.post_norms:
            add_norm(pre + names["attn_post_norm"])
        add_norm(pre + names["mlp_norm"])
        if c.is_moe(i):
            add_experts(pre)
        else:
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
    # One set of arrays (the (B, h, L, L) scores, the projections' outputs, ...) serves
    # every layer: fresh ones per layer would be new memory for the OS to page in each time.
    buffers = {}
    for layer in range(config.n_layer):
        x = block(params, config, layer, x, recorder, buffers=buffers)
    del buffers  # freed before the head allocates its (B, L, V) logits
    return lm_head(params, config, x, recorder)


MLA_DECODE = ("naive", "absorbed")


def forward_incremental(params, config, idx, recorder=None, mla_decode="naive"):
    """Logits (B, L, V) computed token by token with a KV cache, as in generation.

    A windowed layer's cache keeps only the last W tokens' keys and values; a latent-
    attention layer's keeps each token's latent. The first token is a one-token prefill,
    naive; each later one a decode step in the ``mla_decode`` form (naive or absorbed, see
    ``latent_attention``), as flopcalc counts a generation of a one-token prompt.

    Where BLAS may use several threads, the sequences of a batch are decoded in as many
    threads (consecutive groups of them, each with its own caches, BLAS on one thread
    each), unless a recorder notes the products (their shapes are the whole batch's) or a
    capacity factor ties the sequences' experts together. Why not BLAS's own threads for
    a batch: its products of a few rows read the weights on one thread (np.vecdot, the
    blocks of ``rows_times_matrix``), and handing each product's share to a thread costs
    more than the share (a wake-up took 120-140 us on the benchmark machine); a group per
    thread hands over twice per pass, and each thread reads the weights at one row's
    speed.
    """
    idx = _check_idx(config, idx)
    if mla_decode not in MLA_DECODE:
        raise ValueError(f"mla_decode must be naive or absorbed, got {mla_decode!r}")
    B, L = idx.shape
    dtype = params[WEIGHT_NAMES[config.family]["tokens"] + ".weight"].dtype
    logits = np.empty((B, L, config.vocab_size), dtype)
    groups = 1 if recorder is not None or config.capacity_factor is not None else (
        min(B, blas_thread_count()))
    if groups <= 1:
        decode(params, config, idx, logits, recorder, mla_decode)
        return logits
    from concurrent.futures import ThreadPoolExecutor

    cuts = [i * B // groups for i in range(groups + 1)]
    with blas_threads(1), ThreadPoolExecutor(groups - 1) as pool:
        others = [pool.submit(decode, params, config, idx[lo:hi], logits[lo:hi], None,
                              mla_decode) for lo, hi in zip(cuts[1:-1], cuts[2:])]
        decode(params, config, idx[:cuts[1]], logits[:cuts[1]], None, mla_decode)
        for other in others:
            other.result()
    return logits


def decode(params, config, idx, logits, recorder=None, mla_decode="naive"):
    """``forward_incremental``'s pass on this thread: the logits of idx (B, L) into
    ``logits`` (B, L, V)."""
    B, L = idx.shape
    dtype = logits.dtype
    if config.latent:
        caches = [LatentCache(B, L, config.kv_lora_rank + config.qk_rope_head_dim, dtype,
                              absorbed=mla_decode == "absorbed")
                  for _ in range(config.n_layer)]
    else:
        caches = [KVCache(B, config.kv_heads, min(L, config.window(layer) or L),
                          config.d_head, dtype) for layer in range(config.n_layer)]
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
    the attention's arrays (q, k, v, their rotated and repeated copies, the output) and the
    MLP's (B, L, d_ff) arrays (up's output, and gate's when gated, plus the activation's
    temporaries: one, three for the exact GELU) together (the dense pass keeps its arrays
    from block to block, see ``scratch``); the head holds the (B, L, V) logits.
    forward_incremental(): no (B, h, L, L) scores and no mask, but the KV caches (a K and a V
    of (B, kv, slots, d_head) per block, slots = min(L, W) in a windowed one) and the whole
    (B, L, V) logits live throughout, plus one step's arrays: its (B, h, 1, <= L) scores and
    (B, 1, d_ff) MLP arrays, or its (B, 1, V) logits. An MoE layer holds every expert's
    weights, the router's (B·L, n_experts) scores and one expert's arrays at a time; a
    latent-attention layer caches kv_lora_rank + qk_rope_head_dim values per token, and a
    naive decode step expands all of them through kv_b_proj. Not included: the interpreter, NumPy
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
    # MoE layers: the router, every expert and the shared one (and its gate) instead of
    # the dense MLP; per token, its (E) scores, its (d) output and the largest expert's arrays
    n_moe = 0 if c.n_experts is None else (c.n_layer if c.moe_layers is None
                                           else len(c.moe_layers))
    E, shared = c.n_experts or 0, c.d_shared or 0
    moe_params = (d * E + E + E * (3 * d * (c.d_expert or 0) + 2 * (c.d_expert or 0) + d)
                  + (3 * d * shared + 2 * shared + 2 * d if shared else 0))
    dense_params = (mlp_mats - 1) * d * f + f * d + (mlp_mats - 1) * f + d
    per_token_mlp = max(mlp_arrays * f, (E + d + mlp_arrays * max(c.d_expert or 0, shared))
                        if n_moe else 0)
    if c.latent:  # q (through q_lora_rank), kv_a, kv_b, o; every bias and norm counted
        rq, rank, dr = c.q_lora_rank, c.kv_lora_rank, c.qk_rope_head_dim
        kv_width = h * (c.qk_nope_head_dim + c.v_head_dim)
        attn_params = (d * h * dh if rq is None else d * rq + 2 * rq + rq * h * dh)
        attn_params += (d + 1) * (rank + dr) + rank + rank * kv_width + h * c.v_head_dim * d + d
    else:
        attn_params = (h + 2 * kv) * dh * (d + 1) + h * dh * d + d
    n_params += (c.n_layer * (attn_params + 8 * d + 4 * dh) + (c.n_layer - n_moe) * dense_params
                 + n_moe * moe_params)
    live = 4 * B * L * d
    q_k_v = B * L * (h + 2 * kv) * dh
    # counted, not looped over: n_layer may be any size (verify refuses what cannot fit)
    W = c.sliding_window
    windowed = 0 if W is None else (c.n_layer if c.window_layers is None
                                    else len(c.window_layers))
    if incremental:
        if c.latent:  # the latents; a step expands all L of them (naive) and copies K
            caches = B * (rank + dr) * L * c.n_layer
            expanded = B * L * (kv_width + h * dh)
        else:
            caches = 2 * B * kv * dh * (windowed * min(L, W or L) + (c.n_layer - windowed) * L)
            expanded = 0
        step = max(B * h * L + 4 * B * d + max(per_token_mlp * B, expanded), B * V + 2 * B * d)
        return (n_params + caches + B * L * V + step) * item
    if c.latent:  # q, its copy, the latent, kv_b's output, K, the heads' output y
        attention = B * L * (2 * h * dh + rank + dr + kv_width + h * dh + h * c.v_head_dim)
    else:
        attention = q_k_v + B * L * h * dh  # the projections' outputs, the heads' output y
        if c.positions == "rotary":
            attention += 2 * B * L * (h + kv) * dh  # rotated q, k and rotate_half's temporary
        if kv != h:
            attention += 2 * B * L * h * dh  # K and V repeated to the query heads
    masks = L * L * ((windowed > 0) + (windowed < c.n_layer))  # one per kind of layer
    blocks = B * h * L * L + masks + attention + per_token_mlp * B * L
    head = B * L * V
    return (n_params + live + max(blocks, head)) * item
