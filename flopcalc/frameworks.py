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
from .config import Config, Conventions, Mode

# What a term counts. The first four are matmuls flopcalc counts too; the last three are
# what 6N-style formulas count as if every parameter took part in a matmul per token.
PROJECTIONS = "attention projections"
CORE = "attention scores and values"
MLP = "MLP"
ROUTER = "MoE router"
LM_HEAD = "LM head"
VECTORS = "biases and norms"
POSITION = "position embedding"
TOKEN = "token embedding"
CATEGORIES = (PROJECTIONS, CORE, MLP, ROUTER, LM_HEAD, VECTORS, POSITION, TOKEN)


@dataclass(frozen=True)
class ModelSummary:
    """A decoder-only model and its training workload as plain ints.

    ``params_vectors`` are the parameters outside every matmul (biases, LayerNorm/RMSNorm
    weights); ``params_position`` a learned position embedding (0 for RoPE and the like).
    ``features`` names architecture features none of the reproduced formulas model (a
    sliding window …): the comparison then says each framework's figure leaves them out,
    instead of inventing a term.

    A mixture of experts (``n_moe`` > 0): ``n_moe`` of the layers route each token to
    ``top_k`` of ``n_experts`` gated MLPs of ``d_expert`` and run a shared expert of
    ``d_shared`` (0: none; ``shared_gate``: Qwen2-MoE's sigmoid gate on it); the others are
    dense MLPs of ``d_ff``. Latent attention (``kv_lora_rank`` > 0): queries through
    ``q_lora_rank`` (0: one q_proj), keys and values from the latent, heads of
    ``qk_nope + qk_rope`` (queries, keys) and ``v_head`` (values).
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
    n_moe: int = 0
    n_experts: int = 0
    top_k: int = 0
    d_expert: int = 0
    d_shared: int = 0
    shared_gate: bool = False
    q_lora_rank: int = 0
    kv_lora_rank: int = 0
    qk_nope: int = 0
    qk_rope: int = 0
    v_head: int = 0

    @property
    def latent(self) -> bool:
        """Multi-head latent attention."""
        return self.kv_lora_rank > 0

    @property
    def v_width(self) -> int:
        """One head's value width: d_head, or v_head_dim with latent attention."""
        return self.v_head if self.latent else self.d_head

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
        """Q, K, V and output projection weights of all layers (latent attention: q_a, q_b
        or q, kv_a to the latent and the rotary key, kv_b, o)."""
        d, h = self.d_model, self.n_heads
        if not self.latent:
            return self.n_layers * (d * (self.q_width + 2 * self.kv_width) + self.q_width * d)
        qk = self.qk_nope + self.qk_rope
        q = d * h * qk if not self.q_lora_rank else self.q_lora_rank * (d + h * qk)
        kv = d * (self.kv_lora_rank + self.qk_rope) + self.kv_lora_rank * h * (
            self.qk_nope + self.v_head)
        return self.n_layers * (q + kv + h * self.v_head * d)

    @property
    def n_dense(self) -> int:
        """Layers with a dense MLP of d_ff."""
        return self.n_layers - self.n_moe

    @property
    def params_experts(self) -> int:
        """The routed experts' weights, every expert of every MoE layer."""
        return self.n_moe * self.mlp_matrices * self.d_model * self.n_experts * self.d_expert

    @property
    def params_experts_active(self) -> int:
        """The routed experts' weights a token uses: top_k of n_experts in each MoE layer."""
        return self.n_moe * self.mlp_matrices * self.d_model * self.top_k * self.d_expert

    @property
    def params_mlp(self) -> int:
        """The MLPs' weights: the dense layers', and the MoE layers' routed experts (all of
        them) and shared experts."""
        m, d = self.mlp_matrices, self.d_model
        return (self.n_dense * m * d * self.d_ff + self.params_experts
                + self.n_moe * m * d * self.d_shared)

    @property
    def params_mlp_active(self) -> int:
        """``params_mlp`` with the routed experts a token uses only (top_k of n_experts)."""
        return self.params_mlp - self.params_experts + self.params_experts_active

    @property
    def params_router(self) -> int:
        """The routers (d_model × n_experts per MoE layer) and shared-expert gates (d_model)."""
        return self.n_moe * self.d_model * (self.n_experts + (1 if self.shared_gate else 0))

    @property
    def params_vocab(self) -> int:
        """One (vocab, d_model) matrix: the token embedding, or an untied LM head."""
        return self.vocab * self.d_model

    @property
    def params_total(self) -> int:
        """Every parameter, a tied LM head counted once."""
        return (self.params_projections + self.params_mlp + self.params_router
                + self.params_vectors + self.params_position
                + self.params_vocab * (1 if self.tied_lm_head else 2))


