"""Cross-check: the analytical model against the instrumented NumPy forward pass.

The two share no counting code: the analytical FLOPs come from the architecture builders'
operations (``flopcalc.architectures``), the measured ones from the arrays
``reference.matmul`` actually multiplied. They are matched per layer (the analytical side's
layer group for that layer) and per role (``attention.q``, ``mlp.down``, ...), never by one
family's operation names, so every architecture is checked alike.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from fractions import Fraction

import numpy as np

from . import reference
from .analysis import mode_costs, split_model
from .architecture import Architecture, Workload
from .config import Config, Conventions, FlopcalcError, Mode

MODES = ("full", "incremental")
DTYPES = {"float32": np.float32, "float64": np.float64}


@dataclass(frozen=True)
class VerifyRow:
    layer: int | None          # block index; None for the LM head
    name: str
    analytical_flops: int
    measured_flops: int
    analytical_shape: tuple | None   # output activation (for incremental: of the last step);
    #                                  None for a matmul the model does not know of
    measured_shape: tuple | None     # None for a matmul the pass never ran
    analytical_operands: tuple | None
    measured_operands: tuple | None
    role: str = ""       # what the matmul is in any architecture (``attention.q``, ``lm_head``)
    group: str = ""      # the analytical layer group of this layer (block, sliding, full, head)

    @property
    def mismatches(self) -> tuple[str, ...]:
        """The checks this row fails, in this order (empty when it passes): ``flops``, the
        FLOP counts; ``output_shape``, the output's shape; ``operands``, the two operands'
        shapes."""
        failed = []
        if self.analytical_flops != self.measured_flops:
            failed.append("flops")
        if self.analytical_shape != self.measured_shape:
            failed.append("output_shape")
        if self.analytical_operands != self.measured_operands:
            failed.append("operands")
        return tuple(failed)

    @property
    def ok(self) -> bool:
        return not self.mismatches


@dataclass(frozen=True)
class VerifyResult:
    config: Config | None      # the GPT-2 Config, None for a model no Config describes
    conventions: Conventions
    mode: str
    seed: int
    dtype: str
    rows: tuple[VerifyRow, ...]
    architecture: Architecture | None = None  # None: the config's
    workload: Workload | None = None

    def __post_init__(self):
        if self.architecture is None:
            object.__setattr__(self, "architecture", self.config.architecture)
        if self.workload is None:
            object.__setattr__(self, "workload", self.config.workload)

    @property
    def ok(self) -> bool:
        return all(r.ok for r in self.rows)

    def block_total(self, layer: int, which: str) -> int:
        return sum(getattr(r, which) for r in self.rows if r.layer == layer)

    def total(self, which: str) -> int:
        return sum(getattr(r, which) for r in self.rows)


MEMINFO = "/proc/meminfo"
# cgroup v2, then v1: the memory limit of the container (if any) and what it already uses
CGROUP_FILES = (("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory.current"),
                ("/sys/fs/cgroup/memory/memory.limit_in_bytes",
                 "/sys/fs/cgroup/memory/memory.usage_in_bytes"))


def _read_int(path: str) -> int | None:
    """The number a one-number file holds; None if unreadable or not a number (``max``)."""
    try:
        with open(path) as f:
            return int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def available_memory_bytes() -> int | None:
    """Memory this process can still use: MemAvailable from /proc/meminfo (Linux), or the
    room left under a cgroup's (a container's) memory limit when that is smaller; None where
    neither can be read."""
    have = None
    try:
        with open(MEMINFO) as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    have = int(line.split()[1]) * 1024
                    break
    except (OSError, ValueError, IndexError):
        pass
    for limit_file, usage_file in CGROUP_FILES:
        limit = _read_int(limit_file)
        if limit is None:
            continue
        room = max(limit - (_read_int(usage_file) or 0), 0)
        if have is None or room < have:
            have = room
        break
    return have


# No pass above 2**62 bytes is tried even where the free memory cannot be read: NumPy's
# sizes and indices are 64-bit, and no machine has that much.
MAX_PASS_BYTES = 2 ** 62


def gib_text(n: int) -> str:
    """Bytes as GiB with one decimal (rounded half up), in exact integer arithmetic."""
    tenths = (n * 20 + 2 ** 30) // 2 ** 31
    return f"{tenths // 10:,}.{tenths % 10}"


def check_memory(model, dtype: str, mode: str = "full", workload: Workload | None = None,
                 capacity_factor=None) -> None:
    """Refuse, with the estimate, a pass that would not fit in this machine's memory.
    ``model`` is a Config, or an Architecture with its ``workload``."""
    arch, load, _ = split_model(model, workload)
    gpt = _gpt_config(arch)
    need = reference.estimate_memory_bytes(gpt, load.batch, load.seq_len,
                                           DTYPES[dtype], incremental=mode == "incremental")
    if capacity_factor is not None and gpt.n_experts:
        # one expert at a time runs on a buffer of ceil(c·tokens·top_k/E) rows: its input,
        # its hidden rows (gate and up) and its output
        c, tokens = Fraction(capacity_factor), load.tokens
        rows = -(-(c.numerator * tokens * gpt.top_k) // (c.denominator * gpt.n_experts))
        need += rows * (2 * arch.d_model + 2 * gpt.d_expert) * np.dtype(DTYPES[dtype]).itemsize
    advice = "lower --seq-len, --batch or the model size"
    if need > MAX_PASS_BYTES:
        raise FlopcalcError(f"this forward pass needs more than 2**62 bytes (4 EiB) of memory, "
                            f"beyond any machine; {advice}")
    have = available_memory_bytes()
    if have is not None and 5 * need > 4 * have:  # more than 80% of what is free
        raise FlopcalcError(f"this forward pass needs about {gib_text(need)} GiB of memory and "
                            f"{gib_text(have)} GiB is available; {advice}")


def check(model, mode: str = "full", seed: int = 0, dtype: str = "float32",
          workload: Workload | None = None, mla_decode: str = "naive",
          capacity_factor=None) -> None:
    """Everything ``verify`` refuses, checked before any work: mode, dtype, seed, the decode
    form of latent attention, the input's length, memory. ``model`` is a Config, or an
    Architecture with its ``workload``."""
    if mode not in MODES:
        raise FlopcalcError(f"mode must be full or incremental, got {mode!r}")
    if mla_decode not in reference.MLA_DECODE:
        raise FlopcalcError(f"mla_decode must be naive or absorbed, got {mla_decode!r}")
    if mla_decode == "absorbed" and mode == "full":
        raise FlopcalcError("a full pass runs latent attention in the naive form; "
                            "--mla-decode absorbed applies to --mode incremental")
    if dtype not in DTYPES:
        raise FlopcalcError(f"dtype must be float32 or float64, got {dtype!r}")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise FlopcalcError(f"seed must be a whole number >= 0, got {seed!r}")
    arch, load, _ = split_model(model, workload)
    if arch.family not in reference.WEIGHT_NAMES:
        raise FlopcalcError(f"verify has no reference pass of the {arch.family} family yet "
                            f"(it runs {', '.join(reference.WEIGHT_NAMES)})")
    load.check(arch)
    check_memory(arch, dtype, mode, load, capacity_factor)


def _gpt_config(model) -> reference.GPTConfig:
    """The reference pass's config of a Config or an Architecture: every switch carried over;
    a model the pass does not run (GPT-NeoX's fused query_key_value with fewer K/V heads,
    which Hugging Face's layout has not) is one line."""
    arch = model if isinstance(model, Architecture) else model.architecture
    try:
        return reference.GPTConfig.from_architecture(arch)
    except ValueError as e:
        raise FlopcalcError(f"verify's NumPy pass does not run this model: {e}") from None


def group_of_layer(arch: Architecture, groups, layer: int):
    """The block group that stands for ``layer``: the only one, or the one of its kind —
    ``sliding`` or ``full`` (windowed or not), ``dense`` or ``moe`` (experts or not), or
    both (``sliding-moe``, ``full-dense``, …)."""
    blocks = [g for g in groups if g.section == "block"]
    if len(blocks) == 1:
        return blocks[0]
    windowed, moe = arch.layer_kinds()[layer]
    window, experts = ("sliding" if windowed else "full"), ("moe" if moe else "dense")
    return next(g for g in blocks if g.name in (window, experts, f"{window}-{experts}"))


def last_runs(records: list) -> dict[tuple, list]:
    """Per (layer, role, or the name of a role-less matmul): its records of the last step
    that ran it (a step ends with the LM head: one for a full pass, one per token for an
    incremental one)."""
    out: dict[tuple, list] = {}
    seen: dict[tuple, int] = {}
    step = 0
    for rec in records:
        key = (rec.layer, rec.role or rec.name)
        if seen.get(key) != step:
            seen[key], out[key] = step, []
        out[key].append(rec)
        if rec.layer is None and rec.role == "lm_head":
            step += 1
    return out


def merged(first: list, second: list) -> list:
    """The names of ``first`` in order, with those only ``second`` has placed after the name
    that precedes them there."""
    out = list(first)
    for i, name in enumerate(second):
        if name not in out:
            before = second[i - 1] if i else None
            out.insert(out.index(before) + 1 if before in out else 0, name)
    return out


def counted_steps(arch: Architecture, dims, conv: Conventions, mode: str):
    """The analytical side of the pass: the layer groups, and per group name its matmuls in
    order, each as (the op of the last step that runs it, FLOPs summed over the steps).

    A full pass is one forward pass. An incremental pass of L tokens is a one-token
    prefill (latent attention naive, as every prefill) and the decode steps at positions
    2 … L, each query seeing every cached key (min(t, W) on a windowed layer); an op that
    only some steps run (kv_b_proj of absorbed latent attention) is counted where it runs.
    """
    if mode == "full":
        runs = [mode_costs(arch, dims, conv, Mode())]
    else:
        runs = [mode_costs(arch, replace(dims, seq_len=1, kv_len=1), conv, Mode())]
        runs += [mode_costs(arch, dims, conv, Mode("decode", position=t))
                 for t in range(2, dims.seq_len + 1)]
    ops: dict[str, dict] = {}
    order: dict[str, list] = {}
    for costs in runs:
        for group, rows in costs:
            matmuls = [(op, flops) for op, _, flops in rows if op.kind == "matmul"]
            order[group.name] = merged(order.get(group.name, []), [op.name for op, _ in matmuls])
            seen = ops.setdefault(group.name, {})
            for op, flops in matmuls:
                seen[op.name] = (op, seen.get(op.name, (None, 0))[1] + flops)
    return [g for g, _ in runs[-1]], {name: [ops[name][op] for op in order[name]]
                                      for name in ops}


def measured_shapes(recs: list, routed: bool):
    """(output shape, operand shapes) of one op's records in one step: its only record's,
    or for the routed experts (one record per expert that got tokens) their total rows,
    (Σ rows, d_out) from (Σ rows, d_in) @ one expert's weight."""
    if not recs:
        return None, None
    last = recs[-1]
    if not routed:
        return tuple(last.out_shape), (tuple(last.a_shape), tuple(last.b_shape))
    rows = sum(r.a_shape[0] for r in recs)
    return ((rows, last.out_shape[-1]),
            ((rows, last.a_shape[-1]), tuple(last.b_shape)))


class _BlockProgress(reference.MatmulRecorder):
    """A recorder that also reports each block the pass enters (for a progress bar)."""

    def __init__(self, on_block) -> None:
        super().__init__()
        self._on_block, self._layer = on_block, object()

    def record(self, name, layer, a_shape, b_shape, out_shape):
        super().record(name, layer, a_shape, b_shape, out_shape)
        if layer != self._layer:
            self._layer = layer
            if layer is not None:
                self._on_block()


def verify(model, mode: str = "full", seed: int = 0, dtype: str = "float32",
           flops_per_mac: int = 2, on_block=None, workload: Workload | None = None,
           mla_decode: str = "naive", capacity_factor: Fraction | None = None) -> VerifyResult:
    """Run the reference pass and compare every matmul with the analytical model.

    ``model`` is a GPT-2 Config, or an Architecture of any family with its ``workload``
    (default: ``Workload()``). ``full`` runs all positions at once (full L x L scores, then
    masked, windowed layers too) and is compared with dense counting; ``incremental`` runs
    token by token with a KV cache (a windowed layer's keeps its last W keys; a latent-
    attention layer's the latents, decoded in the ``mla_decode`` form) and is compared with
    the count of a generation: a one-token prompt's prefill, then a decode step per token,
    each query seeing every cached key (min(t, W) in a windowed layer), which is causal
    counting. Each layer's matmuls are matched by role with the ops of the layer's group;
    the routed experts' records (one per expert that got tokens) are summed, and their
    shapes compared as total rows. With a ``capacity_factor`` the pass runs each expert on
    its capacity-sized buffer and the count is the padded one (E·ceil(c·T·top_k/E) rows
    per pass). ``on_block()`` is called each time the pass enters a
    block. Bad input, or a pass that would not fit in memory, raises FlopcalcError before
    any work (see ``check``).
    """
    arch, load, config = split_model(model, workload)
    check(arch, mode, seed, dtype, load, mla_decode, capacity_factor)
    conv = Conventions(flops_per_mac=flops_per_mac,
                       attention="dense" if mode == "full" else "causal", mla_decode=mla_decode,
                       capacity_factor=capacity_factor)

    gpt = replace(_gpt_config(arch), capacity_factor=capacity_factor)
    if arch.positions == "rotary":  # no position table, so no end to the sequence (the
        gpt = replace(gpt, n_positions=max(gpt.n_positions, load.seq_len))  # pass checks one)
    params = reference.init_params(gpt, seed=seed, dtype=DTYPES[dtype])
    tokens = np.random.default_rng(seed).integers(0, arch.vocab, (load.batch, load.seq_len))
    recorder = _BlockProgress(on_block or (lambda: None))
    with reference.blas_threads(reference.pass_threads()):
        if mode == "full":
            reference.forward(params, gpt, tokens, recorder)
        else:
            reference.forward_incremental(params, gpt, tokens, recorder, mla_decode)

    measured: dict[tuple, list] = {}  # (layer, role, or the name for a role-less matmul)
    for rec in recorder.records:
        measured.setdefault((rec.layer, rec.role or rec.name), []).append(rec)
    last_step = last_runs(recorder.records)

    # FLOPs over the whole pass; shapes of the whole sequence (full) or of the last step
    # that ran each matmul (incremental), on both sides
    groups, counted = counted_steps(arch, arch.dims(load.batch, load.seq_len), conv, mode)
    layers = [(i, group_of_layer(arch, groups, i)) for i in range(arch.n_layers)]
    layers += [(None, g) for g in groups if g.section == "head"]
    rows = []

    def unknown(layer, key, recs):  # a matmul the model does not know of
        shape, operands = measured_shapes(last_step[(layer, key)], False)
        return VerifyRow(layer, recs[-1].name, 0, flops_per_mac * sum(r.macs for r in recs),
                         None, shape, None, operands, role=recs[-1].role or "")

    for layer, group in layers:
        for op, flops in counted[group.name]:
            recs = measured.pop((layer, op.role), [])
            shape, operands = measured_shapes(last_step.get((layer, op.role), []),
                                              op.experts is not None)
            rows.append(VerifyRow(
                layer=layer, name=op.name, analytical_flops=flops,
                measured_flops=flops_per_mac * sum(r.macs for r in recs),
                analytical_shape=tuple(op.output), measured_shape=shape,
                analytical_operands=tuple(tuple(s) for s in op.inputs),
                measured_operands=operands, role=op.role, group=group.name))
        # unknown matmuls of this block (or of the head) go with it, after the known ones
        rows += [unknown(*key, measured.pop(key)) for key in list(measured) if key[0] == layer]
    for layer in dict.fromkeys(key[0] for key in measured):  # a layer the model lacks
        rows += [unknown(*key, measured[key]) for key in measured if key[0] == layer]
    return VerifyResult(config, conv, mode, seed, dtype, tuple(rows), arch, load)
