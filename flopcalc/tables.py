"""Reports turned into presentable tables (and JSON documents); no computation of counts here.

A ``Table`` holds cells as exact ints or strings; ``render`` decides how they look
(thousands separators in Markdown and the terminal, plain digits in CSV).
"""

from fractions import Fraction

from .analysis import FlopReport, ParamReport, ShapeReport
from .architecture import NORM_NAMES
from .config import Config, Mode
from .records import row

JSON_SCHEMA_VERSION = 1
SECTION_TITLES = {"embedding": "embedding", "block": "block", "head": "head"}


class Table:
    """A titled table with the notes (config, conventions) that must travel with it.

    A plain class, not a dataclass: ``@dataclass`` compiles its methods for the sixteen
    fields at every start-up (about 1% of ``flopcalc flops``'s time).
    """

    def __init__(self, title: str, notes: list[str], columns: list[str], align: str,
                 rows: list[list] | None = None, totals: list[list] | None = None,
                 optional: tuple[str, ...] = (), shares: list | None = None, name: str = "",
                 drop_order: tuple[str, ...] = (), keep: tuple[str, ...] = (),
                 csv_columns: dict | None = None, csv_extra: list | None = None,
                 csv_transposed: bool = False, csv_notes: list | None = None,
                 summary_totals: bool = False) -> None:
        self.title, self.notes, self.columns = title, notes, columns
        self.align = align                      # one of "l" / "r" per column
        self.rows = [] if rows is None else rows
        self.totals = [] if totals is None else totals  # emphasised summary rows
        self.optional = optional    # columns a narrow terminal may leave out
        self.shares = [] if shares is None else shares  # per row (part, whole): a bar in a terminal
        self.name = name            # what --table calls it when a command prints several
        self.drop_order = drop_order  # columns a too narrow terminal leaves out first (render.fit)
        self.keep = keep            # columns never left out (a sweep's swept ones): render.fit
        # column -> its CSV header (None: not in CSV)
        self.csv_columns = {} if csv_columns is None else csv_columns
        # (header, cells of rows + totals): CSV only
        self.csv_extra = [] if csv_extra is None else csv_extra
        self.csv_transposed = csv_transposed  # a quantity/value table: one CSV column per quantity
        self.csv_notes = [] if csv_notes is None else csv_notes  # on what only the CSV holds
        self.summary_totals = summary_totals  # totals are a verdict in words: CSV notes, not rows

    def replace(self, **changes) -> "Table":
        """A copy with ``changes`` (fields by name) made."""
        return Table(**{**vars(self), **changes})

    def __eq__(self, other):
        return vars(self) == vars(other) if type(other) is Table else NotImplemented

    __hash__ = None  # mutable, as a dataclass's

    def __repr__(self) -> str:
        return f"Table({', '.join(f'{k}={v!r}' for k, v in vars(self).items())})"


@row
class Num:
    """A number shown one way to people and another to machines: ``text`` (``16.87%``,
    ``1,234.5``, ``156 µs``) in the terminal and Markdown, ``plain`` (``16.87``, ``1234.5``,
    ``0.000156``; empty for no value) in CSV, under a header that names the unit."""

    text: str
    plain: str

    def __str__(self) -> str:
        return self.text


def shape_str(shape) -> str:
    return "(" + ", ".join(str(d) for d in shape) + ")"


_PREFIXES = ["", "k", "M", "G", "T", "P", "E", "Z", "Y", "R", "Q"]


def readable(n: int, unit: str) -> str:
    """``1862270976`` -> ``1.86 GFLOP``: three significant digits, exact integer rounding."""
    sign, n = ("-" if n < 0 else ""), abs(n)
    text = str(n)
    digits = len(text)
    if digits <= 3:
        return f"{sign}{text} {unit}".rstrip()
    # round half up to three significant digits (999.5 to 1000: one more digit)
    step = 10 ** (digits - 3)
    top = (2 * n + step) // (2 * step)
    if top == 1000:
        top, digits = 100, digits + 1
    k = (digits - 1) // 3
    if k >= len(_PREFIXES):  # past the last prefix: the whole number of its unit
        k = len(_PREFIXES) - 1
        return f"{sign}{top * 10 ** (digits - 3 - 3 * k)} {_PREFIXES[k]}{unit}"
    whole = digits - 3 * k          # the digits before the point: 1, 2 or 3 of the three
    text = str(top)
    if whole < 3:
        text = f"{text[:whole]}.{text[whole:]}"
    return f"{sign}{text} {_PREFIXES[k]}{unit}"


