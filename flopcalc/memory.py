"""Memory (parameters, KV cache, training activations), arithmetic intensity and a roofline.

Everything is derived from the operations of ``analysis.model_ops``: byte counts are exact
Python ints, intensities and times exact ``Fraction``s (rounded only for display, in
``tables``-style cells built here). The model and its sources are in docs/memory.md.

Assumptions, stated once (the tables repeat them):

- **Bytes moved by an operation** (forward): every operand (weights included) and every other
  parameter it reads (bias, LayerNorm γ/β) is read once and its output written once, at the
  dtype's size; no cache reuse across operations. A lookup reads one ``wte`` row and one ``wpe``
  row per token and writes both (``embed_add`` adds them); token ids are not counted.
- **Backward bytes**: a matmul's two gradient matmuls each read two of (A, B, dC) and write the
  third: 2 × its forward bytes. An elementwise gradient reads the output gradient and every
  forward operand and writes one gradient per operand and per parameter. A lookup's gradient
  reads the two gathered gradients and adds them into the table rows (read + write).
- **Roofline time** of an operation: max(FLOPs / peak, bytes / bandwidth), summed over the
  operations (block operations n_layers times); a backward op and a recomputed forward are
  separate kernels with their own max. Full recomputation re-runs the blocks' forward
  (as ``analysis.mode_costs`` counts it), not the embedding or the LM head.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from decimal import Decimal, InvalidOperation
from fractions import Fraction
from math import prod

from .analysis import counted, model_ops, op_flops, param_report
from .config import Config, Conventions, FlopcalcError, Mode
from .model import Op
from .tables import JSON_SCHEMA_VERSION, blocks

DTYPE_BYTES: dict[str, int] = {"fp32": 4, "bf16": 2, "fp16": 2, "int8": 1}


def dtype_bytes(dtype: str) -> int:
    """Bytes per element of a dtype name (fp32, bf16, fp16, int8)."""
    try:
        return DTYPE_BYTES[dtype]
    except KeyError:
        raise FlopcalcError(
            f"unknown dtype {dtype!r}; choose one of {', '.join(DTYPE_BYTES)}") from None


# ---------------------------------------------------------------------------------------
# Devices
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Device:
    """A peak compute rate per dtype (TFLOPS; TOPS for int8, dense, no sparsity) and a memory
    bandwidth (GB/s = 10⁹ bytes per second), as exact Fractions."""

    name: str
    label: str
    peak_tflops: dict          # dtype -> Fraction
    bandwidth_gbs: Fraction
    source: str = ""

    def peak(self, dtype: str) -> Fraction:
        """Peak FLOP/s for ``dtype``."""
        if dtype not in self.peak_tflops:
            raise FlopcalcError(f"device {self.name} has no {dtype} peak on its spec sheet; "
                                f"give --peak-tflops")
        return self.peak_tflops[dtype] * 10 ** 12

    @property
    def bandwidth(self) -> Fraction:
        """Bytes per second."""
        return self.bandwidth_gbs * 10 ** 9

    def ridge(self, dtype: str) -> Fraction:
        """The ridge point, FLOP per byte: below it an operation is memory-bound."""
        return self.peak(dtype) / self.bandwidth


def _peaks(**values: str) -> dict:
    return {k: Fraction(v) for k, v in values.items()}


# Dense (no 2:4 sparsity) peaks from the public spec sheets cited in docs/memory.md.
# bf16/fp16: tensor cores with FP32 accumulate; fp32: without TF32 (PyTorch's matmul default);
# int8: TOPS.
DEVICES: dict[str, Device] = {
    "a100": Device("a100", "NVIDIA A100 SXM 80GB",
                   _peaks(bf16="312", fp16="312", fp32="19.5", int8="624"), Fraction(2039),
                   "NVIDIA A100 Tensor Core GPU datasheet"),
    "h100": Device("h100", "NVIDIA H100 SXM5 80GB",
                   _peaks(bf16="989.4", fp16="989.4", fp32="66.9", int8="1978.9"),
                   Fraction(3350), "NVIDIA H100 Tensor Core GPU datasheet / Hopper whitepaper"),
    "rtx4090": Device("rtx4090", "NVIDIA GeForce RTX 4090",
                      _peaks(bf16="165.2", fp16="165.2", fp32="82.6", int8="660.6"),
                      Fraction(1008), "NVIDIA Ada GPU architecture whitepaper, Appendix A"),
    "tpu-v4": Device("tpu-v4", "Google Cloud TPU v4 (one chip)",
                     _peaks(bf16="275", int8="275"), Fraction(1200),
                     "Google Cloud TPU v4 documentation, key specifications"),
}
DEFAULT_DEVICE = "a100"


# The device figures flopcalc takes (--peak-tflops in TFLOPS, --bandwidth-gbs in GB/s) lie in
# 1e-9 … 1e9: from a kFLOPS, byte-per-second device to a zettaFLOPS, exabyte-per-second
# cluster. Outside it a time is not worth printing (or a million-digit number to print).
FIGURE_MIN, FIGURE_MAX = Fraction(1, 10 ** 9), Fraction(10 ** 9)
FIGURE_CHARS = 100  # the longest figure read: its digits are exact, never truncated


def positive_number(text, what: str) -> Fraction:
    """A decimal number (``989.4``, ``1e3``) or fraction (``1/3``) given as text (or a number),
    exactly, within FIGURE_MIN … FIGURE_MAX."""
    s = str(text).strip()
    if len(s) > FIGURE_CHARS:
        raise FlopcalcError(f"{what} must be a number of at most {FIGURE_CHARS} characters, "
                            f"got {len(s)}")
    try:  # Decimal first: it compares an exponent (1e999999) without expanding it
        value = Decimal(s)
        if not value.is_finite():
            raise ValueError
    except (InvalidOperation, ValueError):
        try:
            value = Fraction(s)  # n/d: at most FIGURE_CHARS digits
        except (ValueError, ZeroDivisionError):
            raise FlopcalcError(f"{what} must be a positive number, got {s!r}") from None
    if value <= 0:
        raise FlopcalcError(f"{what} must be positive, got {s}")
    low, high = (Decimal("1e-9"), Decimal("1e9")) if isinstance(value, Decimal) else (
        FIGURE_MIN, FIGURE_MAX)
    if not low <= value <= high:
        raise FlopcalcError(f"{what} must lie between 1e-9 and 1e9 (flopcalc's range for "
                            f"device figures), got {s}")
    return Fraction(value)


def device(name: str | None = None, peak_tflops=None, bandwidth_gbs=None,
           dtype: str | None = None) -> Device:
    """A preset device (default A100), with either figure optionally overridden.

    ``peak_tflops`` overrides the peak of ``dtype`` (or of every dtype when not given). The
    label and source of an overridden device say which figure came from the command line and
    which from the preset.
    """
    key = (DEFAULT_DEVICE if name is None else name).lower()  # "" is no device, not the default
    if key not in DEVICES:
        raise FlopcalcError(f"unknown device {name!r}; choose one of {', '.join(DEVICES)} "
                            "(or leave out --device and give --peak-tflops and --bandwidth-gbs)")
    dev = DEVICES[key]
    if peak_tflops is None and bandwidth_gbs is None:
        return dev
    peaks = dict(dev.peak_tflops)
    if peak_tflops is not None:
        value = positive_number(peak_tflops, "--peak-tflops")
        peaks = {d: value for d in ([dtype] if dtype else DTYPE_BYTES)}
    bw = dev.bandwidth_gbs if bandwidth_gbs is None else positive_number(bandwidth_gbs,
                                                                          "--bandwidth-gbs")
    # say which figure came from where: the command line, or the preset's spec sheet
    if peak_tflops is not None and bandwidth_gbs is not None:
        label, source = "custom device", "peak and bandwidth given on the command line"
    elif peak_tflops is not None:
        label = f"{dev.label} with the peak from --peak-tflops"
        source = (f"peak given on the command line; bandwidth from the {dev.name} preset: "
                  f"{dev.source}")
    else:
        label = f"{dev.label} with the bandwidth from --bandwidth-gbs"
        source = (f"bandwidth given on the command line; peak from the {dev.name} preset: "
                  f"{dev.source}")
    return Device("custom", label, peaks, bw, source)


# ---------------------------------------------------------------------------------------
# Memory: parameters, KV cache, activations saved for the backward pass
# ---------------------------------------------------------------------------------------


def param_bytes(config: Config, dtype: str) -> int:
    """Bytes of every parameter tensor (the tied LM head counted once)."""
    return param_report(config).total * dtype_bytes(dtype)


def kv_cache_elements(config: Config, tokens: int) -> int:
    """Elements of the K and V caches for ``tokens`` cached tokens: the keys and values the
    attention ops read (per block the K operand of ``scores`` and the V operand of
    ``attn_values``), times n_layers. Equals 2 · n_layers · B · T · d_model."""
    dims = replace(config.dims(), seq_len=1, kv_len=tokens)
    ops = {op.name: op for op in model_ops(dims, config)}
    return config.n_layers * (prod(ops["scores"].inputs[1]) + prod(ops["attn_values"].inputs[1]))


def kv_cache_bytes(config: Config, tokens: int, dtype: str) -> int:
    return kv_cache_elements(config, tokens) * dtype_bytes(dtype)


# What each operation's backward pass reads from its forward pass, after Korthikanti et al.
# (2022, §4.1): (tensor, which of the op's shapes it has: "in0"/"in1" operand, "out" output).
# A tensor read by two ops is stored once (P: by the softmax gradient and by dV = Pᵀ·dA; the
# LayerNorm output by three separate q/k/v projections). Operations not listed save nothing:
# views, the 1/√d_head scale (a constant), the causal mask (a fixed pattern), bias and
# residual adds (their gradients need no forward tensor).
SAVED: dict[str, tuple[tuple[str, str], ...]] = {
    "ln_1": (("ln_1 input (block input)", "in0"),),
    "qkv_proj": (("ln_1 output", "in0"),),
    "q_proj": (("ln_1 output", "in0"),),
    "k_proj": (("ln_1 output", "in0"),),
    "v_proj": (("ln_1 output", "in0"),),
    "scores": (("q", "in0"), ("k", "in1")),
    "softmax": (("P = softmax(S)", "out"),),
    "attn_values": (("P = softmax(S)", "in0"), ("v", "in1")),
    "out_proj": (("attention output A", "in0"),),
    "ln_2": (("ln_2 input", "in0"),),
    "ffn_up": (("ln_2 output", "in0"),),
    "gelu": (("GELU input u", "in0"),),
    "relu": (("ReLU input u", "in0"),),
    "ffn_down": (("GELU output", "in0"),),
    "ln_f": (("ln_f input", "in0"),),
    "lm_head": (("ln_f output", "in0"), ("logits (read by the loss)", "out")),
}


@dataclass(frozen=True)
class SavedTensor:
    section: str
    op: str                 # the first operation whose gradient reads it
    tensor: str
    shape: tuple

    @property
    def elements(self) -> int:
        return prod(self.shape)


def saved_tensors(config: Config) -> tuple[SavedTensor, ...]:
    """The activations a training step keeps for its backward pass: one block's and the head's
    (the embedding saves only token ids, not counted)."""
    out, seen = [], set()
    for op in model_ops(config.dims(), config):
        for tensor, where in SAVED.get(op.name, ()):
            if (op.section, tensor) in seen:
                continue
            seen.add((op.section, tensor))
            shape = op.output if where == "out" else op.inputs[int(where[2:])]
            out.append(SavedTensor(op.section, op.name, tensor, tuple(shape)))
    return tuple(out)


@dataclass(frozen=True)
class ActivationReport:
    """Activation memory of a training step (elements; ``bytes`` multiplies by the dtype size).

    Without recompute the peak is when the forward pass ends: every block's saved tensors plus
    the head's. With full recomputation only each block's input is kept; the backward pass of a
    block first rebuilds the rest of that block's tensors, so the peak adds one block's
    inventory (less its input, already counted) to the n_layers inputs.
    """

    config: Config
    dtype: str
    recompute: bool
    rows: tuple[SavedTensor, ...]

    @property
    def size(self) -> int:
        return dtype_bytes(self.dtype)

    def section_elements(self, section: str) -> int:
        return sum(r.elements for r in self.rows if r.section == section)

    @property
    def block_elements(self) -> int:
        """One block's saved tensors (without recompute)."""
        return self.section_elements("block")

    @property
    def block_input_elements(self) -> int:
        return self.config.batch * self.config.seq_len * self.config.d_model

    @property
    def kept_per_block(self) -> int:
        """What each block keeps until its backward pass."""
        return self.block_input_elements if self.recompute else self.block_elements

    @property
    def peak_elements(self) -> int:
        n = self.config.n_layers
        peak = n * self.kept_per_block + self.section_elements("head")
        if self.recompute:
            peak += self.block_elements - self.block_input_elements
        return peak

    def bytes(self, elements: int) -> int:
        return elements * self.size


