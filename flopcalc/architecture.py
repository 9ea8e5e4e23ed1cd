"""What a model is (``Architecture``) and what it runs on (``Workload``), kept apart.

An Architecture holds sizes and switches only, no batch and no tokens: parameters are a
function of it alone. Pure data: no sympy, no numpy.
"""

from dataclasses import asdict, fields, replace
from fractions import Fraction

from .config import FlopcalcError, check_dimension
from .model import ACTIVATIONS, Dims
from .records import record

FAMILIES = ("gpt2", "llama", "mistral", "qwen2", "qwen3", "gemma2", "phi3", "gpt_neox",
            "mixtral", "qwen2_moe", "deepseek_v3")
MOE_FAMILIES = ("mixtral", "qwen2_moe", "deepseek_v3")   # the families with routed experts
MLA_FAMILIES = ("deepseek_v3",)                           # multi-head latent attention
# the families whose configs give no head width nor KV heads: heads split d_model
SPLIT_HEAD_FAMILIES = ("gpt2", "gpt_neox")
ROUTER_SCORING = ("softmax", "sigmoid")
MLPS = ("plain", "gated")
NORM_NAMES = {"layernorm": "LayerNorm", "rmsnorm": "RMSNorm"}   # each norm as its paper names it
NORMS = tuple(NORM_NAMES)
POSITIONS = ("learned", "rotary")

_SIZES = ("d_model", "n_layers", "n_heads", "n_kv_heads", "d_head", "d_ff", "vocab",
          "n_positions", "rotary_dims", "sliding_window")
# the sizes of experts and of latent attention: None when the model has none
_MOE_SIZES = ("n_experts", "top_k", "d_expert", "d_shared", "n_groups", "topk_groups")
_MLA_SIZES = ("q_lora_rank", "kv_lora_rank", "qk_nope_head_dim", "qk_rope_head_dim", "v_head_dim")


class ArchitectureError(FlopcalcError):
    """A bad architecture: its message is one line, fit to show a user as it is."""


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


# heads up to this width are whole numbers in a double, as Hugging Face computes the rotary width
_DOUBLE_EXACT = 2 ** 53


def rotary_width(d_head: int, share: Fraction | None) -> int:
    """The dims of each head that rotary positions rotate for a ``share`` of the head (None:
    the whole head). Hugging Face computes ``int(head_dim * partial_rotary_factor)`` (GPT-NeoX:
    ``int(head_size * rotary_pct)``) in double precision; so does this, for heads up to 2**53
    (every model Hugging Face can build). Beyond, where a double no longer holds every whole
    number, it is the exact floor of d_head × share."""
    if share is None:
        return d_head
    if d_head <= _DOUBLE_EXACT:
        return int(d_head * float(share))
    return d_head * share.numerator // share.denominator


def exact_share(value) -> Fraction:
    """A share written as a decimal (0.25), an int or a Fraction, as an exact Fraction: the
    decimal as written (its shortest repr), not the binary double."""
    if isinstance(value, Fraction):
        return value
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ArchitectureError(f"rotary_share must be a number, got {value!r}")
    return Fraction(str(value)) if isinstance(value, float) else Fraction(value)


