"""FLOP, parameter and shape reports of an architecture on a workload, over its layer groups.

Everything is derived from the builders' operations (``flopcalc.architectures``) through the
rules of ``model.RULES``. Pure computation: exact Python ints (sympy symbols give formulas),
no numpy, no rendering. A report takes an ``Architecture`` and a ``Workload`` (parameters need
no workload), or a GPT-2 ``Config``, which is both.
"""

from dataclasses import replace

from .architecture import Architecture, Workload
from .architectures import build, ops_of
from .config import Config, Conventions, FlopcalcError, Mode
from .model import Dim, Dims, LayerGroup, Op, Param, half, op_elementwise_flops, op_macs, visible_pairs
from .records import row


def op_flops(op: Op, conv: Conventions, backward: bool = False) -> Dim:
    """FLOPs of one operation (or of its gradient) under the given conventions.

    Ints in, exact int out; sympy symbols in, formula out. A matmul's backward is its two
    gradient matmuls (dA = dC·Bᵀ and dB = Aᵀ·dC), each as many multiply-adds as the forward.
    """
    flops = conv.flops_per_mac * op_macs(op, conv.causal) * (2 if backward else 1)
    if conv.elementwise:
        flops += op_elementwise_flops(op, conv.causal, backward)
    return flops


def counted(op: Op, conv: Conventions) -> bool:
    """Whether an operation gets a row in the FLOP table under these conventions."""
    if op.section not in conv.sections:
        return False
    return op.kind in ("matmul", "lookup") or (op.kind == "elementwise" and conv.elementwise)


def model_ops(dims: Dims, config) -> list[Op]:
    """The operations of ``config``'s model (a Config or an Architecture) at ``dims``, each
    group's once, in order."""
    return ops_of(build(architecture_of(config), dims))


def architecture_of(model) -> Architecture:
    return model if isinstance(model, Architecture) else model.architecture


def arithmetic_sum(first: Dim, second: Dim, count: Dim) -> Dim:
    """first + second + … over ``count`` terms of an arithmetic progression (exact)."""
    return count * first + (second - first) * half(count * (count - 1))


Costs = list[tuple[LayerGroup, list[tuple[Op, Dim, Dim]]]]


def decode_dims(conv: Conventions) -> dict:
    """What a decode step changes in the Dims: one token, and latent attention's form."""
    return dict(seq_len=1, mla_absorbed=conv.mla_decode == "absorbed")


def mode_costs(arch: Architecture, dims: Dims, conv: Conventions, mode: Mode) -> Costs:
    """Per layer group, (op, multiply-adds, FLOPs) of every counted operation of ``mode``
    (already resolved). Works over ints and sympy symbols alike; the ops returned carry the
    shapes shown in tables (for decode: the step's; for generate: the prefill's).

    Generation's decode steps t = p+1 … p+n-1 cost f(keys) each, affine in the keys: t, or
    min(t, W) in a windowed layer; their sum is taken in closed form.
    """
    def fwd(op):
        return op_macs(op, conv.causal), op_flops(op, conv)

    def each(groups, cost):
        return [(g, [(op, *cost(op)) for op in g.ops]) for g in groups]

    dims = replace(dims, capacity_factor=conv.capacity_factor)
    decode_step = decode_dims(conv)

    if mode.kind == "forward":
        out = each(build(arch, dims), fwd)
    elif mode.kind in ("backward", "train"):
        def step(op):
            macs, flops = fwd(op)
            bwd_macs, bwd_flops = 2 * macs, op_flops(op, conv, backward=True)
            if mode.kind == "backward":
                return bwd_macs, bwd_flops
            # recomputation re-runs the blocks' forward (not the embedding or LM head)
            times = 2 if mode.recompute and op.section == "block" else 1
            return times * macs + bwd_macs, times * flops + bwd_flops
        out = each(build(arch, dims), step)
    elif mode.kind == "decode":
        out = each(build(arch, replace(dims, kv_len=mode.position, **decode_step)), fwd)
    else:
        p, n = mode.prompt, mode.new_tokens
        prefill = build(arch, replace(dims, seq_len=p, kv_len=p))
        # two decode steps with uncapped keys give each op's cost as an affine function of them
        first = build(arch, replace(dims, kv_len=p + 1, cap_keys=False, **decode_step))
        second = build(arch, replace(dims, kv_len=p + 2, cap_keys=False, **decode_step))
        out = []
        none = (0, 0)
        for g0, ga, gb in zip(prefill, first, second):
            rows = []
            at_prefill, at_a, at_b = ({op.name: op for op in g.ops} for g in (g0, ga, gb))
            for name in merged_names(g0.ops, ga.ops):  # (MLA's absorbed steps run other ops)
                op0, a, b = at_prefill.get(name), at_a.get(name), at_b.get(name)
                op = op0 or a
                m0, f0 = fwd(op0) if op0 else none
                (ma, fa), (mb, fb) = (fwd(a), fwd(b)) if a else (none, none)
                if op.window is None:
                    rows.append((op, m0 + arithmetic_sum(ma, mb, n - 1),
                                 f0 + arithmetic_sum(fa, fb, n - 1)))
                    continue
                keys = visible_pairs(n - 1, p + n - 1, op.window)  # Σ min(t, W) over the steps
                rows.append((op, m0 + (n - 1) * (ma - (mb - ma) * (p + 1)) + (mb - ma) * keys,
                             f0 + (n - 1) * (fa - (fb - fa) * (p + 1)) + (fb - fa) * keys))
            out.append((g0, rows))
    return [(g, [r for r in rows if counted(r[0], conv)]) for g, rows in out]