def activation_report(config: Config, dtype: str = "bf16", recompute: bool = False) -> ActivationReport:
    dtype_bytes(dtype)
    return ActivationReport(config, dtype, recompute, saved_tensors(config))


# ---------------------------------------------------------------------------------------
# Bytes moved, arithmetic intensity, roofline
# ---------------------------------------------------------------------------------------


def _other_params(op: Op) -> int:
    """Parameter elements an op reads besides its weight operand (bias, LayerNorm γ/β)."""
    return sum(p.count for p in op.params if p.shape != op.weight)


def op_bytes(op: Op, size: int, backward: bool = False) -> int:
    """Bytes an operation (or its gradient) moves under the module's stated assumptions."""
    out = prod(op.output)
    if op.kind == "lookup":
        rows = 2 * out                      # one wte row and one wpe row per token
        return size * (3 * rows if backward else 2 * rows)
    operands = sum(prod(s) for s in op.inputs)
    params = _other_params(op)
    forward = operands + params + out
    if not backward:
        return size * forward
    if op.kind == "matmul":
        return size * 2 * forward
    return size * (out + 2 * operands + 2 * params)


def intensity(flops: int, nbytes: int) -> Fraction | None:
    """FLOP per byte, exact (None when nothing moves)."""
    return Fraction(flops, nbytes) if nbytes else None


