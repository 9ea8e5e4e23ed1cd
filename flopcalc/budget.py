"""Model-FLOPs utilisation from a measured throughput, and training and inference budgets.

Counts (FLOPs, tokens) are exact ints from ``analysis.flop_report``; utilisations, times and
costs are exact Fractions of the figures given, shown rounded and labelled as estimates:
they are only as good as the assumed peak, utilisation and price. Sources: docs/frameworks.md.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from fractions import Fraction

from .analysis import flop_report, param_report, resolve
from .architecture import Workload
from .config import Config, Conventions, FlopcalcError, Mode
from .estimates import Subject, subject
from .memory import Device, approx_float, fraction_text, positive_number, roofline_report

CHINCHILLA_TOKENS_PER_PARAM = 20  # Hoffmann et al. 2022: ~20 training tokens per parameter
MAX_ROOFLINE_STEPS = 32768  # the per-request roofline sums every decode step (~0.5 ms each)
MAX_SWEEP_ROOFLINE_STEPS = 65536  # an inference sweep's decode steps over all its points


def utilisation(text, what: str) -> Fraction:
    """A fraction in (0, 1] given as ``0.4`` or ``40%``."""
    s = str(text).strip()
    percent = s.endswith("%")
    value = positive_number(s[:-1] if percent else s, what) / (100 if percent else 1)
    if value > 1:
        raise FlopcalcError(f"{what} must be at most 1 (100%), got {s}")
    return value


def tokens_per_second(tokens_per_s=None, step_time=None, tokens_per_step: int = 1) -> Fraction:
    """The measured throughput: given directly, or B·L tokens per ``step_time`` seconds."""
    if (tokens_per_s is None) == (step_time is None):
        raise FlopcalcError("give the throughput as --tokens-per-second, or as --step-time "
                            "(seconds per step of --batch × --seq-len tokens), not both")
    if tokens_per_s is not None:
        return positive_number(tokens_per_s, "--tokens-per-second")
    return tokens_per_step / positive_number(step_time, "--step-time")


def train_flops(model, attention: str = "dense", recompute: bool = False,
                workload=None) -> int:
    """flopcalc's exact FLOPs of one training step of ``model`` (a Config, or an Architecture
    on ``workload``; whole model, matmuls, 2 per multiply-add); ``recompute`` adds the blocks'
    recomputed forward."""
    return flop_report(model, Conventions(attention=attention),
                       Mode("train", recompute=recompute), workload).total


@dataclass(frozen=True)
class Utilisation:
    """One count of the FLOPs per token and the utilisation it gives."""

    name: str
    kind: str               # "MFU" or "HFU"
    flops_per_token: Fraction
    rate: Fraction          # FLOP/s achieved: flops_per_token × tokens/s
    utilisation: Fraction   # rate / (devices × peak)


@dataclass(frozen=True)
class MfuReport:
    model: Subject          # the GPT-2 Config, or the architecture and workload
    attention: str
    tokens_per_second: Fraction
    devices: int
    device: Device
    dtype: str
    rows: tuple[Utilisation, ...]

    @property
    def peak(self) -> Fraction:
        """FLOP/s of all the devices at the dtype."""
        return self.devices * self.device.peak(self.dtype)


def mfu_report(model, tokens_per_s: Fraction, devices: int, dev: Device,
               dtype: str = "bf16", attention: str = "dense", workload=None) -> MfuReport:
    """MFU of ``model`` (a Config, or an Architecture on ``workload``) under flopcalc's exact
    count and under each framework's convention, and HFU (the exact count with the blocks'
    forward recomputed), at a measured throughput."""
    from .frameworks import compare

    peak = devices * dev.peak(dtype)
    about = subject(model, workload)
    arch, load = about.architecture, about.workload
    tokens = load.tokens

    def row(name: str, kind: str, flops_per_step: int) -> Utilisation:
        per_token = Fraction(flops_per_step, tokens)
        rate = per_token * tokens_per_s
        return Utilisation(name, kind, per_token, rate, rate / peak)

    rows = [row(f"flopcalc exact ({attention} attention)", "MFU",
                train_flops(arch, attention, workload=load)),
            row("flopcalc exact, blocks recomputed", "HFU",
                train_flops(arch, attention, recompute=True, workload=load))]
    rows += [row(c.framework.name, "MFU", c.total) for c in compare(arch, workload=load)]
    return MfuReport(about, attention, tokens_per_s, devices, dev, dtype, tuple(rows))


@dataclass(frozen=True)
class TrainingBudget:
    model: Subject          # the GPT-2 Config, or the architecture and workload
    attention: str
    tokens: int             # asked for
    chinchilla: bool
    sequences: int          # whole sequences of seq_len covering the tokens
    flops_per_sequence: int
    devices: int
    device: Device
    dtype: str
    mfu: Fraction
    price: Fraction | None  # per device-hour

    @property
    def flops(self) -> int:
        return self.sequences * self.flops_per_sequence

    @property
    def seconds(self) -> Fraction:
        return self.flops / (self.devices * self.device.peak(self.dtype) * self.mfu)

    @property
    def device_hours(self) -> Fraction:
        return self.seconds * self.devices / 3600

    @property
    def cost(self) -> Fraction | None:
        return None if self.price is None else self.device_hours * self.price


def training_budget(model, tokens: int | None, chinchilla: bool, devices: int,
                    dev: Device, dtype: str, mfu: Fraction, price: Fraction | None = None,
                    attention: str = "dense", workload=None,
                    like: TrainingBudget | None = None) -> TrainingBudget:
    """Training FLOPs (exact) and time, device-hours and cost (estimates) for a token budget
    of ``model`` (a Config, or an Architecture on ``workload``) at its seq_len, or ~20 tokens
    per parameter with ``chinchilla``. ``like``: a budget of the same model, seq_len and
    attention, whose FLOPs per sequence (and Chinchilla tokens) are taken over (a sweep)."""
    if like is not None:
        dev.peak(dtype)  # refuse a dtype the device has no peak for
        tokens = like.tokens if chinchilla else tokens
        return replace(like, tokens=tokens, sequences=-(-tokens // like.model.workload.seq_len),
                       devices=devices, device=dev, mfu=mfu, price=price)
    if (tokens is None) == (not chinchilla):
        raise FlopcalcError("give the training tokens as --tokens N or --chinchilla "
                            f"({CHINCHILLA_TOKENS_PER_PARAM} per parameter)"
                            + (", not both" if chinchilla else ""))
    about = subject(model, workload)
    arch, seq_len = about.architecture, about.workload.seq_len
    if chinchilla:
        tokens = CHINCHILLA_TOKENS_PER_PARAM * param_report(arch).total
    sequences = -(-tokens // seq_len)
    per_sequence = train_flops(arch, attention, workload=Workload(1, seq_len))
    dev.peak(dtype)  # refuse a dtype the device has no peak for, now
    return TrainingBudget(about, attention, tokens, chinchilla, sequences, per_sequence,
                          devices, dev, dtype, mfu, price)


@dataclass(frozen=True)
class InferenceBudget:
    model: Subject
    prompt: int
    new_tokens: int
    flops: int              # the whole generate call on the batch
    prefill_seconds: Fraction
    decode_seconds: Fraction  # the n-1 decode steps
    device: Device
    dtype: str
    attention: str = "dense"

    @property
    def seconds(self) -> Fraction:
        return self.prefill_seconds + self.decode_seconds

    @property
    def flops_per_token(self) -> Fraction:
        return Fraction(self.flops, self.generated)

    @property
    def seconds_per_token(self) -> Fraction:
        return self.seconds / self.generated

    @property
    def generated(self) -> int:
        return self.model.workload.batch * self.new_tokens


def inference_budget(model, prompt: int | None, new_tokens: int | None, dev: Device,
                     dtype: str = "bf16", attention: str = "dense",
                     workload=None) -> InferenceBudget:
    """FLOPs (exact) and roofline-bound time (estimate) of generating ``new_tokens`` after a
    ``prompt`` for the batch of ``model`` (a Config, or an Architecture on ``workload``), on one
    device: the prefill's roofline plus each decode step's (``memory.roofline_report``)."""
    about = subject(model, workload)
    arch, load = about.architecture, about.workload
    conv = Conventions(attention=attention)
    mode = resolve(Mode("generate", prompt=prompt, new_tokens=new_tokens), arch, load)
    p, n = mode.prompt, mode.new_tokens
    if n - 1 > MAX_ROOFLINE_STEPS:
        raise FlopcalcError(f"the roofline adds up every decode step: at most "
                            f"{MAX_ROOFLINE_STEPS + 1} --new-tokens, got {n}")
    flops = flop_report(arch, conv, mode, load).total
    prefill = roofline_report(arch, conv, Mode("forward"), dtype, dev,
                              replace(load, seq_len=p)).time
    decode = sum((roofline_report(arch, conv, Mode("decode", position=t), dtype, dev, load).time
                  for t in range(p + 1, p + n)), Fraction(0))
    return InferenceBudget(about, p, n, flops, prefill, decode, dev, dtype, attention)


# ---------------------------------------------------------------------------------------
# Tables and JSON
# ---------------------------------------------------------------------------------------


def conventions_json(attention: str, arch=None) -> dict:
    """The counting conventions of every budget and MFU count, as the other commands' JSON
    states them: 2 FLOPs per multiply-add, matmuls only, the whole model, ``attention``."""
    conv = Conventions(attention=attention)
    return {**conv.as_dict(), "description": conv.describe(arch)}


def percent_text(x: Fraction) -> str:
    from .memory import decimal_text

    return decimal_text(x * 100, 2) + "%"


def _device_note(dev: Device, devices: int, dtype: str) -> str:
    from .memory import number_text

    peak = number_text(dev.peak_tflops[dtype])
    return (f"Device: {devices} × {dev.label}, dense {dtype} peak {peak} TFLOP/s each "
            f"({dev.source}).")


ESTIMATE = ("Estimates: utilisations, rates, times and costs are exact ratios of the figures "
            "given, shown rounded half up; they are only as good as the peak, throughput, "
            "utilisation and price assumed.")


def _moe_notes(arch, table: str) -> list[str]:
    """What a mixture of experts changes in a table: which parameters the counts use."""
    if arch.n_experts is None or not arch.n_moe:
        return []
    report = param_report(arch)
    if table == "mfu":
        return [f"Mixture of experts: flopcalc's counts run each token through its top_k = "
                f"{arch.top_k} of n_experts = {arch.n_experts} routed experts (the "
                f"{report.active:,} active of {report.total:,} parameters); a framework row "
                "uses what its own formula uses (flopcalc frameworks says which)."]
    if table == "training":
        return [f"Mixture of experts: the training FLOPs run each token through its top_k = "
                f"{arch.top_k} experts ({report.active:,} active parameters); --chinchilla's "
                f"tokens per parameter count every parameter, all experts ({report.total:,}), "
                "a rule fitted on dense models."]
    return [f"Mixture of experts: a decode step reads the weights of the experts its tokens "
            f"can be routed to, min(n_experts = {arch.n_experts}, B·top_k) of them (exact for "
            "one sequence, an upper bound for more; docs/memory.md)."]


def mfu_table(report: MfuReport):
    from .estimates import count
    from .memory import number_text
    from .tables import Num, Table, exact_cell, model_note, per_token_note, readable

    load = report.model.workload
    tokens = load.tokens

    t = Table(title="Model and hardware FLOPs utilisation (estimates)",
              notes=[model_note(report.model), _device_note(report.device, report.devices,
                                                              report.dtype),
                     f"Throughput: {number_text(report.tokens_per_second)} tokens/s over all "
                     f"devices. Utilisation = FLOPs per token × tokens/s / (devices × peak).",
                     "flopcalc's counts: a training step (forward + backward), whole model, "
                     "matmuls only, 2 FLOPs per multiply-add; HFU adds the recomputed forward of "
                     "the blocks. Framework rows: their own formulas (flopcalc frameworks).",
                     per_token_note([r.flops_per_token * tokens for r in report.rows], tokens,
                                    "tokens of a step (B·L)", "a step's FLOPs"),
                     *_moe_notes(report.model.architecture, "mfu"),
                     ESTIMATE],
              columns=["count", "kind", "FLOPs per token", "achieved FLOP/s", "utilisation %"],
              align="llrrr", name="mfu")
    for r in report.rows:
        t.rows.append([r.name, r.kind, exact_cell(r.flops_per_token),
                       Num(readable(count(r.rate), "FLOP/s"), str(approx_float(r.rate))),
                       Num(percent_text(r.utilisation), f"{float(r.utilisation * 100):.4f}")])
    return t


def mfu_json(report: MfuReport) -> dict:
    from .estimates import count
    from .tables import JSON_SCHEMA_VERSION, model_json

    return {"schema": "flopcalc.mfu", "schema_version": JSON_SCHEMA_VERSION,
            "config": model_json(report.model), "attention": report.attention,
            "conventions": conventions_json(report.attention, report.model.architecture),
            "tokens_per_second": fraction_text(report.tokens_per_second),
            "devices": report.devices, "device": report.device.name, "dtype": report.dtype,
            "peak_flops_per_second_total": fraction_text(report.peak),
            "rows": [{"name": r.name, "kind": r.kind,
                      "flops_per_token": count(r.flops_per_token),
                      "flops_per_token_exact": fraction_text(r.flops_per_token),
                      "flops_per_second": approx_float(r.rate),
                      "utilisation": approx_float(r.utilisation),
                      "utilisation_exact": fraction_text(r.utilisation)} for r in report.rows]}


def _hours_text(seconds: Fraction) -> str:
    from .memory import decimal_text, time_text

    if seconds < 3600:
        return time_text(seconds)
    if seconds < 86400 * 2:
        return decimal_text(seconds / 3600, 2) + " h"
    return decimal_text(seconds / 86400, 2) + " days"


def _estimate_cell(x: Fraction, text: str):
    """An estimate as a cell: ``text`` to read; in CSV the nearest double, or beyond the
    doubles' range ``x`` to 17 significant digits (``memory.float_text``)."""
    from .memory import float_text
    from .tables import Num

    return Num(text, float_text(x))


