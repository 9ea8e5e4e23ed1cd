"""Model configurations, presets, Hugging Face ``config.json`` loading and counting conventions."""

import re
from dataclasses import asdict, field, fields, replace
from fractions import Fraction
from pathlib import Path

from .model import ACTIVATIONS, Dims
from .records import record


class FlopcalcError(ValueError):
    """A bad input: its message is one line, fit to show a user as it is."""


CONFIG_FAMILY = "gpt2"  # the one family a Config describes
BIAS_FIELDS = ("qkv_bias", "o_bias", "mlp_bias", "norm_bias")  # one Config bias sets all four


@record
class Config:
    """A GPT-2-style decoder-only transformer and the input it runs on.

    The defaults are the seed document's setting: GPT-2 small at 128 tokens, batch 1.
    ``d_ff`` of ``None`` means ``4 * d_model`` (and ``with_`` derives it again for a new
    d_model; equality compares the fields only, so ``Config()`` equals ``Config(d_ff=3072)``
    though only the first's d_ff follows a new d_model). ``activation`` is the FFN's, a key of
    ``model.ACTIVATIONS`` (GPT-2's tanh GELU, the exact GELU or ReLU). Every whole-number
    field lies in 1 … ``MAX_DIMENSION``.
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
    activation: str = "gelu_tanh"

    def __post_init__(self) -> None:
        # whether d_ff was derived (not a field: Config(d_ff=3072) equals Config()) for with_
        object.__setattr__(self, "_d_ff_derived", self.d_ff is None)
        if self.d_ff is None and _is_int(self.d_model):
            object.__setattr__(self, "d_ff", 4 * self.d_model)  # GPT-2's FFN width
        for f in fields(self):
            if f.name not in _SWITCHES:
                check_dimension(f.name, getattr(self, f.name),
                                4 if f.name == "d_ff" else 1)  # d_ff may be 4·d_model
        if self.activation not in ACTIVATIONS:
            raise FlopcalcError(f"activation must be one of {', '.join(ACTIVATIONS)}, "
                                f"got {self.activation!r}")
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
                            tied_lm_head=self.tied_lm_head, activation=self.activation)

    @property
    def workload(self):
        """What it runs on (``architecture.Workload``): batch sequences of seq_len tokens."""
        from .architecture import Workload

        return Workload(self.batch, self.seq_len)

    @classmethod
    def of(cls, architecture, workload=None) -> "Config | None":
        """The GPT-2 Config of an architecture and workload (default: one token), or None when
        the architecture is not one a Config describes (another family, a window, biases
        apart). Consumers written for GPT-2 refuse such a model by name."""
        arch = architecture
        biases = {getattr(arch, b) for b in BIAS_FIELDS}
        if arch.family != CONFIG_FAMILY or arch.sliding_window is not None or len(biases) > 1:
            return None
        return cls(d_model=arch.d_model, n_heads=arch.n_heads, n_layers=arch.n_layers,
                   d_ff=arch.d_ff, vocab=arch.vocab, n_positions=arch.n_positions,
                   seq_len=workload.seq_len if workload else 1,
                   batch=workload.batch if workload else 1, fused_qkv=arch.fused_qkv,
                   bias=biases.pop(), tied_lm_head=arch.tied_lm_head,
                   activation=arch.activation)

    @classmethod
    def fields_of(cls, point: dict) -> dict | None:
        """``point`` (Architecture fields, seq_len, batch) as a Config's keyword arguments,
        or None when they describe a model no Config does (another family, biases apart, a
        field a Config lacks), as ``of`` tells for an Architecture. A ``bias`` is taken as
        it is."""
        point = dict(point)
        if point.pop("family", CONFIG_FAMILY) != CONFIG_FAMILY:
            return None
        biases = {point.pop(b) for b in BIAS_FIELDS if b in point}
        if "bias" in point:
            biases.add(point["bias"])
        if len(biases) > 1:
            return None
        if biases:
            point["bias"] = biases.pop()
        return point if set(point) <= {f.name for f in fields(cls)} else None

    def with_(self, **changes) -> "Config":
        """A copy with some fields changed, as ``Config(...)`` with those fields would be: a
        d_ff derived from d_model (not given, or given as None) is derived again from the new
        d_model; a d_ff given stays unless changed (``d_ff=None`` derives it)."""
        if self._d_ff_derived:
            changes = {"d_ff": None, **changes}
        return replace(self, **changes)

    def as_dict(self) -> dict:
        return {**asdict(self), "d_head": self.d_head}

    def describe(self, with_input: bool = True, workload: str | None = None) -> str:
        """One line of every field; ``with_input=False`` leaves out seq_len and batch;
        ``workload`` replaces ``seq_len=…`` by what the counted computation runs on (a decode
        position, a prompt and new tokens)."""
        length = workload or f"seq_len={self.seq_len}"
        data = f"{length}, batch={self.batch}, " if with_input else ""
        return (f"d_model={self.d_model}, n_heads={self.n_heads} (d_head={self.d_head}), "
                f"n_layers={self.n_layers}, d_ff={self.d_ff}, vocab={self.vocab}, "
                f"n_positions={self.n_positions}, {data}"
                f"QKV {'fused' if self.fused_qkv else 'separate'}"
                f"{'' if self.bias else ', no bias'}"
                f"{'' if self.tied_lm_head else ', untied LM head'}"
                f"{_ACTIVATION_NOTES[self.activation]}")


def fits(d_model: int, n_heads: int, seq_len: int, n_positions: int, last_position: int = 0) -> bool:
    """The cross-field rules of a config (and of a mode's last position), on plain ints.

    The one place they are written: Config, Mode and the sweep's compiled path all ask here.
    """
    return not d_model % n_heads and seq_len <= n_positions and last_position <= n_positions


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


_SWITCHES = ("fused_qkv", "bias", "tied_lm_head", "activation")  # Config's non-numeric fields
_ACTIVATION_NOTES = {"gelu_tanh": "", "gelu": ", exact (erf) GELU", "relu": ", ReLU",
                     "silu": ", SiLU"}

# Every dimension, batch and position has at most 1000 digits (d_ff, 4·d_model by default,
# up to 4·10**1000): exact counts of such sizes stay fast to compute and print (every
# dimension at the bound takes flopcalc flops about 0.5 s; one hundred-thousand-digit width
# took a minute). Documented in docs/counting-rules.md.
MAX_DIMENSION_DIGITS = 1000
MAX_DIMENSION = 10 ** MAX_DIMENSION_DIGITS - 1


def check_dimension(name: str, value, times: int = 1) -> None:
    """Refuse, naming ``name``, a value that is not a whole number in 1 … times·MAX_DIMENSION."""
    if not _is_int(value):
        raise FlopcalcError(f"{name} must be a whole number, got {value!r}")
    if abs(value) > times * MAX_DIMENSION:
        digits = int(value.bit_length() * 0.30103) + 1  # about; str() of it would be slow
        bound = (f"sizes of at most {MAX_DIMENSION_DIGITS} digits" if times == 1 else
                 f"{name} below {times}·10**{MAX_DIMENSION_DIGITS}")
        raise FlopcalcError(f"{name} has about {digits} digits; flopcalc counts {bound}")
    if value <= 0:
        raise FlopcalcError(f"{name} must be positive, got {value}")
# The one grammar of a whole number typed by a user (every integer option, every sweep value):
# ASCII digits with an optional sign. Python's int() also takes "7_68", "１２" and "١٢".
WHOLE_NUMBER = r"[+-]?[0-9]+"


def parse_whole_number(text: str) -> int:
    """``text`` (``WHOLE_NUMBER``, blanks around it allowed) as an int; FlopcalcError if not."""
    if not re.fullmatch(WHOLE_NUMBER, text.strip(" \t")):
        raise FlopcalcError(f"{text!r} is not a whole number: use the digits 0-9 "
                            "(no separators), optionally after + or -")
    return int(text)


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
HF_DEFAULT_POSITIONS = 1024  # GPT2Config's n_positions when a config.json leaves it out
_HF_SIZE_DEFAULTS = {"n_embd": 768, "n_head": 12, "n_layer": 12}  # GPT2Config's

# transformers' ACT2FN names -> flopcalc's activations (each with its cost-table entry), for
# GPT-2's activation_function and every other family's hidden_act alike. The four tanh forms
# are one formula (gelu_fast and gelu_accurate only regroup its terms); gelu_python is the
# exact erf form written out; swish is SiLU's other name (docs/counting-rules.md).
HF_ACTIVATIONS = {"gelu_new": "gelu_tanh", "gelu_pytorch_tanh": "gelu_tanh",
                  "gelu_fast": "gelu_tanh", "gelu_accurate": "gelu_tanh",
                  "gelu": "gelu", "gelu_python": "gelu", "relu": "relu",
                  "silu": "silu", "swish": "silu"}

# Switches that would change a count, with the only value flopcalc counts (anything else is
# refused): cross-attention adds a sublayer per block; without scale_attn_weights there is no
# 1/sqrt(d_head) scale; scale_attn_by_inverse_layer_idx adds a 1/(layer+1) multiply per score.
_HF_REQUIRED = {"add_cross_attention": False, "scale_attn_weights": True,
                "scale_attn_by_inverse_layer_idx": False}
HF_ARCHITECTURE = "GPT2LMHeadModel"  # the model counted: blocks, ln_f and the LM head
# Every other key changes no count and is ignored: layer_norm_epsilon (a value, not an
# operation), the dropouts resid/embd/attn_pdrop (flopcalc counts no dropout),
# initializer_range, reorder_and_upcast_attn (fp32 upcast and a fused scale: the same
# arithmetic), use_cache, token ids, summary_* (read only by GPT2DoubleHeadsModel, which
# ``architectures`` refuses), and bookkeeping (transformers_version, torch_dtype, ...).


def hf_fields(data: dict, path) -> dict:
    """Config fields of a parsed Hugging Face GPT-2 ``config.json`` (``path`` names it in
    errors, which name the file's own keys)."""
    def bad(message: str) -> FlopcalcError:
        return FlopcalcError(f"config {path}: {message}")

    model_type = data.get("model_type", "gpt2")
    # a file that says it is GPT-2's takes GPT2Config's defaults for missing sizes, as every
    # family does; one that does not say so must at least have GPT-2's three size keys
    # (a null size is a broken file, refused below, not defaulted)
    missing = [] if "model_type" in data else [k for k in _HF_SIZE_DEFAULTS if k not in data]
    if model_type != "gpt2" or missing:
        what = f"model_type {model_type!r}" if model_type != "gpt2" else "missing " + ", ".join(missing)
        raise FlopcalcError(f"config {path} is not a GPT-2 config.json ({what})")
    for key in _HF_SIZE_DEFAULTS:
        if key in data and data[key] is None:
            raise bad(f"{key} is null; give it a size, or leave it out for GPT2Config's "
                      f"{_HF_SIZE_DEFAULTS[key]}")
    data = {**_HF_SIZE_DEFAULTS, **data}
    fields_ = {}
    for key in (*_HF_KEYS, "n_ctx"):
        if data.get(key) is not None:
            try:
                check_dimension(key, data[key])
            except FlopcalcError as e:
                raise bad(str(e)) from None
            if key in _HF_KEYS:
                fields_[_HF_KEYS[key]] = data[key]
    if data["n_embd"] % data["n_head"]:
        raise bad(f"n_head ({data['n_head']}) must divide n_embd ({data['n_embd']}) evenly")
    positions = data.get("n_positions") or HF_DEFAULT_POSITIONS
    if data.get("n_ctx") is not None and data["n_ctx"] != positions:
        given = "n_positions" if data.get("n_positions") else "the default n_positions"
        raise bad(f"n_ctx ({data['n_ctx']}) disagrees with {given} ({positions}); "
                  "Hugging Face's GPT-2 ignores n_ctx and builds n_positions position "
                  "embeddings: make them equal, or drop n_ctx")
    for key, counted in (*_HF_REQUIRED.items(), ("tie_word_embeddings", None)):
        if key in data and not isinstance(data[key], bool):
            raise bad(f"{key} must be true or false, got {data[key]!r}")
        if counted is not None and data.get(key, counted) != counted:
            raise bad(f"{key}: {str(data[key]).lower()} is not supported (flopcalc counts "
                      f"GPT-2 with {key} {str(counted).lower()})")
    if data.get("tie_word_embeddings") is False:
        fields_["tied_lm_head"] = False
    if data.get("activation_function") is not None:
        act = data["activation_function"]
        if not isinstance(act, str) or act not in HF_ACTIVATIONS:
            raise bad(f"activation_function {act!r} is not one flopcalc counts; choose one of "
                      f"{', '.join(HF_ACTIVATIONS)}")
        fields_["activation"] = HF_ACTIVATIONS[act]
    architectures = data.get("architectures")
    if architectures is not None and architectures != [HF_ARCHITECTURE]:
        raise bad(f"architectures {architectures!r}: flopcalc counts {HF_ARCHITECTURE} only")
    return fields_


def preset(name: str) -> dict:
    """The Config fields of a named preset."""
    try:
        return dict(PRESETS[name])
    except KeyError:
        raise FlopcalcError(
            f"unknown preset {name!r}; choose one of {', '.join(PRESETS)}") from None


def load_hf_config(path: str | Path) -> dict:
    """Config fields read from a Hugging Face GPT-2 ``config.json``."""
    from .files import CONFIG_LIMIT, read_json

    data = read_json(path, "config", CONFIG_LIMIT)  # "-": standard input
    if not isinstance(data, dict):
        raise FlopcalcError(f"config {path} is not a JSON object")
    return hf_fields(data, path)


def base_fields(preset_name: str | None = None, config_path: str | Path | None = None) -> dict:
    """The Config fields of a preset or of a config.json: one of them, since each sets the
    model's sizes (which would win is a guess; an empty name is refused, not a default)."""
    if preset_name is not None and config_path is not None:
        raise FlopcalcError("--preset and --config both set the model: give one of them "
                            "(and flags such as --d-model to change it)")
    if preset_name is not None:
        return preset(preset_name)
    if config_path is not None:
        if str(config_path) == "":
            raise FlopcalcError("--config: an empty path names no file")
        return load_hf_config(config_path)
    return {}


def make_config(preset_name: str | None = None, config_path: str | Path | None = None,
                **overrides) -> Config:
    """A Config from a preset or config.json, with explicit values (not None) overriding it."""
    fields_ = base_fields(preset_name, config_path)
    fields_.update({k: v for k, v in overrides.items() if v is not None})
    return Config(**fields_)


ATTENTION = ("dense", "causal")
MLA_DECODE = ("naive", "absorbed")


@record
class Conventions:
    """How FLOPs are counted; every table states these.

    - ``flops_per_mac``: FLOPs per multiply-add (2, as the seed document assumes; 1 gives MACs).
    - ``attention``: ``dense`` counts the full L x L scores standard kernels execute;
      ``causal`` only the L(L+1)/2 unmasked entries per head (scores, softmax, probs @ V).
    - ``elementwise``: False counts matmuls only; True adds the per-element costs of
      ``model.ELEMENTWISE_COST`` (scale, mask, softmax, LayerNorm, GELU, bias, residual).
    - ``embeddings`` / ``lm_head``: include the embedding and the final LayerNorm + LM head.
    - ``capacity_factor``: None counts every routed row once (T·top_k rows, exact whatever
      the routing); a Fraction c counts what implementations that pad or drop tokens run:
      ceil(c·T·top_k/n_experts) rows for each expert.
    - ``mla_decode``: how latent attention's decode steps are counted: ``naive`` (the cached
      latent expanded through kv_b_proj at every step) or ``absorbed`` (kv_b_proj folded
      into the query and the output). Forward passes and prefills are always naive.
    """

    flops_per_mac: int = 2
    attention: str = "dense"
    elementwise: bool = False
    embeddings: bool = True
    lm_head: bool = True
    capacity_factor: Fraction | None = None
    mla_decode: str = "naive"
    sections: tuple[str, ...] = field(init=False, default=())

    def __post_init__(self) -> None:
        if self.flops_per_mac not in (1, 2):
            raise FlopcalcError(f"flops_per_mac must be 1 or 2, got {self.flops_per_mac!r}")
        if self.attention not in ATTENTION:
            raise FlopcalcError(f"attention must be dense or causal, got {self.attention!r}")
        if self.mla_decode not in MLA_DECODE:
            raise FlopcalcError(f"mla_decode must be naive or absorbed, got {self.mla_decode!r}")
        if self.capacity_factor is not None:
            c = self.capacity_factor
            if isinstance(c, bool) or not isinstance(c, (int, Fraction)) or c <= 0:
                raise FlopcalcError(f"capacity_factor must be a positive number, got {c!r}")
            object.__setattr__(self, "capacity_factor", Fraction(c))
        sections = (("embedding",) if self.embeddings else ()) + ("block",) + (
            ("head",) if self.lm_head else ())
        object.__setattr__(self, "sections", sections)

    @property
    def causal(self) -> bool:
        return self.attention == "causal"

    def describe(self, architecture=None) -> str:
        """One line stating every convention (and, for ``architecture``, how its experts and
        its latent attention are counted)."""
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
        text = f"{fpm}; {attn}; {work}; scope: {scope}"
        if self.capacity_factor is not None:
            text += (f"; experts at capacity factor {self.capacity_factor}: each expert runs "
                     f"ceil({self.capacity_factor}·tokens·top_k/n_experts) rows, padded or "
                     f"dropped")
        elif architecture is not None and architecture.is_moe:
            text += "; experts: each token's top_k rows once (exact, whatever the routing)"
        if architecture is not None and architecture.is_mla:
            text += ("; MLA decode steps " + ("absorbed (kv_b_proj folded into the query and "
                     "the output)" if self.mla_decode == "absorbed" else "naive (the cached "
                     "latent expanded through kv_b_proj at every step)") + ", prefill naive")
        return text

    def as_dict(self) -> dict:
        out = {"flops_per_mac": self.flops_per_mac, "attention": self.attention,
               "elementwise": self.elementwise, "embeddings": self.embeddings,
               "lm_head": self.lm_head}
        if self.capacity_factor is not None:  # (stated only when used)
            out["capacity_factor"] = str(self.capacity_factor)
        if self.mla_decode != "naive":
            out["mla_decode"] = self.mla_decode
        return out


MODES = ("forward", "backward", "train", "decode", "generate")


@record
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

    def with_defaults(self, seq_len) -> "Mode":
        """This mode with its unset positions filled from ``seq_len`` (decode: the position;
        generate: the prompt, and 1 new token), each checked as a dimension."""
        if self.kind == "decode":
            filled = {"position": seq_len if self.position is None else self.position}
        elif self.kind == "generate":
            filled = {"prompt": seq_len if self.prompt is None else self.prompt,
                      "new_tokens": 1 if self.new_tokens is None else self.new_tokens}
        else:
            return self
        for name, value in filled.items():
            check_dimension(name, value)
        return replace(self, **filled)

    @property
    def last_position(self) -> int | None:
        """The last position a resolved decode or generate mode reaches (None otherwise)."""
        if self.kind == "decode":
            return self.position
        if self.kind == "generate":
            return self.prompt + self.new_tokens - 1
        return None

    def resolved(self, config: Config) -> "Mode":
        """This mode with its defaults filled in from ``config`` and checked against it."""
        mode = self.with_defaults(config.seq_len)
        last = mode.last_position
        if last is not None and not fits(config.d_model, config.n_heads, config.seq_len,
                                         config.n_positions, last):
            raise FlopcalcError(f"the last position ({last}) exceeds n_positions "
                                f"({config.n_positions}); GPT-2 has no position embedding beyond it")
        return mode

    def _steps(self) -> str:
        p, n = self.prompt, self.new_tokens
        if not (_is_int(p) and _is_int(n)):
            return "decode steps at positions p+1 … p+n-1"
        if n == 1:
            return "no decode step"
        return f"decode steps at positions {p + 1} … {p + n - 1}"

    def workload(self) -> str | None:
        """What a decode or generate run is fed, in place of seq_len (None: seq_len itself)."""
        if self.kind == "decode":
            return f"position={self.position} (KV cache of {self.position - 1})"
        if self.kind == "generate":
            return f"prompt={self.prompt}, new_tokens={self.new_tokens}"
        return None

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
    else:
        what = "biases switched apart"
    raise FlopcalcError(f"{command} counts GPT-2 models only so far; {what} is not supported "
                        f"yet (every other command counts every architecture)")