@dataclass(frozen=True)
class Kernel:
    """One pass of one operation: its FLOPs, bytes and roofline time."""

    flops: int
    bytes: int
    time: Fraction          # seconds
    compute_bound: bool


@dataclass(frozen=True)
class RooflineRow:
    op: Op
    kernels: tuple[Kernel, ...]     # forward (once, or twice with recompute), backward

    @property
    def flops(self) -> int:
        return sum(k.flops for k in self.kernels)

    @property
    def bytes(self) -> int:
        return sum(k.bytes for k in self.kernels)

    @property
    def time(self) -> Fraction:
        return sum((k.time for k in self.kernels), Fraction(0))

    @property
    def intensity(self) -> Fraction | None:
        return intensity(self.flops, self.bytes)

    @property
    def bound(self) -> str:
        kinds = {k.compute_bound for k in self.kernels}
        return "mixed" if len(kinds) > 1 else ("compute" if kinds.pop() else "memory")


@dataclass(frozen=True)
class RooflineReport:
    config: Config
    conventions: Conventions
    mode: Mode
    dtype: str
    device: Device
    rows: tuple[RooflineRow, ...]

    def times(self, row: RooflineRow) -> int:
        return self.config.n_layers if row.op.section == "block" else 1

    def _sum(self, attr: str, section: str | None = None):
        return sum((getattr(r, attr) * self.times(r) for r in self.rows
                    if section is None or r.op.section == section), 0)

    @property
    def flops(self) -> int:
        return self._sum("flops")

    @property
    def bytes(self) -> int:
        return self._sum("bytes")

    @property
    def time(self) -> Fraction:
        return Fraction(self._sum("time"))

    @property
    def block_time(self) -> Fraction:
        """One block."""
        return sum((r.time for r in self.rows if r.op.section == "block"), Fraction(0))


