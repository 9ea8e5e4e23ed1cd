"""Memory (parameters, KV cache, training activations), arithmetic intensity and a roofline.

Everything is derived from the layer groups of ``architectures.build``: byte counts are exact
Python ints, intensities and times exact ``Fraction``s (rounded only for display, in
``tables``-style cells built here). The model and its sources are in docs/memory.md.

Assumptions, stated once (the tables repeat them):

- **Bytes moved by an operation** (forward): every operand (weights included) and every other
  parameter it reads (bias, LayerNorm γ/β) is read once and its output written once, at the
  dtype's size; no cache reuse across operations. A lookup reads one row of each of its
  tables per token and writes it (GPT-2: ``wte`` and ``wpe``); token ids are not counted.
- **Backward bytes**: a matmul's two gradient matmuls each read two of (A, B, dC) and write the
  third: 2 × its forward bytes. An elementwise gradient reads the output gradient and every
  forward operand and writes one gradient per operand and per parameter. A lookup's gradient
  reads the gathered gradients and adds them into the table rows (read + write).
- **Roofline time** of an operation: max(FLOPs / peak, bytes / bandwidth), summed over the
  operations (each its layer group's ``repeat`` times); a backward op and a recomputed forward are
  separate kernels with their own max. Full recomputation re-runs the blocks' forward
  (as ``analysis.mode_costs`` counts it), not the embedding or the LM head.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from decimal import Decimal, InvalidOperation
from fractions import Fraction
from math import prod

from .analysis import counted, op_flops, param_report, resolve, split_model
from .architecture import Architecture, Workload
from .architectures import build
from .config import Config, Conventions, FlopcalcError, Mode
from .model import LayerGroup, Op
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
    # added for `flopcalc mfu` and `flopcalc budget`; figures and sources in docs/memory.md.
    # FP32 51: as NVIDIA's datasheet prints it (the one NVIDIA text read here for it); its
    # 14,592 FP32 cores × 2 FLOPs per FMA × the 1,755 MHz boost clock give 51.22, in agreement
    "h100-pcie": Device("h100-pcie", "NVIDIA H100 PCIe 80GB",
                        _peaks(bf16="756", fp16="756", fp32="51", int8="1513"),
                        Fraction(2000), "NVIDIA H100 Tensor Core GPU Architecture whitepaper "
                        "V1.04; H100 PCIe product brief PB-11133-001 (2,000 GB/s)"),
    "h200": Device("h200", "NVIDIA H200 SXM 141GB",
                   _peaks(bf16="989.4", fp16="989.4", fp32="66.9", int8="1978.9"),
                   Fraction(4800), "NVIDIA H200 Tensor Core GPU datasheet (half its sparse "
                   "figures)"),
    "b200": Device("b200", "NVIDIA B200 (HGX B200, per GPU)",
                   _peaks(bf16="2250", fp16="2250", fp32="75", int8="4500"), Fraction(7700),
                   "NVIDIA Blackwell Architecture Technical Brief V2.1, Table 3: HGX B200, "
                   "per GPU, half its sparse figures"),
    "mi300x": Device("mi300x", "AMD Instinct MI300X",
                     _peaks(bf16="1307.4", fp16="1307.4", fp32="163.4", int8="2614.9"),
                     Fraction(5300), "AMD ROCm documentation, MI300 series "
                     "microarchitecture (peak-performance table)"),
    "tpu-v5e": Device("tpu-v5e", "Google Cloud TPU v5e (one chip)",
                      _peaks(bf16="197", int8="393"), Fraction(819),
                      "Google Cloud TPU v5e documentation, key specifications"),
    "tpu-v5p": Device("tpu-v5p", "Google Cloud TPU v5p (one chip)",
                      _peaks(bf16="459"), Fraction(2765),
                      "Google Cloud TPU v5p documentation, key specifications"),
    "l4": Device("l4", "NVIDIA L4 24GB",
                 _peaks(bf16="121", fp16="121", fp32="30.3", int8="242.5"), Fraction(300),
                 "NVIDIA L4 Tensor Core GPU datasheet (half its sparse figures)"),
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
                            f"figures such as peaks, rates and factors), got {s}")
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


def param_bytes(model, dtype: str) -> int:
    """Bytes of every parameter tensor of a Config or an Architecture (a tied LM head
    counted once: it owns no tensor)."""
    return param_report(model).total * dtype_bytes(dtype)


def routed_params(model) -> int:
    """Parameters of the routed experts' tensors (the ops with ``experts``), all n_experts of
    every MoE layer: memory holds every expert, whichever top_k a token uses."""
    return sum(r.param.count * r.times for r in param_report(model).rows
               if r.experts is not None)


@dataclass(frozen=True)
class KvGroup:
    """The cache of one layer group: ``tokens`` cached per layer (min(T, W) in a windowed
    layer), ``elements`` per layer, for ``repeat`` layers. ``latent`` is set for multi-head
    latent attention, whose cache is one latent per token, not a K and a V per head."""

    name: str
    repeat: int
    tokens: int
    elements: int
    latent: bool = False


def kv_cache_groups(model, tokens: int, workload: Workload | None = None) -> tuple[KvGroup, ...]:
    """Per layer group, what a decode step at position ``tokens`` reads from its cache.

    Attention with K and V (``attention.scores``' K operand and ``attention.values``' V
    operand) holds them at n_kv_heads heads (repeating them to the query heads is a view,
    not stored): 2 · B · min(T, W) · n_kv_heads · d_head per layer. Multi-head latent
    attention (an ``attention.kv_a`` op) caches its output for every token instead, the
    latent c_kv and the one shared rotary key k_pe: B · T · (kv_lora_rank + qk_rope_head_dim)
    per layer; its keys and values are rebuilt from it (or absorbed) at every step."""
    arch, load, _ = split_model(model, workload)
    out = []
    for g in build(arch, arch.dims(load.batch, 1, tokens)):
        roles = {op.role: op for op in g.ops}
        if "attention.scores" not in roles:
            continue
        keys = roles["attention.scores"].output[-1]
        if "attention.kv_a" in roles:
            latent = roles["attention.kv_a"].output
            out.append(KvGroup(g.name, g.repeat, keys, prod(latent[:-2]) * keys * latent[-1],
                               latent=True))
            continue
        k, v = roles["attention.scores"].inputs[1], roles["attention.values"].inputs[1]
        per_layer = (prod(k) + prod(v)) * arch.n_kv_heads // arch.n_heads
        out.append(KvGroup(g.name, g.repeat, v[-2], per_layer))
    return tuple(out)


def kv_cache_elements(model, tokens: int, workload: Workload | None = None) -> int:
    """Elements of the K and V caches for ``tokens`` cached tokens, over every layer (for
    GPT-2: 2 · n_layers · B · T · d_model)."""
    return sum(g.repeat * g.elements for g in kv_cache_groups(model, tokens, workload))


def kv_cache_bytes(model, tokens: int, dtype: str, workload: Workload | None = None) -> int:
    return kv_cache_elements(model, tokens, workload) * dtype_bytes(dtype)


LOGITS = "logits (read by the loss)"  # the head's last output, whatever op makes it

ROUTED_ROWS = "routed token rows (a token's row once per chosen expert)"
ROUTING_WEIGHTS = "routing weights w (top_k per token)"


def _mlp_saved(role: str, who: str, reads: str) -> dict:
    """What an MLP's gradients read, for the dense MLP (``mlp``), the routed experts
    (``mlp.expert``, all experts' rows together) and the shared expert (``mlp.shared``):
    the input of the first matmuls, the activation's input, its output and u (the product's
    gradient reads both), and the down projection's input."""
    first = ((reads, "in0"),)
    return {f"{role}.gate": first, f"{role}.up": first, f"{role}.gate_up": first,
            f"{role}.act": ((f"{who}{{act}} input {{var}}", "in0"),),
            f"{role}.mul": ((f"{who}{{act}} output", "in0"), (f"{who}up projection u", "in1")),
            f"{role}.down": ((f"{who}{{act}} output", "in0"),)}


