"""Model configurations, presets, Hugging Face ``config.json`` loading and counting conventions."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path

from .model import Dims


class FlopcalcError(ValueError):
    """A bad input: its message is one line, fit to show a user as it is."""


@dataclass(frozen=True)
class Config:
    """A GPT-2-style decoder-only transformer and the input it runs on.

    The defaults are the seed document's setting: GPT-2 small at 128 tokens, batch 1.
    ``d_ff`` of ``None`` means ``4 * d_model``.
    """

    d_model: int = 768
    n_heads: int = 12
    n_layers: int = 12
    d_ff: int | None = None
    vocab: int = 50257
    n_positions: int = 1024
    seq_len: int = 128
    batch: int = 1
    fused_qkv: bool = True
    bias: bool = True
    tied_lm_head: bool = True

    def __post_init__(self) -> None:
        if self.d_ff is None and _is_int(self.d_model):
            object.__setattr__(self, "d_ff", 4 * self.d_model)  # GPT-2's FFN width
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name in ("fused_qkv", "bias", "tied_lm_head"):
                continue
            if not _is_int(value):
                raise FlopcalcError(f"{f.name} must be a whole number, got {value!r}")
            if value <= 0:
                raise FlopcalcError(f"{f.name} must be positive, got {value}")
        if not fits(self.d_model, self.n_heads, self.seq_len, self.n_positions):
            if self.d_model % self.n_heads:
                raise FlopcalcError(
                    f"n_heads ({self.n_heads}) must divide d_model ({self.d_model}) evenly")
            raise FlopcalcError(
                f"seq_len ({self.seq_len}) exceeds n_positions ({self.n_positions}): GPT-2 has "
                f"no position embedding beyond {self.n_positions}; lower --seq-len or raise --n-positions")

    @property
    def d_head(self) -> int:
        return self.d_model // self.n_heads

    def dims(self) -> Dims:
        """The dimensions as exact ints."""
        return Dims(batch=self.batch, seq_len=self.seq_len, d_model=self.d_model,
                    n_heads=self.n_heads, d_head=self.d_head, d_ff=self.d_ff,
                    n_layers=self.n_layers, vocab=self.vocab, n_positions=self.n_positions)

    @property
    def architecture(self):
        """What the model is (``architecture.Architecture``): GPT-2 with these sizes and switches."""
        from .architecture import Architecture

        return Architecture(d_model=self.d_model, n_layers=self.n_layers, n_heads=self.n_heads,
                            d_ff=self.d_ff, vocab=self.vocab, n_positions=self.n_positions,
                            fused_qkv=self.fused_qkv, qkv_bias=self.bias, o_bias=self.bias,
                            mlp_bias=self.bias, norm_bias=self.bias,
                            tied_lm_head=self.tied_lm_head)

    @property
    def workload(self):
        """What it runs on (``architecture.Workload``): batch sequences of seq_len tokens."""
        from .architecture import Workload

        return Workload(self.batch, self.seq_len)

    @classmethod
    def of(cls, architecture, workload=None) -> Config | None:
        """The GPT-2 Config of an architecture and workload (default: one token), or None when
        the architecture is not one a Config describes (another family, a window, biases
        apart). Consumers written for GPT-2 refuse such a model by name."""
        arch = architecture
        biases = {arch.qkv_bias, arch.o_bias, arch.mlp_bias, arch.norm_bias}
        if (arch.family != "gpt2" or arch.sliding_window is not None or len(biases) > 1
                or arch.activation != "gelu_tanh"):
            return None
        return cls(d_model=arch.d_model, n_heads=arch.n_heads, n_layers=arch.n_layers,
                   d_ff=arch.d_ff, vocab=arch.vocab, n_positions=arch.n_positions,
                   seq_len=workload.seq_len if workload else 1,
                   batch=workload.batch if workload else 1, fused_qkv=arch.fused_qkv,
                   bias=biases.pop(), tied_lm_head=arch.tied_lm_head)

    def with_(self, **changes) -> Config:
        """A copy with some fields changed (``d_ff=None`` re-derives it from d_model)."""
        return replace(self, **changes)

    def as_dict(self) -> dict:
        return {**asdict(self), "d_head": self.d_head}

    def describe(self, with_input: bool = True) -> str:
        """One line of every field; ``with_input=False`` leaves out seq_len and batch."""
        data = f"seq_len={self.seq_len}, batch={self.batch}, " if with_input else ""
        return (f"d_model={self.d_model}, n_heads={self.n_heads} (d_head={self.d_head}), "
                f"n_layers={self.n_layers}, d_ff={self.d_ff}, vocab={self.vocab}, "
                f"n_positions={self.n_positions}, {data}"
                f"QKV {'fused' if self.fused_qkv else 'separate'}"
                f"{'' if self.bias else ', no bias'}"
                f"{'' if self.tied_lm_head else ', untied LM head'}")


def fits(d_model: int, n_heads: int, seq_len: int, n_positions: int, last_position: int = 0) -> bool:
    """The cross-field rules of a config (and of a mode's last position), on plain ints.

    The one place they are written: Config, Mode and the sweep's compiled path all ask here.
    """
    return not d_model % n_heads and seq_len <= n_positions and last_position <= n_positions


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


# Published GPT-2 sizes (Radford et al. 2019, Table 2; Hugging Face model cards).
PRESETS: dict[str, dict] = {
    "gpt2": dict(d_model=768, n_heads=12, n_layers=12),
    "gpt2-medium": dict(d_model=1024, n_heads=16, n_layers=24),
    "gpt2-large": dict(d_model=1280, n_heads=20, n_layers=36),
    "gpt2-xl": dict(d_model=1600, n_heads=25, n_layers=48),
}

# Hugging Face GPT2Config key -> Config field
_HF_KEYS = {"n_embd": "d_model", "n_head": "n_heads", "n_layer": "n_layers",
            "n_positions": "n_positions", "n_inner": "d_ff", "vocab_size": "vocab"}


def preset(name: str) -> dict:
    """The Config fields of a named preset."""
    try:
        return dict(PRESETS[name])
    except KeyError:
        raise FlopcalcError(
            f"unknown preset {name!r}; choose one of {', '.join(PRESETS)}") from None


def load_hf_config(path: str | Path) -> dict:
    """Config fields read from a Hugging Face GPT-2 ``config.json``."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as e:
        raise FlopcalcError(f"cannot read config {path}: {e.strerror or e}") from None
    except (UnicodeDecodeError, ValueError) as e:  # JSONDecodeError, or an int too long to read
        raise FlopcalcError(f"config {path} is not valid JSON: {e}") from None
    if not isinstance(data, dict):
        raise FlopcalcError(f"config {path} is not a JSON object")
    model_type = data.get("model_type", "gpt2")
    missing = [k for k in ("n_embd", "n_head", "n_layer") if data.get(k) is None]
    if model_type != "gpt2" or missing:
        what = f"model_type {model_type!r}" if model_type != "gpt2" else "missing " + ", ".join(missing)
        raise FlopcalcError(f"config {path} is not a GPT-2 config.json ({what})")
    fields_ = {}
    for key, name in _HF_KEYS.items():
        if key in data and data[key] is not None:
            fields_[name] = data[key]
    if "n_positions" not in fields_ and data.get("n_ctx") is not None:
        fields_["n_positions"] = data["n_ctx"]
    return fields_


def make_config(preset_name: str | None = None, config_path: str | Path | None = None,
                **overrides) -> Config:
    """A Config from a preset or config.json, with explicit values (not None) overriding it."""
    fields_: dict = {}
    if preset_name:
        fields_.update(preset(preset_name))
    if config_path:
        fields_.update(load_hf_config(config_path))
    fields_.update({k: v for k, v in overrides.items() if v is not None})
    return Config(**fields_)


ATTENTION = ("dense", "causal")


@dataclass(frozen=True)
class Conventions:
    """How FLOPs are counted; every table states these.

    - ``flops_per_mac``: FLOPs per multiply-add (2, as the seed document assumes; 1 gives MACs).
    - ``attention``: ``dense`` counts the full L x L scores standard kernels execute;
      ``causal`` only the L(L+1)/2 unmasked entries per head (scores, softmax, probs @ V).
    - ``elementwise``: False counts matmuls only; True adds the per-element costs of
      ``model.ELEMENTWISE_COST`` (scale, mask, softmax, LayerNorm, GELU, bias, residual).
    - ``embeddings`` / ``lm_head``: include the embedding and the final LayerNorm + LM head.
    """

    flops_per_mac: int = 2
    attention: str = "dense"
    elementwise: bool = False
    embeddings: bool = True
    lm_head: bool = True
    sections: tuple[str, ...] = field(init=False, default=())

    def __post_init__(self) -> None:
        if self.flops_per_mac not in (1, 2):
            raise FlopcalcError(f"flops_per_mac must be 1 or 2, got {self.flops_per_mac!r}")
        if self.attention not in ATTENTION:
            raise FlopcalcError(f"attention must be dense or causal, got {self.attention!r}")
        sections = (("embedding",) if self.embeddings else ()) + ("block",) + (
            ("head",) if self.lm_head else ())
        object.__setattr__(self, "sections", sections)

    @property
    def causal(self) -> bool:
        return self.attention == "causal"

    def describe(self) -> str:
        """One line stating every convention."""
        fpm = ("2 FLOPs per multiply-add" if self.flops_per_mac == 2 else
               "1 per multiply-add (MACs)" + (", elementwise work in FLOPs" if self.elementwise else ""))
        attn = ("dense attention (full L×L scores, as standard kernels execute)" if not self.causal
                else "causal attention (only unmasked query-key pairs: L(L+1)/2 per head for a "
                     "sequence, t for a decode step at position t)")
        work = ("matmuls + elementwise (per-element costs in docs/counting-rules.md)"
                if self.elementwise else "matmuls only")
        scope = {("embedding", "block", "head"): "embeddings + blocks + final LayerNorm/LM head",
                 ("block",): "transformer blocks only (no embeddings, no LM head)",
                 ("embedding", "block"): "embeddings + blocks (no LM head)",
                 ("block", "head"): "blocks + final LayerNorm/LM head (no embeddings)"}[self.sections]
        return f"{fpm}; {attn}; {work}; scope: {scope}"

    def as_dict(self) -> dict:
        return {"flops_per_mac": self.flops_per_mac, "attention": self.attention,
                "elementwise": self.elementwise, "embeddings": self.embeddings,
                "lm_head": self.lm_head}


MODES = ("forward", "backward", "train", "decode", "generate")


@dataclass(frozen=True)
class Mode:
    """Which computation is counted.

    - ``forward``: one forward pass over seq_len tokens (prefill).
    - ``backward``: its backward pass: each matmul's two gradient matmuls (input and weight
      gradients), the elementwise gradients per ``model.BACKWARD_COST``.
    - ``train``: forward + backward; ``recompute`` (full activation recomputation) adds a forward.
    - ``decode``: producing the token at ``position`` t (1-based) with a KV cache of t-1 entries.
    - ``generate``: a prompt of ``prompt`` tokens then ``new_tokens`` new ones: the prefill
      (which yields the first new token) plus decode steps at positions p+1 … p+n-1.

    Unset positions default to seq_len (decode, prompt) and 1 new token.
    """

    kind: str = "forward"
    recompute: bool = False
    position: int | None = None
    prompt: int | None = None
    new_tokens: int | None = None

    def __post_init__(self) -> None:
        if self.kind not in MODES:
            raise FlopcalcError(f"mode must be one of {', '.join(MODES)}, got {self.kind!r}")
        if self.recompute and self.kind != "train":
            raise FlopcalcError("--recompute applies to --mode train only")
        if self.position is not None and self.kind != "decode":
            raise FlopcalcError("--position applies to --mode decode only")
        if (self.prompt is not None or self.new_tokens is not None) and self.kind != "generate":
            raise FlopcalcError("--prompt and --new-tokens apply to --mode generate only")

    def resolved(self, config: Config) -> Mode:
        """This mode with its defaults filled in from ``config`` and checked against it."""
        if self.kind == "decode":
            filled = {"position": config.seq_len if self.position is None else self.position}
        elif self.kind == "generate":
            filled = {"prompt": config.seq_len if self.prompt is None else self.prompt,
                      "new_tokens": 1 if self.new_tokens is None else self.new_tokens}
        else:
            return self
        for name, value in filled.items():
            if not _is_int(value) or value <= 0:
                raise FlopcalcError(f"{name} must be a positive whole number, got {value!r}")
        last = filled.get("position") or filled.get("prompt", 0) + filled.get("new_tokens", 0) - 1
        if not fits(config.d_model, config.n_heads, config.seq_len, config.n_positions, last):
            raise FlopcalcError(f"the last position ({last}) exceeds n_positions "
                                f"({config.n_positions}); GPT-2 has no position embedding beyond it")
        return replace(self, **filled)

    def _steps(self) -> str:
        p, n = self.prompt, self.new_tokens
        if not (_is_int(p) and _is_int(n)):
            return "decode steps at positions p+1 … p+n-1"
        if n == 1:
            return "no decode step"
        return f"decode steps at positions {p + 1} … {p + n - 1}"

    def describe(self) -> str:
        return {"forward": "one forward pass",
                "backward": "one backward pass (input and weight gradients)",
                "train": "one training step (forward + backward"
                         + (" + the blocks' forward recomputed)" if self.recompute else ")"),
                "decode": f"one decode step: the token at position {self.position} with a KV "
                          f"cache of {self.position - 1 if _is_int(self.position) else 't-1'} entries",
                "generate": f"generation: a prompt of {self.prompt} tokens, then {self.new_tokens} "
                            f"new tokens (the prefill yields the first; {self._steps()})",
                }[self.kind]


def gpt2_config(architecture, workload, command: str) -> Config:
    """The GPT-2 Config a command not yet migrated to every architecture needs, or one line
    naming what it does not support yet."""
    config = Config.of(architecture, workload)
    if config is not None:
        return config
    arch = architecture
    if arch.family != "gpt2":
        what = f"the {arch.family} family"
    elif arch.sliding_window is not None:
        what = "sliding windows"
    elif arch.activation != "gelu_tanh":
        what = f"the {arch.activation} activation"
    else:
        what = "biases switched apart"
    raise FlopcalcError(f"{command} counts GPT-2 models only so far; {what} is not supported "
                        f"yet (flops, params, shapes and formulas count every architecture)")