def _inference_conventions(attention: str) -> str:
    return (f"FLOPs: exact (prefill + decode steps with a KV cache; {attention} attention, whole "
            "model, matmuls only, 2 FLOPs per multiply-add). Time: the roofline bound, per "
            "operation max(FLOPs / peak, bytes / bandwidth), summed (docs/memory.md); real "
            "kernels are slower.")


def budget_tables(train: TrainingBudget, infer: InferenceBudget):
    from .memory import decimal_text, number_text, time_text
    from .tables import Table, exact_cell, model_note, per_token_note, readable, round_half_up

    b = train
    tokens = (f"{b.tokens:,} tokens ({CHINCHILLA_TOKENS_PER_PARAM} per parameter, Hoffmann "
              f"et al. 2022)" if b.chinchilla else f"{b.tokens:,} tokens")
    seq_len = b.model.workload.seq_len
    covered = b.sequences * seq_len
    cost_label = None if b.cost is None else \
        f"cost at {number_text(b.price)} per device-hour (estimate)"
    train_table = Table(
        title="Training budget", name="training",
        notes=[model_note(b.model, with_input=False) + f", seq_len={seq_len}",
               f"Budget: {tokens} = {b.sequences:,} sequences of {seq_len}"
               + ("" if covered == b.tokens else f" (rounded up to whole sequences: "
                                                 f"{covered:,} tokens)") + ".",
               _device_note(b.device, b.devices, b.dtype) + f" Assumed MFU {percent_text(b.mfu)}.",
               f"FLOPs: flopcalc's exact training steps ({b.attention} attention, whole model, "
               "matmuls only, 2 FLOPs per multiply-add). Time = FLOPs / (devices × peak × MFU).",
               *_moe_notes(b.model.architecture, "training"), ESTIMATE],
        columns=["quantity", "value", "≈"], align="lrr", csv_transposed=True,
        csv_columns={"training FLOPs (exact)": "training FLOPs",
                     "wall-clock time (estimate)": "time (s)",
                     "device-hours (estimate)": "device-hours", cost_label: "cost"},
        csv_extra=[("tokens", [b.tokens]), ("sequences", [b.sequences]),
                   ("devices", [b.devices]), ("device", [b.device.name]),
                   ("mfu %", [number_text(b.mfu * 100)]),
                   *([("price per device-hour", [number_text(b.price)])]
                     if b.price is not None else [])])
    per_token = Fraction(b.flops_per_sequence, seq_len)
    train_table.notes.insert(-1, per_token_note([b.flops_per_sequence], seq_len,
                                                "tokens of a sequence (L)",
                                                "a training step's FLOPs on one sequence"))
    train_table.rows += [["training FLOPs (exact)", b.flops, readable(b.flops, "FLOP")],
                         ["training FLOPs per token", exact_cell(per_token),
                          readable(round_half_up(per_token), "FLOP")],
                         ["wall-clock time (estimate)",
                          _estimate_cell(b.seconds, _hours_text(b.seconds)), ""],
                         ["device-hours (estimate)",
                          _estimate_cell(b.device_hours, decimal_text(b.device_hours, 1)), ""]]
    if b.cost is not None:
        train_table.rows.append([cost_label, _estimate_cell(b.cost, decimal_text(b.cost, 2)),
                                 ""])
    i = infer
    infer_table = Table(
        title="Inference per request (roofline estimate)", name="inference",
        notes=[f"Generate: prompt {i.prompt:,} tokens, {i.new_tokens:,} new tokens, batch "
               f"{i.model.workload.batch} (requests served together) on one {i.device.label} at "
               f"{i.dtype}.", _inference_conventions(i.attention),
               per_token_note([i.flops], i.generated, "generated tokens (B·n)",
                              "the request batch's FLOPs"),
               *_moe_notes(i.model.architecture, "inference"), ESTIMATE],
        columns=["quantity", "value", "≈"], align="lrr", csv_transposed=True,
        csv_columns={"FLOPs per request batch (exact)": "FLOPs per request batch",
                     "prefill time (roofline)": "prefill time (s)",
                     "time per request batch (roofline)": "time per request batch (s)",
                     "time per generated token (roofline)": "time per generated token (s)"},
        csv_extra=[("prompt", [i.prompt]), ("new tokens", [i.new_tokens]),
                   ("batch", [i.model.workload.batch]), ("device", [i.device.name])])
    infer_table.rows += [
        ["FLOPs per request batch (exact)", i.flops, readable(i.flops, "FLOP")],
        ["FLOPs per generated token", exact_cell(i.flops_per_token),
         readable(round_half_up(i.flops_per_token), "FLOP")],
        ["prefill time (roofline)", _estimate_cell(i.prefill_seconds,
                                                   time_text(i.prefill_seconds)), ""],
        ["time per request batch (roofline)", _estimate_cell(i.seconds, time_text(i.seconds)),
         ""],
        ["time per generated token (roofline)",
         _estimate_cell(i.seconds_per_token, time_text(i.seconds_per_token)), ""],
    ]
    return [train_table, infer_table]