def exact_text(x, separators: bool = True) -> str:
    """An exact ratio as text: a whole number (``1,234``), a decimal that ends (``1,234.125``,
    exact) or the fraction ``n/d`` (``3,703/3``); no rounding."""
    from fractions import Fraction

    x = Fraction(x)
    sep = "," if separators else ""
    if x.denominator == 1:
        return f"{x.numerator:{sep}}"
    d, places = x.denominator, 0
    while d % 10 == 0 or d % 2 == 0 or d % 5 == 0:   # only 2s and 5s: the decimal ends
        d //= 2 if d % 2 == 0 else 5
        places += 1
    if d == 1:
        whole, rest = divmod(abs(x.numerator) * 10 ** places // x.denominator, 10 ** places)
        return f"{'-' if x < 0 else ''}{whole:{sep}}.{rest:0{places}d}".rstrip("0")
    return f"{x.numerator:{sep}}/{x.denominator:{sep}}"


CSV_PLACES = 3   # a per-token figure whose decimal does not end is rounded to this in CSV


def exact_cell(x) -> Num:
    """``exact_text`` as a table cell; in CSV a plain number: exact where the decimal ends,
    else rounded half up to ``CSV_PLACES`` decimals (``per_token_note`` says so)."""
    from fractions import Fraction

    x = Fraction(x)
    text = exact_text(x)
    if "/" not in text:
        return Num(text, text.replace(",", ""))
    scale = 10 ** CSV_PLACES
    whole, rest = divmod((2 * abs(x.numerator) * scale + x.denominator) // (2 * x.denominator),
                         scale)
    return Num(text, f"{'-' if x < 0 else ''}{whole}.{rest:0{CSV_PLACES}d}")


def tokens_of(mode, workload) -> tuple[int, str]:
    """The tokens a mode's FLOPs are per (``mode`` resolved): B·L for forward, backward and
    train; the B new tokens of a decode step (one per sequence); the B·n generated tokens of
    generate. With what they are, in words."""
    kind, batch = mode.kind, workload.batch
    if kind == "decode":
        return batch, "new tokens (one per sequence, B)"
    if kind == "generate":
        return batch * (mode.new_tokens or 1), "generated tokens (B·n)"
    return workload.tokens, "tokens of the batch (B·L)"


def per_token_note(values, tokens: int, what: str, of: str = "the total",
                   csv_rounds: bool = True) -> str:
    """What a table's per-token figures are (``of`` ÷ the ``tokens``) and how one that is not
    whole is shown; ``csv_rounds``: the figures stand in a numeric CSV column (``exact_cell``)."""
    whole = all(Fraction(v, tokens).denominator == 1 for v in values)
    how = ("exact, whole here" if whole else
           "exact: a whole number, a decimal that ends, or a fraction n/d where the division "
           "is neither" + (f" (CSV: rounded half up to {CSV_PLACES} decimals)" if csv_rounds
                           else ""))
    return f"Per token: {of} ÷ the {tokens:,} {what}; {how}."


def per_token_cell(each: Fraction, tokens: int) -> Num:
    """The per-token figure in a totals row's text column, exact, for people; empty in CSV,
    where the figure has a column of its own (``flop_table``'s ``csv_extra``)."""
    return Num(f"{exact_text(each)} per token (÷ {tokens:,})", "")


def percent(part: int, whole: int) -> str:
    """``part / whole`` as a percentage with two decimals, exact integer rounding."""
    if not whole:
        return "–"
    hundredths = (part * 20000 + whole) // (2 * whole)
    return f"{hundredths // 100}.{hundredths % 100:02d}%"


def percent_cell(part: int, whole: int) -> Num:
    """``percent`` as a table cell: ``16.87%`` to read, ``16.87`` in CSV (empty for no whole)."""
    text = percent(part, whole)
    return Num(text, text.rstrip("%") if whole else "")


def flop_unit(conv) -> str:
    """What a count is in: FLOPs (2 per multiply-add), MACs, or MACs plus elementwise FLOPs."""
    return "FLOP" if conv.flops_per_mac == 2 else ("op" if conv.elementwise else "MAC")


def config_note(config, with_input: bool = True, mode=None) -> str:
    """The config in one line; with a decode or generate ``mode``, its position or prompt and
    new tokens stand where seq_len would (seq_len plays no part there)."""
    return f"Config: {config.describe(with_input, mode.workload() if mode else None)}"


def model_note(report, with_input: bool = True, mode=None) -> str:
    """``config_note`` for a GPT-2 Config; for other architectures the model and its input."""
    if report.config is not None:
        return config_note(report.config, with_input, mode)
    text = f"Model: {report.architecture.describe()}"
    if with_input:
        w = report.workload
        length = (mode.workload() if mode else None) or f"seq_len={w.seq_len}"
        text += f"; {length}, batch={w.batch}"
    return text


def group_title(group: str) -> str:
    """A layer group as a table's section: embedding, block, head, or "sliding block"."""
    return SECTION_TITLES.get(group, f"{group} block")


def block_counts(groups) -> tuple[int, str]:
    """How many blocks the model runs, and (for more than one kind) of which kinds."""
    blocks_ = [g for g in groups if g.section == "block"]
    n = sum(g.repeat for g in blocks_)
    kinds = "" if len(blocks_) < 2 else " (" + ", ".join(f"{g.repeat} {g.name}" for g in blocks_) + ")"
    return n, kinds


def block_totals(groups, total_of, total: int, unit: str, flops: bool = True) -> list[list]:
    """The one-block and all-blocks total rows, per kind of block when there are several."""
    rows = []
    for g in (g for g in groups if g.section == "block"):
        kind = "" if g.name == "block" else f"{g.name} "
        one, n = total_of(g.name), g.repeat
        many = blocks(n, kind.strip())
        if flops:
            # model FLOPs: left blank for people (the next row has the model's); in CSV the
            # row's own (× 1), so that the column of counts has no empty cell (pandas: int64)
            rows.append(["", f"one {kind}block", "", "", "", one, readable(one, unit),
                         percent_cell(one, one), Num("", str(one)), percent_cell(one, total)])
            rows.append(["", many, f"{n} × one {kind}block", "", "", one * n,
                         readable(one * n, unit), "", one * n, percent_cell(one * n, total)])
        else:
            rows.append(["", f"one {kind}block", "", "", one, readable(one, "")])
            rows.append(["", many, "", "", one * n, readable(one * n, "")])
    return rows


def operands_str(op) -> str:
    return (" @ " if op.kind == "matmul" else ", ").join(shape_str(s) for s in op.inputs)


def span_str(first, last) -> str:
    """A shape over generate's decode steps: a dimension that grows per step as ``a…b``."""
    return "(" + ", ".join(str(a) if a == b else f"{a}…{b}" for a, b in zip(first, last)) + ")"


def shapes_note(report: FlopReport) -> str | None:
    """What the shapes beside a mode's FLOPs are (None for a forward pass: its own)."""
    mode, elementwise = report.mode, report.conventions.elementwise
    grads = ("per matmul C = A·B, dA = dC·Bᵀ and dB = Aᵀ·dC, each as many multiply-adds as "
             "the forward" + ("; elementwise gradients per docs/counting-rules.md"
                              if elementwise else ""))
    if mode.kind == "backward":
        return f"Shapes are the forward pass's; the FLOPs are its gradients: {grads}."
    if mode.kind == "train":
        again = "; the blocks' forward is counted twice (recomputed)" if mode.recompute else ""
        return (f"Shapes are the forward pass's; the FLOPs are the forward plus its gradients: "
                f"{grads}{again}.")
    if mode.kind == "decode":
        return (f"Shapes are the decode step's: 1 new token attending to T = {mode.position} keys "
                f"({mode.position - 1} cached + its own).")
    if mode.kind == "generate":
        steps = mode.new_tokens - 1
        if not steps:
            return "Shapes are the prefill's (one new token: no decode step)."
        return (f"Shapes: the prefill's, then \"{steps} × ...\" those of the {steps} decode steps "
                f"(1 token each, against T = {mode.prompt + 1} … {mode.prompt + steps} keys; a "
                "dimension written a…b grows by one per step).")
    return None


def blocks(n: int, kind: str = "", one: str = "1") -> str:
    """How many blocks, in words: "1 block", "12 blocks", "21 sliding blocks" (``kind``
    "sliding"), "one block" (``one`` "one"). Every table and report says it this way."""
    kind = f"{kind} " if kind else ""
    return f"{one} {kind}block" if n == 1 else f"{n} {kind}blocks"


def flop_table(report: FlopReport) -> Table:
    """One row per counted operation, then the per-block, all-block, section and grand totals."""
    conv = report.conventions
    unit = flop_unit(conv)
    (n, kinds), total = block_counts(report.groups), report.total
    shapes = shapes_note(report)
    one = (f"one block's {report.block_total:,}" if not kinds else "one block of its kind")
    table = Table(
        title={"FLOP": "FLOPs", "MAC": "Multiply-adds (MACs)",
               "op": "Operations (MACs + elementwise FLOPs)"}[unit] + f" of {report.mode.describe()}",
        notes=[model_note(report, mode=report.mode), f"Conventions: {conv.describe(report.architecture)}",
               f"Block rows are for one block; the model runs {n} of them{kinds}. model {unit}s: "
               f"the row's {unit}s × {n if not kinds else 'the blocks of its kind'} for a block row (× 1 "
               f"otherwise). % of block: share of {one}; % of total: the model {unit}s' share of the "
               f"total {total:,} (the one-block row: its {unit}s' share)."]
        + ([shapes] if shapes else []),
        columns=["section", "operation", "computes", "operands", "output", unit + "s", "≈",
                 "% of block", f"model {unit}s", "% of total"],
        align="lllllrrrrr", optional=("section", "computes", "operands"), name="flops",
        drop_order=("% of total", f"model {unit}s"))
    for r in report.rows:
        times = r.times
        table.shares.append((r.flops * times, total))
        operands, output = operands_str(r.op), shape_str(r.op.output)
        if r.steps:  # generate: the prefill's shapes, then the decode steps'
            first, last = r.steps
            k = report.mode.new_tokens - 1
            operands += f"; {k} × " + (" @ " if first.kind == "matmul" else ", ").join(
                span_str(a, b) for a, b in zip(first.inputs, last.inputs))
            output += f"; {k} × {span_str(first.output, last.output)}"
        table.rows.append([
            group_title(r.group), r.op.name, r.op.computes, operands,
            output, r.flops, readable(r.flops, unit),
            percent_cell(r.flops, report.group_total(r.group)) if r.op.section == "block" else "",
            r.flops * times, percent_cell(r.flops * times, total)])
    table.totals += block_totals(report.groups, report.group_total, total, unit)
    if kinds:
        table.totals.append(["", blocks(n), "every kind", "", "", report.blocks_total,
                             readable(report.blocks_total, unit), "", report.blocks_total,
                             percent_cell(report.blocks_total, total)])
    for section in ("embedding", "head"):
        if section in conv.sections:
            t = report.section_total(section)
            label = {"embedding": "embedding", "head": "final LN + LM head"
                     if report.architecture.norm == "layernorm" else "final norm + LM head"}[section]
            table.totals.append(["", label, "", "", "", t, readable(t, unit), "", t,
                                 percent_cell(t, total)])
    tokens, what = tokens_of(report.mode, report.workload)
    each = Fraction(total, tokens)
    table.totals.append(["", "total", per_token_cell(each, tokens), "", "", total,
                         readable(total, unit), "", total, percent_cell(total, total)])
    table.notes.append(per_token_note([total], tokens, what, f"{exact_text(each)} {unit}s = "
                                      "the total", csv_rounds=False))
    table.csv_notes.append(f"CSV: the one-block row's model {unit}s are its own (× 1); the column "
                           f"'model {unit}s per token' is each row's model {unit}s ÷ the "
                           f"{tokens:,} {what}, exact (a fraction n/d where the division does "
                           "not end).")
    table.csv_extra.append((f"model {unit}s per token",
                            [exact_text(Fraction(int(getattr(row[8], "plain", row[8])), tokens),
                                        False)
                             for row in table.rows + table.totals]))
    return table


def round_half_up(x) -> int:
    """The nearest int to a Fraction ``x`` (halves up)."""
    return (2 * x.numerator + x.denominator) // (2 * x.denominator)


def param_table(report: ParamReport) -> Table:
    """Every parameter tensor, with per-block and model totals."""
    groups = param_groups(report)
    n, kinds = block_counts(groups)
    prefix = next((r.prefix for r in report.rows if r.section == "block"), "h.i.")
    # the kinds of norm, the token table, the final norm and an untied head's tensor, named
    # as the builder's ops name them (GPT-2: LayerNorm, wte, ln_f, lm_head)
    norms = " and ".join(dict.fromkeys(NORM_NAMES[r.cost] for r in report.rows
                                       if r.cost in NORM_NAMES)) or "norm"
    table_name = report.embedding_tensors[0]
    final_norm = next((r.param.name.removesuffix(".weight") for r in report.rows
                       if r.section == "head" and r.cost in NORM_NAMES), "final norm")
    lm_head = next((r.param.name for r in report.rows if r.role == "lm_head"), None)
    table = Table(
        title="Parameters",
        notes=[model_note(report, with_input=False),
               f"Counted: every weight, bias and {norms} tensor; "
               + (f"the LM head is tied to {table_name} (no tensor of its own)"
                  if lm_head is None else f"the LM head is untied (its own {lm_head})")
               + f". Non-embedding: all but {', '.join(report.embedding_tensors)} and an "
               "untied LM head (Kaplan et al.'s N). "
               + f"Block rows are for one block ({prefix.replace('.i.', '.0')} … "
               f"{prefix.replace('.i.', f'.{n - 1}')}{kinds}). Independent of seq_len and batch."],
        columns=["section", "operation", "tensor", "shape", "parameters", "≈"],
        align="llllrr")
    for r in report.rows:
        table.rows.append([group_title(r.group), r.op, r.prefix + r.param.name,
                           shape_str(r.param.shape), r.param.count, readable(r.param.count, "")])
    table.totals += block_totals(groups, lambda g: sum(r.param.count for r in report.rows
                                                       if r.group == g), 0, "", flops=False)
    head = f"head ({final_norm}" + ("; LM head tied)" if lm_head is None else
                                     f", {lm_head.removesuffix('.weight')})")
    for label, value in [*([(blocks(n), sum(r.param.count * r.times for r in report.rows
                                             if r.section == "block"))] if kinds else []),
                         ("embedding", report.section_total("embedding")),
                         (head, report.section_total("head")),
                         ("non-embedding", report.non_embedding),
                         ("total", report.total), *moe_param_totals(report)]:
        table.totals.append(["", label, "", "", value, readable(value, "")])
    table.notes += moe_param_notes(report)
    return table


def moe_param_totals(report: ParamReport) -> list[tuple[str, int]]:
    """The MoE rows of the parameter totals: active per token, and what else is stored."""
    rows = [("active per token", report.active)] if report.architecture.is_moe else []
    if report.also_stored:
        rows.append(("total + score-correction biases", report.total + report.also_stored))
    return rows


def moe_param_notes(report: ParamReport) -> list[str]:
    arch = report.architecture
    notes = []
    if arch.is_moe:
        notes.append(f"Routed experts' tensors are (n_experts, …): all {arch.n_experts} experts "
                     f"of a layer in one row (the checkpoint's experts.<e>. index left out). "
                     f"Active per token: the total less, in each of the {arch.n_moe} MoE "
                     f"layers, the {arch.n_experts - arch.top_k} routed experts a token is not "
                     f"sent to (it uses top_k = {arch.top_k}); the router and any shared "
                     f"expert are active.")
    if report.also_stored:  # the builders' buffers: only the router's correction bias so far
        buffer = report.buffers[0].param
        shape = f"({buffer.shape[0]},)" if len(buffer.shape) == 1 else shape_str(buffer.shape)
        notes.append(f"Not counted: the router's {buffer.name.rsplit('.', 1)[-1]}, a "
                     f"{shape} buffer in each MoE layer "
                     f"({report.also_stored:,} values) that shifts the choice of experts only; "
                     f"the checkpoint stores it too.")
    if arch.mtp_layers:
        notes.append("Not counted: the multi-token-prediction module (num_nextn_predict_layers; "
                     "the checkpoint's extra layer" + ("s" if arch.mtp_layers > 1 else "")
                     + "), which is not part of the model that generates.")
    return notes


# A decode step's one query sees every key in the cache (a windowed layer keeps only the last
# W): its mask hides nothing, though an eager kernel still adds it (the FLOP tables count that)
DECODE_MASK = "nothing masked: the one new query sees all T keys (eager kernels add a zero mask)"


def shape_table(report: ShapeReport) -> Table:
    """Every operation's operand, weight and output shapes (weights carry no batch dimension)."""
    decode = report.mode.kind == "decode"
    n, kinds = block_counts(report.groups)
    gqa = report.config is None
    latent = any(op.role == "attention.kv_a" for op in report.ops)  # latent_note says it
    split = (("The new token's heads are split (B, 1, h, d_head) → (B, h, 1, d_head); K and V "
              "are the KV cache with it, (B, h, t, d_head)." if decode else
              "Heads are split (B, L, h, d_head) → (B, h, L, d_head).") if not gqa else
             ("K and V have h_kv heads, (B, h_kv, T, d_head) with T the keys (the KV cache and "
              "the new token in decode; at most W in a windowed layer), and repeat_kv views "
              "them as the h query heads (B, h, T, d_head) for the scores and P·V."))
    if latent:
        split = ""
    table = Table(
        title="Shapes of " + report.mode.describe() if decode else "Shapes",
        notes=[model_note(report),
               "Activations carry the batch dimension B; weights do not. Block rows are for one "
               f"block (of {n}{kinds}). {split}".rstrip()] + ([experts_note(report)]
                                                     if experts_note(report) else [])
        + ([latent_note(report)] if latent_note(report) else []),
        columns=["section", "operation", "kind", "computes", "operands", "weight", "output",
                 "output elements"],
        align="lllllllr", optional=("kind", "computes", "output elements"), name="shapes")
    for group, op in group_ops(report):
        inputs = [s for s in op.inputs if s != op.weight]
        table.rows.append([group_title(group), op.name, op.kind,
                           DECODE_MASK if decode and op.role == "attention.mask" else op.computes,
                           ", ".join(shape_str(s) for s in inputs),
                           shape_str(stored_weight(op)) if op.weight else "",
                           shape_str(op.output), _prod(op.output)])
    return table


def latent_note(report: ShapeReport) -> str | None:
    """Which form of latent attention the shapes are of (MLA models only)."""
    roles = {op.role for op in report.ops}
    if "attention.kv_a" not in roles:
        return None
    if "attention.absorb_k" in roles:
        return ("Latent attention, absorbed form (--mla-decode absorbed): the query is folded "
                "through W_UK (absorb_k) and the scores and P·V are over the cached latent "
                "(c_kv with k_pe) itself, one key head broadcast over all heads; W_UV (absorb_v) maps "
                "the result to each "
                "head's value; kv_b_proj is not run.")
    return ("Latent attention, naive form: kv_b_proj expands the latent c_kv of all T keys to "
            "each head's k_nope and v" + (" at every decode step (--mla-decode absorbed folds "
                                          "it into the query and the output)."
                                          if report.mode.kind == "decode" else "."))


def stored_weight(op) -> tuple:
    """The weight operand as the model holds it: a routed expert op's is every expert's,
    (n_experts, d_in, d_out), of which each row meets its own expert's (d_in, d_out)."""
    return op.weight if op.experts is None or op.weight is None else \
        (op.experts[1],) + tuple(op.weight)


def tokens_per_expert(report: ShapeReport):
    """(tokens, top_k, n_experts, rows) of the routed experts in the report's pass, or None for
    a dense model: each expert sees tokens · top_k / n_experts rows on average."""
    op = next((op for _, op in group_ops(report) if op.experts is not None
               and op.kind == "matmul"), None)
    if op is None:
        return None
    w = report.workload
    tokens = w.batch if report.mode.kind == "decode" else w.tokens
    top_k, n_experts = op.experts
    return tokens, top_k, n_experts, _prod(op.inputs[0][:-1])


def experts_note(report: ShapeReport) -> str | None:
    """What the routed experts' rows and weights are, with the tokens each expert sees."""
    from fractions import Fraction

    routed = tokens_per_expert(report)
    if routed is None:
        return None
    tokens, k, E, rows = routed
    mean = Fraction(tokens * k, E)
    exact = f"{mean.numerator:,}" if mean.denominator == 1 else \
        f"{mean.numerator:,}/{mean.denominator:,} (exactly; ≈ {float(mean):.4g})"
    padded = "" if rows == tokens * k else (
        f" With the capacity factor each expert processes {rows // E:,} rows, padded or "
        f"dropped: {rows:,} in all.")
    return (f"Routed experts: their rows are the T·top_k = {tokens:,} × {k} = {tokens * k:,} "
            f"(token, expert) pairs, each row multiplied by its own expert's (d_in, d_out) "
            f"slice of the (n_experts, d_in, d_out) weight shown; on average each of the {E} "
            f"experts sees T·top_k/n_experts = {exact} tokens (the routing decides each "
            f"expert's share; the FLOPs do not depend on it).{padded}")


def group_ops(report: ShapeReport):
    """(group name, op) of every operation of a shape report, each group's once."""
    if not report.groups:
        return [(op.section, op) for op in report.ops]
    return [(g.name, op) for g in report.groups for op in g.ops]


def param_groups(report: ParamReport):
    """The layer groups of a parameter report's rows: (name, section, repeat) in order."""
    from types import SimpleNamespace

    seen = {}
    for r in report.rows:
        seen.setdefault(r.group, SimpleNamespace(name=r.group, section=r.section, repeat=r.times))
    return list(seen.values())


def model_json(report) -> dict:
    """The model of a report: a GPT-2 Config's fields, or the architecture and workload."""
    if report.config is not None:
        return report.config.as_dict()
    workload = getattr(report, "workload", None)
    return {**report.architecture.as_dict(),
            **({"seq_len": workload.seq_len, "batch": workload.batch} if workload else {})}


def _prod(shape) -> int:
    out = 1
    for d in shape:
        out *= d
    return out


def flop_json(report: FlopReport) -> dict:
    """The documented JSON schema of ``flopcalc flops`` (docs/json-schema.md)."""
    return {
        "schema": "flopcalc.flops", "schema_version": JSON_SCHEMA_VERSION,
        "config": model_json(report),
        "conventions": {**report.conventions.as_dict(), "description": report.conventions.describe(report.architecture)},
        "mode": mode_json(report.mode),
        "rows": [{"section": r.op.section, "name": r.op.name, "kind": r.op.kind,
                  "computes": r.op.computes, "inputs": [list(s) for s in r.op.inputs],
                  "weight": list(r.op.weight) if r.op.weight else None,
                  "output": list(r.op.output), "macs": r.macs, "flops": r.flops,
                  "times": r.times, "group": r.group,
                  "decode_steps": _steps_json(r, report.mode)}
                 for r in report.rows],
        "totals": {"block": report.block_total, "blocks": report.blocks_total,
                   "embedding": report.section_total("embedding"),
                   "head": report.section_total("head"), "total": report.total,
                   "groups": [{"name": g.name, "repeat": g.repeat,
                               "one": report.group_total(g.name)} for g in report.groups]},
        "per_token": per_token_json(report),
        "totals_per_token": totals_per_token_json(report),
    }


def per_token_json(report: FlopReport) -> dict:
    """The total over the tokens it produces or trains on (``tokens_of``): ``total`` rounded
    half up, ``total_exact`` exact (``n`` or ``n/d``)."""
    tokens, counted = tokens_of(report.mode, report.workload)
    x = Fraction(report.total, tokens)
    return {"tokens": tokens, "tokens_are": counted, "total": round_half_up(x),
            "total_is_exact": x.denominator == 1,
            "total_exact": f"{x.numerator}" if x.denominator == 1 else
            f"{x.numerator}/{x.denominator}"}


def totals_per_token_json(report: FlopReport) -> dict:
    """``totals`` over ``tokens_of``'s tokens, each exact (``"n"``, ``"n.d"`` or ``"n/d"``)."""
    tokens, _ = tokens_of(report.mode, report.workload)
    return {name: exact_text(Fraction(n, tokens), separators=False) for name, n in
            (("block", report.block_total), ("blocks", report.blocks_total),
             ("embedding", report.section_total("embedding")),
             ("head", report.section_total("head")), ("total", report.total))}


def _steps_json(row, mode) -> dict | None:
    """generate's decode steps of a row: how many, and the first and the last step's shapes."""
    if not row.steps:
        return None
    return {"count": mode.new_tokens - 1,
            **{which: {"inputs": [list(s) for s in op.inputs], "output": list(op.output)}
               for which, op in zip(("first", "last"), row.steps)}}


def mode_json(mode) -> dict:
    """The mode with only the fields that apply to its kind (others are null)."""
    kind = mode.kind
    return {"kind": kind, "recompute": mode.recompute if kind == "train" else None,
            "position": mode.position if kind == "decode" else None,
            "prompt": mode.prompt if kind == "generate" else None,
            "new_tokens": mode.new_tokens if kind == "generate" else None,
            "description": mode.describe()}


def param_json(report: ParamReport) -> dict:
    return {
        "schema": "flopcalc.params", "schema_version": JSON_SCHEMA_VERSION,
        "config": {k: v for k, v in model_json(report).items()  # no input: no L, no B
                   if k not in ("seq_len", "batch")},
        "rows": [{"section": r.section, "operation": r.op, "name": r.param.name,
                  "shape": list(r.param.shape), "count": r.param.count,
                  "times": r.times, "group": r.group,
                  **({"experts": list(r.experts)} if r.experts else {})}
                 for r in report.rows],
        "totals": {"block": report.block_total,
                   "blocks": sum(r.param.count * r.times for r in report.rows
                                 if r.section == "block"),
                   "embedding": report.section_total("embedding"),
                   "head": report.section_total("head"), "non_embedding": report.non_embedding,
                   "total": report.total,
                   **({"active": report.active} if report.architecture.is_moe else {}),
                   **({"also_stored": report.also_stored} if report.also_stored else {})},
    }


def shape_json(report: ShapeReport) -> dict:
    return {
        "schema": "flopcalc.shapes", "schema_version": JSON_SCHEMA_VERSION,
        "config": model_json(report), "mode": mode_json(report.mode),
        "rows": [{"section": op.section, "name": op.name, "kind": op.kind, "group": group,
                  "inputs": [list(s) for s in op.inputs if s != op.weight],
                  "weight": list(stored_weight(op)) if op.weight else None,
                  "output": list(op.output),
                  **({"experts": {"top_k": op.experts[0], "n_experts": op.experts[1]}}
                     if op.experts is not None else {})}
                 for group, op in group_ops(report)],
        **_experts_json(report),
    }


def _experts_json(report: ShapeReport) -> dict:
    routed = tokens_per_expert(report)
    if routed is None:
        return {}
    from fractions import Fraction

    tokens, k, E, rows = routed
    mean = Fraction(tokens * k, E)
    return {"routed_experts": {"tokens": tokens, "top_k": k, "n_experts": E, "rows": rows,
                               "tokens_per_expert": str(mean)}}


_VERIFY_CHECKS = {"flops": "FLOPs", "output_shape": "output shape", "operands": "operand shapes"}
_VERIFY_NOTES_MAX = 10  # mismatch notes shown in a table; the JSON has every row


def _shape_or_dash(shape) -> str:
    return "—" if shape is None else shape_str(shape)


def _operands_str(operands) -> str:
    return "—" if operands is None else " · ".join(shape_str(s) for s in operands)


def _mismatch_note(r) -> str:
    """One failing row in words: where, which checks failed, and both sides of each."""
    where = "head" if r.layer is None else f"block {r.layer}"
    if r.analytical_shape is None:
        what = "mismatch, a matmul the analytical model does not know of"
    elif r.measured_shape is None:
        what = "mismatch, the reference pass never ran it"
    else:
        what = "mismatch"
    parts = []
    if "flops" in r.mismatches:
        parts.append(f"FLOPs {r.analytical_flops:,} vs {r.measured_flops:,}")
    if "output_shape" in r.mismatches:
        parts.append(f"output {_shape_or_dash(r.analytical_shape)} vs "
                     f"{_shape_or_dash(r.measured_shape)}")
    if "operands" in r.mismatches:
        parts.append(f"operands {_operands_str(r.analytical_operands)} vs "
                     f"{_operands_str(r.measured_operands)}")
    return f"✗ {where}, {r.name}: {what}; analytical vs measured: {'; '.join(parts)}."


def verify_table(result) -> Table:
    """Analytical against measured FLOPs and shapes, per operation and per block.

    Rows are grouped by block (each followed by its block total), the head last; the notes
    spell out every failing row: which checks failed, with both sides.
    """
    conv = result.conventions
    unit = flop_unit(conv)
    arch = result.architecture
    how = ("full: all positions at once, full L×L scores then masked" if result.mode == "full"
           else "incremental: token by token with a KV cache; shapes are the last step's")
    if arch.is_mla and result.mode == "incremental":
        how += (f"; latent attention: the first token a one-token prefill (naive), then "
                f"decode steps in the {conv.mla_decode} form")
    if arch.is_moe:
        how += ("; routed experts: each expert runs on "
                + ("the tokens routed to it" if conv.capacity_factor is None else
                   "a buffer of its capacity (the first tokens routed to it, then zero rows)")
                + ", their matmuls summed and their shapes as total rows")
    table = Table(
        title=f"Verify: analytical model vs instrumented NumPy forward pass ({result.mode})",
        notes=[model_note(result), f"Conventions: {conv.describe(arch)}",
               f"Reference pass: {how}; seed {result.seed}, {result.dtype}. Measured "
               f"{unit}s are {conv.flops_per_mac} × the multiply-adds of the arrays actually "
               "multiplied; a row passes when FLOPs, operand and output shapes all match."],
        columns=["block", "operation", f"analytical {unit}s", f"measured {unit}s",
                 "analytical shape", "actual shape", "match"],
        align="llrrllc".replace("c", "l"), optional=("analytical shape",),
        drop_order=("actual shape",))

    def mark(checks, r=None) -> str:
        if not checks:
            return "✓"
        if r is not None and r.analytical_shape is None:
            return "✗ not in the model"
        if r is not None and r.measured_shape is None:
            return "✗ never run"
        return "✗ " + ", ".join(_VERIFY_CHECKS[c] for c in checks)

    groups: dict = {}  # layer -> its rows, layers in order of first appearance
    for r in result.rows:
        groups.setdefault(r.layer, []).append(r)
    for layer, rows in groups.items():
        block = "head" if layer is None else str(layer)
        if layer is not None and rows[0].group not in ("", "block"):  # sliding or full
            block += f" ({rows[0].group})"
        for r in rows:
            table.rows.append([block, r.name, r.analytical_flops, r.measured_flops,
                               _shape_or_dash(r.analytical_shape),
                               _shape_or_dash(r.measured_shape),
                               mark(r.mismatches, r)])
        if layer is not None:
            a = sum(r.analytical_flops for r in rows)
            m = sum(r.measured_flops for r in rows)
            table.rows.append([block, "block total", a, m, "", "", mark(() if a == m else ("flops",))])
    a, m = result.total("analytical_flops"), result.total("measured_flops")
    passed = sum(r.ok for r in result.rows)
    table.totals.append(["", "total", a, m, "", "",
                         f"{'✓' if result.ok else '✗'} ({passed}/{len(result.rows)} rows)"])
    tokens, what = tokens_of(Mode(), result.workload)   # both modes run all B·L: a forward's
    table.notes.append(per_token_note([a, m], tokens, what,
                                      f"{exact_text(Fraction(a, tokens))} analytical and "
                                      f"{exact_text(Fraction(m, tokens))} measured {unit}s = "
                                      "each total", csv_rounds=False))
    failing = [r for r in result.rows if not r.ok]
    table.notes += [_mismatch_note(r) for r in failing[:_VERIFY_NOTES_MAX]]
    if len(failing) > _VERIFY_NOTES_MAX:
        table.notes.append(f"… and {len(failing) - _VERIFY_NOTES_MAX} more mismatching rows "
                           "(--format json lists every row).")
    return table


def _list_or_none(shape):
    return None if shape is None else list(shape)


def _operands_json(operands):
    return None if operands is None else [list(s) for s in operands]


def verify_json(result) -> dict:
    tokens, _ = tokens_of(Mode(), result.workload)
    return {
        "schema": "flopcalc.verify", "schema_version": JSON_SCHEMA_VERSION,
        "config": model_json(result),
        "conventions": {**result.conventions.as_dict(),
                        "description": result.conventions.describe(result.architecture)},
        "mode": result.mode, "seed": result.seed, "dtype": result.dtype, "ok": result.ok,
        "rows": [{"layer": r.layer, "name": r.name, "analytical_flops": r.analytical_flops,
                  "measured_flops": r.measured_flops,
                  "analytical_shape": _list_or_none(r.analytical_shape),
                  "measured_shape": _list_or_none(r.measured_shape),
                  "analytical_operands": _operands_json(r.analytical_operands),
                  "measured_operands": _operands_json(r.measured_operands),
                  "ok": r.ok, "mismatches": list(r.mismatches)} for r in result.rows],
        "totals": {"analytical_flops": result.total("analytical_flops"),
                   "measured_flops": result.total("measured_flops"),
                   "tokens": tokens,   # both modes run all B·L
                   "analytical_flops_per_token": exact_text(
                       Fraction(result.total("analytical_flops"), tokens), separators=False),
                   "measured_flops_per_token": exact_text(
                       Fraction(result.total("measured_flops"), tokens), separators=False)},
    }


def presets_table_and_json(reports) -> tuple[Table, dict]:
    """The published sizes (``ParamReport`` per preset name) as a table and a JSON document."""
    table = Table("GPT-2 presets", ["Parameters counted with the LM head tied to wte; "
                                    "vocab 50257, n_positions 1024, d_ff = 4·d_model."],
                  ["preset", "d_model", "heads", "d_head", "layers", "d_ff", "parameters", "≈"],
                  "lrrrrrrr", optional=("d_head",),
                  drop_order=("≈", "d_ff", "layers", "heads", "d_model"))
    rows = []
    for name, report in reports.items():
        cfg, total = report.config, report.total
        table.rows.append([name, cfg.d_model, cfg.n_heads, cfg.d_head, cfg.n_layers, cfg.d_ff,
                           total, readable(total, "")])
        rows.append({"name": name, **cfg.as_dict(), "parameters": total})
    return table, {"schema": "flopcalc.presets", "schema_version": JSON_SCHEMA_VERSION,
                   "presets": rows}


def models_table_and_json(reports: dict) -> tuple[Table, list]:
    """The released models beyond GPT-2 (``ParamReport`` per preset name, with its Hugging
    Face name) as a table and the JSON rows."""
    table = Table("Released models", ["Their config.json files ship with flopcalc; each is "
                                      "reachable by its short or its Hugging Face name. "
                                      "Parameters counted from every tensor (docs/architectures.md)."],
                  ["preset", "Hugging Face name", "family", "layers", "d_model", "heads / KV",
                   "parameters", "≈", "active"], "lllrrrrrr", optional=("Hugging Face name",),
                  name="models", drop_order=("active", "≈", "heads / KV", "d_model", "layers"))
    rows = []
    for name, (hf_name, report) in reports.items():
        arch, total = report.architecture, report.total
        moe = arch.is_moe
        table.rows.append([name, hf_name, arch.family, arch.n_layers, arch.d_model,
                           f"{arch.n_heads} / {arch.n_kv_heads}", total, readable(total, ""),
                           report.active if moe else ""])
        rows.append({"name": name, "hf_name": hf_name, **arch.as_dict(), "parameters": total,
                     **({"active_parameters": report.active} if moe else {})})
    table.notes[0] += " Active: the parameters a token uses, for the mixtures of experts."
    return table, rows


FORMULA_SYMBOLS = ("Symbols: B batch, L seq_len, d_model, h heads (d_head = d_model/h), d_ff, "
                   "V vocab, n_layers blocks, t decode position, p prompt tokens, n new tokens.")
ARCHITECTURE_SYMBOLS = ("Beyond GPT-2: h_kv key/value heads, d_head (apart from d_model/h), d_rot "
                        "rotated dims per head, W the sliding window, n_w the windowed layers "
                        "(when only some are); experts: E routed experts of width d_e, k per "
                        "token, d_s the shared expert, n_moe the MoE layers (when only some "
                        "are; n_wm of them windowed, when only some are each), G router "
                        "groups; latent attention: r_q and r_kv the query and key/value "
                        "ranks, d_nope + d_rope each head's query/key, d_v its value.")


def formulas_table(f, latex: bool = False) -> Table:
    """A ``formulas.Formulas`` as a two-column table of sympy text (or LaTeX) expressions."""
    from .formulas import as_latex, as_text

    show = as_latex if latex else as_text
    kinds = [(g, repeat, expr) for g, repeat, expr in f.groups if g not in ("embedding", "head")]
    if f.block is not None:   # one kind of block: the rows as ever
        rows = [(name, expr) for _, name, expr in f.rows] + [("one block", f.block)]
    else:                     # several: each row and block total named by its kind
        rows = [(name if g in ("embedding", "head") else f"{g}: {name}", expr)
                for g, name, expr in f.rows]
        rows += [(f"one {g} block (× {as_text(repeat)})", expr) for g, repeat, expr in kinds]
    rows.append(("whole model", f.total))
    tokens, what = formula_tokens(f)
    notes = [f"Conventions: {f.conventions.describe(f.architecture)}",
             f"Mode: {f.mode.describe()}. {FORMULA_SYMBOLS}",
             f"Per token: the whole model ÷ {as_text(tokens)}, the {what} = "
             f"{show(per_token_formula(f))}."]
    if Config.of(f.architecture) is None:  # not a GPT-2 Config: say what the model is
        notes.append(f"Model: {f.architecture.describe()} (its sizes are the symbols). "
                     f"{ARCHITECTURE_SYMBOLS}")
    return Table("FLOP formulas", notes, ["operation", "FLOPs"], "ll",
                 [[name, show(expr)] for name, expr in rows])


def formula_tokens(f):
    """(the tokens, as a symbol expression, and what they are) that ``tokens_of`` divides
    by, for a symbolic mode: B·L, B (decode), B·n (generate)."""
    from . import formulas as fm

    kind = f.mode.kind
    if kind == "decode":
        return fm.B, "new tokens (one per sequence)"
    if kind == "generate":
        return fm.B * fm.n, "generated tokens"
    return fm.B * fm.L, "tokens of the batch"


def per_token_formula(f):
    """The whole model's FLOPs per token, simplified."""
    import sympy as sp

    return sp.factor_terms(sp.expand(f.total / formula_tokens(f)[0]))


def formulas_json(f) -> dict:
    from .formulas import as_latex, as_text

    text, latex = formulas_table(f), formulas_table(f, latex=True)
    return {"schema": "flopcalc.formulas", "schema_version": JSON_SCHEMA_VERSION,
            "conventions": {**f.conventions.as_dict(), "description": f.conventions.describe(f.architecture)},
            "mode": {"kind": f.mode.kind,
                     "recompute": f.mode.recompute if f.mode.kind == "train" else None,
                     "description": f.mode.describe()},
            "rows": [{"name": t[0], "flops": t[1], "latex": x[1]}
                     for t, x in zip(text.rows, latex.rows)],
            "per_token": {"tokens": as_text(formula_tokens(f)[0]),
                          "flops": as_text(per_token_formula(f)),
                          "latex": as_latex(per_token_formula(f))}}