# What the gradient of each role reads from its forward pass, after Korthikanti et al. (2022,
# §4.1): role -> (tensor, which of the op's shapes: "in0"/"in1" operand, "out" output). Names
# in braces are filled per op (below). A tensor read by two ops is stored once (P: by the
# softmax gradient and by dV = Pᵀ·dA; a norm's output by separate q/k/v or gate/up
# projections, the router and the shared expert; the routing weights by their renormalising
# and by the combine). Roles not listed save nothing: views, rotary positions and scales
# (fixed tables and constants), masks (a fixed pattern), bias and residual adds, the lookup
# (token ids, not counted), the router's top-k choice (not differentiated; its indices are
# not counted, like token ids) and the dispatch of token rows to the experts (a gather).
SAVED: dict[str, tuple[tuple[str, str], ...]] = {
    "norm": (("{name} input", "in0"),),
    "attention.qkv": (("{norm} output", "in0"),),
    "attention.q": (("{norm} output", "in0"),),
    "attention.k": (("{norm} output", "in0"),),
    "attention.v": (("{norm} output", "in0"),),
    # latent attention: the down-projections read the norm's output, each latent norm its
    # input, each up-projection the normed latent
    "attention.q_a": (("{norm} output", "in0"),),
    "attention.q_a_norm": (("query latent c_q (q_a_proj output)", "in0"),),
    "attention.q_b": (("normed query latent c_q", "in0"),),
    "attention.kv_a": (("{norm} output", "in0"),),
    "attention.kv_a_norm": (("KV latent c_kv (kv_a_proj output)", "in0"),),
    "attention.kv_b": (("normed KV latent c_kv", "in0"),),
    "attention.scores": (("q", "in0"), ("k", "in1")),
    "attention.softcap": (("tanh(S / c) of the soft-cap", "out"),),
    "attention.softmax": (("P = softmax(S)", "out"),),
    "attention.values": (("P = softmax(S)", "in0"), ("v", "in1")),
    "attention.o": (("attention output A", "in0"),),
    **_mlp_saved("mlp", "", "{norm} output"),
    # mixture of experts: the router's input and probabilities, the routing weights, the
    # routed rows through the experts, each routed output (the combine's weight gradient
    # reads it), the shared expert like a dense MLP and its sigmoid gate
    "mlp.router": (("{norm} output", "in0"),),
    "mlp.router.score": (("router probabilities p", "out"),),
    "mlp.router.norm": ((ROUTING_WEIGHTS, "out"),),
    **_mlp_saved("mlp.expert", "expert ", ROUTED_ROWS),
    "mlp.expert.combine": (("expert outputs (one row per routed row)", "in0"),
                           (ROUTING_WEIGHTS, "weights")),
    **_mlp_saved("mlp.shared", "shared expert ", "{norm} output"),
    "mlp.shared.router": (("{norm} output", "in0"),),
    "mlp.shared.sigmoid": (("shared gate σ(g)", "out"),),
    "mlp.shared.scale": (("shared expert output", "in0"), ("shared gate σ(g)", "in1")),
    "lm_head": (("{norm} output", "in0"),),
    "lm_head.softcap": ((LOGITS, "out"),),
}
_DOWN = ("mlp.down", "mlp.expert.down", "mlp.shared.down")
ACTIVATION_LABELS = {"gelu_tanh": "GELU", "gelu": "GELU", "relu": "ReLU", "silu": "SiLU"}