def _training_json(b: TrainingBudget) -> dict:
    """One training budget's fields (the budget and each budget-sweep row)."""
    return {"tokens": b.tokens, "chinchilla": b.chinchilla, "sequences": b.sequences,
            "flops_per_sequence": b.flops_per_sequence, "flops": b.flops,
            "flops_per_token": fraction_text(Fraction(b.flops_per_sequence,
                                                      b.model.workload.seq_len)),
            "attention": b.attention, "devices": b.devices, "device": b.device.name,
            "dtype": b.dtype, "peak_flops_per_second": fraction_text(b.device.peak(b.dtype)),
            "mfu": fraction_text(b.mfu),
            "seconds": approx_float(b.seconds), "seconds_exact": fraction_text(b.seconds),
            "device_hours": approx_float(b.device_hours),
            "device_hours_exact": fraction_text(b.device_hours),
            "price_per_device_hour": fraction_text(b.price),
            "cost": None if b.cost is None else approx_float(b.cost),
            "cost_exact": fraction_text(b.cost)}


def _inference_json(i: InferenceBudget) -> dict:
    """One inference budget's fields (the budget and each inference-sweep row)."""
    return {"prompt": i.prompt, "new_tokens": i.new_tokens, "batch": i.model.workload.batch,
            "device": i.device.name, "dtype": i.dtype, "attention": i.attention,
            "peak_flops_per_second": fraction_text(i.device.peak(i.dtype)),
            "bandwidth_bytes_per_second": fraction_text(i.device.bandwidth),
            "flops": i.flops, "flops_per_generated_token": fraction_text(i.flops_per_token),
            "prefill_seconds": approx_float(i.prefill_seconds),
            "prefill_seconds_exact": fraction_text(i.prefill_seconds),
            "seconds": approx_float(i.seconds), "seconds_exact": fraction_text(i.seconds),
            "seconds_per_generated_token": approx_float(i.seconds_per_token),
            "seconds_per_generated_token_exact": fraction_text(i.seconds_per_token)}


