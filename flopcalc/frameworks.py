"""Training frameworks' FLOP conventions, reproduced as functions of plain dimensions.

Each function evaluates one framework's own formula for the FLOPs of a training step (what
it divides by the step time to report MFU), split into additive terms by what they count
(``CATEGORIES``). The formulas are read from the frameworks' source code (files, commits and
versions in docs/frameworks.md); the code here is flopcalc's own. Everything is an exact
Python int: where a framework computes in floating point, the integer here is the value its
arithmetic approximates.

The input is ``ModelSummary``: dimensions and parameter counts only, so that any architecture
flopcalc models can be described by it (``from_architecture`` builds one from an
``Architecture`` and its ``Workload``, ``from_config`` from a GPT-2 ``Config``). ``compare`` puts each framework next to flopcalc's exact count of the same
training step under the framework's attention convention, term by term.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from fractions import Fraction

from .architecture import Architecture, Workload
from .config import Config, Conventions, FlopcalcError, Mode

# What a term counts. The first four are matmuls flopcalc counts too; the last three are
# what 6N-style formulas count as if every parameter took part in a matmul per token.
PROJECTIONS = "attention projections"
CORE = "attention scores and values"
MLP = "MLP"
LM_HEAD = "LM head"
VECTORS = "biases and norms"
POSITION = "position embedding"
TOKEN = "token embedding"
CATEGORIES = (PROJECTIONS, CORE, MLP, LM_HEAD, VECTORS, POSITION, TOKEN)


@dataclass(frozen=True)
class ModelSummary:
    """A decoder-only model and its training workload as plain ints.

    ``params_vectors`` are the parameters outside every matmul (biases, LayerNorm/RMSNorm
    weights); ``params_position`` a learned position embedding (0 for RoPE and the like).
    ``features`` names architecture features none of the reproduced formulas model (a
    sliding window, mixture of experts …): the comparison then says each framework's figure
    leaves them out, instead of inventing a term.
    """

    d_model: int
    n_layers: int
    n_heads: int
    n_kv_heads: int
    d_head: int
    d_ff: int
    vocab: int
    seq_len: int
    batch: int
    gated_mlp: bool
    tied_lm_head: bool
    params_vectors: int
    params_position: int
    features: tuple[str, ...] = ()

    @property
    def tokens(self) -> int:
        return self.batch * self.seq_len

    @property
    def q_width(self) -> int:
        return self.n_heads * self.d_head

    @property
    def kv_width(self) -> int:
        return self.n_kv_heads * self.d_head

    @property
    def mlp_matrices(self) -> int:
        """Weight matrices of d_model × d_ff in one MLP: up and down, plus a gate if gated."""
        return 3 if self.gated_mlp else 2

    @property
    def params_projections(self) -> int:
        """Q, K, V and output projection weights of all layers."""
        return self.n_layers * (self.d_model * (self.q_width + 2 * self.kv_width)
                                + self.q_width * self.d_model)

    @property
    def params_mlp(self) -> int:
        return self.n_layers * self.mlp_matrices * self.d_model * self.d_ff

    @property
    def params_vocab(self) -> int:
        """One (vocab, d_model) matrix: the token embedding, or an untied LM head."""
        return self.vocab * self.d_model

    @property
    def params_total(self) -> int:
        """Every parameter, a tied LM head counted once."""
        return (self.params_projections + self.params_mlp + self.params_vectors
                + self.params_position + self.params_vocab * (1 if self.tied_lm_head else 2))


def from_architecture(arch: Architecture, workload: Workload) -> ModelSummary:
    """The ModelSummary of any architecture on a workload: its K/V heads and head width, a
    gated or plain MLP, a tied or untied head, a learned position table or none (rotary)."""
    from .analysis import param_report
    from .estimates import position_params

    if arch.is_moe or arch.is_mla:
        raise FlopcalcError("the frameworks' formulas are not compared for mixtures of experts "
                            "or latent attention yet")
    report = param_report(arch)
    vectors = sum(r.param.count * r.times for r in report.rows if len(r.param.shape) == 1)
    features = ()
    if arch.sliding_window is not None:
        features = (f"Sliding-window attention ({arch.sliding_window} keys on "
                    f"{arch.n_windowed} of {arch.n_layers} layers; the exact count caps the keys)",)
    summary = ModelSummary(
        d_model=arch.d_model, n_layers=arch.n_layers, n_heads=arch.n_heads,
        n_kv_heads=arch.n_kv_heads, d_head=arch.d_head, d_ff=arch.d_ff, vocab=arch.vocab,
        seq_len=workload.seq_len, batch=workload.batch, gated_mlp=arch.mlp == "gated",
        tied_lm_head=arch.tied_lm_head, params_vectors=vectors,
        params_position=position_params(arch), features=features)
    assert summary.params_total == report.total  # every parameter has its category
    return summary


def from_config(config: Config) -> ModelSummary:
    """The ModelSummary of a GPT-2 Config: every head has its own K and V, d_head =
    d_model / n_heads, a plain (ungated) MLP and a learned position embedding."""
    return from_architecture(config.architecture, config.workload)


def _six_n(s: ModelSummary, *, vectors: bool, position: bool, lm_head: bool, token: bool) -> dict:
    """6 × tokens × N split by the parameters N includes (the block matmul weights always)."""
    six = 6 * s.tokens
    return {PROJECTIONS: six * s.params_projections, MLP: six * s.params_mlp,
            VECTORS: six * s.params_vectors if vectors else 0,
            POSITION: six * s.params_position if position else 0,
            LM_HEAD: six * s.params_vocab if lm_head else 0,
            TOKEN: six * s.params_vocab if token else 0}


def megatron(s: ModelSummary, vocab_multiple: int = 128) -> dict:
    """Megatron-LM ``num_floating_point_operations`` (dense GPT path, no MoE/MTP, BSHD).

    3 (forward, wgrad, dgrad) × 2 (FMA) per GEMM: QKV + output projections, the MLP
    (2 or, with SwiGLU, 3 matrices), logits over the padded vocabulary, and the core
    attention as s² × q_width (its causal mask halves the two s × s GEMMs).
    ``vocab_multiple``: the vocabulary is padded up to a multiple of
    make_vocab_size_divisible_by × tensor-parallel size (128 × 1 by default).
    """
    padded = -(-s.vocab // vocab_multiple) * vocab_multiple
    six = 6 * s.tokens
    return {PROJECTIONS: six * s.params_projections, MLP: six * s.params_mlp,
            LM_HEAD: six * s.d_model * padded,
            CORE: 6 * s.batch * s.seq_len ** 2 * s.q_width * s.n_layers}


def maxtext(s: ModelSummary) -> dict:
    """MaxText ``calculate_tflops_training_per_device`` (default decoder path), for the whole
    step (its per-device figure times the devices): 3 × (FFN matmuls + QKV + output
    projection per layer + unembedding) + 3 × causal attention (4·B·T²·H·d_head / 2 per
    layer). The embedding lookup is not counted."""
    bt = s.tokens
    ffn = 2 * bt * s.d_ff * s.d_model * (s.mlp_matrices - 1) + 2 * bt * s.d_ff * s.d_model
    qkv = 2 * bt * s.d_model * (s.n_heads + 2 * s.n_kv_heads) * s.d_head
    proj = 2 * bt * s.d_model * s.n_heads * s.d_head
    causal = 4 * s.batch * s.seq_len ** 2 * s.n_heads * s.d_head // 2
    return {PROJECTIONS: 3 * s.n_layers * (qkv + proj), MLP: 3 * s.n_layers * ffn,
            LM_HEAD: 3 * 2 * bt * s.d_model * s.vocab, CORE: 3 * s.n_layers * causal}


def torchtitan(s: ModelSummary) -> dict:
    """torchtitan ``get_dense_model_nparams_and_flops`` (formerly ``get_num_flop_per_token``):
    per token 6 × N + 6 × n_layers × n_heads × (2·d_head) × seq_len, no causal halving. N is
    every parameter, less the nn.Embedding weights unless the LM head is tied (then the
    shared matrix, and any learned position table, stay in)."""
    terms = _six_n(s, vectors=True, position=s.tied_lm_head, lm_head=True, token=False)
    terms[CORE] = 6 * s.n_layers * s.n_heads * 2 * s.d_head * s.seq_len * s.tokens
    return terms


def nanogpt(s: ModelSummary) -> dict:
    """nanoGPT ``estimate_mfu`` (PaLM App. B): per token 6N + 12·L·H·Q·T, N =
    ``get_num_params()`` (every parameter but the position table; the tied wte stays as the
    LM head), T the block size (here the workload's seq_len: nanoGPT trains at block_size)."""
    terms = _six_n(s, vectors=True, position=False, lm_head=True, token=not s.tied_lm_head)
    terms[CORE] = 12 * s.n_layers * s.n_heads * s.d_head * s.seq_len * s.tokens
    return terms


def huggingface(s: ModelSummary) -> dict:
    """Hugging Face ``ModuleUtilsMixin.floating_point_ops``: 6 × tokens ×
    ``num_parameters(exclude_embeddings=True)``, which drops every nn.Embedding weight
    (token and position tables; a tied LM head with them). No attention term."""
    return _six_n(s, vectors=True, position=False, lm_head=not s.tied_lm_head, token=False)


def llm_foundry(s: ModelSummary) -> dict:
    """llm-foundry ``ComposerMPTCausalLM.flops_per_batch``:
    (2·N·msl + n_layers·2·2·d_model·msl²) × 3 × batch, N every parameter less the token
    embedding when untied."""
    terms = _six_n(s, vectors=True, position=True, lm_head=True, token=False)
    terms[CORE] = 3 * s.batch * s.n_layers * 4 * s.d_model * s.seq_len ** 2
    return terms


@dataclass(frozen=True)
class Framework:
    key: str
    name: str
    function: str
    formula: Callable[[ModelSummary], dict]
    attention: str  # the attention convention flopcalc counts it against: dense or causal
    differs: dict = field(default_factory=dict)  # category -> why the framework's term differs


SIX_N_VECTORS = "6 FLOPs per token per bias and norm parameter (6N)"

FRAMEWORKS: tuple[Framework, ...] = (
    Framework("megatron", "Megatron-LM", "num_floating_point_operations", megatron, "causal", {
        CORE: "causal s²/2 per GEMM leaves out the diagonal: exact causal pairs are s(s+1)/2",
        LM_HEAD: "logits over the vocabulary padded to a multiple of 128"}),
    Framework("maxtext", "MaxText", "calculate_tflops_training_per_device", maxtext, "causal", {
        CORE: "causal T²/2 per GEMM leaves out the diagonal: exact causal pairs are T(T+1)/2"}),
    Framework("torchtitan", "torchtitan", "get_dense_model_nparams_and_flops", torchtitan,
              "dense", {VECTORS: SIX_N_VECTORS,
                        POSITION: "6N keeps a learned position table when the head is tied"}),
    Framework("nanogpt", "nanoGPT", "estimate_mfu", nanogpt, "dense", {
        VECTORS: SIX_N_VECTORS, TOKEN: "an untied head's token embedding stays in N"}),
    Framework("huggingface", "Hugging Face", "floating_point_ops", huggingface, "dense", {
        CORE: "no attention term (Kaplan et al.'s 6N)",
        LM_HEAD: "the tied LM head is excluded with the embeddings", VECTORS: SIX_N_VECTORS}),
    Framework("llm_foundry", "llm-foundry", "flops_per_batch", llm_foundry, "dense", {
        CORE: "attention width taken as d_model (n_heads·d_head in the model)",
        VECTORS: SIX_N_VECTORS, POSITION: "a learned position table stays in N"}),
)


def framework(key: str) -> Framework:
    return next(f for f in FRAMEWORKS if f.key == key)


def category(role: str) -> str | None:
    """The category of a matmul by its role (any architecture), None for one outside them."""
    if role in ("attention.scores", "attention.values"):
        return CORE
    if role == "lm_head":
        return LM_HEAD
    return {"attention": PROJECTIONS, "mlp": MLP}.get(role.split(".")[0])


def exact_terms(model: Config | Architecture, attention: str,
                workload: Workload | None = None) -> dict:
    """flopcalc's exact training-step matmul FLOPs (2 per multiply-add, whole model, no
    recomputation) by category; the lookup and elementwise work count 0 here."""
    from .analysis import flop_report

    report = flop_report(model, Conventions(attention=attention), Mode("train"), workload)
    terms = dict.fromkeys(CATEGORIES, 0)
    for row in report.rows:
        if row.op.kind == "matmul":
            terms[category(row.op.role)] += row.flops * row.times
    assert sum(terms.values()) == report.total  # every counted matmul has a category
    return terms


@dataclass(frozen=True)
class Comparison:
    """One framework's training-step FLOPs next to flopcalc's exact count, by category."""

    framework: Framework
    terms: dict        # category -> the framework's FLOPs per step
    exact_terms: dict  # category -> flopcalc's exact FLOPs per step (framework's attention)
    tokens: int
    not_covered: tuple[str, ...]

    @property
    def total(self) -> int:
        return sum(self.terms.values())

    @property
    def exact(self) -> int:
        return sum(self.exact_terms.values())

    @property
    def per_token(self) -> Fraction:
        return Fraction(self.total, self.tokens)

    @property
    def error(self) -> Fraction:
        return Fraction(self.total - self.exact, self.exact)

    def differences(self) -> list[tuple[str, int, int, str]]:
        """(category, framework FLOPs, exact FLOPs, why) for each category that differs."""
        out = []
        for c in CATEGORIES:
            mine, exact = self.terms.get(c, 0), self.exact_terms[c]
            if mine != exact:
                why = self.framework.differs.get(c) or (
                    "not counted" if not mine else "not a matmul flopcalc counts")
                out.append((c, mine, exact, why))
        return out


def compare(model: Config | Architecture, summary: ModelSummary | None = None,
            workload: Workload | None = None) -> list[Comparison]:
    """Every framework's figure for the training step of ``model`` (a Config, or an
    Architecture on ``workload``; ``summary``: its ModelSummary, by default built from it)
    next to flopcalc's exact count under its attention convention."""
    from .analysis import split_model

    arch, load, _ = split_model(model, workload)
    summary = summary or from_architecture(arch, load)
    exact = {a: exact_terms(arch, a, load) for a in ("dense", "causal")}
    return [Comparison(f, {c: f.formula(summary).get(c, 0) for c in CATEGORIES},
                       exact[f.attention], summary.tokens, summary.features)
            for f in FRAMEWORKS]




def conventions_note() -> str:
    return ("Exact counts: flopcalc's training step (forward + backward, no recomputation), "
            "2 FLOPs per multiply-add, matmuls only, whole model, attention dense or causal as "
            "the 'against' column says.")


def frameworks_tables(model: Config | Architecture, rows: list[Comparison],
                      workload: Workload | None = None):
    """The comparison (one row per framework) and the term-by-term differences."""
    from .estimates import ROUNDING, _error_cell, subject
    from .tables import Table, exact_cell, model_note, per_token_note, readable

    notes = [model_note(subject(model, workload)), conventions_note(),
             f"Per step: the batch's B·L = {rows[0].tokens:,} tokens. Sources: "
             "docs/frameworks.md.",
             per_token_note([r.total for r in rows], rows[0].tokens, "tokens of the step (B·L)",
                            "the step's FLOPs"), ROUNDING]
    notes += [f"{f} is not modelled by these formulas: each framework's figure leaves it out."
              for f in rows[0].not_covered]
    main = Table(title="Training FLOPs as each framework counts them", notes=notes,
                 columns=["framework", "function", "FLOPs per token", "FLOPs per step", "≈",
                          "exact FLOPs", "against", "error %"],
                 align="llrrrrlr", optional=("function", "≈"), name="frameworks",
                 drop_order=("exact FLOPs",))
    terms = Table(title="Why each differs from the exact count, term by term",
                  notes=["Only the terms where the framework's figure and flopcalc's exact "
                         "count differ; difference = framework − exact."],
                  columns=["framework", "term", "framework FLOPs", "exact FLOPs", "difference",
                           "why"],
                  align="llrrrl", optional=("exact FLOPs", "framework FLOPs"), name="terms")
    for r in rows:
        main.rows.append([r.framework.name, r.framework.function, exact_cell(r.per_token),
                          r.total, readable(r.total, "FLOP"), r.exact,
                          f"{r.framework.attention} attention", _error_cell(r.error)])
        for category, mine, exact, why in r.differences():
            terms.rows.append([r.framework.name, category, mine, exact, mine - exact, why])
    return [main, terms]


def frameworks_json(model: Config | Architecture, rows: list[Comparison],
                    workload: Workload | None = None) -> dict:
    from .estimates import count, signed_percent, subject
    from .memory import fraction_text
    from .tables import JSON_SCHEMA_VERSION, model_json

    return {
        "schema": "flopcalc.frameworks", "schema_version": JSON_SCHEMA_VERSION,
        "config": model_json(subject(model, workload)), "tokens_per_step": rows[0].tokens,
        "exact_conventions": {"mode": "train", "flops_per_mac": 2, "elementwise": False,
                              "scope": "whole model"},
        "not_covered": list(rows[0].not_covered),
        "rows": [{"key": r.framework.key, "name": r.framework.name,
                  "function": r.framework.function, "flops_per_step": r.total,
                  "flops_per_token": count(r.per_token),
                  "flops_per_token_is_exact": r.per_token.denominator == 1,
                  "flops_per_token_exact": fraction_text(r.per_token),
                  "attention": r.framework.attention, "exact_flops_per_step": r.exact,
                  "relative_error": [r.error.numerator, r.error.denominator],
                  "relative_error_percent": signed_percent(r.error),
                  "terms": {c: r.terms[c] for c in CATEGORIES},
                  "exact_terms": dict(r.exact_terms),
                  "differences": [{"term": c, "framework": m, "exact": e, "why": w}
                                  for c, m, e, w in r.differences()]}
                 for r in rows],
    }