@dataclass(frozen=True)
class SavedTensor:
    section: str
    op: str                 # the first operation whose gradient reads it
    tensor: str
    shape: tuple
    group: str = "block"    # its layer group
    repeat: int = 1         # how many layers of the group store one

    @property
    def elements(self) -> int:
        return prod(self.shape)


def _group_saved(arch: Architecture, g: LayerGroup) -> list[SavedTensor]:
    """One layer's saved tensors of a group, by the ops' roles (``SAVED``), each tensor once:
    a projection's input is named after the norm before it, so projections reading one norm's
    output share it."""
    out, seen, last_norm, block_input = [], set(), "", ""
    act, gated = ACTIVATION_LABELS[arch.activation], arch.mlp == "gated"
    roles = {op.role: op for op in g.ops}
    # K and V repeated to the query heads are a view of n_kv_heads heads; latent attention's
    # K (k_nope with k_pe copied to every head) and V are whole tensors of their own
    stored_kv = None if "attention.kv_a" in roles else next(
        (op.inputs[0] for op in g.ops if op.role == "attention.repeat_kv"), None)
    # the top_k routing weights of each token: (B, L, top_k), beside the router's (B, L, E)
    routed = next((op for op in g.ops if op.experts is not None and op.kind == "matmul"), None)
    weights = None if routed is None else \
        roles["mlp.router.score"].output[:-1] + (routed.experts[0],)

    def add(op: Op, tensor: str, shape) -> None:
        if tensor not in seen:
            seen.add(tensor)
            out.append(SavedTensor(g.section, op.name, tensor, tuple(shape), g.name, g.repeat))

    for i, op in enumerate(g.ops):
        for tensor, where in SAVED.get(op.role, ()):
            shape = {"out": op.output, "weights": weights}.get(where) or op.inputs[int(where[2:])]
            if op.role == "norm" and g.section == "block" and i == 0:
                tensor = block_input = f"{op.name} input (block input)"
            elif op.role == "norm" and arch.parallel_residual and any(
                    o.role == "attention.o" for o in g.ops[:i]):
                tensor = block_input  # a parallel block's MLP norm reads the block input too
            if tensor in ("k", "v") and stored_kv is not None:
                shape = stored_kv  # K, V are stored at n_kv_heads; the repeat is a view
            if op.role in _DOWN and gated:  # the gated product, not the activation's output
                tensor = tensor.replace("{act} output", "act(g) · u")
            tensor = tensor.format(name=op.name, norm=last_norm, act=act,
                                   var="g" if gated else "u")
            add(op, tensor, shape)
        if op.role == "norm":
            last_norm = op.name
    if g.section == "head":
        add(g.ops[-1], LOGITS, g.ops[-1].output)
    return out


def saved_tensors(model, workload: Workload | None = None) -> tuple[SavedTensor, ...]:
    """The activations a training step keeps for its backward pass, per layer group: one
    layer's of each block group and the head's (the embedding saves only token ids, not
    counted)."""
    arch, load, _ = split_model(model, workload)
    groups = build(arch, arch.dims(load.batch, load.seq_len))
    return tuple(t for g in groups for t in _group_saved(arch, g))