ROOFLINE_MODES = ("forward", "train", "decode")


def roofline_report(config: Config, conventions: Conventions | None = None,
                    mode: Mode | None = None, dtype: str = "bf16",
                    dev: Device | None = None) -> RooflineReport:
    """Per-operation FLOPs, bytes, intensity and roofline time of a forward pass, a training
    step (forward + backward, + a recomputed forward with ``recompute``) or a decode step."""
    conv = conventions or Conventions()
    mode = (mode or Mode()).resolved(config)
    if mode.kind not in ROOFLINE_MODES:
        raise FlopcalcError(f"memory mode must be one of {', '.join(ROOFLINE_MODES)}, "
                            f"got {mode.kind!r}")
    dev = dev or device()
    size, peak, bandwidth = dtype_bytes(dtype), dev.peak(dtype), dev.bandwidth

    def kernel(flops: int, nbytes: int) -> Kernel:
        compute, memory = Fraction(flops) / peak, Fraction(nbytes) / bandwidth
        return Kernel(flops, nbytes, max(compute, memory), compute >= memory)

    dims = config.dims()
    if mode.kind == "decode":
        dims = replace(dims, seq_len=1, kv_len=mode.position)
    rows = []
    for op in model_ops(dims, config):
        if not counted(op, conv):
            continue
        fwd = kernel(op_flops(op, conv), op_bytes(op, size))
        kernels: tuple[Kernel, ...] = (fwd,)
        if mode.kind == "train":
            again = mode.recompute and op.section == "block"  # only the blocks are recomputed
            kernels = (fwd,) * (2 if again else 1) + (
                kernel(op_flops(op, conv, backward=True), op_bytes(op, size, backward=True)),)
        rows.append(RooflineRow(op, kernels))
    return RooflineReport(config, conv, mode, dtype, dev, tuple(rows))