@record
class Architecture:
    """A decoder-only transformer, as data.

    The defaults are GPT-2 small. ``n_kv_heads`` of None means ``n_heads`` (multi-head
    attention); ``d_head`` of None means ``d_model // n_heads`` (then n_heads must divide
    d_model); ``d_ff`` of None means ``4 * d_model``; ``rotary_dims`` of None means
    ``rotary_share`` of the head when positions are rotary (``rotary_width``: GPT-NeoX's
    rotary_pct, Phi-3's partial_rotary_factor; None: the whole head), so the rotated width
    follows d_head; a ``rotary_dims`` given wins over the share. ``sliding_window`` W
    applies to the layers in ``window_layers`` (None: every layer).

    Mixture of experts (``n_experts`` set): the layers in ``moe_layers`` (None: every layer)
    route each token to ``top_k`` of ``n_experts`` gated MLPs of width ``d_expert``, and run
    a shared expert of width ``d_shared`` (if set) on every token, its output gated by a
    sigmoid with ``shared_gate`` (Qwen2-MoE). The router scores with ``router_scoring``,
    picks the top_k (within the best ``topk_groups`` of ``n_groups`` groups if set),
    renormalises the picked weights with ``norm_topk_prob`` and multiplies them by
    ``routed_scale``. ``router_bias`` is DeepSeek-V3's score-correction bias: a stored
    (n_experts,) tensor added for the choice only, kept out of the parameter count. The other
    layers are dense gated MLPs of width ``d_ff``.

    Multi-head latent attention (``kv_lora_rank`` set; DeepSeek-V2/V3): queries through a
    rank-``q_lora_rank`` bottleneck (None: one q_proj), keys and values from a cached latent
    of ``kv_lora_rank`` plus one shared rotary key of ``qk_rope_head_dim``; each head's query
    and key are ``qk_nope_head_dim + qk_rope_head_dim`` wide (that is ``d_head``) and its
    value ``v_head_dim``.

    ``mtp_layers`` is the multi-token-prediction layers the checkpoint adds (DeepSeek-V3's
    num_nextn_predict_layers), used in training only: not counted, noted.
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
    rotary_share: Fraction | None = None
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
    n_experts: int | None = None
    top_k: int | None = None
    d_expert: int | None = None
    d_shared: int | None = None
    shared_gate: bool = False
    router_scoring: str = "softmax"
    norm_topk_prob: bool = True
    routed_scale: float | None = None
    router_bias: bool = False
    n_groups: int | None = None
    topk_groups: int | None = None
    moe_layers: tuple[int, ...] | None = None
    q_lora_rank: int | None = None
    kv_lora_rank: int | None = None
    qk_nope_head_dim: int | None = None
    qk_rope_head_dim: int | None = None
    v_head_dim: int | None = None
    mtp_layers: int = 0

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
        if not _is_int(self.mtp_layers) or self.mtp_layers < 0:
            raise ArchitectureError(f"mtp_layers must be a whole number ≥ 0, got "
                                    f"{self.mtp_layers!r}")
        self._check_share()
        self._check_mla()
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
                width = rotary_width(self.d_head, self.rotary_share)
                if width == 0 or width % 2:
                    raise ArchitectureError(
                        f"rotary_share {self.rotary_share} of d_head ({self.d_head}) rotates "
                        f"{width} dims; rotary positions rotate an even, positive number")
                object.__setattr__(self, "rotary_dims", width)
            if self.rotary_dims > self.d_head or self.rotary_dims % 2:
                raise ArchitectureError(f"rotary_dims ({self.rotary_dims}) must be even and at "
                                        f"most d_head ({self.d_head})")
        elif self.rotary_dims is not None or self.rotary_share is not None:
            name = "rotary_dims" if self.rotary_dims is not None else "rotary_share"
            raise ArchitectureError(f"{name} applies to rotary positions only")
        if self.fused_gate_up and self.mlp != "gated":
            raise ArchitectureError("a fused gate_up projection needs a gated MLP")
        if self.window_layers is not None:
            if self.sliding_window is None:
                raise ArchitectureError("window_layers needs a sliding_window")
            object.__setattr__(self, "window_layers", self._layers("window_layers"))
        self._check_moe()

    def _check_share(self) -> None:
        if self.rotary_share is None:
            return
        share = exact_share(self.rotary_share)
        if not 0 < share <= 1:
            raise ArchitectureError(f"rotary_share must be above 0 and at most 1, got {share}")
        # the whole head: the same as no share
        object.__setattr__(self, "rotary_share", None if share == 1 else share)

    def _layers(self, name: str) -> tuple[int, ...]:
        layers = tuple(sorted(set(getattr(self, name))))
        if any(not _is_int(i) or not 0 <= i < self.n_layers for i in layers):
            raise ArchitectureError(f"{name} must be layer indices 0 … {self.n_layers - 1}")
        return layers

    def _check_moe(self) -> None:
        if self.d_shared == 0 and _is_int(self.d_shared):  # no shared expert (nor its gate)
            object.__setattr__(self, "d_shared", None)
            object.__setattr__(self, "shared_gate", False)
        for name in _MOE_SIZES:
            if getattr(self, name) is not None:
                check_dimension(name, getattr(self, name))
        if self.router_scoring not in ROUTER_SCORING:
            raise ArchitectureError(f"router_scoring must be one of {', '.join(ROUTER_SCORING)}, "
                                    f"got {self.router_scoring!r}")
        if self.n_experts is None:
            given = [n for n in ("top_k", "d_expert", "d_shared", "n_groups", "topk_groups",
                                 "moe_layers", "routed_scale") if getattr(self, n) is not None]
            given += [n for n in ("shared_gate", "router_bias") if getattr(self, n)]
            if given:
                raise ArchitectureError(f"{given[0]} needs experts (n_experts)")
            return
        if self.family not in MOE_FAMILIES:
            raise ArchitectureError(f"the {self.family} family has no experts; n_experts needs "
                                    f"one of {', '.join(MOE_FAMILIES)}")
        E = self.n_experts
        if self.top_k is None or self.d_expert is None:
            raise ArchitectureError("experts need top_k (experts per token) and d_expert "
                                    "(one expert's width)")
        if self.top_k > E:
            raise ArchitectureError(f"top_k ({self.top_k}) must be at most n_experts ({E})")
        if self.shared_gate and self.d_shared is None:
            raise ArchitectureError("shared_gate needs a shared expert (d_shared)")
        if self.routed_scale is not None and (isinstance(self.routed_scale, bool) or not
                                              isinstance(self.routed_scale, (int, float))
                                              or self.routed_scale <= 0):
            raise ArchitectureError(f"routed_scale must be a positive number, got "
                                    f"{self.routed_scale!r}")
        if (self.n_groups is None) != (self.topk_groups is None):
            raise ArchitectureError("group-limited routing needs both n_groups and topk_groups")
        if self.n_groups is not None:
            if E % self.n_groups:
                raise ArchitectureError(f"n_groups ({self.n_groups}) must divide n_experts ({E})")
            if self.topk_groups > self.n_groups:
                raise ArchitectureError(f"topk_groups ({self.topk_groups}) must be at most "
                                        f"n_groups ({self.n_groups})")
            if self.top_k > self.topk_groups * (E // self.n_groups):
                raise ArchitectureError(f"top_k ({self.top_k}) exceeds the experts of the "
                                        f"topk_groups chosen groups")
        if self.moe_layers is not None:
            object.__setattr__(self, "moe_layers", self._layers("moe_layers"))

    def _check_mla(self) -> None:
        if self.kv_lora_rank is None and self.family in MLA_FAMILIES:
            raise ArchitectureError(f"the {self.family} family's attention is latent: give "
                                    f"kv_lora_rank")
        if self.kv_lora_rank is None:
            given = [n for n in _MLA_SIZES if getattr(self, n) is not None]
            if given:
                raise ArchitectureError(f"{given[0]} needs latent attention (kv_lora_rank)")
            return
        if self.family not in MLA_FAMILIES:
            raise ArchitectureError(f"the {self.family} family has no latent attention; "
                                    f"kv_lora_rank needs one of {', '.join(MLA_FAMILIES)}")
        for name in _MLA_SIZES:
            if name == "q_lora_rank" and self.q_lora_rank is None:
                continue
            if getattr(self, name) is None:
                raise ArchitectureError(f"latent attention needs {name}")
            check_dimension(name, getattr(self, name))
        if self.qk_rope_head_dim % 2:
            raise ArchitectureError(f"qk_rope_head_dim ({self.qk_rope_head_dim}) must be even")
        if self.positions != "rotary":
            raise ArchitectureError("latent attention has rotary positions")
        if self.sliding_window is not None:
            raise ArchitectureError("a sliding window with latent attention is not modelled")
        width = self.qk_nope_head_dim + self.qk_rope_head_dim
        if self.rotary_share is not None:
            raise ArchitectureError("latent attention rotates qk_rope_head_dim: rotary_share "
                                    "does not apply")
        for name, value in (("d_head", width), ("n_kv_heads", self.n_heads),
                            ("rotary_dims", self.qk_rope_head_dim)):
            given = getattr(self, name)
            if given is not None and given != value:
                raise ArchitectureError(f"latent attention fixes {name} at {value}, got {given}")
            object.__setattr__(self, name, value)

    @property
    def heads_split_d_model(self) -> bool:
        """Whether the family's heads are d_model / n_heads wide and as many for K and V by
        its configs' design (GPT-2, GPT-NeoX: no head_dim nor num_key_value_heads field), so
        formulas write them in d_model and h; the others have symbols of their own."""
        return self.family in SPLIT_HEAD_FAMILIES

    @property
    def learned_positions(self) -> bool:
        """Whether positions come from a learned table of n_positions rows (GPT-2's wpe)."""
        return self.positions == "learned"

    @property
    def is_moe(self) -> bool:
        """Whether any layer routes tokens to experts."""
        return self.n_experts is not None and self.n_moe > 0

    @property
    def is_mla(self) -> bool:
        """Whether the attention is multi-head latent attention."""
        return self.kv_lora_rank is not None

    @property
    def n_moe(self) -> int:
        """How many layers are mixtures of experts."""
        if self.n_experts is None:
            return 0
        return self.n_layers if self.moe_layers is None else len(self.moe_layers)

    def layer_kinds(self) -> tuple[tuple[bool, bool], ...]:
        """Each layer's (windowed, MoE) kind, in order."""
        def on(layers, i):
            return layers is None or i in layers
        return tuple((self.sliding_window is not None and on(self.window_layers, i),
                      self.n_experts is not None and on(self.moe_layers, i))
                     for i in range(self.n_layers))

    @property
    def n_windowed_moe(self) -> int:
        """How many layers are both windowed and mixtures of experts."""
        return self.layer_kinds().count((True, True))

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

    def with_(self, **changes) -> "Architecture":
        """A copy with some fields changed; derived sizes given as None are derived again."""
        return replace(self, **changes)

    def as_dict(self) -> dict:
        out = asdict(self)
        if out["rotary_share"] is not None:  # exact, as a JSON string: "1/4"
            out["rotary_share"] = str(out["rotary_share"])
        for name in ("window_layers", "moe_layers"):
            if out[name] is not None:
                out[name] = list(out[name])
        return out

    def dims(self, batch: int = 1, seq_len: int = 1, kv_len: int | None = None) -> Dims:
        """The sizes of a pass of ``seq_len`` tokens (after ``kv_len - seq_len`` cached ones)."""
        return Dims(batch=batch, seq_len=seq_len, d_model=self.d_model, n_heads=self.n_heads,
                    d_head=self.d_head, d_ff=self.d_ff, n_layers=self.n_layers,
                    vocab=self.vocab, n_positions=self.n_positions, kv_len=kv_len,
                    n_kv_heads=self.n_kv_heads, rotary_dims=self.rotary_dims,
                    window=self.sliding_window, n_windowed=self.n_windowed,
                    n_experts=self.n_experts, top_k=self.top_k, d_expert=self.d_expert,
                    d_shared=self.d_shared, n_moe=self.n_moe,
                    n_windowed_moe=self.n_windowed_moe if self.sliding_window is not None
                    and self.n_experts is not None else None, q_rank=self.q_lora_rank,
                    kv_rank=self.kv_lora_rank, d_nope=self.qk_nope_head_dim,
                    d_rope=self.qk_rope_head_dim, d_v=self.v_head_dim,
                    n_groups=self.n_groups, topk_groups=self.topk_groups)

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
        if self.is_mla:
            parts.append("latent attention (" + (f"q_lora_rank={self.q_lora_rank}, "
                         if self.q_lora_rank is not None else "plain q_proj, ")
                         + f"kv_lora_rank={self.kv_lora_rank}, qk_nope_head_dim="
                         f"{self.qk_nope_head_dim}, qk_rope_head_dim={self.qk_rope_head_dim}, "
                         f"v_head_dim={self.v_head_dim})")
        if self.n_experts is not None:
            moe = (f"experts: top_k={self.top_k} of n_experts={self.n_experts}, "
                   f"d_expert={self.d_expert}")
            if self.d_shared is not None:
                moe += f", shared expert d_shared={self.d_shared}" + (
                    " (sigmoid-gated)" if self.shared_gate else "")
            moe += f", {self.router_scoring} router"
            if self.n_groups is not None:
                moe += f" (top {self.topk_groups} of {self.n_groups} groups)"
            parts.append(moe + f" on {self.n_moe} of {self.n_layers} layers")
        if self.sliding_window is not None:
            parts.append(f"sliding window {self.sliding_window} on {self.n_windowed} of "
                         f"{self.n_layers} layers")
        switches = [*([] if self.is_mla else ["QKV fused" if self.fused_qkv else "QKV separate"]),
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


@record
class Workload:
    """What an architecture runs on: ``batch`` sequences of ``seq_len`` tokens."""

    batch: int = 1
    seq_len: int = 128

    def __post_init__(self) -> None:
        for f in fields(self):
            check_dimension(f.name, getattr(self, f.name))

    @property
    def tokens(self) -> int:
        """The batch's tokens, B·L: what a forward, backward or train step's FLOPs are per."""
        return self.batch * self.seq_len

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