def merged_names(first: tuple[Op, ...], second: tuple[Op, ...]) -> list[str]:
    """The names of two op lists of one layer, each once, in the order of both (the ops they
    share come in the same order)."""
    names, shared, i = [], {op.name for op in first}, 0
    order = [op.name for op in first]
    for name in (op.name for op in second):
        if name in shared:
            while order[i] != name:
                names.append(order[i])
                i += 1
            i += 1
        names.append(name)
    return names + order[i:]


def total_flops(costs: Costs) -> Dim:
    """Sum of ``mode_costs``: each group's ops count ``repeat`` times."""
    return sum(g.repeat * sum(flops for _, _, flops in rows) for g, rows in costs)


def split_model(model, workload: Workload | None = None) -> tuple[Architecture, Workload, Config | None]:
    """(architecture, workload, the GPT-2 Config if there is one) of a Config or an Architecture."""
    if isinstance(model, Config):
        return model.architecture, model.workload, model
    if not isinstance(model, Architecture):
        raise TypeError(f"a Config or an Architecture, not {type(model).__name__}")
    workload = workload or Workload()
    return model, workload, Config.of(model, workload)


def resolve(mode: Mode, arch: Architecture, workload: Workload) -> Mode:
    """``mode`` with its defaults filled in from ``workload`` and checked against ``arch``."""
    workload.check(arch)
    mode = mode.with_defaults(workload.seq_len)
    if mode.last_position is not None:
        workload.check(arch, mode.last_position)
    return mode


@row
class FlopRow:
    """One operation's count; ``op`` carries the shapes of the pass it names (for generate:
    the prefill's) and ``steps`` those of generate's first and last decode steps. ``times`` is
    how often the model runs it (its group's repeat) and ``group`` its layer group's name."""

    op: Op
    macs: int
    flops: int
    steps: tuple[Op, Op] | None = None
    group: str = "block"
    times: int = 1


@row
class FlopReport:
    """FLOPs of one computation (``mode``), one row per operation of each layer group.

    ``config`` is the GPT-2 Config when the model is one (None for other families).
    """

    config: Config | None
    conventions: Conventions
    rows: tuple[FlopRow, ...]
    mode: Mode = Mode()
    architecture: Architecture = Architecture()
    workload: Workload = Workload()
    groups: tuple[LayerGroup, ...] = ()

    def section_total(self, section: str) -> int:
        """FLOPs of one section's rows (for ``block``: one block of each kind)."""
        return sum(r.flops for r in self.rows if r.op.section == section)

    def group_total(self, group: str) -> int:
        """FLOPs of one repeat of a layer group."""
        return sum(r.flops for r in self.rows if r.group == group)

    @property
    def block_groups(self) -> tuple[LayerGroup, ...]:
        return tuple(g for g in self.groups if g.section == "block")

    @property
    def block_total(self) -> int:
        return self.section_total("block")

    @property
    def blocks_total(self) -> int:
        return sum(r.flops * r.times for r in self.rows if r.op.section == "block")

    @property
    def total(self) -> int:
        return sum(r.flops * r.times for r in self.rows)


def flop_report(model, conventions: Conventions | None = None, mode: Mode | None = None,
                workload: Workload | None = None) -> FlopReport:
    """FLOPs of ``model`` (a Config, or an Architecture on ``workload``) in ``mode`` (default:
    one forward pass), per operation, per layer group and in total."""
    arch, workload, config = split_model(model, workload)
    conv = conventions or Conventions()
    mode = (mode or Mode()).resolved(config) if config is not None else \
        resolve(mode or Mode(), arch, workload)
    dims = arch.dims(workload.batch, workload.seq_len)
    costs = mode_costs(arch, dims, conv, mode)
    steps = {}
    if mode.kind == "generate" and mode.new_tokens > 1:  # the shapes of the decode steps
        p, n = mode.prompt, mode.new_tokens
        step = dict(decode_dims(conv), capacity_factor=conv.capacity_factor)
        first, last = (build(arch, replace(dims, kv_len=t, **step)) for t in (p + 1, p + n - 1))
        steps = {(g.name, a.name): (a, b) for g, h in zip(first, last)
                 for a, b in zip(g.ops, h.ops)}
    rows = tuple(FlopRow(op, macs, flops, steps.get((g.name, op.name)), g.name, g.repeat)
                 for g, ops in costs for op, macs, flops in ops)
    return FlopReport(config, conv, rows, mode, arch, workload, tuple(g for g, _ in costs))