# ---------------------------------------------------------------------------------------
# Display helpers (exact rounding, half up; non-negative values)
# ---------------------------------------------------------------------------------------


def decimal_text(x: Fraction, places: int = 2) -> str:
    """``x`` rounded half up to ``places`` decimals, with thousands separators."""
    n = (x * 10 ** places * 2 + 1) // 2
    whole, rest = divmod(int(n), 10 ** places)
    return f"{whole:,}" + (f".{rest:0{places}d}" if places else "")


def number_text(x: Fraction) -> str:
    """A Fraction as an exact decimal when it has at most 6 places (``989.4``), else rounded."""
    for places in range(7):
        if (x * 10 ** places).denominator == 1:
            return decimal_text(x, places)
    return decimal_text(x, 6)


def time_text(seconds: Fraction) -> str:
    """A time with three significant digits in s, ms, µs or ns (rounded half up)."""
    units = (("s", 1), ("ms", 10 ** 3), ("µs", 10 ** 6), ("ns", 10 ** 9))
    for i, (unit, scale) in enumerate(units):
        value = seconds * scale
        if value >= 1 or unit == "ns":
            places = 0 if value >= 100 else 1 if value >= 10 else 2
            text = decimal_text(value, places)
            if text == "1,000" and i:  # 999.7 ms rounds up to 1.00 s
                return f"1.00 {units[i - 1][0]}"
            return f"{text} {unit}"
    raise AssertionError  # pragma: no cover


def approx_float(x: Fraction) -> float | None:
    """The nearest double to ``x``, for readers that plot; None where no double is near (beyond
    about 1.8e308, or a positive value below the smallest double): the exact value stands
    beside it."""
    try:
        value = float(x)
    except OverflowError:
        return None
    return value if value or not x else None


def fraction_text(x: Fraction | None) -> str | None:
    """An exact Fraction as ``"n/d"`` (``"n"`` when whole) for JSON."""
    if x is None:
        return None
    return str(x.numerator) if x.denominator == 1 else f"{x.numerator}/{x.denominator}"


# ---------------------------------------------------------------------------------------
# The `flopcalc memory` report: tables and JSON
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MemoryReport:
    """Everything ``flopcalc memory`` shows: memory at a dtype and the roofline of a forward
    pass, a training step and a decode step, with ``mode`` chosen for the per-op table."""

    config: Config
    conventions: Conventions
    dtype: str
    device: Device
    kv_tokens: int
    activations: ActivationReport
    forward: RooflineReport
    train: RooflineReport
    decode: RooflineReport
    mode: str

    @property
    def selected(self) -> RooflineReport:
        return {"forward": self.forward, "train": self.train, "decode": self.decode}[self.mode]

    @property
    def param_count(self) -> int:
        return param_report(self.config).total

    @property
    def kv_elements(self) -> int:
        return kv_cache_elements(self.config, self.kv_tokens)


