"""Cross-check: the analytical model against the instrumented NumPy forward pass.

The two share no counting code: the analytical FLOPs come from the architecture builders'
operations (``flopcalc.architectures``), the measured ones from the arrays
``reference.matmul`` actually multiplied. They are matched per layer (the analytical side's
layer group for that layer) and per role (``attention.q``, ``mlp.down``, ...), never by one
family's operation names, so every architecture is checked alike.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from . import reference
from .analysis import op_flops, split_model
from .architecture import Architecture, Workload
from .architectures import build
from .config import Config, Conventions, FlopcalcError

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


def check_memory(model, dtype: str, mode: str = "full", workload: Workload | None = None) -> None:
    """Refuse, with the estimate, a pass that would not fit in this machine's memory.
    ``model`` is a Config, or an Architecture with its ``workload``."""
    arch, load, _ = split_model(model, workload)
    need = reference.estimate_memory_bytes(_gpt_config(arch), load.batch, load.seq_len,
                                           DTYPES[dtype], incremental=mode == "incremental")
    advice = "lower --seq-len, --batch or the model size"
    if need > MAX_PASS_BYTES:
        raise FlopcalcError(f"this forward pass needs more than 2**62 bytes (4 EiB) of memory, "
                            f"beyond any machine; {advice}")
    have = available_memory_bytes()
    if have is not None and 5 * need > 4 * have:  # more than 80% of what is free
        raise FlopcalcError(f"this forward pass needs about {gib_text(need)} GiB of memory and "
                            f"{gib_text(have)} GiB is available; {advice}")


def check(model, mode: str = "full", seed: int = 0, dtype: str = "float32",
          workload: Workload | None = None) -> None:
    """Everything ``verify`` refuses, checked before any work: mode, dtype, seed, the input's
    length, memory. ``model`` is a Config, or an Architecture with its ``workload``."""
    if mode not in MODES:
        raise FlopcalcError(f"mode must be full or incremental, got {mode!r}")
    if dtype not in DTYPES:
        raise FlopcalcError(f"dtype must be float32 or float64, got {dtype!r}")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise FlopcalcError(f"seed must be a whole number >= 0, got {seed!r}")
    arch, load, _ = split_model(model, workload)
    if arch.family not in reference.WEIGHT_NAMES:
        raise FlopcalcError(f"verify has no reference pass of the {arch.family} family yet "
                            f"(it runs {', '.join(reference.WEIGHT_NAMES)})")
    load.check(arch)
    check_memory(arch, dtype, mode, load)


def _gpt_config(model) -> reference.GPTConfig:
    """The reference pass's config of a Config or an Architecture: every switch carried over."""
    arch = model if isinstance(model, Architecture) else model.architecture
    return reference.GPTConfig.from_architecture(arch)


def group_of_layer(arch: Architecture, groups, layer: int):
    """The block group that stands for ``layer``: the only one, or (a model with windowed and
    full layers) ``sliding`` for a windowed layer and ``full`` for the others."""
    blocks = [g for g in groups if g.section == "block"]
    if len(blocks) == 1:
        return blocks[0]
    windowed = arch.window_layers is None or layer in arch.window_layers
    return next(g for g in blocks if g.name == ("sliding" if windowed else "full"))


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
           flops_per_mac: int = 2, on_block=None, workload: Workload | None = None) -> VerifyResult:
    """Run the reference pass and compare every matmul with the analytical model.

    ``model`` is a GPT-2 Config, or an Architecture of any family with its ``workload``
    (default: ``Workload()``). ``full`` runs all positions at once (full L x L scores, then
    masked, windowed layers too) and is compared with dense counting; ``incremental`` runs
    token by token with a KV cache (a windowed layer's keeps its last W keys) and is compared
    with causal counting (a windowed layer's query sees min(t, W) keys). Each layer's matmuls
    are matched by role with the ops of the layer's group. ``on_block()`` is called each time
    the pass enters a block. Bad input, or a pass that would not fit in memory, raises
    FlopcalcError before any work (see ``check``).
    """
    arch, load, config = split_model(model, workload)
    check(arch, mode, seed, dtype, load)
    conv = Conventions(flops_per_mac=flops_per_mac,
                       attention="dense" if mode == "full" else "causal")

    gpt = _gpt_config(arch)
    if arch.positions == "rotary":  # no position table, so no end to the sequence (the
        gpt = replace(gpt, n_positions=max(gpt.n_positions, load.seq_len))  # pass checks one)
    params = reference.init_params(gpt, seed=seed, dtype=DTYPES[dtype])
    tokens = np.random.default_rng(seed).integers(0, arch.vocab, (load.batch, load.seq_len))
    recorder = _BlockProgress(on_block or (lambda: None))
    run = reference.forward if mode == "full" else reference.forward_incremental
    with reference.blas_threads(reference.pass_threads()):
        run(params, gpt, tokens, recorder)

    measured: dict[tuple, list] = {}  # (layer, role, or the name for a role-less matmul)
    for rec in recorder.records:
        measured.setdefault((rec.layer, rec.role or rec.name), []).append(rec)

    # FLOPs over the whole pass; shapes of the whole sequence (full) or of the last decode
    # step (incremental), whose groups line up with the pass's one by one.
    dims = arch.dims(load.batch, load.seq_len)
    groups = build(arch, dims)
    shape_groups = build(arch, replace(dims, seq_len=1, kv_len=load.seq_len)
                         if mode == "incremental" else dims)
    shape_of = {g.name: g for g in shape_groups}
    layers = [(i, group_of_layer(arch, groups, i)) for i in range(arch.n_layers)]
    layers += [(None, g) for g in groups if g.section == "head"]
    rows = []

    def unknown(layer, key, recs):  # a matmul the model does not know of
        last = recs[-1]
        return VerifyRow(layer, last.name, 0, flops_per_mac * sum(r.macs for r in recs), None,
                         tuple(last.out_shape), None, (tuple(last.a_shape), tuple(last.b_shape)),
                         role=last.role or "")

    for layer, group in layers:
        shape_ops = [op for op in shape_of[group.name].ops if op.kind == "matmul"]
        for op, shape_op in zip([op for op in group.ops if op.kind == "matmul"], shape_ops):
            recs = measured.pop((layer, op.role), [])
            last = recs[-1] if recs else None
            rows.append(VerifyRow(
                layer=layer, name=op.name, analytical_flops=op_flops(op, conv),
                measured_flops=flops_per_mac * sum(r.macs for r in recs),
                analytical_shape=tuple(shape_op.output),
                measured_shape=tuple(last.out_shape) if last else None,
                analytical_operands=tuple(tuple(s) for s in shape_op.inputs),
                measured_operands=(tuple(last.a_shape), tuple(last.b_shape)) if last else None,
                role=op.role, group=group.name))
        # unknown matmuls of this block (or of the head) go with it, after the known ones
        rows += [unknown(*key, measured.pop(key)) for key in list(measured) if key[0] == layer]
    for layer in dict.fromkeys(key[0] for key in measured):  # a layer the model lacks
        rows += [unknown(*key, measured[key]) for key in measured if key[0] == layer]
    return VerifyResult(config, conv, mode, seed, dtype, tuple(rows), arch, load)