@dataclass(frozen=True)
class ActivationReport:
    """Activation memory of a training step (elements; ``bytes`` multiplies by the dtype size).

    Without recompute the peak is when the forward pass ends: every layer's saved tensors
    (each block group's, ``repeat`` times) plus the head's. With full recomputation only each
    layer's input is kept; the backward pass of a layer first rebuilds the rest of that
    layer's tensors, so the peak adds the largest layer's inventory (less its input, already
    counted) to the n_layers inputs.
    """

    config: Config | None
    dtype: str
    recompute: bool
    rows: tuple[SavedTensor, ...]
    architecture: Architecture = Architecture()
    workload: Workload = Workload()

    @property
    def size(self) -> int:
        return dtype_bytes(self.dtype)

    def section_elements(self, section: str) -> int:
        """One layer of each group of a section."""
        return sum(r.elements for r in self.rows if r.section == section)

    def group_elements(self, group: str) -> int:
        """One layer of a group."""
        return sum(r.elements for r in self.rows if r.group == group)

    @property
    def block_groups(self) -> tuple[tuple[str, int], ...]:
        """(name, repeat) of each block group, in order."""
        return tuple(dict.fromkeys((r.group, r.repeat) for r in self.rows
                                   if r.section == "block"))

    @property
    def block_elements(self) -> int:
        """One block's saved tensors (without recompute): the largest group's."""
        return max((self.group_elements(g) for g, _ in self.block_groups), default=0)

    @property
    def block_input_elements(self) -> int:
        return self.workload.tokens * self.architecture.d_model

    def kept(self, group: str) -> int:
        """What each layer of a group keeps until its backward pass."""
        return self.block_input_elements if self.recompute else self.group_elements(group)

    @property
    def kept_per_block(self) -> int:
        return self.block_input_elements if self.recompute else self.block_elements

    @property
    def blocks_kept(self) -> int:
        """What every layer keeps, summed over the block groups."""
        return sum(n * self.kept(g) for g, n in self.block_groups)

    @property
    def peak_elements(self) -> int:
        peak = self.blocks_kept + self.section_elements("head")
        if self.recompute:
            peak += self.block_elements - self.block_input_elements
        return peak

    def bytes(self, elements: int) -> int:
        return elements * self.size


def activation_report(model, dtype: str = "bf16", recompute: bool = False,
                      workload: Workload | None = None) -> ActivationReport:
    """The saved activations of a training step of ``model`` (a Config, or an Architecture
    on ``workload``)."""
    dtype_bytes(dtype)
    arch, load, config = split_model(model, workload)
    return ActivationReport(config, dtype, recompute, saved_tensors(arch, load), arch, load)


# ---------------------------------------------------------------------------------------
# Bytes moved, arithmetic intensity, roofline
# ---------------------------------------------------------------------------------------


def experts_read(op: Op) -> int:
    """How many copies of its weight operand a matmul reads: one, or for the routed experts
    (``op.experts``) the experts that can receive one of its rows, min(n_experts, rows):
    exactly top_k for one token (it picks distinct experts), at most that for more tokens,
    reached when every expert receives a row."""
    if op.experts is None or op.kind != "matmul":
        return 1
    return min(op.experts[1], prod(op.inputs[0][:-1]))


def _other_params(op: Op) -> int:
    """Parameter elements an op reads besides its weight operand: a Linear's bias, a norm's
    γ and β (of the routed experts: the biases of the experts it reads)."""
    if op.kind != "matmul":
        return sum(p.count for p in op.params)
    others = sum(p.count for p in op.params if not p.name.endswith(".weight"))
    return others if op.experts is None else others // op.experts[1] * experts_read(op)


def op_bytes(op: Op, size: int, backward: bool = False) -> int:
    """Bytes an operation (or its gradient) moves under the module's stated assumptions."""
    out = prod(op.output)
    if op.kind == "lookup":
        rows = len(op.params) * out         # one row of each of the op's tables per token
        return size * (3 * rows if backward else 2 * rows)
    operands = sum(prod(s) for s in op.inputs)
    if op.experts is not None and op.kind == "matmul":  # one expert's weight: each read once
        operands += (experts_read(op) - 1) * prod(op.weight)
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
    group: str = "block"            # its layer group, run ``repeat`` times
    repeat: int = 1

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
    config: Config | None
    conventions: Conventions
    mode: Mode
    dtype: str
    device: Device
    rows: tuple[RooflineRow, ...]
    architecture: Architecture = Architecture()
    workload: Workload = Workload()

    def times(self, row: RooflineRow) -> int:
        """How often the model runs a row's operation: its layer group's repeat."""
        return row.repeat

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
        """One block (of each block group)."""
        return sum((r.time for r in self.rows if r.op.section == "block"), Fraction(0))


ROOFLINE_MODES = ("forward", "train", "decode")


