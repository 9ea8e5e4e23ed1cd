"""What a model is (``Architecture``) and what it runs on (``Workload``), kept apart.

An Architecture holds sizes and switches only, no batch and no tokens: parameters are a
function of it alone. Pure data: no sympy, no numpy.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace

from .config import FlopcalcError, check_dimension
from .model import ACTIVATIONS, Dims

FAMILIES = ("gpt2", "llama", "mistral", "qwen2", "qwen3", "gemma2", "phi3", "gpt_neox")
MLPS = ("plain", "gated")
NORMS = ("layernorm", "rmsnorm")
POSITIONS = ("learned", "rotary")

_SIZES = ("d_model", "n_layers", "n_heads", "n_kv_heads", "d_head", "d_ff", "vocab",
          "n_positions", "rotary_dims", "sliding_window")


class ArchitectureError(FlopcalcError):
    """A bad architecture: its message is one line, fit to show a user as it is."""


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


@dataclass(frozen=True)
class Architecture:
    """A decoder-only transformer, as data.

    The defaults are GPT-2 small. ``n_kv_heads`` of None means ``n_heads`` (multi-head
    attention); ``d_head`` of None means ``d_model // n_heads`` (then n_heads must divide
    d_model); ``d_ff`` of None means ``4 * d_model``; ``rotary_dims`` of None means the
    whole head when positions are rotary. ``sliding_window`` W applies to the layers in
    ``window_layers`` (None: every layer).
    """

    family: str = "gpt2"
    d_model: int = 768
    n_layers: int = 12
    n_heads: int = 12
    n_kv_heads: int | None = None
    d_head: int | None = None
    d_ff: int | None = None
    vocab: int = 50257
    n_positions: int = 1024
    mlp: str = "plain"
    activation: str = "gelu_tanh"
    norm: str = "layernorm"
    positions: str = "learned"
    rotary_dims: int | None = None
    qkv_bias: bool = True
    o_bias: bool = True
    mlp_bias: bool = True
    norm_bias: bool = True
    fused_qkv: bool = True
    fused_gate_up: bool = False
    qk_norm: bool = False
    post_norms: bool = False
    parallel_residual: bool = False
    embed_scale: bool = False
    attn_softcap: float | None = None
    final_softcap: float | None = None
    tied_lm_head: bool = True
    sliding_window: int | None = None
    window_layers: tuple[int, ...] | None = None

    def __post_init__(self) -> None:
        if self.family not in FAMILIES:
            raise ArchitectureError(f"unknown family {self.family!r}; choose one of "
                                    f"{', '.join(FAMILIES)}")
        for name, allowed in (("mlp", MLPS), ("norm", NORMS), ("positions", POSITIONS),
                              ("activation", tuple(ACTIVATIONS))):
            if getattr(self, name) not in allowed:
                raise ArchitectureError(f"{name} must be one of {', '.join(allowed)}, got "
                                        f"{getattr(self, name)!r}")
        for name in _SIZES:
            value = getattr(self, name)
            if value is None and name not in ("d_model", "n_layers", "n_heads", "vocab",
                                              "n_positions"):
                continue
            check_dimension(name, value, 4 if name == "d_ff" else 1)
        if self.d_head is None:
            if self.d_model % self.n_heads:
                raise ArchitectureError(
                    f"n_heads ({self.n_heads}) must divide d_model ({self.d_model}) evenly "
                    f"(or give d_head)")
            object.__setattr__(self, "d_head", self.d_model // self.n_heads)
        if self.n_kv_heads is None:
            object.__setattr__(self, "n_kv_heads", self.n_heads)
        if self.n_heads % self.n_kv_heads:
            raise ArchitectureError(f"n_kv_heads ({self.n_kv_heads}) must divide n_heads "
                                    f"({self.n_heads}) evenly")
        if self.d_ff is None:
            object.__setattr__(self, "d_ff", 4 * self.d_model)
        if self.positions == "rotary":
            if self.rotary_dims is None:
                object.__setattr__(self, "rotary_dims", self.d_head)
            if self.rotary_dims > self.d_head or self.rotary_dims % 2:
                raise ArchitectureError(f"rotary_dims ({self.rotary_dims}) must be even and at "
                                        f"most d_head ({self.d_head})")
        elif self.rotary_dims is not None:
            raise ArchitectureError("rotary_dims applies to rotary positions only")
        if self.fused_gate_up and self.mlp != "gated":
            raise ArchitectureError("a fused gate_up projection needs a gated MLP")
        if self.window_layers is not None:
            if self.sliding_window is None:
                raise ArchitectureError("window_layers needs a sliding_window")
            layers = tuple(sorted(set(self.window_layers)))
            if any(not _is_int(i) or not 0 <= i < self.n_layers for i in layers):
                raise ArchitectureError(f"window_layers must be layer indices 0 … "
                                        f"{self.n_layers - 1}")
            object.__setattr__(self, "window_layers", layers)

    @property
    def n_windowed(self) -> int:
        """How many layers use the sliding window."""
        if self.sliding_window is None:
            return 0
        return self.n_layers if self.window_layers is None else len(self.window_layers)

    @property
    def activation_cost(self) -> str:
        """The activation's key in the cost table."""
        return ACTIVATIONS[self.activation][1]

    def with_(self, **changes) -> Architecture:
        """A copy with some fields changed; derived sizes given as None are derived again."""
        return replace(self, **changes)

    def as_dict(self) -> dict:
        out = asdict(self)
        if out["window_layers"] is not None:
            out["window_layers"] = list(out["window_layers"])
        return out

    def dims(self, batch: int = 1, seq_len: int = 1, kv_len: int | None = None) -> Dims:
        """The sizes of a pass of ``seq_len`` tokens (after ``kv_len - seq_len`` cached ones)."""
        return Dims(batch=batch, seq_len=seq_len, d_model=self.d_model, n_heads=self.n_heads,
                    d_head=self.d_head, d_ff=self.d_ff, n_layers=self.n_layers,
                    vocab=self.vocab, n_positions=self.n_positions, kv_len=kv_len,
                    n_kv_heads=self.n_kv_heads, rotary_dims=self.rotary_dims,
                    window=self.sliding_window, n_windowed=self.n_windowed)

    def describe(self) -> str:
        """One line of the sizes and of every switch that differs from plain GPT-2."""
        heads = f"n_heads={self.n_heads}"
        if self.n_kv_heads != self.n_heads:
            heads += f", n_kv_heads={self.n_kv_heads}"
        parts = [f"family={self.family}", f"d_model={self.d_model}", f"{heads} "
                 f"(d_head={self.d_head})", f"n_layers={self.n_layers}", f"d_ff={self.d_ff}",
                 f"vocab={self.vocab}", f"n_positions={self.n_positions}"]
        parts.append(f"{self.mlp} MLP ({self.activation})")
        parts.append(self.norm)
        parts.append("rotary positions" + (f" ({self.rotary_dims} of {self.d_head} dims)"
                                           if self.rotary_dims != self.d_head else "")
                     if self.positions == "rotary" else "learned positions")
        if self.sliding_window is not None:
            parts.append(f"sliding window {self.sliding_window} on {self.n_windowed} of "
                         f"{self.n_layers} layers")
        switches = [("QKV fused" if self.fused_qkv else "QKV separate"),
                    *(["gate_up fused"] if self.fused_gate_up else []),
                    *(["q/k norms"] if self.qk_norm else []),
                    *(["post-norms"] if self.post_norms else []),
                    *(["parallel residual"] if self.parallel_residual else []),
                    *(["embedding × √d_model"] if self.embed_scale else []),
                    *(["attention soft-cap"] if self.attn_softcap is not None else []),
                    *(["logit soft-cap"] if self.final_softcap is not None else []),
                    "tied LM head" if self.tied_lm_head else "untied LM head"]
        biases = [n for n, on in (("qkv", self.qkv_bias), ("o", self.o_bias),
                                  ("mlp", self.mlp_bias), ("norm", self.norm_bias)) if on]
        switches.append(f"bias: {', '.join(biases)}" if biases else "no bias")
        return ", ".join(parts + switches)


@dataclass(frozen=True)
class Workload:
    """What an architecture runs on: ``batch`` sequences of ``seq_len`` tokens."""

    batch: int = 1
    seq_len: int = 128

    def __post_init__(self) -> None:
        for f in fields(self):
            check_dimension(f.name, getattr(self, f.name))

    def check(self, arch: Architecture, last_position: int = 0) -> None:
        """Learned positions end at n_positions: a longer sequence has no embedding (rotary
        positions have no table, so no end)."""
        if arch.positions != "learned":
            return
        if self.seq_len > arch.n_positions:
            raise ArchitectureError(
                f"seq_len ({self.seq_len}) exceeds n_positions ({arch.n_positions}): GPT-2 has "
                f"no position embedding beyond {arch.n_positions}; lower --seq-len or raise "
                f"--n-positions")
        if last_position > arch.n_positions:
            raise ArchitectureError(f"the last position ({last_position}) exceeds n_positions "
                                    f"({arch.n_positions}); GPT-2 has no position embedding "
                                    f"beyond it")