def budget_json(train: TrainingBudget, infer: InferenceBudget) -> dict:
    from .tables import JSON_SCHEMA_VERSION, model_json

    return {"schema": "flopcalc.budget", "schema_version": JSON_SCHEMA_VERSION,
            "config": model_json(train.model),
            "conventions": conventions_json(train.attention, train.model.architecture),
            "training": _training_json(train), "inference": _inference_json(infer)}


# ---------------------------------------------------------------------------------------
# Budget sweeps: training budgets over lists and ranges of the model's sizes, seq_len, the
# token budget, the device count, the device, the MFU and the price; inference budgets over
# the model's sizes, seq_len and batch, the prompt, the new tokens and the device
# ---------------------------------------------------------------------------------------

BUDGET_AXES = {"tokens": "--tokens", "devices": "--devices", "device": "--device",
               "mfu": "--mfu", "price": "--price"}
INFERENCE_AXES = {"prompt": "--prompt", "new_tokens": "--new-tokens"}


def budget_axis(name: str, text: str, dtype: str = "bf16"):
    """A budget option's values as a ``sweep.Axis``: --tokens, --devices, --prompt and
    --new-tokens take whole numbers (a list or a range, as every sweep); --mfu (``30%,40%``),
    --price and --device (``a100,h100``) a comma-separated list."""
    from .config import check_dimension
    from .memory import device
    from .sweep import Axis, parse_axis

    option = {**BUDGET_AXES, **INFERENCE_AXES}[name]
    if name in ("tokens", "devices", "prompt", "new_tokens"):
        axis = parse_axis(option if name in BUDGET_AXES else name, text)
        check_dimension(option, max(axis.values[0], axis.values[-1]))
        return Axis(name, axis.values, axis.geometric)
    parts = [p.strip() for p in str(text).split(",")]
    if not all(parts):
        raise FlopcalcError(f"{option} {text!r}: an empty value in the list")
    if name == "device":
        return Axis(name, tuple(device(p, None, None, dtype) for p in parts))
    read = utilisation if name == "mfu" else positive_number
    return Axis(name, tuple(read(p, option) for p in parts))