def decode_report(config: Config, position: int,
                  conventions: Conventions | None = None) -> FlopReport:
    """FLOPs of producing the token at ``position`` (1-based) with a KV cache of position-1 entries."""
    return flop_report(config, conventions, Mode("decode", position=position))


@row
class ParamRow:
    section: str
    op: str
    param: Param
    group: str = "block"
    times: int = 1
    prefix: str = ""   # what the checkpoint writes before the name (h.i., layers.i.)
    role: str = ""
    experts: tuple | None = None  # (top_k, n_experts) of a routed expert's tensor
    cost: str | None = None       # its op's ELEMENTWISE_COST key (a norm's: its kind)

    @property
    def active(self) -> Dim:
        """Parameters one token uses of this tensor (one repeat): a routed expert's tensor
        holds n_experts slices, of which a token uses top_k."""
        if self.experts is None:
            return self.param.count
        top_k, n_experts = self.experts
        count = self.param.count
        return count // n_experts * top_k if isinstance(count, int) else count * top_k / n_experts


@row
class ParamReport:
    """Every parameter tensor with its shape and count; a tied LM head owns no tensor."""

    config: Config | None
    rows: tuple[ParamRow, ...]
    architecture: Architecture = Architecture()
    buffers: tuple[ParamRow, ...] = ()   # stored tensors that are no trained parameters

    def section_total(self, section: str) -> int:
        """Parameters of one section's rows (for ``block``: one block of each kind)."""
        return sum(r.param.count for r in self.rows if r.section == section)

    @property
    def block_total(self) -> int:
        return self.section_total("block")

    @property
    def total(self) -> int:
        return sum(r.param.count * r.times for r in self.rows)

    @property
    def active(self) -> int:
        """Parameters each token uses: the total less, in every MoE layer, the routed
        experts a token is not sent to ((n_experts − top_k) experts' weights)."""
        return sum(r.active * r.times for r in self.rows)

    @property
    def also_stored(self) -> int:
        """Values the checkpoint stores that the count leaves out: its buffers (``buffers``),
        such as DeepSeek-V3's router score-correction biases, which only shift the choice of
        experts and are never trained by the gradient."""
        return sum(r.param.count * r.times for r in self.buffers)

    @property
    def embedding_tensors(self) -> tuple[str, ...]:
        """The embedding section's tensors, named without ``.weight``, in the builders' order:
        the token table, then a learned position table if there is one (GPT-2's wte, wpe)."""
        return tuple(r.param.name.removesuffix(".weight") for r in self.rows
                     if r.section == "embedding")

    @property
    def non_embedding(self) -> int:
        """Parameters outside the embeddings and any untied LM head (Kaplan et al. 2020's N)."""
        lm_head = sum(r.param.count for r in self.rows if r.role == "lm_head")
        return self.total - self.section_total("embedding") - lm_head


def param_report(model) -> ParamReport:
    """Parameter tensors of ``model`` (a Config or an Architecture): no workload needed."""
    arch = architecture_of(model)
    groups = build(arch, arch.dims())

    def rows(tensors):
        return tuple(ParamRow(op.section, op.name, p, g.name, g.repeat, g.prefix, op.role,
                              op.experts, op.cost)
                     for g in groups for op in g.ops for p in tensors(op))
    return ParamReport(model if isinstance(model, Config) else Config.of(arch),
                       rows(lambda op: op.params), arch, rows(lambda op: op.buffers))


@row
class ShapeReport:
    """Every operation with its operand, weight and output (activation) shapes."""

    config: Config | None
    ops: tuple[Op, ...]
    mode: Mode = Mode()
    architecture: Architecture = Architecture()
    workload: Workload = Workload()
    groups: tuple[LayerGroup, ...] = ()


def shape_report(model, mode: Mode = Mode(), workload: Workload | None = None,
                 conventions: Conventions | None = None) -> ShapeReport:
    """Shapes of every operation of ``model``'s forward pass (a Config, or an Architecture on
    ``workload``), each layer group's once; or (``mode`` decode) of the decode step at
    position t: one new token whose keys and values join a KV cache, so K and V are
    (B, h_kv, t, d_head) (a windowed layer keeps min(t, W)). ``conventions`` give a
    capacity factor's padded expert rows and latent attention's decode form."""
    conv = conventions or Conventions()
    arch, workload, config = split_model(model, workload)
    mode = mode.resolved(config) if config is not None else resolve(mode, arch, workload)
    if mode.kind not in ("forward", "decode"):
        raise FlopcalcError(f"shapes are shown for forward and decode, not {mode.kind}")
    dims = replace(arch.dims(workload.batch, workload.seq_len),
                   capacity_factor=conv.capacity_factor)
    if mode.kind == "decode":
        dims = replace(dims, kv_len=mode.position, **decode_dims(conv))
    groups = build(arch, dims)
    return ShapeReport(config, tuple(ops_of(groups)), mode, arch, workload, groups)