def from_architecture(arch: Architecture, workload: Workload) -> ModelSummary:
    """The ModelSummary of any architecture on a workload: its K/V heads and head width, a
    gated or plain MLP, a tied or untied head, a learned position table or none (rotary)."""
    from .analysis import param_report
    from .estimates import position_params

    report = param_report(arch)
    vectors = sum(r.param.count * r.times for r in report.rows
                  if len(r.param.shape) == 1 or r.param.name.endswith(".bias"))
    features = ()
    if arch.sliding_window is not None:
        features = (f"Sliding-window attention ({arch.sliding_window} keys on "
                    f"{arch.n_windowed} of {arch.n_layers} layers; the exact count caps the keys)",)
    moe = arch.n_experts is not None and arch.n_moe > 0
    summary = ModelSummary(
        d_model=arch.d_model, n_layers=arch.n_layers, n_heads=arch.n_heads,
        n_kv_heads=arch.n_kv_heads, d_head=arch.d_head, d_ff=arch.d_ff, vocab=arch.vocab,
        seq_len=workload.seq_len, batch=workload.batch, gated_mlp=arch.mlp == "gated",
        tied_lm_head=arch.tied_lm_head, params_vectors=vectors,
        params_position=position_params(arch), features=features,
        **({"n_moe": arch.n_moe, "n_experts": arch.n_experts, "top_k": arch.top_k,
            "d_expert": arch.d_expert, "d_shared": arch.d_shared or 0,
            "shared_gate": arch.shared_gate} if moe else {}),
        **({"q_lora_rank": arch.q_lora_rank or 0, "kv_lora_rank": arch.kv_lora_rank,
            "qk_nope": arch.qk_nope_head_dim, "qk_rope": arch.qk_rope_head_dim,
            "v_head": arch.v_head_dim} if arch.kv_lora_rank is not None else {}))
    assert summary.params_total == report.total  # every parameter has its category
    return summary


def from_config(config: Config) -> ModelSummary:
    """The ModelSummary of a GPT-2 Config: every head has its own K and V, d_head =
    d_model / n_heads, a plain (ungated) MLP and a learned position embedding."""
    return from_architecture(config.architecture, config.workload)


def _six_n(s: ModelSummary, *, vectors: bool, position: bool, lm_head: bool, token: bool,
           active: bool = False) -> dict:
    """6 × tokens × N split by the parameters N includes (the block matmul weights always;
    the routed experts all of them, or with ``active`` the top_k of n_experts a token uses)."""
    six = 6 * s.tokens
    return {PROJECTIONS: six * s.params_projections,
            MLP: six * (s.params_mlp_active if active else s.params_mlp),
            ROUTER: six * s.params_router,
            VECTORS: six * s.params_vectors if vectors else 0,
            POSITION: six * s.params_position if position else 0,
            LM_HEAD: six * s.params_vocab if lm_head else 0,
            TOKEN: six * s.params_vocab if token else 0}


