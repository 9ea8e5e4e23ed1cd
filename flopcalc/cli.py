"""The ``flopcalc`` command line: a thin typer layer over the library.

Bad input ends in one line on stderr and exit code 2; ``--output`` files are written
atomically. sympy and numpy are imported only by the commands that need them.
"""

import io
import os
import sys
import tempfile
from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer
from typer.core import TyperGroup

from . import __version__
from .config import PRESETS, Config, Conventions, FlopcalcError, Mode, make_config

try:  # typer >= 0.2x vendors click; older releases use click itself
    from typer._click.exceptions import ClickException
    from typer._click.formatting import HelpFormatter
except ImportError:  # pragma: no cover
    from click.exceptions import ClickException
    from click.formatting import HelpFormatter


def fail(message: str, code: int = 2) -> None:
    """One clear line on stderr, then exit (2: bad input)."""
    print(f"flopcalc: error: {message}", file=sys.stderr)
    raise SystemExit(code)


class _HelpFormatter(HelpFormatter):
    """click's plain help, readable on a narrow terminal: the options column takes at most a
    third of the width (a longer option puts its help on the next line), words are never cut,
    and rich's ``\\[`` escapes in help texts are shown as ``[``. Its width is the terminal's
    (COLUMNS first) up to 80, at any width (click's own keeps at least 50)."""

    def __init__(self, indent_increment: int = 2, width=None, max_width=None) -> None:
        import shutil

        if width is None:
            width = max(min(shutil.get_terminal_size().columns, max_width or 80) - 2, 30)
        super().__init__(indent_increment, width, max_width)

    def write_text(self, text: str) -> None:
        text = text.replace("\\[", "[")
        if not text.startswith("Example: "):
            return super().write_text(text)
        # a command line: broken between words with shell continuations, so it still pastes
        room, line = max(self.width - self.current_indent - 2, 20), ""
        for word in text.split():
            if line and len(line) + 1 + len(word) > room:
                self.write(f"{'':>{self.current_indent}}{line} \\\n")
                line = "   "
            line = f"{line} {word}" if line.strip() else line + word
        self.write(f"{'':>{self.current_indent}}{line}\n")

    def write_dl(self, rows, col_max: int = 30, col_spacing: int = 2) -> None:
        super().write_dl([(a, b.replace("\\[", "[")) for a, b in rows],
                         min(col_max, max(14, self.width // 3)), col_spacing)


class _HelpContext(typer.Context):
    formatter_class = _HelpFormatter


class _OneLineErrors(TyperGroup):
    """Turns usage errors and FlopcalcError into one line on stderr with exit code 2; every
    command's help is plain click formatting (``_HelpFormatter``)."""

    context_class = _HelpContext

    def get_command(self, ctx, name):
        command = super().get_command(ctx, name)
        if command is not None:
            command.context_class = _HelpContext
        return command

    def format_commands(self, ctx, formatter) -> None:
        """Each command with the first sentence of its help, whole (click would cut it)."""
        rows = [(name, (command.help or "").split("\n\n")[0].strip())
                for name in self.list_commands(ctx)
                if (command := self.get_command(ctx, name)) is not None and not command.hidden]
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):
        try:
            result = super().main(args, prog_name or "flopcalc", complete_var,
                                  standalone_mode=False, **extra)
        except ClickException as e:
            message = e.format_message().replace("\n", " ")
            if not message:  # bare `flopcalc`: the help was shown, nothing went wrong
                raise SystemExit(e.exit_code)
            fail(message, e.exit_code if e.exit_code != 1 else 2)
        except FlopcalcError as e:
            fail(str(e))
        except (typer.Abort, KeyboardInterrupt):
            print("flopcalc: aborted", file=sys.stderr)
            raise SystemExit(130)
        raise SystemExit(result if isinstance(result, int) else 0)


app = typer.Typer(cls=_OneLineErrors, add_completion=False, no_args_is_help=True,
                  rich_markup_mode=None,
                  help="Exact FLOP, parameter and shape tables for GPT-2-style transformers.",
                  context_settings={"help_option_names": ["-h", "--help"]})


class Format(str, Enum):
    table = "table"
    markdown = "markdown"
    json = "json"
    csv = "csv"


class Attention(str, Enum):
    dense = "dense"
    causal = "causal"


class Qkv(str, Enum):
    fused = "fused"
    separate = "separate"


# Options shared by every command that takes a model.
Preset = Annotated[Optional[str], typer.Option(
    "--preset", help=f"Start from a published size: {', '.join(PRESETS)}.", show_default=False)]
ConfigPath = Annotated[Optional[Path], typer.Option(
    "--config", help="Start from a Hugging Face GPT-2 config.json (n_embd, n_head, n_layer, "
    "n_positions, n_inner, vocab_size).", show_default=False, dir_okay=False)]
DModel = Annotated[Optional[int], typer.Option("--d-model", help="Model width \\[default: 768].",
                                               show_default=False)]
Heads = Annotated[Optional[int], typer.Option("--heads", help="Attention heads; must divide "
                                              "d_model \\[default: 12].", show_default=False)]
Layers = Annotated[Optional[int], typer.Option("--layers", help="Transformer blocks \\[default: 12].",
                                               show_default=False)]
DFF = Annotated[Optional[int], typer.Option("--d-ff", help="FFN hidden width \\[default: 4*d_model].",
                                            show_default=False)]
Vocab = Annotated[Optional[int], typer.Option("--vocab", help="Vocabulary size \\[default: 50257].",
                                              show_default=False)]
NPos = Annotated[Optional[int], typer.Option("--n-positions", help="Position-embedding rows, the "
                                             "longest sequence \\[default: 1024].", show_default=False)]
SeqLen = Annotated[Optional[int], typer.Option("--seq-len", help="Tokens in the sequence "
                                               "\\[default: 128].", show_default=False)]
Batch = Annotated[Optional[int], typer.Option("--batch", help="Sequences \\[default: 1].",
                                              show_default=False)]
QkvOpt = Annotated[Qkv, typer.Option("--qkv", help="Q/K/V as GPT-2's fused c_attn or three "
                                     "separate W_q, W_k, W_v.")]
FormatOpt = Annotated[Format, typer.Option("--format", "-f", help="Output format.")]
Output = Annotated[Optional[Path], typer.Option(
    "--output", "-o", help="Write to FILE (atomically) instead of the terminal.",
    show_default=False, dir_okay=False)]


def _table_option(names: str):
    return typer.Option("--table", metavar="NAME", show_default=False, help=f"Print only the "
                        f"table NAME: {names}. A CSV holds one table: the first, or NAME.")


NoBias = Annotated[bool, typer.Option("--no-bias", help="nanoGPT's bias-free GPT-2: no bias in "
                                      "the Linears and LayerNorms.")]
Untied = Annotated[bool, typer.Option("--untied-lm-head", help="An LM head with its own "
                                      "(d_model, vocab) weight instead of GPT-2's tied wte.")]


def build_config(preset, config, d_model, heads, layers, d_ff, vocab, n_positions, seq_len,
                 batch, qkv, no_bias=False, untied_lm_head=False) -> Config:
    """Preset or config.json first, explicit flags on top."""
    return make_config(preset, config, d_model=d_model, n_heads=heads, n_layers=layers,
                       d_ff=d_ff, vocab=vocab, n_positions=n_positions, seq_len=seq_len,
                       batch=batch, fused_qkv=qkv == Qkv.fused, bias=not no_bias,
                       tied_lm_head=not untied_lm_head)


class ModeChoice(str, Enum):
    forward = "forward"
    backward = "backward"
    train = "train"
    decode = "decode"
    generate = "generate"


ModeOpt = Annotated[ModeChoice, typer.Option(
    "--mode", help="forward (prefill), backward, train (forward + backward), decode (one token "
    "with a KV cache) or generate (prompt + new tokens).")]
Recompute = Annotated[bool, typer.Option("--recompute", help="train: full activation "
                                         "recomputation (adds a forward pass).")]
Position = Annotated[Optional[int], typer.Option("--position", help="decode: 1-based position t "
                                                "of the new token (KV cache of t-1) \\[default: "
                                                "seq_len].", show_default=False)]
Prompt = Annotated[Optional[int], typer.Option("--prompt", help="generate: prompt tokens p "
                                              "\\[default: seq_len].", show_default=False)]
NewTokens = Annotated[Optional[int], typer.Option("--new-tokens", help="generate: new tokens n "
                                                  "\\[default: 1].", show_default=False)]


def write_atomically(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` via a temporary file in the same folder, flushed to disk, and
    a rename: readers see the old file or the whole new one, never a part. A symlink is
    written through (its target is replaced); an existing file keeps its permissions."""
    path = Path(os.path.realpath(path))
    folder = path.parent
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=folder)
    except OSError as e:
        fail(f"cannot write {path}: {e.strerror or e}")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        try:
            os.chmod(tmp, os.stat(path).st_mode & 0o7777)
        except FileNotFoundError:
            os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except OSError as e:
        Path(tmp).unlink(missing_ok=True)
        fail(f"cannot write {path}: {e.strerror or e}")


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def emit(tables, document: dict | None, fmt: Format, output: Path | None,
         table: str | None = None) -> None:
    """Render tables (or the JSON document) in ``fmt`` to the terminal or to ``output``;
    ``table`` names the one table to print (``--table``)."""
    write_output(render_output(tables, document, fmt, output, table=table), output)


def render_output(tables, document: dict | None, fmt: Format, output: Path | None,
                  progress=None, table: str | None = None) -> list:
    """``emit``'s first half: the text to write, in parts; for the terminal a small table stays
    a ``tables.Table`` that rich draws as it writes. A table of more than
    ``render.PLAIN_ABOVE`` rows gets the plain layout (rich takes ~1 ms a row: 100,000 rows
    would take over a minute), ``progress(done, total)`` following it. CSV holds one table:
    ``table`` (a name) or the first, with a note naming the others."""
    from . import render

    if fmt == Format.json:
        if table is not None:
            fail("--table picks a table of --format table, markdown or csv; the JSON has them all")
        return [render.to_json(document)]
    tables, note = render.pick_table(tables, table, fmt == Format.csv)
    if fmt == Format.markdown:
        return [render.to_markdown(tables)]
    if fmt == Format.csv:
        return [render.to_csv(tables[0], [note] if note else [])]
    from rich.console import Console

    width = table_width(output)
    parts = []
    for t in tables:
        if len(t.rows) > render.PLAIN_ABOVE:
            parts.append(render.to_plain(t, width, progress))
        elif output is None:
            parts.append(t)
        else:
            console = Console(record=True, width=width, file=io.StringIO())
            console.print(render.to_rich(t, width))
            parts.append(console.export_text())
    return parts


def table_width(output: Path | None) -> int:
    """The width to draw at: the terminal's; for a file, the width rich gives anything that is
    not a terminal (COLUMNS, else 80), so that `-o FILE` and `> FILE` write the same table."""
    from rich.console import Console

    return Console(file=None if output is None else io.StringIO()).width


def write_output(parts: list, output: Path | None) -> None:
    """``emit``'s second half: ``render_output``'s parts to ``output`` or the terminal."""
    if output is not None:
        write_atomically(output, "".join(parts))
        return
    console = None
    for part in parts:
        if isinstance(part, str):
            sys.stdout.write(part)
            continue
        from rich.console import Console

        from . import render
        console = console or Console()
        console.print(render.to_rich(part, console.width))


@app.command(epilog="Example: flopcalc flops --blocks-only --format markdown")
def flops(
    preset: Preset = None, config: ConfigPath = None, d_model: DModel = None, heads: Heads = None,
    layers: Layers = None, d_ff: DFF = None, vocab: Vocab = None, n_positions: NPos = None,
    seq_len: SeqLen = None, batch: Batch = None, qkv: QkvOpt = Qkv.fused,
    flops_per_mac: Annotated[int, typer.Option(
        "--flops-per-mac", help="FLOPs per multiply-add: 2 (the document's) or 1 (MACs).")] = 2,
    attention: Annotated[Attention, typer.Option(
        "--attention", help="dense: full L×L scores as kernels run them; causal: only the "
        "L(L+1)/2 unmasked ones.")] = Attention.dense,
    elementwise: Annotated[bool, typer.Option(
        "--elementwise/--matmul-only", help="Also count scale, mask, softmax, LayerNorm, GELU, "
        "bias and residual work.")] = False,
    embeddings: Annotated[bool, typer.Option("--embeddings/--no-embeddings",
                                             help="Include the embedding rows.")] = True,
    lm_head: Annotated[bool, typer.Option("--lm-head/--no-lm-head",
                                          help="Include the final LayerNorm and LM head.")] = True,
    blocks_only: Annotated[bool, typer.Option(
        "--blocks-only", help="The seed document's scope: transformer blocks only "
        "(same as --no-embeddings --no-lm-head).")] = False,
    mode: ModeOpt = ModeChoice.forward, recompute: Recompute = False, position: Position = None,
    prompt: Prompt = None, new_tokens: NewTokens = None,
    no_bias: NoBias = False, untied_lm_head: Untied = False,
    format: FormatOpt = Format.table, output: Output = None,
) -> None:
    """FLOPs of one forward pass (or --mode), per operation, per block and in total.

    With no options: GPT-2 small (12 blocks, d_model 768, 12 heads of 64, d_ff 3072) on 128 tokens, batch 1, at 2 FLOPs per multiply-add.
    """
    from .analysis import flop_report
    from .tables import flop_json, flop_table

    cfg = build_config(preset, config, d_model, heads, layers, d_ff, vocab, n_positions, seq_len,
                       batch, qkv, no_bias, untied_lm_head)
    conv = Conventions(flops_per_mac=flops_per_mac, attention=attention.value,
                       elementwise=elementwise, embeddings=embeddings and not blocks_only,
                       lm_head=lm_head and not blocks_only)
    report = flop_report(cfg, conv, Mode(mode.value, recompute, position, prompt, new_tokens))
    emit([flop_table(report)], flop_json(report), format, output)


@app.command(epilog="Example: flopcalc params --preset gpt2-xl")
def params(
    preset: Preset = None, config: ConfigPath = None, d_model: DModel = None, heads: Heads = None,
    layers: Layers = None, d_ff: DFF = None, vocab: Vocab = None, n_positions: NPos = None,
    qkv: QkvOpt = Qkv.fused, no_bias: NoBias = False, untied_lm_head: Untied = False,
    format: FormatOpt = Format.table, output: Output = None,
) -> None:
    """Every parameter tensor's shape and count, per block and in total."""
    from .analysis import param_report
    from .tables import param_json, param_table

    cfg = build_config(preset, config, d_model, heads, layers, d_ff, vocab, n_positions, 1,
                       None, qkv, no_bias, untied_lm_head)  # parameters do not depend on seq_len
    report = param_report(cfg)
    emit([param_table(report)], param_json(report), format, output)


@app.command(epilog="Example: flopcalc shapes --batch 8 --seq-len 1024")
def shapes(
    preset: Preset = None, config: ConfigPath = None, d_model: DModel = None, heads: Heads = None,
    layers: Layers = None, d_ff: DFF = None, vocab: Vocab = None, n_positions: NPos = None,
    seq_len: SeqLen = None, batch: Batch = None, qkv: QkvOpt = Qkv.fused,
    format: FormatOpt = Format.table, output: Output = None,
) -> None:
    """Every operation's operand, weight and output (activation) shapes."""
    from .analysis import shape_report
    from .tables import shape_json, shape_table

    cfg = build_config(preset, config, d_model, heads, layers, d_ff, vocab, n_positions, seq_len,
                       batch, qkv)
    report = shape_report(cfg)
    emit([shape_table(report)], shape_json(report), format, output)


class FormulaFormat(str, Enum):
    text = "text"
    latex = "latex"
    markdown = "markdown"
    json = "json"


@app.command(epilog="Example: flopcalc formulas --attention causal --format latex")
def formulas(
    flops_per_mac: Annotated[int, typer.Option("--flops-per-mac",
                                               help="FLOPs per multiply-add: 2 or 1.")] = 2,
    attention: Annotated[Attention, typer.Option("--attention",
                                                 help="dense or causal attention.")] = Attention.dense,
    elementwise: Annotated[bool, typer.Option("--elementwise/--matmul-only",
                                              help="Also count elementwise work.")] = False,
    embeddings: Annotated[bool, typer.Option("--embeddings/--no-embeddings")] = True,
    lm_head: Annotated[bool, typer.Option("--lm-head/--no-lm-head")] = True,
    blocks_only: Annotated[bool, typer.Option("--blocks-only",
                                              help="Transformer blocks only.")] = False,
    qkv: QkvOpt = Qkv.fused, mode: ModeOpt = ModeChoice.forward, recompute: Recompute = False,
    no_bias: NoBias = False, untied_lm_head: Untied = False,
    format: Annotated[FormulaFormat, typer.Option("--format", "-f")] = FormulaFormat.text,
    output: Output = None,
) -> None:
    """Each operation's FLOPs and the block and model totals as formulas.

    Symbols: B batch, L seq_len, d_model, h heads (d_head = d_model/h), d_ff, V vocab, n_layers; decode position t; generation prompt p and new tokens n.
    """
    conv = Conventions(flops_per_mac=flops_per_mac, attention=attention.value,
                       elementwise=elementwise, embeddings=embeddings and not blocks_only,
                       lm_head=lm_head and not blocks_only)
    from . import formulas as fm

    f = fm.formulas(conv, fused_qkv=qkv == Qkv.fused, bias=not no_bias,
                    mode=fm.symbolic_mode(mode.value, recompute),
                    tied_lm_head=not untied_lm_head)
    from . import render
    from .tables import formulas_json, formulas_table

    if format == FormulaFormat.latex:
        text = render.to_latex(formulas_table(f, latex=True))
    elif format == FormulaFormat.json:
        text = render.to_json(formulas_json(f))
    elif format == FormulaFormat.markdown:
        table = formulas_table(f)
        table.rows = [[name, f"`{expr}`"] for name, expr in table.rows]
        text = render.to_markdown([table])
    else:
        text = render.to_text(formulas_table(f), table_width(output))
    if output is None:
        sys.stdout.write(text)
    else:
        write_atomically(output, text)


@app.command(epilog="Example: flopcalc presets --format markdown")
def presets(format: FormatOpt = Format.table, output: Output = None) -> None:
    """The published GPT-2 sizes with their parameter counts."""
    from .analysis import param_report
    from .tables import presets_table_and_json

    table, document = presets_table_and_json({name: param_report(make_config(name))
                                              for name in PRESETS})
    emit([table], document, format, output)


class VerifyMode(str, Enum):
    dense = "dense"
    incremental = "incremental"


class Dtype(str, Enum):
    float32 = "float32"
    float64 = "float64"


@app.command(epilog="Example: flopcalc verify --mode incremental --seq-len 64")
def verify(
    preset: Preset = None, config: ConfigPath = None, d_model: DModel = None, heads: Heads = None,
    layers: Layers = None, d_ff: DFF = None, vocab: Vocab = None, n_positions: NPos = None,
    seq_len: SeqLen = None, batch: Batch = None, qkv: QkvOpt = Qkv.fused,
    mode: Annotated[VerifyMode, typer.Option("--mode", help="dense: all positions at once (compared "
                                       "with dense counting); incremental: token by token with "
                                       "a KV cache (compared with causal counting).")] = VerifyMode.dense,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the weights and tokens (>= 0).")] = 0,
    dtype: Annotated[Dtype, typer.Option("--dtype", help="Floating-point type of the pass.")] = Dtype.float32,
    flops_per_mac: Annotated[int, typer.Option("--flops-per-mac",
                                               help="FLOPs per multiply-add: 2 or 1.")] = 2,
    no_bias: NoBias = False,
    format: FormatOpt = Format.table, output: Output = None,
) -> None:
    """Run a real NumPy GPT-2 forward pass and check every matmul against the model.

    The reference ties the LM head to the token embedding, as GPT-2 does, so there is no --untied-lm-head here (an untied head multiplies the same shapes). Exit 0 when every row matches exactly, 1 when any does not, 2 on bad input or when the pass would not fit in memory.
    """
    cfg = build_config(preset, config, d_model, heads, layers, d_ff, vocab, n_positions, seq_len,
                       batch, qkv, no_bias=no_bias)
    Conventions(flops_per_mac=flops_per_mac)  # validate before the slow imports
    from . import verify as verification
    from .tables import verify_json, verify_table

    # seed, dtype and memory are checked before the bar could appear
    verification.check(cfg, mode.value, seed, dtype.value)
    steps = cfg.n_layers * (cfg.seq_len if mode == VerifyMode.incremental else 1)
    done = 0
    # on stderr, and only once the pass has taken more than a moment
    with _LazyProgress("forward pass, blocks") as progress:
        def on_block() -> None:
            nonlocal done
            done += 1
            progress(done, steps)

        result = verification.verify(cfg, mode.value, seed, dtype.value, flops_per_mac,
                                     on_block=on_block)
    emit([verify_table(result)], verify_json(result), format, output)
    raise typer.Exit(0 if result.ok else 1)


class MemoryMode(str, Enum):
    forward = "forward"
    train = "train"
    decode = "decode"


class MemoryDtype(str, Enum):
    fp32 = "fp32"
    bf16 = "bf16"
    fp16 = "fp16"
    int8 = "int8"


@app.command(epilog="Example: flopcalc memory --mode decode --device h100 --batch 8")
def memory(
    preset: Preset = None, config: ConfigPath = None, d_model: DModel = None, heads: Heads = None,
    layers: Layers = None, d_ff: DFF = None, vocab: Vocab = None, n_positions: NPos = None,
    seq_len: SeqLen = None, batch: Batch = None, qkv: QkvOpt = Qkv.fused,
    mode: Annotated[MemoryMode, typer.Option(
        "--mode", help="Per-operation table of: forward (prefill), train (forward + backward) "
        "or decode (one token with a KV cache).")] = MemoryMode.forward,
    dtype: Annotated[MemoryDtype, typer.Option(
        "--dtype", help="Element type of weights, activations and cache: fp32 (4 bytes), bf16, "
        "fp16 (2), int8 (1).")] = MemoryDtype.bf16,
    recompute: Annotated[bool, typer.Option(
        "--recompute", help="Full activation recomputation: keep only each block's input "
        "(and re-run the blocks' forward in the train step).")] = False,
    position: Position = None,
    elementwise: Annotated[bool, typer.Option(
        "--elementwise/--matmul-only", help="Also list the elementwise ops (LayerNorm, "
        "softmax, GELU, adds …), which are memory-bound.")] = False,
    device: Annotated[Optional[str], typer.Option(
        "--device", help="Spec-sheet peak and bandwidth: a100, h100, rtx4090, tpu-v4 "
        "\\[default: a100].", show_default=False)] = None,
    peak_tflops: Annotated[Optional[str], typer.Option(
        "--peak-tflops", metavar="TFLOPS", help="Peak compute for --dtype, TOPS for int8 "
        "(overrides --device).",
        show_default=False)] = None,
    bandwidth_gbs: Annotated[Optional[str], typer.Option(
        "--bandwidth-gbs", metavar="GB/S", help="Memory bandwidth in 10⁹ bytes/s (overrides "
        "--device).", show_default=False)] = None,
    no_bias: NoBias = False, untied_lm_head: Untied = False,
    format: FormatOpt = Format.table, output: Output = None,
    table: Annotated[Optional[str], _table_option(
        "summary, activations (--mode train), roofline or per-op")] = None,
) -> None:
    """Parameter, KV-cache and activation bytes; each operation's arithmetic intensity and a roofline time.

    Roofline: per op max(FLOPs / peak, bytes / bandwidth), summed; assumptions in the table notes and docs/memory.md.
    """
    from . import memory as mem

    cfg = build_config(preset, config, d_model, heads, layers, d_ff, vocab, n_positions, seq_len,
                       batch, qkv, no_bias, untied_lm_head)
    dev = mem.device(device, peak_tflops, bandwidth_gbs, dtype.value)
    report = mem.memory_report(cfg, Conventions(elementwise=elementwise), mode.value, dtype.value,
                               recompute, dev, position)
    emit(mem.memory_tables(report), mem.memory_json(report), format, output, table)


AttentionOpt = Annotated[Attention, typer.Option(
    "--attention", help="dense: full L×L scores as kernels run them; causal: only the "
    "L(L+1)/2 unmasked ones.")]
ElementwiseOpt = Annotated[bool, typer.Option(
    "--elementwise/--matmul-only", help="Also count scale, mask, softmax, LayerNorm, GELU, bias "
    "and residual work.")]


@app.command(epilog="Example: flopcalc compare --preset gpt2-xl --seq-len 1024")
def compare(
    preset: Preset = None, config: ConfigPath = None, d_model: DModel = None, heads: Heads = None,
    layers: Layers = None, d_ff: DFF = None, vocab: Vocab = None, n_positions: NPos = None,
    seq_len: SeqLen = None, batch: Batch = None, qkv: QkvOpt = Qkv.fused,
    attention: AttentionOpt = Attention.dense, elementwise: ElementwiseOpt = False,
    no_bias: NoBias = False, untied_lm_head: Untied = False,
    format: FormatOpt = Format.table, output: Output = None,
) -> None:
    """Published estimates (Kaplan 2N, C_forward, 6N; PaLM; Chinchilla; Megatron) next to the exact count, with relative errors.

    Each estimate is compared with the exact count of the same computation and scope (see the 'compared with' column and docs/estimates.md); --attention and --elementwise choose how the exact side counts.
    """
    from . import estimates as est

    cfg = build_config(preset, config, d_model, heads, layers, d_ff, vocab, n_positions, seq_len,
                       batch, qkv, no_bias, untied_lm_head)
    conv = Conventions(attention=attention.value, elementwise=elementwise)
    rows = est.compare(cfg, conv)
    emit([est.compare_table(cfg, conv, rows)], est.compare_json(cfg, conv, rows), format, output)


def _values(flag: str, what: str):
    return typer.Option(flag, metavar="VALUES", show_default=False, help=f"{what}: one value, a "
                        "list 256,512 or a range 128:8192:x2 / 128:1024:+128.")


SwDModel = Annotated[Optional[str], _values("--d-model", "Model width")]
SwHeads = Annotated[Optional[str], _values("--heads", "Attention heads")]
SwLayers = Annotated[Optional[str], _values("--layers", "Transformer blocks")]
SwDFF = Annotated[Optional[str], _values("--d-ff", "FFN hidden width \\[default: 4*d_model]")]
SwVocab = Annotated[Optional[str], _values("--vocab", "Vocabulary size")]
SwNPos = Annotated[Optional[str], _values("--n-positions", "Position-embedding rows")]
SwSeqLen = Annotated[Optional[str], _values("--seq-len", "Tokens in the sequence")]
SwBatch = Annotated[Optional[str], _values("--batch", "Sequences")]
SwPosition = Annotated[Optional[str], _values("--position", "decode: position t of the new token")]
SwPrompt = Annotated[Optional[str], _values("--prompt", "generate: prompt tokens")]
SwNewTokens = Annotated[Optional[str], _values("--new-tokens", "generate: new tokens")]
SkipInvalid = Annotated[bool, typer.Option(
    "--skip-invalid", help="Leave out grid points that are not a valid model (heads not "
    "dividing d_model, seq_len > n_positions) instead of stopping at the first.")]


def _sweep_setup(preset, config, given: dict, qkv, no_bias, untied_lm_head, mode):
    """(base Config fields, swept axes, config.Mode): one value fixes a field, more sweep it."""
    from . import sweep as sw
    from .config import load_hf_config, preset as preset_fields

    base = {**(preset_fields(preset) if preset else {}),
            **(load_hf_config(config) if config else {})}
    axes, mode_fields = [], {}
    for name, text in given.items():
        if text is None:
            continue
        axis = sw.parse_axis(name, text)
        if len(axis.values) > 1:
            axes.append(axis)
        elif name in sw.MODE_AXES:
            mode_fields[name] = axis.values[0]
        else:
            base[name] = axis.values[0]
    base.update(fused_qkv=qkv == Qkv.fused, bias=not no_bias, tied_lm_head=not untied_lm_head)
    if not axes:
        raise FlopcalcError("give at least one dimension several values, e.g. --seq-len "
                            "128:8192:x2 or --d-model 256,512,768")
    return base, axes, Mode(mode.kind, mode.recompute, **mode_fields)


class _LazyProgress:
    """A rich progress bar on stderr that shows itself only when the work takes a while."""

    def __init__(self, what: str, after: float = 0.5):
        import time
        self.what, self.after, self.clock, self.bar = what, after, time.perf_counter, None
        self.start = self.clock()

    def __call__(self, done: int, total: int) -> None:
        if self.bar is None:
            if done >= total or self.clock() - self.start < self.after:
                return
            from rich.console import Console
            from rich.progress import Progress
            console = Console(stderr=True)
            if not console.is_terminal:  # a log or a pipe: no bar, and no stray newline
                self.after = float("inf")
                return
            self.bar = Progress(console=console, transient=True)
            self.bar.start()
            self.task = self.bar.add_task(self.what, total=total)
        self.bar.update(self.task, completed=done)

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        if self.bar is not None:
            self.bar.stop()


@app.command(epilog="Example: flopcalc sweep --seq-len 128:8192:x2 --n-positions 8192 "
             "--d-model 768,1536")
def sweep(
    preset: Preset = None, config: ConfigPath = None, d_model: SwDModel = None,
    heads: SwHeads = None, layers: SwLayers = None, d_ff: SwDFF = None, vocab: SwVocab = None,
    n_positions: SwNPos = None, seq_len: SwSeqLen = None, batch: SwBatch = None,
    qkv: QkvOpt = Qkv.fused,
    flops_per_mac: Annotated[int, typer.Option(
        "--flops-per-mac", help="FLOPs per multiply-add: 2 or 1 (MACs).")] = 2,
    attention: AttentionOpt = Attention.dense, elementwise: ElementwiseOpt = False,
    embeddings: Annotated[bool, typer.Option("--embeddings/--no-embeddings")] = True,
    lm_head: Annotated[bool, typer.Option("--lm-head/--no-lm-head")] = True,
    blocks_only: Annotated[bool, typer.Option("--blocks-only",
                                              help="Transformer blocks only.")] = False,
    mode: ModeOpt = ModeChoice.forward, recompute: Recompute = False,
    position: SwPosition = None, prompt: SwPrompt = None, new_tokens: SwNewTokens = None,
    skip_invalid: SkipInvalid = False, no_bias: NoBias = False, untied_lm_head: Untied = False,
    format: FormatOpt = Format.table, output: Output = None,
) -> None:
    """FLOPs over a grid of configs: every combination of the swept values, one row each, with each operation's share of the total.

    Sweep any dimension over a list (--d-model 256,512,768) or a range (--seq-len 128:8192:x2 geometric, 128:1024:+128 arithmetic); several at once form a grid. An invalid point stops the sweep with an error naming it, unless --skip-invalid.
    """
    from . import sweep as sw

    conv = Conventions(flops_per_mac=flops_per_mac, attention=attention.value,
                       elementwise=elementwise, embeddings=embeddings and not blocks_only,
                       lm_head=lm_head and not blocks_only)
    base, axes, m = _sweep_setup(
        preset, config, dict(d_model=d_model, n_heads=heads, n_layers=layers, d_ff=d_ff,
                             vocab=vocab, n_positions=n_positions, seq_len=seq_len, batch=batch,
                             position=position, prompt=prompt, new_tokens=new_tokens),
        qkv, no_bias, untied_lm_head, Mode(mode.value, recompute))
    points = sw.check_axes(axes)
    # one bar for the sweep (its first half) and the rendering of its rows (the second); it
    # is gone before anything is written
    with _LazyProgress("sweep") as progress:
        result = sw.run(base, axes, conv, m, skip_invalid,
                        progress=lambda done, total: progress(done, 2 * total))
        if format == Format.json:
            parts = [sw.sweep_json(result)]
        else:
            table = sw.sweep_table(result, approximate=format != Format.csv)
            parts = render_output([table], None, format, output, lambda done, total: progress(
                points + points * done // total, 2 * points))
    write_output(parts, output)


class PlotKind(str, Enum):
    shares = "shares"
    estimates = "estimates"


@app.command(epilog="Example: flopcalc plot --seq-len 128:65536:x2 --n-positions 65536 "
             "--output shares.png")
def plot(
    output: Annotated[Path, typer.Option(
        "--output", "-o", help="The image to write (atomically): .png or .svg.",
        dir_okay=False)],
    kind: Annotated[PlotKind, typer.Option(
        "--kind", help="shares: each operation's share of the FLOPs, stacked, with the "
        "attention/FFN crossover; estimates: each published estimate's error.")] = PlotKind.shares,
    preset: Preset = None, config: ConfigPath = None, d_model: SwDModel = None,
    heads: SwHeads = None, layers: SwLayers = None, d_ff: SwDFF = None, vocab: SwVocab = None,
    n_positions: SwNPos = None, seq_len: SwSeqLen = None, batch: SwBatch = None,
    qkv: QkvOpt = Qkv.fused,
    attention: AttentionOpt = Attention.dense, elementwise: ElementwiseOpt = False,
    embeddings: Annotated[bool, typer.Option("--embeddings/--no-embeddings")] = True,
    lm_head: Annotated[bool, typer.Option("--lm-head/--no-lm-head")] = True,
    blocks_only: Annotated[bool, typer.Option("--blocks-only",
                                              help="Transformer blocks only.")] = False,
    mode: ModeOpt = ModeChoice.forward, recompute: Recompute = False,
    position: SwPosition = None, prompt: SwPrompt = None, new_tokens: SwNewTokens = None,
    skip_invalid: SkipInvalid = False, no_bias: NoBias = False, untied_lm_head: Untied = False,
) -> None:
    """Plot a sweep of one dimension to PNG or SVG (needs matplotlib: pip install 'flopcalc\\[plot]').

    --kind shares (default) stacks each operation's share of the FLOPs and marks where attention (scores + attn_values) overtakes the FFN (ffn_up + ffn_down), solved exactly. --kind estimates plots each published estimate's relative error (flopcalc compare); it uses --attention and --elementwise only.
    """
    from . import plot as pl

    pl.check_output(output)
    conv = Conventions(attention=attention.value, elementwise=elementwise,
                       embeddings=embeddings and not blocks_only,
                       lm_head=lm_head and not blocks_only)
    base, axes, m = _sweep_setup(
        preset, config, dict(d_model=d_model, n_heads=heads, n_layers=layers, d_ff=d_ff,
                             vocab=vocab, n_positions=n_positions, seq_len=seq_len, batch=batch,
                             position=position, prompt=prompt, new_tokens=new_tokens),
        qkv, no_bias, untied_lm_head, Mode(mode.value, recompute))
    if kind == PlotKind.estimates:
        pl.plot_estimates(base, axes, conv, output, skip_invalid)
        print(f"wrote {output}", file=sys.stderr)
        return
    _, cross = pl.plot_shares(base, axes, conv, m, output, skip_invalid)
    print(f"wrote {output}" + (f"; {cross.describe()}" if cross else ""), file=sys.stderr)


@app.command(epilog="Example: flopcalc audit my-analysis.md --claims my-claims.toml")
def audit(
    document: Annotated[Optional[Path], typer.Argument(
        help="A Markdown/LaTeX FLOP write-up: every 'expression = number' in it is checked.",
        show_default=False, dir_okay=False)] = None,
    claims: Annotated[Optional[str], typer.Option(
        "--claims", help="A shipped claims file (gpt2-document) or a path to your own TOML "
        "(docs/audit.md). Default: the shipped file made for DOCUMENT, if there is one.",
        show_default=False)] = None,
    format: FormatOpt = Format.table, output: Output = None,
    table: Annotated[Optional[str], _table_option(
        "claims, arithmetic (with a DOCUMENT), flops or shapes (with claims)")] = None,
) -> None:
    """Check a FLOP write-up: its arithmetic, and its claims against flopcalc's own counts.

    Without --claims, the shipped claims file made for DOCUMENT is used if there is one; otherwise only its arithmetic is checked, and a note on stderr says so. In a terminal each claim's reason is one sentence; --format markdown or json gives every reason.

    Exit 0 when everything holds, 1 when anything is wrong, 2 on bad input.
    """
    from .audit.report import audit_json, audit_tables, audit_text, run_audit

    if document is None:
        if claims is None:
            fail("nothing to audit: give a DOCUMENT, --claims NAME|PATH, or both")
        result = run_audit(None, claims)
    else:
        try:
            text = document.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as e:
            fail(f"cannot read {document}: {getattr(e, 'strerror', None) or e}")
        result = audit_text(text, claims, str(document))
    for note in result.notes:
        print(f"flopcalc: note: {note}", file=sys.stderr)
    emit(audit_tables(result, brief=format == Format.table), audit_json(result), format, output,
         table)
    raise typer.Exit(0 if result.ok else 1)


def _version(value: bool) -> None:
    if value:
        print(f"flopcalc {__version__}")
        raise typer.Exit()


@app.callback()
def main(version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                               help="Print the version and exit.")] = False) -> None:
    """Exact FLOP, parameter and shape tables for GPT-2-style decoder-only transformers.

    Run `flopcalc flops` for the seed document's setting (GPT-2 small, 128 tokens).
    """


def run() -> None:
    """Console-script entry point."""
    sys.set_int_max_str_digits(0)  # exact counts of any size print in full
    app()