@dataclass(frozen=True)
class InferenceSweep:
    names: tuple[str, ...]           # the swept options: model ones (batch too) first
    axes: tuple                      # their sweep.Axis
    rows: tuple[tuple[tuple, InferenceBudget], ...]   # (values, the budget) per point
    attention: str
    dtype: str
    skipped: int = 0                 # points left out (--skip-invalid)


@dataclass(frozen=True)
class BudgetSweep:
    names: tuple[str, ...]           # the swept options, model ones first
    axes: tuple                      # their sweep.Axis
    rows: tuple[tuple[tuple, TrainingBudget], ...]   # (values, the budget) per point
    attention: str
    dtype: str
    skipped: int = 0                 # model points left out (--skip-invalid)
    inference: InferenceSweep | None = None   # with --prompt or --new-tokens


def budget_sweep(base: dict, model_axes: list, budget_axes: list, fixed: dict,
                 chinchilla: bool, dtype: str, attention: str = "dense",
                 skip_invalid: bool = False, inference_axes=None) -> BudgetSweep:
    """The training budget at every point of the grid of ``model_axes`` (sizes and seq_len,
    as ``flopcalc sweep`` takes them, on ``base``) and ``budget_axes`` (``budget_axis``);
    ``fixed`` holds the budget options that are not swept (tokens, devices, device, mfu,
    price; prompt and new_tokens). The FLOPs of a sequence are counted once per model point.
    With ``inference_axes`` (a list, empty when --prompt and --new-tokens have one value
    each) the inference budget too, at every point of the model axes (batch included), the
    inference axes and the device axis. An invalid model point stops the sweep with an
    error naming it, or is left out with ``skip_invalid``."""
    from .sweep import check_axes, check_point, check_table_size, grid

    if inference_axes is None and any(a.name == "batch" for a in model_axes):
        raise FlopcalcError("--batch does not change a training budget (whole sequences of "
                            "--seq-len): give it one value, or sweep the inference budget's "
                            "request batch with --prompt or --new-tokens")
    if chinchilla and any(a.name == "tokens" for a in budget_axes):
        raise FlopcalcError("--chinchilla sets the tokens: sweep --tokens or give --chinchilla")
    train_model = [a for a in model_axes if a.name != "batch"]
    check_axes(model_axes)
    points = check_axes(train_model)
    for a in budget_axes:
        points *= len(a.values)
    check_table_size(points)
    model_names = tuple(a.name for a in train_model)
    axes = tuple(train_model) + tuple(budget_axes)
    names = tuple(a.name for a in axes)
    rows, first, skipped = [], {}, set()
    for values in grid(list(axes)):
        at = {**fixed, **dict(zip(names[len(model_names):], values[len(model_names):]))}
        key = values[:len(model_names)]
        if key in skipped:
            continue
        if key not in first:
            try:
                arch, load, _, _ = check_point(base, model_names, key, Mode("train"))
            except FlopcalcError:
                if not skip_invalid:
                    raise
                skipped.add(key)
                continue
            first[key] = training_budget(arch, at["tokens"], chinchilla, at["devices"],
                                         at["device"], dtype, at["mfu"], at["price"],
                                         attention, replace(load, batch=1))
        rows.append((values, training_budget(None, at["tokens"], chinchilla, at["devices"],
                                             at["device"], dtype, at["mfu"], at["price"],
                                             like=first[key])))
    if not rows:
        raise FlopcalcError("no valid point in the sweep")
    infer = None if inference_axes is None else inference_sweep(
        base, model_axes, list(inference_axes) + [a for a in budget_axes if a.name == "device"],
        fixed, dtype, attention, skip_invalid)
    return BudgetSweep(names, axes, tuple(rows), attention, dtype, len(skipped), infer)