def memory_report(config: Config, conventions: Conventions | None = None, mode: str = "forward",
                  dtype: str = "bf16", recompute: bool = False, dev: Device | None = None,
                  position: int | None = None) -> MemoryReport:
    """Memory and roofline of ``config``; ``position`` is the decode step's (default seq_len)."""
    if mode not in ROOFLINE_MODES:
        raise FlopcalcError(f"mode must be one of {', '.join(ROOFLINE_MODES)}, got {mode!r}")
    conv = conventions or Conventions()
    dev = dev or device()
    dtype_bytes(dtype)
    dev.peak(dtype)  # fails early when the device has no peak for this dtype
    decode_mode = Mode("decode", position=position).resolved(config)
    kv_tokens = decode_mode.position if mode == "decode" else config.seq_len
    return MemoryReport(
        config, conv, dtype, dev, kv_tokens, activation_report(config, dtype, recompute),
        roofline_report(config, conv, Mode("forward"), dtype, dev),
        roofline_report(config, conv, Mode("train", recompute), dtype, dev),
        roofline_report(config, conv, decode_mode, dtype, dev), mode)


def _assumption_notes(report: MemoryReport) -> list[str]:
    dev, size = report.device, dtype_bytes(report.dtype)
    ridge = dev.ridge(report.dtype)
    unit = "TOPS" if report.dtype == "int8" else "TFLOPS"
    return [
        f"Device: {dev.label}: peak {number_text(dev.peak_tflops[report.dtype])} {unit} "
        f"dense {report.dtype}, {number_text(dev.bandwidth_gbs)} GB/s ({dev.source}); ridge "
        f"point {decimal_text(ridge, 1)} FLOP/byte: an op below it is memory-bound.",
        f"Bytes moved: every operand, weight and bias read once and the output written once at "
        f"{size} bytes ({report.dtype}); no cache reuse across ops. Backward: a matmul's two "
        "gradient matmuls move 2 × its forward bytes; an elementwise gradient reads the output "
        "gradient and every operand and writes their gradients.",
        "Roofline time per op = max(FLOPs / peak, bytes / bandwidth), summed over ops (block ops "
        "× n_layers; backward and recomputed forward as separate kernels). Intensity = FLOPs / "
        "bytes. Times are exact fractions shown rounded half up to 3 significant digits.",
    ]