def megatron(s: ModelSummary, vocab_multiple: int = 128) -> dict:
    """Megatron-LM ``num_floating_point_operations`` (GPT path, BSHD, no MTP layers).

    3 (forward, wgrad, dgrad) × 2 (FMA) per GEMM: QKV + output projections, the MLP
    (2 or, with SwiGLU, 3 matrices), logits over the padded vocabulary, and the core
    attention as s² × q_width (its causal mask halves the two s × s GEMMs).
    ``vocab_multiple``: the vocabulary is padded up to a multiple of
    make_vocab_size_divisible_by × tensor-parallel size (128 × 1 by default).

    A mixture of experts: the dense layers' MLP of ffn_hidden_size, and per MoE layer the
    top_k routed experts of moe_ffn_hidden_size and the shared expert; no router term.
    Latent attention: its projections, plus q_lora_rank and kv_lora_rank once per token and
    layer for the two latent norms, and the core attention as s²/2 × h·(qk + v) widths.
    """
    padded = -(-s.vocab // vocab_multiple) * vocab_multiple
    six = 6 * s.tokens
    terms = {PROJECTIONS: six * s.params_projections, MLP: six * s.params_mlp_active,
             LM_HEAD: six * s.d_model * padded,
             CORE: 6 * s.batch * s.seq_len ** 2 * s.q_width * s.n_layers}
    if s.latent:
        terms[VECTORS] = six * s.n_layers * (s.q_lora_rank + s.kv_lora_rank)
        terms[CORE] = 3 * s.batch * s.seq_len ** 2 * s.n_heads * (
            s.qk_nope + s.qk_rope + s.v_head) * s.n_layers
    return terms


def _maxtext_ffn(s: ModelSummary, width: int) -> int:
    """MaxText's ``calculate_ffn_mamtul_tflops_per_device``: the FFN's matmuls at a width."""
    bt = s.tokens
    return 2 * bt * width * s.d_model * (s.mlp_matrices - 1) + 2 * bt * width * s.d_model


def maxtext_deepseek(s: ModelSummary) -> bool:
    """Whether MaxText counts the model with its DeepSeek decoder (routed and shared
    experts after the first dense layers, latent attention): the decoder of the models with
    latent attention (DeepSeek-V2/V3's); a mixture of experts without it runs the default."""
    return s.latent


def maxtext(s: ModelSummary) -> dict:
    """MaxText ``calculate_tflops_training_per_device`` (default decoder path), for the whole
    step (its per-device figure times the devices): 3 × (FFN matmuls + QKV + output
    projection per layer + unembedding) + 3 × causal attention (4·B·T²·H·d_head / 2 per
    layer). The embedding lookup is not counted.

    A mixture of experts: per MoE layer the gate (2·T·d_model·n_experts) and the top_k
    routed experts; the DeepSeek decoder adds the shared expert and keeps the first dense
    layers, the default decoder counts every layer as MoE. Latent attention (DeepSeek): its
    projections and a causal attention of 2·T·s·h·(qk + v widths) / 2 per layer."""
    bt = s.tokens
    if s.n_moe:
        gate = 2 * bt * s.d_model * s.n_experts
        moe_layer = gate + _maxtext_ffn(s, s.d_expert) * s.top_k
        if maxtext_deepseek(s):
            moe_layer += _maxtext_ffn(s, s.d_shared)
            ffn, router = (_maxtext_ffn(s, s.d_ff) * s.n_dense
                           + (moe_layer - gate) * s.n_moe), gate * s.n_moe
        else:
            ffn, router = (moe_layer - gate) * s.n_layers, gate * s.n_layers
    else:
        ffn, router = _maxtext_ffn(s, s.d_ff) * s.n_layers, 0
    if s.latent:
        qkv_proj = 2 * bt * s.params_projections // s.n_layers
        causal = bt * s.seq_len * s.n_heads * (s.qk_nope + s.qk_rope + s.v_head)
    else:
        qkv_proj = (2 * bt * s.d_model * (s.n_heads + 2 * s.n_kv_heads) * s.d_head
                    + 2 * bt * s.d_model * s.n_heads * s.d_head)
        causal = 4 * s.batch * s.seq_len ** 2 * s.n_heads * s.d_head // 2
    return {PROJECTIONS: 3 * s.n_layers * qkv_proj, MLP: 3 * ffn, ROUTER: 3 * router,
            LM_HEAD: 3 * 2 * bt * s.d_model * s.vocab, CORE: 3 * s.n_layers * causal}


def torchtitan(s: ModelSummary) -> dict:
    """torchtitan ``get_dense_model_nparams_and_flops`` (formerly ``get_num_flop_per_token``):
    per token 6 × N + 6 × n_layers × n_heads × (2·d_head) × seq_len, no causal halving. N is
    every parameter, less the nn.Embedding weights unless the LM head is tied (then the
    shared matrix, and any learned position table, stay in).

    A mixture of experts: ``get_moe_model_nparams_and_flops``, N with the routed experts'
    weights × top_k // n_experts (router and shared experts whole), and head_dims the query/key
    plus the value width (qk_nope + qk_rope + v_head_dim with latent attention)."""
    terms = _six_n(s, vectors=True, position=s.tied_lm_head, lm_head=True, token=False,
                   active=s.n_moe > 0)
    terms[CORE] = 6 * s.n_layers * s.n_heads * (s.d_head + s.v_width) * s.seq_len * s.tokens
    return terms


def nanogpt(s: ModelSummary) -> dict:
    """nanoGPT ``estimate_mfu`` (PaLM App. B): per token 6N + 12·L·H·Q·T, N =
    ``get_num_params()`` (every parameter but the position table, every expert of a mixture
    of experts; the tied wte stays as the LM head), T the block size (here the workload's
    seq_len: nanoGPT trains at block_size)."""
    terms = _six_n(s, vectors=True, position=False, lm_head=True, token=not s.tied_lm_head)
    terms[CORE] = 12 * s.n_layers * s.n_heads * s.d_head * s.seq_len * s.tokens
    return terms


def huggingface(s: ModelSummary) -> dict:
    """Hugging Face ``ModuleUtilsMixin.floating_point_ops``: 6 × tokens ×
    ``num_parameters(exclude_embeddings=True)``, which drops every nn.Embedding weight
    (token and position tables; a tied LM head with them) and keeps every expert. No
    attention term."""
    return _six_n(s, vectors=True, position=False, lm_head=not s.tied_lm_head, token=False)


def llm_foundry(s: ModelSummary) -> dict:
    """llm-foundry ``ComposerMPTCausalLM.flops_per_batch``:
    (2·N·msl + n_layers·2·2·d_model·msl²) × 3 × batch, N every parameter less the token
    embedding when untied; with MegaBlocks experts (``mpt_get_active_params``) the experts'
    weights count × top_k / n_experts."""
    terms = _six_n(s, vectors=True, position=True, lm_head=True, token=False, active=True)
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
    moe_differs: dict = field(default_factory=dict)     # the same, for a mixture of experts
    latent_differs: dict = field(default_factory=dict)  # and for latent attention
    moe_function: str = ""  # the function it counts a mixture of experts with, if another
    gaps: Callable[[ModelSummary], tuple[str, ...]] = lambda s: ()  # what it does not cover

    def function_for(self, s: ModelSummary) -> str:
        return self.moe_function if s.n_moe and self.moe_function else self.function


SIX_N_VECTORS = "6 FLOPs per token per bias and norm parameter (6N)"
EVERY_EXPERT = ("N counts every expert (all n_experts of each MoE layer); a token uses top_k "
                "of them")


def _no_moe(name: str):
    """The gap of a formula whose N knows nothing of experts."""
    def gaps(s: ModelSummary) -> tuple[str, ...]:
        return (f"a mixture of experts ({name} has none: its N counts all {s.n_experts} "
                f"experts of each MoE layer, where a token uses {s.top_k})",) if s.n_moe else ()
    return gaps


def _nanogpt_gaps(s: ModelSummary) -> tuple[str, ...]:
    latent = (f"latent attention (nanoGPT has none: its 12·L·H·Q·T takes Q = d_head = "
              f"{s.d_head} for P·V too, whose values are v_head_dim = {s.v_head} wide)",)
    return _no_moe("nanoGPT")(s) + (latent if s.latent else ())


def _maxtext_gaps(s: ModelSummary) -> tuple[str, ...]:
    if not s.n_moe or maxtext_deepseek(s):
        return ()
    gaps = ()
    if s.d_shared:
        gaps += ("the shared expert" + (" and its sigmoid gate" if s.shared_gate else "")
                 + " (MaxText has no decoder for this family; its default MoE formula, router "
                 "and top_k experts, has none)",)
    if s.n_dense:
        gaps += (f"the {s.n_dense} dense layers (its default MoE formula makes every layer "
                 "MoE)",)
    return gaps


def _llm_foundry_gaps(s: ModelSummary) -> tuple[str, ...]:
    return ("latent attention (MPT has none: its attention term takes d_model)",) \
        if s.latent else ()


FRAMEWORKS: tuple[Framework, ...] = (
    Framework("megatron", "Megatron-LM", "num_floating_point_operations", megatron, "causal", {
        CORE: "causal s²/2 per GEMM leaves out the diagonal: exact causal pairs are s(s+1)/2",
        LM_HEAD: "logits over the vocabulary padded to a multiple of 128"},
        moe_differs={ROUTER: "no router term (nor the shared-expert gate) in its formula"},
        latent_differs={VECTORS: "the q and kv latent norms, 6 FLOPs per token per weight "
                                 "(q_lora_rank + kv_lora_rank per layer)"}),
    Framework("maxtext", "MaxText", "calculate_tflops_training_per_device", maxtext, "causal", {
        CORE: "causal T²/2 per GEMM leaves out the diagonal: exact causal pairs are T(T+1)/2"},
        moe_differs={MLP: "its default MoE formula: router and top_k experts on every layer, "
                          "no shared expert", ROUTER: "the shared expert's gate is not counted"},
        gaps=_maxtext_gaps),
    Framework("torchtitan", "torchtitan", "get_dense_model_nparams_and_flops", torchtitan,
              "dense", {VECTORS: SIX_N_VECTORS,
                        POSITION: "6N keeps a learned position table when the head is tied"},
              moe_function="get_moe_model_nparams_and_flops"),
    Framework("nanogpt", "nanoGPT", "estimate_mfu", nanogpt, "dense", {
        VECTORS: SIX_N_VECTORS, TOKEN: "an untied head's token embedding stays in N"},
        moe_differs={MLP: EVERY_EXPERT},
        latent_differs={CORE: "12·L·H·Q·T with Q = d_head for P·V too (values are v_head_dim "
                              "wide)"}, gaps=_nanogpt_gaps),
    Framework("huggingface", "Hugging Face", "floating_point_ops", huggingface, "dense", {
        CORE: "no attention term (Kaplan et al.'s 6N)",
        LM_HEAD: "the tied LM head is excluded with the embeddings", VECTORS: SIX_N_VECTORS},
        moe_differs={MLP: EVERY_EXPERT}, gaps=_no_moe("Hugging Face's num_parameters")),
    Framework("llm_foundry", "llm-foundry", "flops_per_batch", llm_foundry, "dense", {
        CORE: "attention width taken as d_model (n_heads·d_head in the model)",
        VECTORS: SIX_N_VECTORS, POSITION: "a learned position table stays in N"},
        moe_function="flops_per_batch (MegaBlocks: mpt_get_active_params)",
        gaps=_llm_foundry_gaps),
)


def framework(key: str) -> Framework:
    return next(f for f in FRAMEWORKS if f.key == key)


def category(role: str) -> str | None:
    """The category of a matmul by its role (any architecture), None for one outside them."""
    if role in ("attention.scores", "attention.values"):
        return CORE
    if role == "lm_head":
        return LM_HEAD
    if role in ("mlp.router", "mlp.shared.router"):  # the router and a shared expert's gate
        return ROUTER
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
    not_covered: tuple[str, ...]   # the model's features no reproduced formula models
    gaps: tuple[str, ...] = ()     # and those this framework's formula does not
    function: str = ""             # the framework's function that counts this model
    moe: bool = False              # the model is a mixture of experts
    latent: bool = False           # with latent attention

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
                f = self.framework
                why = (self.latent and f.latent_differs.get(c)) or (
                    self.moe and f.moe_differs.get(c)) or f.differs.get(c) or (
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
                       exact[f.attention], summary.tokens, summary.features, f.gaps(summary),
                       f.function_for(summary), summary.n_moe > 0, summary.latent)
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
    notes += [f"{r.framework.name}'s formula does not model {'; nor '.join(r.gaps)}. No term "
              "is made up for it." for r in rows if r.gaps]
    if rows[0].moe:
        notes.append("Mixture of experts: flopcalc's exact count runs each token through its "
                     "top_k experts (the active parameters); a framework whose N counts every "
                     "expert overcounts the routed experts by (n_experts − top_k) / top_k.")
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
        main.rows.append([r.framework.name, r.function, exact_cell(r.per_token),
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
                  "function": r.function, "not_covered": list(r.gaps),
                  "flops_per_step": r.total,
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