def roofline_report(model, conventions: Conventions | None = None,
                    mode: Mode | None = None, dtype: str = "bf16",
                    dev: Device | None = None, workload: Workload | None = None) -> RooflineReport:
    """Per-operation FLOPs, bytes, intensity and roofline time of a forward pass, a training
    step (forward + backward, + a recomputed forward with ``recompute``) or a decode step, of
    ``model`` (a Config, or an Architecture on ``workload``), over its layer groups."""
    conv = conventions or Conventions()
    arch, load, config = split_model(model, workload)
    mode = mode or Mode()
    mode = mode.resolved(config) if config is not None else resolve(mode, arch, load)
    if mode.kind not in ROOFLINE_MODES:
        raise FlopcalcError(f"memory mode must be one of {', '.join(ROOFLINE_MODES)}, "
                            f"got {mode.kind!r}")
    dev = dev or device()
    size, peak, bandwidth = dtype_bytes(dtype), dev.peak(dtype), dev.bandwidth

    def kernel(flops: int, nbytes: int) -> Kernel:
        compute, memory = Fraction(flops) / peak, Fraction(nbytes) / bandwidth
        return Kernel(flops, nbytes, max(compute, memory), compute >= memory)

    # a capacity factor pads or drops the experts' rows; latent attention's decode step in
    # the form the conventions choose (analysis.mode_costs counts them the same way)
    dims = replace(arch.dims(load.batch, load.seq_len), capacity_factor=conv.capacity_factor)
    if mode.kind == "decode":
        dims = replace(dims, seq_len=1, kv_len=mode.position,
                       mla_absorbed=conv.mla_decode == "absorbed")
    rows = []
    for g in build(arch, dims):
        for op in g.ops:
            if not counted(op, conv):
                continue
            fwd = kernel(op_flops(op, conv), op_bytes(op, size))
            kernels: tuple[Kernel, ...] = (fwd,)
            if mode.kind == "train":
                again = mode.recompute and op.section == "block"  # only the blocks are recomputed
                kernels = (fwd,) * (2 if again else 1) + (
                    kernel(op_flops(op, conv, backward=True), op_bytes(op, size, backward=True)),)
            rows.append(RooflineRow(op, kernels, g.name, g.repeat))
    return RooflineReport(config, conv, mode, dtype, dev, tuple(rows), arch, load)


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


def float_text(x: Fraction) -> str:
    """``x`` as a CSV number: the nearest double's shortest text (``0.0077``), or, beyond the
    doubles' range (above about 1.8e308, or a positive value below about 5e-324), ``x`` itself
    rounded half up to 17 significant digits (``1.2345678901234568e+400``): never ``None``."""
    value = approx_float(x)
    if value is not None:
        return repr(value)
    sign, x = ("-" if x < 0 else ""), abs(Fraction(x))
    digits = 17
    e = len(str(x.numerator)) - len(str(x.denominator))  # within one of log10(x)
    while x * Fraction(10) ** (digits - 1 - e) >= 10 ** digits:
        e += 1
    while x * Fraction(10) ** (digits - 1 - e) < 10 ** (digits - 1):
        e -= 1
    scaled = x * Fraction(10) ** (digits - 1 - e)
    m = (2 * scaled.numerator + scaled.denominator) // (2 * scaled.denominator)
    if m == 10 ** digits:
        m, e = m // 10, e + 1
    text = str(m)
    return f"{sign}{text[0]}.{text[1:].rstrip('0') or '0'}e{e:+d}"


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

    config: Config | None
    conventions: Conventions
    dtype: str
    device: Device
    kv_tokens: int
    activations: ActivationReport
    forward: RooflineReport
    train: RooflineReport
    decode: RooflineReport
    mode: str
    architecture: Architecture = Architecture()
    workload: Workload = Workload()

    @property
    def selected(self) -> RooflineReport:
        return {"forward": self.forward, "train": self.train, "decode": self.decode}[self.mode]

    @property
    def param_count(self) -> int:
        return param_report(self.architecture).total

    @property
    def also_stored(self) -> int:
        """Values the checkpoint stores outside the parameter count (DeepSeek-V3's router
        score-correction biases)."""
        return param_report(self.architecture).also_stored

    @property
    def routed_param_count(self) -> int:
        """Parameters of the routed experts, every expert of every MoE layer (0: dense)."""
        return routed_params(self.architecture)

    @property
    def kv_groups(self) -> tuple[KvGroup, ...]:
        return kv_cache_groups(self.architecture, self.kv_tokens, self.workload)

    @property
    def kv_elements(self) -> int:
        return kv_cache_elements(self.architecture, self.kv_tokens, self.workload)