def memory_tables(report: MemoryReport):
    """The summary, activation inventory (train mode), roofline overview and per-op tables."""
    from .tables import Num, Table, config_note, readable, shape_str

    cfg, act, size = report.config, report.activations, dtype_bytes(report.dtype)
    n = cfg.n_layers
    conv_note = f"Conventions: {report.conventions.describe()}"
    summary = Table(
        title=f"Memory at {report.dtype} ({size} byte{'s' if size > 1 else ''} per element)",
        notes=[config_note(cfg),
               "Activations: what a training step keeps for its backward pass (the inputs each "
               "gradient reads; docs/memory.md), "
               + ("with full recomputation: only each block's input is kept, and one block's "
                  "tensors are rebuilt at a time." if act.recompute else "no recomputation.")
               + " Not counted: gradients, optimizer state, LayerNorm statistics, token ids, "
               "temporary buffers. kB/MB/GB are powers of 1000."],
        columns=["item", "what", "elements", "bytes", "≈"], align="llrrr",
        optional=("what",), name="summary")

    def line(item, what, elements):
        return [item, what, elements, elements * size, readable(elements * size, "B")]

    summary.rows.append(line("parameters", "every weight, bias and LayerNorm tensor (LM head "
                             "tied)" if cfg.tied_lm_head else "every tensor (untied LM head)",
                             report.param_count))
    summary.rows.append(line(f"KV cache, {report.kv_tokens} tokens",
                             f"K and V: 2 · {blocks(n)} · B · T · d_model"
                             + (" (T = t: t − 1 cached + the new token)" if report.mode == "decode"
                                else " (T = seq_len)"), report.kv_elements))
    summary.rows.append(line("activations, one block", f"{sum(r.section == 'block' for r in act.rows)} "
                             "saved tensors", act.block_elements))
    summary.rows.append(line("activations, head", "ln_f input and output, logits",
                             act.section_elements("head")))
    if act.recompute:
        summary.rows.append(line(f"kept, {blocks(n)} (recompute)", f"{n} × block input (B, L, d_model)",
                                 n * act.kept_per_block))
    else:
        summary.rows.append(line(f"kept, {blocks(n)}", f"{n} × one block", n * act.kept_per_block))
    summary.totals.append(line("training activations at peak",
                               "+ one rebuilt block + head" if act.recompute else "blocks + head",
                               act.peak_elements))

    tables = [summary]
    if report.mode == "train":
        inventory = Table(
            title="Activations saved for the backward pass",
            notes=[config_note(cfg), "One row per stored tensor; a tensor read by two gradients "
                   f"(P, the LayerNorm output) is stored once. Block rows are for one block (of {n})."],
            columns=["section", "read by", "tensor", "shape", "elements", "bytes"],
            align="llllrr", name="activations")
        for r in act.rows:
            inventory.rows.append([r.section, r.op, r.tensor, shape_str(r.shape), r.elements,
                                   r.elements * size])
        for label, e in (("one block", act.block_elements),
                         ("head", act.section_elements("head"))):
            inventory.totals.append(["", label, "", "", e, e * size])
        tables.append(inventory)

    overview = Table(
        title=f"Roofline time on {report.device.label} at {report.dtype}",
        notes=[config_note(cfg), conv_note]
        + ["; ".join(f"{label}: {r.mode.describe()}" for label, r in _computations(report))
           + ". % compute-bound: the share of the row's time spent in compute-bound ops."]
        + _assumption_notes(report),
        columns=["computation", "FLOPs", "bytes", "FLOP/byte", "time", "% compute-bound"],
        align="lrrrrr", optional=("% compute-bound",), name="roofline",
        drop_order=("% compute-bound", "FLOP/byte", "bytes"),
        csv_columns={"time": "time (s)"})
    for label, r in _computations(report):
        compute = sum((row.time * r.times(row) for row in r.rows if row.bound == "compute"),
                      Fraction(0))
        overview.rows.append([label, r.flops, r.bytes,
                              _decimal_cell(intensity(r.flops, r.bytes) or Fraction(0)),
                              _time_cell(r.time), _percent(compute, r.time)])
    tables.append(overview)

    sel = report.selected
    per_op = Table(
        title=f"Arithmetic intensity and roofline time per operation: {sel.mode.describe()}",
        notes=[config_note(cfg), conv_note] + _assumption_notes(report)
        + [f"Block rows are for one block; the model runs {n} of them. Bound: compute when "
           "FLOPs / peak ≥ bytes / bandwidth (mixed: its kernels differ). model time: the "
           f"row's time × {n} for a block row (× 1 otherwise); % of time: the model time's "
           f"share of the total {time_text(sel.time)} (the one-block row: its time's share)."],
        columns=["section", "operation", "FLOPs", "bytes", "FLOP/byte", "bound", "time",
                 "model time", "% of time"],
        align="llrrrlrrr", optional=("section", "model time", "% of time"), name="per-op",
        drop_order=("% of time", "model time", "bound", "FLOP/byte", "bytes"),
        csv_columns={"time": "time (s)", "model time": "model time (s)"})
    for row in sel.rows:
        per_op.rows.append([row.op.section, row.op.name, row.flops, row.bytes,
                            _decimal_cell(row.intensity) if row.intensity is not None
                            else Num("–", ""), row.bound, _time_cell(row.time),
                            _time_cell(row.time * sel.times(row)),
                            _percent(row.time * sel.times(row), sel.time)])
    per_op.totals.append(["", "one block", sum(r.flops for r in sel.rows if r.op.section == "block"),
                          sum(r.bytes for r in sel.rows if r.op.section == "block"), "", "",
                          _time_cell(sel.block_time), "", _percent(sel.block_time, sel.time)])
    per_op.totals.append(["", "total", sel.flops, sel.bytes,
                          _decimal_cell(intensity(sel.flops, sel.bytes) or Fraction(0)), "",
                          _time_cell(sel.time), _time_cell(sel.time), _percent(sel.time, sel.time)])
    tables.append(per_op)
    return tables


def _computations(report: MemoryReport):
    return (("forward", report.forward), ("train step", report.train),
            (f"decode, t = {report.decode.mode.position}", report.decode))