def inference_sweep(base: dict, model_axes: list, axes: list, fixed: dict, dtype: str,
                    attention: str = "dense", skip_invalid: bool = False) -> InferenceSweep:
    """The inference budget (``inference_budget``) at every point of the grid of
    ``model_axes`` (batch included) and ``axes`` (prompt, new_tokens, device); ``fixed``
    holds the ones not swept. The decode steps of all the points together are at most
    ``MAX_SWEEP_ROOFLINE_STEPS`` (the roofline adds up every step)."""
    from .sweep import check_axes, check_point, check_table_size, grid

    points = check_axes(model_axes)
    for a in axes:
        points *= len(a.values)
    check_table_size(points)
    all_axes = list(model_axes) + list(axes)
    names = tuple(a.name for a in all_axes)
    new_tokens = next((a.values for a in axes if a.name == "new_tokens"), None)
    per_value = (sum(n - 1 for n in new_tokens) if new_tokens is not None else
                 (fixed.get("new_tokens") or 1) - 1)
    steps = per_value * points // (len(new_tokens) if new_tokens is not None else 1)
    if steps > MAX_SWEEP_ROOFLINE_STEPS:
        raise FlopcalcError(f"the inference sweep's roofline adds up {steps:,} decode steps; "
                            f"at most {MAX_SWEEP_ROOFLINE_STEPS:,} (fewer points or --new-tokens)")
    n_model = len(model_axes)
    rows, skipped = [], 0
    for values in grid(all_axes):
        at = {**fixed, **dict(zip(names[n_model:], values[n_model:]))}
        try:
            arch, load, _, _ = check_point(base, names[:n_model], values[:n_model],
                                           Mode("forward"))
            budget = inference_budget(arch, at.get("prompt"), at.get("new_tokens"),
                                      at["device"], dtype, attention, load)
        except FlopcalcError:
            if not skip_invalid:
                raise
            skipped += 1
            continue
        rows.append((values, budget))
    if not rows:
        raise FlopcalcError("no valid point in the inference sweep")
    return InferenceSweep(names, tuple(all_axes), tuple(rows), attention, dtype, skipped)