def memory_report(model, conventions: Conventions | None = None, mode: str = "forward",
                  dtype: str = "bf16", recompute: bool = False, dev: Device | None = None,
                  position: int | None = None, workload: Workload | None = None) -> MemoryReport:
    """Memory and roofline of ``model`` (a Config, or an Architecture on ``workload``);
    ``position`` is the decode step's (default seq_len)."""
    if mode not in ROOFLINE_MODES:
        raise FlopcalcError(f"mode must be one of {', '.join(ROOFLINE_MODES)}, got {mode!r}")
    conv = conventions or Conventions()
    dev = dev or device()
    dtype_bytes(dtype)
    dev.peak(dtype)  # fails early when the device has no peak for this dtype
    arch, load, config = split_model(model, workload)
    decode_mode = Mode("decode", position=position)
    decode_mode = decode_mode.resolved(config) if config is not None else \
        resolve(decode_mode, arch, load)
    kv_tokens = decode_mode.position if mode == "decode" else load.seq_len
    return MemoryReport(
        config, conv, dtype, dev, kv_tokens, activation_report(arch, dtype, recompute, load),
        roofline_report(arch, conv, Mode("forward"), dtype, dev, load),
        roofline_report(arch, conv, Mode("train", recompute), dtype, dev, load),
        roofline_report(arch, conv, decode_mode, dtype, dev, load), mode, arch, load)


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
        *([f"Routed experts: an expert op's rows are the T·top_k (token, expert) pairs; it "
           f"reads the weights of the experts that can receive a row, min(n_experts = "
           f"{report.architecture.n_experts}, rows) of them, once each: exactly top_k for one "
           "token, an upper bound for more (every expert receiving a row)."]
          if report.routed_param_count else []),
        "Roofline time per op = max(FLOPs / peak, bytes / bandwidth), summed over ops (block ops "
        "× their group's layers; backward and recomputed forward as separate kernels). Intensity = FLOPs / "
        "bytes. Times are exact fractions shown rounded half up to 3 significant digits.",
    ]