def _percent(part: Fraction, whole: Fraction):
    """``part / whole`` as a ``tables.percent_cell`` (``16.87%``; ``16.87`` in CSV)."""
    from .tables import percent_cell
    if not whole:
        return percent_cell(0, 0)
    q = Fraction(part) / Fraction(whole)  # percent() takes ints: scale by a common denominator
    return percent_cell(q.numerator, q.denominator)


def _decimal_cell(x: Fraction):
    """``decimal_text`` as a cell: ``1,234.56`` to read, ``1234.56`` in CSV."""
    from .tables import Num
    text = decimal_text(x)
    return Num(text, text.replace(",", ""))


def _time_cell(seconds: Fraction):
    """``time_text`` as a cell: ``156 µs`` to read; in CSV seconds to three significant
    digits, ``1.56e-04`` (exact rounding, half up), under a ``(s)`` header."""
    from .tables import Num
    if seconds <= 0:
        return Num(time_text(seconds), "0")
    e = len(str(seconds.numerator)) - len(str(seconds.denominator))  # within one of log10
    while seconds * Fraction(10) ** (2 - e) >= 1000:
        e += 1
    while seconds * Fraction(10) ** (2 - e) < 100:
        e -= 1
    m = (2 * seconds * Fraction(10) ** (2 - e) + 1) // 2
    if m == 1000:
        m, e = 100, e + 1
    return Num(time_text(seconds), f"{m // 100}.{m % 100:02d}e{e:+03d}")


def _roofline_json(r: RooflineReport) -> dict:
    return {"flops": r.flops, "bytes": r.bytes, "intensity": fraction_text(intensity(r.flops, r.bytes)),
            "time_s": fraction_text(r.time), "time_s_approx": approx_float(r.time),
            "description": r.mode.describe()}


def memory_json(report: MemoryReport) -> dict:
    """The ``flopcalc.memory`` JSON document (described in docs/memory.md)."""
    cfg, act, dev, sel = report.config, report.activations, report.device, report.selected
    size = dtype_bytes(report.dtype)
    return {
        "schema": "flopcalc.memory", "schema_version": JSON_SCHEMA_VERSION,
        "config": cfg.as_dict(),
        "conventions": {**report.conventions.as_dict(),
                        "description": report.conventions.describe()},
        "dtype": {"name": report.dtype, "bytes": size},
        "device": {"name": dev.name, "label": dev.label, "source": dev.source,
                   "peak_tflops": fraction_text(dev.peak_tflops[report.dtype]),
                   "bandwidth_gbs": fraction_text(dev.bandwidth_gbs),
                   "ridge_flop_per_byte": fraction_text(dev.ridge(report.dtype))},
        "memory": {
            "parameters": {"count": report.param_count, "bytes": report.param_count * size},
            "kv_cache": {"tokens": report.kv_tokens, "elements": report.kv_elements,
                         "bytes": report.kv_elements * size},
            "activations": {
                "recompute": act.recompute,
                "saved": [{"section": r.section, "read_by": r.op, "tensor": r.tensor,
                           "shape": list(r.shape), "elements": r.elements,
                           "bytes": r.elements * size} for r in act.rows],
                "block_elements": act.block_elements, "block_bytes": act.bytes(act.block_elements),
                "head_elements": act.section_elements("head"),
                "head_bytes": act.bytes(act.section_elements("head")),
                "kept_per_block_elements": act.kept_per_block,
                "peak_elements": act.peak_elements, "peak_bytes": act.bytes(act.peak_elements)},
        },
        "roofline": {"forward": _roofline_json(report.forward),
                     "train": {**_roofline_json(report.train), "recompute": act.recompute},
                     "decode": {**_roofline_json(report.decode),
                                "position": report.decode.mode.position}},
        "mode": report.mode,
        "rows": [{"section": r.op.section, "name": r.op.name, "kind": r.op.kind,
                  "flops": r.flops, "bytes": r.bytes, "intensity": fraction_text(r.intensity),
                  "bound": r.bound, "time_s": fraction_text(r.time),
                  "time_s_approx": approx_float(r.time), "times": sel.times(r)} for r in sel.rows],
        "totals": _roofline_json(sel),
    }