def _axis_cell(name: str, value):
    from .memory import number_text
    from .tables import Num

    if name == "device":
        return value.name
    if name == "mfu":
        return Num(percent_text(value), number_text(value * 100))
    if name == "price":
        return Num(number_text(value), number_text(value))
    return value


def _swept_text(axes) -> str:
    from .sweep import _axis_text

    return "; ".join(f"{a.name} " + (", ".join(str(_axis_cell(a.name, v)) for v in a.values)
                                     if a.name in ("device", "mfu", "price") else _axis_text(a))
                     for a in axes) or "nothing (one point)"


def _peaks_text(devices, dtype: str) -> str:
    from .memory import number_text

    return "; ".join(f"{d.name} {number_text(d.peak_tflops[dtype])} TFLOP/s, "
                     f"{number_text(d.bandwidth_gbs)} GB/s ({d.source})" for d in devices)


def budget_sweep_table(result: BudgetSweep):
    from .memory import decimal_text, number_text
    from .tables import Table, exact_cell, model_note, readable

    rows = result.rows
    b0 = rows[0][1]
    priced = any(b.price is not None for _, b in rows)
    chinchilla = b0.chinchilla and any(n not in BUDGET_AXES for n in result.names)
    fixed = [n for n in ("tokens", "devices", "device", "mfu", "price") if n not in result.names
             and not (n == "tokens" and chinchilla)]
    at = {"tokens": f"{b0.tokens:,} tokens" + (f" ({CHINCHILLA_TOKENS_PER_PARAM} per "
                                               "parameter, Hoffmann et al. 2022)"
                                               if b0.chinchilla else ""),
          "devices": f"{b0.devices} device" + ("s" if b0.devices > 1 else ""),
          "device": f"{b0.device.label} (dense {result.dtype} peak "
                    f"{number_text(b0.device.peak_tflops[result.dtype])} TFLOP/s, "
                    f"{b0.device.source})",
          "mfu": f"assumed MFU {percent_text(b0.mfu)}",
          "price": None if b0.price is None else f"{number_text(b0.price)} per device-hour"}
    notes = [model_note(b0.model, with_input=False) + f", seq_len={b0.model.workload.seq_len}"
             + " (the first point)", f"Swept: {_swept_text(result.axes)}.",
             "At every point: " + ", ".join(at[n] for n in fixed if at[n]) + "."
             + (f" Tokens: {CHINCHILLA_TOKENS_PER_PARAM} per parameter of the point's model "
                "(Hoffmann et al. 2022)." if chinchilla else "")
             + ("" if "device" not in result.names else " Dense peaks: " + "; ".join(
                 f"{d.name} {number_text(d.peak_tflops[result.dtype])} TFLOP/s ({d.source})"
                 for d in next(a for a in result.axes if a.name == "device").values) + "."),
             f"FLOPs: flopcalc's exact training steps ({result.attention} attention, whole "
             "model, matmuls only, 2 FLOPs per multiply-add) on the token budget in whole "
             "sequences of seq_len (rounded up). Per token: a sequence's step ÷ its seq_len "
             "tokens; exact (a fraction n/d where not whole; CSV: rounded half up to 3 "
             "decimals). Time = FLOPs / (devices × peak × MFU).", ESTIMATE]
    if result.skipped:
        notes.append(f"Skipped {result.skipped:,} invalid model points (--skip-invalid).")
    extra = ["tokens"] if chinchilla else []
    columns = [*result.names, *extra, "training FLOPs", "≈", "FLOPs per token", "time (estimate)",
               "device-hours (estimate)"] + (["cost (estimate)"] if priced else [])
    table = Table(title=f"Training budget sweep ({len(rows):,} point{'s' if len(rows) > 1 else ''})", notes=notes,
                  columns=columns, align="".join(
                      "l" if n == "device" else "r" for n in result.names) + "r" * (
                          len(columns) - len(result.names)),
                  name="training-sweep", drop_order=("≈", "training FLOPs", "FLOPs per token"),
                  keep=tuple(result.names),
                  csv_columns={"mfu": "mfu %", "time (estimate)": "time (s)",
                               "device-hours (estimate)": "device-hours",
                               "cost (estimate)": "cost"})
    for values, b in rows:
        table.rows.append([*(_axis_cell(n, v) for n, v in zip(result.names, values)),
                           *([b.tokens] if chinchilla else []), b.flops,
                           readable(b.flops, "FLOP"),
                           exact_cell(Fraction(b.flops_per_sequence, b.model.workload.seq_len)),
                           _estimate_cell(b.seconds, _hours_text(b.seconds)),
                           _estimate_cell(b.device_hours, decimal_text(b.device_hours, 1))]
                          + ([_estimate_cell(b.cost, decimal_text(b.cost, 2))
                              if b.cost is not None else ""] if priced else []))
    return table


