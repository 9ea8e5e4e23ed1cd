"""Cross-check: the analytical model against the instrumented NumPy forward pass.

The two share no counting code: the analytical FLOPs come from ``model.build_ops``'s shapes,
the measured ones from the arrays ``reference.matmul`` actually multiplied.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from . import reference
from .analysis import model_ops, op_flops
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
    config: Config
    conventions: Conventions
    mode: str
    seed: int
    dtype: str
    rows: tuple[VerifyRow, ...]

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


def check_memory(config: Config, dtype: str, mode: str = "full") -> None:
    """Refuse, with the estimate, a pass that would not fit in this machine's memory."""
    need = reference.estimate_memory_bytes(_gpt_config(config), config.batch, config.seq_len,
                                           DTYPES[dtype], incremental=mode == "incremental")
    advice = "lower --seq-len, --batch or the model size"
    if need > MAX_PASS_BYTES:
        raise FlopcalcError(f"this forward pass needs more than 2**62 bytes (4 EiB) of memory, "
                            f"beyond any machine; {advice}")
    have = available_memory_bytes()
    if have is not None and 5 * need > 4 * have:  # more than 80% of what is free
        raise FlopcalcError(f"this forward pass needs about {gib_text(need)} GiB of memory and "
                            f"{gib_text(have)} GiB is available; {advice}")


def check(config: Config, mode: str = "full", seed: int = 0, dtype: str = "float32") -> None:
    """Everything ``verify`` refuses, checked before any work: mode, dtype, seed, memory."""
    if mode not in MODES:
        raise FlopcalcError(f"mode must be full or incremental, got {mode!r}")
    if dtype not in DTYPES:
        raise FlopcalcError(f"dtype must be float32 or float64, got {dtype!r}")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise FlopcalcError(f"seed must be a whole number >= 0, got {seed!r}")
    check_memory(config, dtype, mode)


def _gpt_config(config: Config) -> reference.GPTConfig:
    return reference.GPTConfig(n_layer=config.n_layers, n_head=config.n_heads,
                               n_embd=config.d_model, d_ff=config.d_ff,
                               vocab_size=config.vocab, n_positions=config.n_positions,
                               bias=config.bias, fused_qkv=config.fused_qkv,
                               activation=config.activation)


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


def verify(config: Config, mode: str = "full", seed: int = 0, dtype: str = "float32",
           flops_per_mac: int = 2, on_block=None) -> VerifyResult:
    """Run the reference pass and compare every matmul with the analytical model.

    ``full`` runs all positions at once (full L x L scores, then masked) and is compared
    with dense counting; ``incremental`` runs token by token with a KV cache and is compared
    with causal counting. ``on_block()`` is called each time the pass enters a block.
    Bad input, or a pass that would not fit in memory, raises FlopcalcError before any work
    (see ``check``).
    """
    check(config, mode, seed, dtype)
    conv = Conventions(flops_per_mac=flops_per_mac,
                       attention="dense" if mode == "full" else "causal")

    gpt = _gpt_config(config)
    params = reference.init_params(gpt, seed=seed, dtype=DTYPES[dtype])
    tokens = np.random.default_rng(seed).integers(0, config.vocab, (config.batch, config.seq_len))
    recorder = _BlockProgress(on_block or (lambda: None))
    run = reference.forward if mode == "full" else reference.forward_incremental
    with reference.blas_threads(reference.pass_threads()):
        run(params, gpt, tokens, recorder)

    measured: dict[tuple, list] = {}
    for rec in recorder.records:
        measured.setdefault((rec.layer, rec.name), []).append(rec)

    # Shapes to compare: the whole sequence (full), or the last decode step (incremental).
    dims = config.dims()
    if mode == "incremental":
        dims = replace(dims, seq_len=1, kv_len=config.seq_len)
    shape_ops = {op.name: op for op in model_ops(dims, config)}

    ops = [op for op in model_ops(config.dims(), config) if op.kind == "matmul"]
    layers = list(range(config.n_layers)) + [None]
    rows = []

    def unknown(layer, name, recs):  # a matmul the model does not know of
        last = recs[-1]
        return VerifyRow(layer, name, 0, flops_per_mac * sum(r.macs for r in recs), None,
                         tuple(last.out_shape), None, (tuple(last.a_shape), tuple(last.b_shape)))

    for layer in layers:
        for op in ops:
            if (op.section == "block") != (layer is not None):
                continue
            recs = measured.pop((layer, op.name), [])
            last = recs[-1] if recs else None
            rows.append(VerifyRow(
                layer=layer, name=op.name, analytical_flops=op_flops(op, conv),
                measured_flops=flops_per_mac * sum(r.macs for r in recs),
                analytical_shape=tuple(shape_ops[op.name].output),
                measured_shape=tuple(last.out_shape) if last else None,
                analytical_operands=tuple(tuple(s) for s in shape_ops[op.name].inputs),
                measured_operands=(tuple(last.a_shape), tuple(last.b_shape)) if last else None))
        # unknown matmuls of this block (or of the head) go with it, after the known ones
        rows += [unknown(*key, measured.pop(key)) for key in list(measured) if key[0] == layer]
    for layer in dict.fromkeys(key[0] for key in measured):  # a layer the model lacks
        rows += [unknown(*key, measured[key]) for key in measured if key[0] == layer]
    return VerifyResult(config, conv, mode, seed, dtype, tuple(rows))