def memory_tables(report: MemoryReport):
    """The summary, activation inventory (train mode), roofline overview and per-op tables."""
    from .tables import (CSV_PLACES, Num, Table, exact_cell, group_title, model_note,
                         readable, shape_str, tokens_of)

    arch, act, size = report.architecture, report.activations, dtype_bytes(report.dtype)
    n = arch.n_layers
    note = model_note(report)
    conv_note = f"Conventions: {report.conventions.describe(arch)}"
    block_groups = act.block_groups
    grouped = len(block_groups) > 1  # e.g. Gemma 2's sliding and full layers
    summary = Table(
        title=f"Memory at {report.dtype} ({size} byte{'s' if size > 1 else ''} per element)",
        notes=[note,
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

    tied = "every weight, bias and LayerNorm tensor (LM head tied)" if report.config else \
        "every tensor (LM head tied to the token table)"
    what = tied if arch.tied_lm_head else "every tensor (untied LM head)"
    if report.routed_param_count:
        what += (f", every expert: all {arch.n_experts} of each MoE layer, not the top_k a "
                 "token uses")
    summary.rows.append(line("parameters", what, report.param_count))
    if report.routed_param_count:
        summary.rows.append(line("  of which routed experts", f"{arch.n_experts} experts × "
                                 f"{arch.n_moe} MoE layers (weights of (n_experts, …))",
                                 report.routed_param_count))
    if report.also_stored:
        summary.rows.append(line("also stored", "router score-correction biases: one "
                                 "(n_experts,) per MoE layer, not in the parameter count",
                                 report.also_stored))
    windowed = any(g.tokens < report.kv_tokens for g in report.kv_groups) or \
        arch.sliding_window is not None
    summary.rows.append(line(f"KV cache, {report.kv_tokens} tokens",
                             _kv_what(arch, n)
                             + (" (T = t: t − 1 cached + the new token)" if report.mode == "decode"
                                else " (T = seq_len)")
                             + (f"; a windowed layer holds min(T, W = {arch.sliding_window})"
                                if windowed else ""), report.kv_elements))
    if grouped or windowed:
        for g in report.kv_groups:
            summary.rows.append(line(f"KV cache, {group_title(g.name)} ×{g.repeat}",
                                     f"{g.tokens} tokens per layer", g.repeat * g.elements))
    for name, repeat in block_groups:
        label = f"one {group_title(name)}" if grouped else "one block"
        summary.rows.append(line(f"activations, {label}",
                                 f"{sum(r.group == name for r in act.rows)} saved tensors",
                                 act.group_elements(name)))
    head_tensors = [r.tensor for r in act.rows if r.section == "head"]
    summary.rows.append(line("activations, head", _head_text(head_tensors),
                             act.section_elements("head")))
    if act.recompute:
        summary.rows.append(line(f"kept, {blocks(n)} (recompute)", f"{n} × block input (B, L, d_model)",
                                 act.blocks_kept))
    elif grouped:
        summary.rows.append(line(f"kept, {blocks(n)}", " + ".join(
            f"{repeat} × one {group_title(name)}" for name, repeat in block_groups),
            act.blocks_kept))
    else:
        summary.rows.append(line(f"kept, {blocks(n)}", f"{n} × one block", act.blocks_kept))
    summary.totals.append(line("training activations at peak",
                               "+ one rebuilt block + head" if act.recompute else "blocks + head",
                               act.peak_elements))

    tables = [summary]
    if report.mode == "train":
        inventory = Table(
            title="Activations saved for the backward pass",
            notes=[note, "One row per stored tensor; a tensor read by two gradients "
                   f"(P, the LayerNorm output) is stored once. Block rows are for one block (of {n})"
                   + (": " + ", ".join(f"{group_title(g)} ×{k}" for g, k in block_groups)
                      if grouped else "") + "."],
            columns=["section", "read by", "tensor", "shape", "elements", "bytes"],
            align="llllrr", name="activations")
        for r in act.rows:
            inventory.rows.append([group_title(r.group), r.op, r.tensor, shape_str(r.shape),
                                   r.elements, r.elements * size])
        for label, e in ([(f"one {group_title(g)}" if grouped else "one block",
                           act.group_elements(g)) for g, _ in block_groups]
                         + [("head", act.section_elements("head"))]):
            inventory.totals.append(["", label, "", "", e, e * size])
        tables.append(inventory)

    overview = Table(
        title=f"Roofline time on {report.device.label} at {report.dtype}",
        notes=[note, conv_note]
        + ["; ".join(f"{label}: {r.mode.describe()}" for label, r in _computations(report))
           + ". % compute-bound: the share of the row's time spent in compute-bound ops."]
        + _assumption_notes(report),
        columns=["computation", "FLOPs", "FLOPs per token", "bytes", "FLOP/byte", "time",
                 "% compute-bound"],
        align="lrrrrrr", optional=("% compute-bound",), name="roofline",
        drop_order=("% compute-bound", "FLOP/byte", "bytes", "FLOPs per token"),
        csv_columns={"time": "time (s)"})
    counted = [(label, r, *tokens_of(r.mode, report.workload)) for label, r in _computations(report)]
    load = report.workload
    exact = ("whole here" if all(r.flops % tokens == 0 for _, r, tokens, _ in counted) else
             f"n/d where not whole; CSV: rounded half up to {CSV_PLACES} decimals")
    overview.notes.insert(3, f"FLOPs per token: a row's FLOPs ÷ its tokens: the batch's B·L = "
                          f"{load.tokens:,} for forward and train step, the B = "
                          f"{load.batch:,} new tokens (one per sequence) for decode; exact "
                          f"({exact}).")
    for label, r, tokens, _ in counted:
        compute = sum((row.time * r.times(row) for row in r.rows if row.bound == "compute"),
                      Fraction(0))
        overview.rows.append([label, r.flops, exact_cell(Fraction(r.flops, tokens)), r.bytes,
                              _decimal_cell(intensity(r.flops, r.bytes) or Fraction(0)),
                              _time_cell(r.time), _percent(compute, r.time)])
    tables.append(overview)

    sel = report.selected
    per_op = Table(
        title=f"Arithmetic intensity and roofline time per operation: {sel.mode.describe()}",
        notes=[note, conv_note] + _assumption_notes(report)
        + [(f"Block rows are for one block; the model runs {n} of them. " if not grouped else
            "Block rows are for one layer of their group; the model runs "
            + ", ".join(f"{k} {group_title(g)}s" for g, k in block_groups) + ". ")
           + "Bound: compute when "
           "FLOPs / peak ≥ bytes / bandwidth (mixed: its kernels differ). model time: the "
           + (f"row's time × {n} for a block row (× 1 otherwise)" if not grouped else
              "row's time × its group's repeat")
           + "; % of time: the model time's "
           f"share of the total {time_text(sel.time)} (the one-block row: its time's share)."],
        columns=["section", "operation", "FLOPs", "bytes", "FLOP/byte", "bound", "time",
                 "model time", "% of time"],
        align="llrrrlrrr", optional=("section", "model time", "% of time"), name="per-op",
        drop_order=("% of time", "model time", "bound", "FLOP/byte", "bytes"),
        csv_columns={"time": "time (s)", "model time": "model time (s)"})
    for row in sel.rows:
        per_op.rows.append([group_title(row.group), row.op.name, row.flops, row.bytes,
                            _decimal_cell(row.intensity) if row.intensity is not None
                            else Num("–", ""), row.bound, _time_cell(row.time),
                            _time_cell(row.time * sel.times(row)),
                            _percent(row.time * sel.times(row), sel.time)])
    per_op.totals.append(["", "one block of each group" if grouped else "one block", sum(r.flops for r in sel.rows if r.op.section == "block"),
                          sum(r.bytes for r in sel.rows if r.op.section == "block"), "", "",
                          _time_cell(sel.block_time), "", _percent(sel.block_time, sel.time)])
    per_op.totals.append(["", "total", sel.flops, sel.bytes,
                          _decimal_cell(intensity(sel.flops, sel.bytes) or Fraction(0)), "",
                          _time_cell(sel.time), _time_cell(sel.time), _percent(sel.time, sel.time)])
    tables.append(per_op)
    return tables


def _kv_what(arch: Architecture, n: int) -> str:
    """What the KV cache holds per token, as a formula over the layers."""
    from .tables import blocks

    if arch.kv_lora_rank is not None:
        return (f"latent c_kv and the shared rotary key k_pe: {blocks(n)} · B · T · "
                f"(kv_lora_rank + qk_rope_head_dim = {arch.kv_lora_rank + arch.qk_rope_head_dim})"
                f", not K and V per head")
    width = "d_model" if arch.n_kv_heads * arch.d_head == arch.d_model and \
        arch.n_kv_heads == arch.n_heads else "n_kv_heads · d_head"
    return f"K and V: 2 · {blocks(n)} · B · T · {width}"


def _head_text(tensors: list[str]) -> str:
    """What the head saves in a few words: ``ln_f input and output, logits``."""
    norm = next((t[:-len(" input")] for t in tensors if t.endswith(" input")), None)
    return f"{norm} input and output, logits" if norm else "logits"


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


def _roofline_json(r: RooflineReport, workload: Workload) -> dict:
    """A computation's totals; ``flops_per_token`` over ``tables.tokens_of``'s tokens, exact."""
    from .tables import tokens_of
    tokens, _ = tokens_of(r.mode, workload)
    return {"flops": r.flops, "tokens": tokens,
            "flops_per_token": fraction_text(Fraction(r.flops, tokens)), "bytes": r.bytes,
            "intensity": fraction_text(intensity(r.flops, r.bytes)),
            "time_s": fraction_text(r.time), "time_s_approx": approx_float(r.time),
            "description": r.mode.describe()}


def memory_json(report: MemoryReport) -> dict:
    """The ``flopcalc.memory`` JSON document (described in docs/memory.md)."""
    from .tables import model_json

    act, dev, sel = report.activations, report.device, report.selected
    size = dtype_bytes(report.dtype)
    return {
        "schema": "flopcalc.memory", "schema_version": JSON_SCHEMA_VERSION,
        "config": model_json(report),
        "conventions": {**report.conventions.as_dict(),
                        "description": report.conventions.describe()},
        "dtype": {"name": report.dtype, "bytes": size},
        "device": {"name": dev.name, "label": dev.label, "source": dev.source,
                   "peak_tflops": fraction_text(dev.peak_tflops[report.dtype]),
                   "bandwidth_gbs": fraction_text(dev.bandwidth_gbs),
                   "ridge_flop_per_byte": fraction_text(dev.ridge(report.dtype))},
        "memory": {
            "parameters": {"count": report.param_count, "bytes": report.param_count * size,
                           "routed_experts": report.routed_param_count,
                           "also_stored": report.also_stored},
            "kv_cache": {"tokens": report.kv_tokens, "elements": report.kv_elements,
                         "bytes": report.kv_elements * size,
                         "groups": [{"group": g.name, "repeat": g.repeat, "tokens": g.tokens,
                                     "elements_per_layer": g.elements, "latent": g.latent,
                                     "bytes": g.repeat * g.elements * size}
                                    for g in report.kv_groups]},
            "activations": {
                "recompute": act.recompute,
                "saved": [{"section": r.section, "group": r.group, "repeat": r.repeat,
                           "read_by": r.op, "tensor": r.tensor,
                           "shape": list(r.shape), "elements": r.elements,
                           "bytes": r.elements * size} for r in act.rows],
                "block_elements": act.block_elements, "block_bytes": act.bytes(act.block_elements),
                "head_elements": act.section_elements("head"),
                "head_bytes": act.bytes(act.section_elements("head")),
                "kept_per_block_elements": act.kept_per_block,
                "blocks_kept_elements": act.blocks_kept,
                "peak_elements": act.peak_elements, "peak_bytes": act.bytes(act.peak_elements)},
        },
        "roofline": {"forward": _roofline_json(report.forward, report.workload),
                     "train": {**_roofline_json(report.train, report.workload),
                               "recompute": act.recompute},
                     "decode": {**_roofline_json(report.decode, report.workload),
                                "position": report.decode.mode.position}},
        "mode": report.mode,
        "rows": [{"section": r.op.section, "group": r.group, "name": r.op.name, "kind": r.op.kind,
                  "flops": r.flops, "bytes": r.bytes, "intensity": fraction_text(r.intensity),
                  "bound": r.bound, "time_s": fraction_text(r.time),
                  "time_s_approx": approx_float(r.time), "times": sel.times(r)} for r in sel.rows],
        "totals": _roofline_json(sel, report.workload),
    }