def inference_sweep_table(result: InferenceSweep):
    from .memory import time_text
    from .tables import Table, exact_cell, model_note, readable

    rows = result.rows
    i0 = rows[0][1]
    fixed = {"prompt": f"prompt {i0.prompt:,} tokens", "new_tokens": f"{i0.new_tokens:,} new "
             "token" + ("s" if i0.new_tokens > 1 else ""), "batch": f"batch {i0.model.workload.batch} (requests served together)",
             "device": f"one {i0.device.label}"}
    devices = (next(a for a in result.axes if a.name == "device").values
               if "device" in result.names else [i0.device])
    notes = [model_note(i0.model, with_input=False) + " (the first point)",
             f"Swept: {_swept_text(result.axes)}.",
             "At every point: " + ", ".join(v for k, v in fixed.items()
                                           if k not in result.names) + f"; at {result.dtype}. "
             f"Dense peaks and bandwidths: {_peaks_text(devices, result.dtype)}.",
             _inference_conventions(result.attention),
             "Per token: the request batch's FLOPs (and time) ÷ its B·n generated tokens; "
             "exact (a fraction n/d where not whole; CSV: rounded half up to 3 decimals).",
             ESTIMATE]
    if result.skipped:
        notes.append(f"Skipped {result.skipped:,} invalid points (--skip-invalid).")
    columns = [*result.names, "request FLOPs", "≈", "FLOPs per token", "prefill (roofline)",
               "request (roofline)", "per token (roofline)"]
    table = Table(title=f"Inference budget sweep ({len(rows):,} point{'s' if len(rows) > 1 else ''})", notes=notes,
                  columns=columns, align="".join(
                      "l" if n == "device" else "r" for n in result.names) + "r" * (
                          len(columns) - len(result.names)),
                  name="inference-sweep",
                  drop_order=("≈", "prefill (roofline)", "request FLOPs", "FLOPs per token"),
                  keep=tuple(result.names),
                  csv_columns={"prefill (roofline)": "prefill (s)",
                               "request (roofline)": "request (s)",
                               "per token (roofline)": "per token (s)"})
    for values, i in rows:
        table.rows.append([*(_axis_cell(n, v) for n, v in zip(result.names, values)),
                           i.flops, readable(i.flops, "FLOP"), exact_cell(i.flops_per_token),
                           _estimate_cell(i.prefill_seconds, time_text(i.prefill_seconds)),
                           _estimate_cell(i.seconds, time_text(i.seconds)),
                           _estimate_cell(i.seconds_per_token, time_text(i.seconds_per_token))])
    return table


def budget_sweep_tables(result: BudgetSweep) -> list:
    """The training budget sweep's table, then (with --prompt or --new-tokens) the
    inference budget sweep's."""
    return [budget_sweep_table(result)] + (
        [inference_sweep_table(result.inference)] if result.inference else [])


def _point_json(names, values) -> list:
    return [v.name if n == "device" else fraction_text(v) if isinstance(v, Fraction) else v
            for n, v in zip(names, values)]


def budget_sweep_json(result: BudgetSweep) -> dict:
    from .tables import JSON_SCHEMA_VERSION, model_json

    out = {"schema": "flopcalc.budget_sweep", "schema_version": JSON_SCHEMA_VERSION,
           "first_config": model_json(result.rows[0][1].model),
           "attention": result.attention, "dtype": result.dtype,
           "conventions": conventions_json(result.attention,
                                           result.rows[0][1].model.architecture),
           "columns": list(result.names),
           "rows": [{"point": _point_json(result.names, values), **_training_json(b)}
                    for values, b in result.rows]}
    if result.inference is not None:
        inf = result.inference
        out["inference"] = {"columns": list(inf.names), "skipped": inf.skipped,
                            "rows": [{"point": _point_json(inf.names, values),
                                      **_inference_json(i)} for values, i in inf.rows]}
    return out
