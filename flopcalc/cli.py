"""The ``flopcalc`` command line: a thin typer layer over the library.

Bad input ends in one line on stderr and exit code 2; ``--output`` files are written
atomically. sympy and numpy are imported only by the commands that need them.
"""

# The commands' annotations stay text until typer builds the command (_CommandsOnDemand): a
# call evaluates only those of the command it runs.
from __future__ import annotations

import functools
import inspect
import io
import os
import sys
from pathlib import Path
from collections.abc import MutableMapping
from typing import Annotated, Callable, Optional

import click
import typer
from typer.core import TyperGroup

from . import __version__, files
from .architecture import FAMILIES, MLPS, NORMS, POSITIONS, Architecture, Workload
from .config import (ATTENTION, MLA_DECODE, MODES, Config, Conventions, FlopcalcError, Mode,
                     gpt2_config, parse_whole_number)
from .model import ACTIVATIONS
from .records import record

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


# click wraps at hyphens too, which splits "--seq-len" and "matmul-only" across lines: the
# help's hyphens stand as U+2011 (which it does not break at) until the text is laid out
_NO_BREAK_HYPHEN = "\u2011"


def _unbroken(text: str) -> str:
    return text.replace("-", _NO_BREAK_HYPHEN)


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
            return super().write_text(_unbroken(text))
        # a command line: broken between words with shell continuations, so it still pastes
        room, line = max(self.width - self.current_indent - 2, 20), ""
        for word in text.split():
            if line and len(line) + 1 + len(word) > room:
                self.write(f"{'':>{self.current_indent}}{line} \\\n")
                line = "   "
            line = f"{line} {word}" if line.strip() else line + word
        self.write(f"{'':>{self.current_indent}}{line}\n")

    def write_dl(self, rows, col_max: int = 30, col_spacing: int = 2) -> None:
        super().write_dl([(a, _unbroken(b.replace("\\[", "["))) for a, b in rows],
                         min(col_max, max(14, self.width // 3)), col_spacing)

    def getvalue(self) -> str:
        # click writes help as UTF-8 to a terminal that declares ASCII: spell it out instead
        text = super().getvalue().replace(_NO_BREAK_HYPHEN, "-")
        return text if files.encodable(sys.stdout, text) else files.spelled_in_ascii(text)


class _HelpContext(typer.Context):
    formatter_class = _HelpFormatter


class _CommandsOnDemand(MutableMapping):
    """The group's commands by name, each built the first time it is looked up: typer turning
    a function's signature into click options takes ~1 ms an option, and a call needs only the
    command it runs (``--help`` lists them all, and builds them all)."""

    def __init__(self, typer_app: "_LazyTyper") -> None:
        self.app, self.built = typer_app, {}

    def __getitem__(self, name: str):
        if name not in self.built:
            info = self.app.commands_on_demand[name]  # KeyError: no such command
            self.built[name] = _built(
                info, pretty_exceptions_short=self.app.pretty_exceptions_short,
                rich_markup_mode=self.app.rich_markup_mode)
        return self.built[name]

    def __setitem__(self, name: str, command) -> None:
        self.built[name] = command

    def __delitem__(self, name: str) -> None:
        raise TypeError("flopcalc's commands are fixed")

    def __iter__(self):
        return iter(dict.fromkeys([*self.app.commands_on_demand, *self.built]))

    def __len__(self) -> int:
        return len(set(self.app.commands_on_demand) | set(self.built))


def _finished(info):
    """``info`` with its function given its shared options (``model_options``,
    ``shared_options``), which are added when the command is built."""
    finish = getattr(info.callback, "with_shared_options", None)
    if finish is not None:
        info.callback = finish()
    return info


def _built(info, **settings):
    """typer's command of ``info``, with the shared options its function was given."""
    info = _finished(info)
    command = typer.main.get_command_from_info(info, **settings)
    for at, options in reversed(getattr(info.callback, "shared_options", ())):
        command.params[at:at] = options
    return command


class _LazyTyper(typer.Typer):
    """A typer app whose click group builds each command only when it is looked up
    (``_CommandsOnDemand``); ``@app.command`` keeps the command's description by its name.
    ``cls``, the group's class, is given the app as ``typer_app``."""

    def __init__(self, *, cls, **kwargs) -> None:
        super().__init__(cls=type(cls.__name__, (cls,), {"typer_app": self}), **kwargs)
        self.commands_on_demand = {}

    def command(self, *args, **kwargs):
        register = super().command(*args, **kwargs)

        def decorator(func):
            register(func)
            info = self.registered_commands.pop()
            name = info.name or typer.main.get_command_name(func.__name__)
            self.commands_on_demand[name] = info
            return func

        return decorator


class _OneLineErrors(TyperGroup):
    """Turns usage errors and FlopcalcError into one line on stderr with exit code 2; every
    command's help is plain click formatting (``_HelpFormatter``); its commands are built on
    demand (``_CommandsOnDemand``)."""

    context_class = _HelpContext
    typer_app = None  # the _LazyTyper whose group this is

    def __init__(self, **attrs) -> None:
        super().__init__(**attrs)
        self.commands = _CommandsOnDemand(self.typer_app)

    def list_commands(self, ctx) -> list[str]:
        return list(self.commands)  # their names, in the order they are declared

    def get_command(self, ctx, name):
        command = super().get_command(ctx, name)
        if command is not None:
            command.context_class = _HelpContext
        return command

    def resolve_command(self, ctx, args):
        try:
            return super().resolve_command(ctx, args)
        except click.UsageError as e:
            # click 8.2+ suggests close command names itself (``possibilities``), after
            # typer has already added its own "Did you mean …?": keep click's only
            if getattr(e, "possibilities", None):
                e.message = e.message.split(". Did you mean ")[0].rstrip(".") + "."
            raise

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
            try:
                result = super().main(args, prog_name or "flopcalc", complete_var,
                                      standalone_mode=False, **extra)
            except ClickException as e:
                if type(e).__name__ != "NoArgsIsHelpError" or e.ctx is None:
                    raise
                # bare `flopcalc` (click 8.2+ raises this): the help, as --help shows it
                click.echo(e.ctx.get_help())
                result = 0
        except ClickException as e:
            message = e.format_message().replace("\n", " ")
            if not message:  # bare `flopcalc`: the help was shown, nothing went wrong
                raise SystemExit(e.exit_code)
            fail(message, e.exit_code if e.exit_code != 1 else 2)
        except FlopcalcError as e:
            fail(str(e))
        except BrokenPipeError:
            raise  # the reader left (`| head`): Python's usual quiet exit
        except OSError as e:
            if e.filename is not None:  # a file's error: flopcalc's readers and writers say it
                raise
            # click writes --help itself: a full disk (`> /dev/full`) or a closed stdout
            _stdout_to_devnull()
            fail(f"cannot write standard output: {e.strerror or e}")
        except (typer.Abort, KeyboardInterrupt):  # run() turns SIGINT into files.Interrupted
            print("flopcalc: interrupted", file=sys.stderr)
            raise SystemExit(130)
        raise SystemExit(result if isinstance(result, int) else 0)


app = _LazyTyper(cls=_OneLineErrors, no_args_is_help=True,
                  rich_markup_mode=None,
                  help="Exact FLOP, parameter and shape tables for decoder-only transformers.",
                  context_settings={"help_option_names": ["-h", "--help"]})


def choice_option(*names: str, values, **kwargs):
    """A typer.Option that takes one of ``values`` (strings): its value is the string given.
    (A click.Choice, not an Enum: the options' sixteen Enums took ~3 ms of every start-up.)"""
    return typer.Option(*names, click_type=click.Choice(list(values)), **kwargs)


FORMATS = ("table", "markdown", "json", "csv")
QKV = ("fused", "separate")


class _WholeNumber(click.ParamType):
    """Every integer option: ``config.WHOLE_NUMBER`` (the sweep's values use the same)."""

    name = "integer"

    def convert(self, value, param, ctx):
        if isinstance(value, int):
            return value
        try:
            return parse_whole_number(value)
        except FlopcalcError as e:
            self.fail(str(e), param, ctx)


class _FilePath(click.Path):
    """A file's path; an empty one is refused (``Path('')`` would quietly be the folder ``.``)."""

    def __init__(self):
        super().__init__(dir_okay=False, path_type=Path)

    def convert(self, value, param, ctx):
        if value == "":
            self.fail("an empty path names no file", param, ctx)
        return super().convert(value, param, ctx)


class _NameOrPath(click.ParamType):
    """A shipped file's name or a path; an empty one is refused, like an empty path."""

    name = "text"

    def convert(self, value, param, ctx):
        if value == "":
            self.fail("an empty name names no file", param, ctx)
        return value


WHOLE = _WholeNumber()


class _Ratio(click.ParamType):
    """A positive exact number: a whole number, a decimal (1.25) or a fraction (5/4)."""

    name = "number"

    def convert(self, value, param, ctx):
        from .memory import positive_number  # one reader of exact figures, with its bounds

        try:
            return positive_number(value, "the value")
        except FlopcalcError as e:
            self.fail(f"{e} (e.g. 1.25 or 5/4)", param, ctx)


def number_option(*decls, **kwargs):
    """A typer.Option read by the one whole-number parser (``decls``: its names, after its
    default if it is declared as a parameter's default)."""
    return typer.Option(*decls, click_type=WHOLE, show_default=False, **kwargs)


class _SharedOption:
    """An option declared once for every command that takes it: a command's parameter
    whose default it is, or one of ``SHARED_OPTIONS``. Made when the command is built, as
    the click option typer makes of ``typer.Option(*decls, **settings)`` on that parameter
    (``default`` in ``settings``: None unless given), but directly: typer reading each from
    a signature costs more than the rest of a command's build."""

    __slots__ = ("decls", "settings")

    def __init__(self, *decls: str, **settings) -> None:
        self.decls, self.settings = decls, settings

    def click_option(self, name: str) -> click.Option:
        from typer.core import TyperOption

        # typer.Option's defaults, as typer hands them to click
        return TyperOption(param_decls=[name, *self.decls], **{
            "type": click.STRING, "default": None, "required": False, "show_default": True,
            "show_envvar": True, **self.settings})


def _choice(values) -> click.Choice:
    return click.Choice(list(values))


def _flag(decl: str, help: str, **settings) -> _SharedOption:
    """A bool option: typer's flag (``--on/--off`` names both ways)."""
    return _SharedOption(decl, type=None, is_flag=True, **{"default": False, "help": help,
                                                           **settings})


# The model's starting point and its switches beyond GPT-2's (unset: the preset's,
# config.json's or family's), by parameter name; the sizes are ``Dimension``s below.
SHARED_OPTIONS = dict(
    preset=_SharedOption("--preset", show_default=False, help="Start from a released model "
                  "by its short or Hugging Face name ('flopcalc presets' lists them), e.g. "
                  "gpt2-xl or llama-3.1-8b."),
    config=_SharedOption("--config", type=_FilePath(), show_default=False, help="Start from "
                  "a Hugging Face config.json of a gpt2, llama, mistral, qwen2, qwen3, gemma2, "
                  "phi3, gpt_neox, mixtral, qwen2_moe or deepseek_v3 model "
                  "(docs/architectures.md)."),
    family=_SharedOption("--family", metavar="NAME", show_default=False, help=f"Start from "
                  f"a family's Hugging Face defaults (a config.json with only its model_type): "
                  f"{', '.join(FAMILIES)} \\[default: gpt2]."),
    mlp=_SharedOption("--mlp", type=_choice(MLPS), show_default=False, help="plain (up, "
                  "activation, down) or gated (gate, up, act(gate)·up, down: SwiGLU, GeGLU)."),
    activation=_SharedOption("--activation", type=_choice(ACTIVATIONS), show_default=False,
                  help="The MLP's activation: gelu_tanh (GPT-2's), gelu (erf), relu, silu."),
    norm=_SharedOption("--norm", type=_choice(NORMS), show_default=False,
                  help="layernorm or rmsnorm."),
    positions=_SharedOption("--positions", type=_choice(POSITIONS), show_default=False,
                  help="learned (a table of n_positions rows) or rotary (no parameters)."),
    qkv=_SharedOption("--qkv", type=_choice(QKV), show_default=False, help="Q/K/V as one "
                  "fused projection (GPT-2's c_attn) or three separate W_q, W_k, W_v "
                  "\\[default: the model's]."),
    no_bias=_flag("--no-bias", "nanoGPT's bias-free GPT-2: no bias in the Linears and "
          "LayerNorms."),
    untied_lm_head=_flag("--untied-lm-head", "An LM head with its own (d_model, vocab) "
          "weight instead of GPT-2's tied wte."),
)
SWITCHES = ("mlp", "activation", "norm", "positions")
SHARED = object()  # a parameter's default: the option of its name in SHARED_OPTIONS
FormatOpt = _SharedOption("--format", "-f", type=_choice(FORMATS), default="table",
                          help="Output format.")


def _dash_is_stdout(path: Path | None) -> Path | None:
    return None if path is not None and str(path) == files.STDIN else path


Output = _SharedOption(
    "--output", "-o", help="Write to FILE (atomically) instead of the terminal; - is the "
    "terminal.", show_default=False, type=_FilePath(),
    callback=lambda ctx, param, path: _dash_is_stdout(path))


def _table_option(names: str):
    return typer.Option("--table", metavar="NAME", show_default=False, help=f"Print only the "
                        f"table NAME: {names}. A CSV holds one table: the first, or NAME.")




@record
class Dimension:
    """A whole-number option: one value in most commands, a list or range in sweep and plot.

    ``examples``: a list and a range that are valid with every other option at its default
    (the help shows them, and a test runs each).
    """

    field: str
    names: tuple[str, ...]
    help: str
    default: str
    examples: tuple[str, str]

    def click_option(self, values: bool = False) -> click.Option:
        """The option, made for a command being built (``_SharedOption``)."""
        return self.shared(values).click_option(self.field)

    def shared(self, values: bool = False) -> _SharedOption:
        """The option, declared once for every command: one whole number, or (``values``)
        the text of one value, a list or a range."""
        if values:
            return _SharedOption(*self.names, metavar="VALUES", show_default=False,
                                 help=self._values_help())
        return _SharedOption(*self.names, type=WHOLE, show_default=False, help=self._one_help())

    def _one_help(self) -> str:
        return f"{self.help} \\[default: {self.default}]."

    def _values_help(self) -> str:
        return (f"{self.help}: one value, a list ({self.examples[0]}) or a range "
                f"({self.examples[1]}) \\[default: {self.default}].")


# The model's sizes, then the workload it runs: declared here once for every command.
MODEL_SIZES = (
    Dimension("d_model", ("--d-model",), "Model width", "768", ("384,768,1536", "384:3072:x2")),
    Dimension("n_heads", ("--n-heads", "--heads"),
              "Attention heads; must divide d_model unless --d-head is given (in a "
              "family other than gpt2)", "12",
              ("4,8,12", "1:16:x2")),
    Dimension("n_layers", ("--n-layers", "--layers"), "Transformer blocks", "12",
              ("6,12,24", "12:48:+12")),
    Dimension("d_ff", ("--d-ff",), "FFN hidden width", "4*d_model", ("1536,3072", "1024:4096:x2")),
    Dimension("vocab", ("--vocab",), "Vocabulary size", "50257", ("32000,50257", "32000:64000:+16000")),
    Dimension("n_positions", ("--n-positions",), "Position-embedding rows, the longest sequence",
              "1024", ("1024,2048", "1024:8192:x2")),
)
WORKLOAD = (
    Dimension("seq_len", ("--seq-len",), "Tokens in the sequence", "128",
              ("128,256,512", "128:1024:x2")),
    Dimension("batch", ("--batch",), "Sequences", "1", ("1,8,32", "1:64:x2")),
)
# The sizes beyond GPT-2's (architecture.Architecture's fields); one value in every command.
ARCHITECTURE_SIZES = (
    Dimension("n_kv_heads", ("--n-kv-heads",), "Key/value heads: grouped-query attention, 1 "
              "is multi-query; must divide n_heads", "n_heads", ("1,2,4", "1:8:x2")),
    Dimension("d_head", ("--d-head",), "Width of a head, apart from d_model/n_heads",
              "d_model/n_heads", ("64,128", "32:256:x2")),
    Dimension("sliding_window", ("--window",), "Sliding-window attention of W keys, on every "
              "layer unless the model names its windowed layers", "none", ("512,4096", "512:4096:x2")),
    Dimension("rotary_dims", ("--rotary-dims",), "Dims of each head that rotary positions "
              "rotate; wins over the model's share of the head (rotary_pct, "
              "partial_rotary_factor), which otherwise follows d_head",
              "d_head × the model's share", ("16,32", "16:64:x2")),
)
# The sizes of experts and of latent attention (Architecture's fields), for the families that
# have them (--family mixtral, qwen2_moe, deepseek_v3 or their presets); one value each.
EXPERT_SIZES = (
    Dimension("n_experts", ("--n-experts",), "Routed experts of each MoE layer", "the model's",
              ("4,8,16", "4:64:x2")),
    Dimension("top_k", ("--top-k",), "Experts each token is routed to (at most n_experts)",
              "the model's", ("1,2", "1:8:x2")),
    Dimension("d_expert", ("--d-expert",), "Hidden width of one routed expert's gated MLP",
              "the model's", ("1408,2048", "512:4096:x2")),
    Dimension("d_shared", ("--d-shared",), "Hidden width of the shared expert run on every "
              "token (0: none)", "the model's", ("2048,5632", "1024:8192:x2")),
    Dimension("n_groups", ("--n-groups",), "Router groups of experts (DeepSeek's n_group); "
              "must divide n_experts", "the model's", ("4,8", "4:16:x2")),
    Dimension("topk_groups", ("--topk-groups",), "Groups a token's experts are chosen from "
              "(topk_group)", "the model's", ("2,4", "1:8:x2")),
    Dimension("q_lora_rank", ("--q-lora-rank",), "Latent attention: rank of the query "
              "bottleneck", "the model's", ("768,1536", "512:2048:x2")),
    Dimension("kv_lora_rank", ("--kv-lora-rank",), "Latent attention: rank of the cached "
              "key/value latent", "the model's", ("256,512", "128:1024:x2")),
    Dimension("qk_nope_head_dim", ("--qk-nope-head-dim",), "Latent attention: each head's "
              "query/key width without rotary positions", "the model's", ("64,128", "32:256:x2")),
    Dimension("qk_rope_head_dim", ("--qk-rope-head-dim",), "Latent attention: the rotary "
              "query/key width (one key for all heads)", "the model's", ("32,64", "16:128:x2")),
    Dimension("v_head_dim", ("--v-head-dim",), "Latent attention: each head's value width",
              "the model's", ("64,128", "32:256:x2")),
)
# The mode's positions (config.Mode's fields); each applies to its own --mode only.
MODE_POSITIONS = (
    Dimension("position", ("--position",), "decode: 1-based position t of the new token (KV "
              "cache of t-1)", "seq_len", ("128,512,1024", "128:1024:+128")),
    Dimension("prompt", ("--prompt",), "generate: prompt tokens p", "seq_len",
              ("128,512", "128:1024:x2")),
    Dimension("new_tokens", ("--new-tokens",), "generate: new tokens n", "1",
              ("1,64,256", "1:512:x2")),
)
Position, Prompt, NewTokens = (d.shared() for d in MODE_POSITIONS)
SwPosition, SwPrompt, SwNewTokens = (d.shared(True) for d in MODE_POSITIONS)


@record
class Model:
    """What the shared model options describe: the architecture and the workload apart."""

    architecture: Architecture
    workload: Workload
    given: bool = True  # whether any model option was given (else: the defaults, GPT-2 small)


@record
class ModelValues:
    """sweep and plot's model: the Architecture fields of --preset/--config/--family and the
    switches (sizes that follow others left None), and each dimension's text as given (None:
    not given), to be parsed as one value, a list or a range."""

    base: dict
    given: dict
    layers_at: Callable | None = None  # n_layers -> the start's window/MoE layers there


def model_options(*, workload: bool = True, untied_lm_head: bool = True, values: bool = False,
                  every_architecture: bool = False):
    """Give a command the shared model options and hand it the model they describe.

    The decorated function takes a parameter ``cfg``; in the command's signature (which
    typer reads) it becomes --preset, --config, --family, the sizes, --seq-len and --batch
    (with ``workload``), the switches, --qkv, --no-bias and --untied-lm-head (with
    ``untied_lm_head``). With ``every_architecture`` the function is called with the Model
    they describe; otherwise (a command that counts GPT-2 only so far) with its GPT-2 Config,
    any other architecture refused in one line. With ``values`` (sweep and plot, which count
    every architecture) the sizes take lists and ranges and ``cfg`` is a ModelValues.
    """
    def decorate(func):
        # the options are added when the command is built (_CommandsOnDemand): a call builds
        # the one command it runs
        func.with_shared_options = lambda: _with_model_options(func, workload, untied_lm_head,
                                                               values, every_architecture)
        return func

    return decorate


def shared_options(func):
    """Give a command the options of ``SHARED_OPTIONS`` that it names by a parameter with the
    default ``SHARED`` (a command that takes them one by one, not as a model)."""
    def finish():
        @functools.wraps(func)
        def command(**kwargs):
            return func(**kwargs)

        return _with_shared(command, func, {})

    func.with_shared_options = finish
    return func


def _with_shared(command, func, expand: dict):
    """``command`` (which calls ``func``) as typer reads it: ``func``'s signature without the
    shared options (``SHARED`` parameters, and ``expand``'s names, each a list of click
    options put in its place), and ``shared_options``: (index, click options) to insert
    into the command typer builds. The annotations are read once, here (a name is looked up,
    not compiled)."""
    namespace = func.__globals__
    own, inserts = [], []
    for p in inspect.signature(func).parameters.values():
        if p.name in expand:
            inserts.append((len(own), expand[p.name]))
        elif p.default is SHARED:
            inserts.append((len(own), [SHARED_OPTIONS[p.name].click_option(p.name)]))
        elif isinstance(p.default, _SharedOption):
            inserts.append((len(own), [p.default.click_option(p.name)]))
        else:
            text = p.annotation
            if isinstance(text, str):
                text = namespace[text] if text.isidentifier() else eval(text, namespace)
            own.append(p.replace(kind=inspect.Parameter.KEYWORD_ONLY, annotation=text))
    command.__signature__ = inspect.Signature(own)
    # typer reads each parameter and its annotation from the signature; given annotations
    # too, it would evaluate and strip every one of them again (twice a build)
    command.__annotations__ = {}
    command.shared_options = inserts
    del command.with_shared_options  # copied from func by functools.wraps
    return command


def _with_model_options(func, workload: bool, untied_lm_head: bool, values: bool,
                        every_architecture: bool):
    """``model_options``'s command: ``func`` given the shared options in place of ``cfg``."""
    dims = MODEL_SIZES + (WORKLOAD if workload else ())
    names = ["preset", "config", "family"]
    shared = [SHARED_OPTIONS[name].click_option(name) for name in names]
    shared += [d.click_option(values) for d in dims + ARCHITECTURE_SIZES + EXPERT_SIZES]
    names += [d.field for d in dims + ARCHITECTURE_SIZES + EXPERT_SIZES]
    names += [*SWITCHES, "qkv", "no_bias"] + (["untied_lm_head"] if untied_lm_head else [])
    shared += [SHARED_OPTIONS[name].click_option(name) for name in names[len(shared):]]

    @functools.wraps(func)
    def command(**kwargs):
        given = {name: kwargs.pop(name) for name in names}
        qkv = given.pop("qkv")
        # unset: the preset's, config.json's or family's (e.g. tie_word_embeddings)
        switches = dict(fused_qkv=None if qkv is None else qkv == "fused",
                        bias=False if given.pop("no_bias") else None,
                        tied_lm_head=False if given.pop("untied_lm_head", False) else None)
        for name in SWITCHES:
            switches[name] = given.pop(name)
        extra = {d.field: given.pop(d.field) for d in ARCHITECTURE_SIZES}
        experts = {d.field: given.pop(d.field) for d in EXPERT_SIZES}
        preset_name, config_path, family = (given.pop("preset"), given.pop("config"),
                                            given.pop("family"))
        any_given = any(v not in (None, False) for v in (
            preset_name, config_path, family, *given.values(), *extra.values(),
            *switches.values()))
        if values:  # sweep and plot: every architecture
            from .architectures.presets import model_fields

            base = model_fields(preset_name, config_path, family, **switches)

            def layers_at(n: int) -> dict:  # as make_architecture places them at n layers
                fields = model_fields(preset_name, config_path, family, n_layers=n, **switches)
                return {k: fields[k] for k in ("window_layers", "moe_layers") if k in fields}
            kwargs["cfg"] = ModelValues(base, {**given, **extra, **experts}, layers_at)
            return func(**kwargs)
        sizes = {k: v for k, v in given.items() if k not in ("seq_len", "batch")}
        arch = make_architecture(preset_name, config_path, family, **sizes, **extra,
                                 **experts, **switches)
        load = Workload(1, 1)  # params: no input enters the count
        if workload:
            load = Workload(1 if given["batch"] is None else given["batch"],
                            128 if given["seq_len"] is None else given["seq_len"])
        kwargs["cfg"] = (Model(arch, load, any_given) if every_architecture else
                         gpt2_config(arch, load, func.__name__))
        return func(**kwargs)

    return _with_shared(command, func, {"cfg": shared})


def make_architecture(*args, **kwargs):
    """``architectures.presets.make_architecture``, imported when a command runs."""
    from .architectures.presets import make_architecture as make

    return make(*args, **kwargs)


ModeOpt = _SharedOption(
    "--mode", type=_choice(MODES), default="forward", help="forward (prefill), backward, train (forward + backward), "
    "decode (one token with a KV cache) or generate (prompt + new tokens).")
Recompute = _flag("--recompute", "train: full activation recomputation (adds a forward "
                  "pass).")
AttentionOpt = _SharedOption(
    "--attention", type=_choice(ATTENTION), default="dense", help="dense: full L×L scores as kernels run them; causal: "
    "only the L(L+1)/2 unmasked ones.")
ElementwiseOpt = _flag(
    "--elementwise/--matmul-only", "Also count scale, mask, softmax, LayerNorm, GELU, bias "
    "and residual work.")
FlopsPerMac = _SharedOption("--flops-per-mac", type=WHOLE, default=2, show_default=False,
                            help="FLOPs per multiply-add: 2 (the document's) or 1 (MACs) "
                                 "\\[default: 2].")
Embeddings = _flag(
    "--embeddings/--no-embeddings", "Include the embedding rows \\[default: included].",
    default=None, show_default=False)
LmHead = _flag(
    "--lm-head/--no-lm-head", "Include the final LayerNorm and LM head \\[default: "
    "included].", default=None, show_default=False)
BlocksOnly = _flag(
    "--blocks-only", "The seed document's scope: transformer blocks only (same as "
    "--no-embeddings --no-lm-head).")


CapacityFactor = _SharedOption(
    "--capacity-factor", metavar="C", type=_Ratio(), show_default=False,
    help="Experts that pad or drop tokens: each runs ceil(C·tokens·top_k/n_experts) rows "
    "(e.g. 1.25) \\[default: none: every routed row once, exact].")
MlaDecodeOpt = _SharedOption(
    "--mla-decode", type=_choice(MLA_DECODE), default="naive", help="Latent attention's decode steps: naive (the "
    "cached latent through kv_b_proj every step, as a cache of the latent without absorption "
    "runs it) or absorbed (kv_b_proj folded into the query and the output, as inference "
    "kernels run it). Hugging Face caches each head's K and V instead "
    "(docs/counting-rules.md).")


def conventions(flops_per_mac: int = 2, attention: str = "dense",
                elementwise: bool = False, embeddings: bool | None = None,
                lm_head: bool | None = None, blocks_only: bool = False,
                capacity_factor=None, mla_decode: str = "naive") -> Conventions:
    """The counting conventions of the options; --blocks-only with --embeddings or --lm-head
    (each left unset means included) is a contradiction, refused."""
    if blocks_only and (embeddings or lm_head):
        raise FlopcalcError("--blocks-only leaves out the embeddings and the LM head: drop "
                            "--embeddings/--lm-head, or --blocks-only")
    return Conventions(flops_per_mac=flops_per_mac, attention=attention,
                       elementwise=elementwise,
                       embeddings=embeddings is not False and not blocks_only,
                       lm_head=lm_head is not False and not blocks_only,
                       capacity_factor=capacity_factor, mla_decode=mla_decode)


def write_atomically(path: Path, text) -> None:
    """``text`` (a str, or an iterable of str chunks written as they are made) to ``path`` as
    UTF-8, whole or not at all (``files.write_text``)."""
    files.write_text(path, text)


def emit(tables, document: dict | None, fmt: str, output: Path | None,
         table: str | None = None) -> None:
    """Render tables (or the JSON document) in ``fmt`` to the terminal or to ``output``;
    ``table`` names the one table to print (``--table``)."""
    write_output(render_output(tables, document, fmt, output, table=table), output)


def render_output(tables, document: dict | None, fmt: str, output: Path | None,
                  progress=None, table: str | None = None) -> list:
    """``emit``'s first half: the text to write, in parts; for the terminal a small table stays
    a ``tables.Table`` that rich draws as it writes. A table of more than
    ``render.PLAIN_ABOVE`` rows gets the plain layout (rich takes ~1 ms a row: 100,000 rows
    would take over a minute), ``progress(done, total)`` following it. CSV holds one table:
    ``table`` (a name) or the first, with a note naming the others."""
    from . import render

    if fmt == "json":
        if table is not None:
            fail("--table picks a table of --format table, markdown or csv; the JSON has them all")
        return [render.to_json(document)]
    tables, note = render.pick_table(tables, table, fmt == "csv")
    if fmt == "markdown":
        return [render.to_markdown(tables)]
    if fmt == "csv":
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

    width = Console(file=None if output is None else io.StringIO()).width
    return width if width > 0 else 80  # COLUMNS=0 says nothing (rich would draw at width 0)


def write_output(parts: list, output: Path | None) -> None:
    """``emit``'s second half: ``render_output``'s parts (a list, or an iterator of text chunks
    written as they come) to ``output`` or the terminal."""
    if output is not None:
        write_atomically(output, parts)
        return
    if sys.stdout is None or isinstance(sys.stdout, files.ClosedStdout):  # `>&-`
        raise FlopcalcError("cannot write standard output: it is closed")
    console = None
    try:
        for part in parts:
            if isinstance(part, str):
                sys.stdout.write(part)  # what the terminal cannot encode: files.spell_in_ascii
                continue
            from rich.console import Console

            from . import render
            console = console or Console(width=table_width(None))
            console.print(render.to_rich(_encodable(part), console.width))
        sys.stdout.flush()
    except BrokenPipeError:
        raise  # the reader left (`| head`): Python's usual quiet exit
    except OSError as e:  # a full disk (`> /dev/full`), a closed or failing stdout
        _stdout_to_devnull()
        raise FlopcalcError(f"cannot write standard output: {e.strerror or e}") from None


def _stdout_to_devnull() -> None:
    """Point stdout's file descriptor at /dev/null, so that what is still buffered does not fail
    a second time (a second message) when Python flushes it on exit."""
    try:
        fd = sys.stdout.fileno()
    except (AttributeError, OSError, ValueError):  # not a file (a test's capture)
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, fd)
    os.close(devnull)


def _encodable(table):
    """``table`` in ASCII spellings if stdout's encoding cannot write it, so that rich
    measures the columns with the characters that will be printed."""
    def text(value):
        return files.spelled_in_ascii(value) if isinstance(value, str) else value

    strings = [table.title, *table.notes, *table.columns,
               *(v for row in table.rows + table.totals for v in row if isinstance(v, str))]
    if files.encodable(sys.stdout, "".join(strings)):
        return table
    return table.replace(title=text(table.title), notes=[text(n) for n in table.notes],
                   columns=[text(c) for c in table.columns],
                   rows=[[text(v) for v in row] for row in table.rows],
                   totals=[[text(v) for v in row] for row in table.totals])


@app.command(epilog="Example: flopcalc flops --blocks-only --format markdown")
@model_options(every_architecture=True)
def flops(
    cfg: Model, flops_per_mac: int = FlopsPerMac,
    attention: str = AttentionOpt, elementwise: bool = ElementwiseOpt,
    embeddings: bool | None = Embeddings, lm_head: bool | None = LmHead, blocks_only: bool = BlocksOnly,
    mode: str = ModeOpt, recompute: bool = Recompute, position: int | None = Position,
    prompt: int | None = Prompt, new_tokens: int | None = NewTokens,
    capacity_factor: Fraction | None = CapacityFactor, mla_decode: str = MlaDecodeOpt,
    format: str = FormatOpt, output: Path | None = Output,
    total: Annotated[bool, typer.Option(
        "--total", help="Print only the total, as a plain integer (for scripts).")] = False,
    per_token: Annotated[bool, typer.Option(
        "--per-token", help="Print only the total per token (per token of the batch, B·L; "
        "of a decode step, per new token; of generate, per generated token), exact: an "
        "integer, or n/d when not whole (for scripts).")] = False,
) -> None:
    """FLOPs of one forward pass (or --mode), per operation, per block and in total.

    With no options: GPT-2 small (12 blocks, d_model 768, 12 heads of 64, d_ff 3072) on 128 tokens, batch 1, at 2 FLOPs per multiply-add.
    """
    from .analysis import flop_report
    from .tables import flop_json, flop_table, per_token_json

    conv = conventions(flops_per_mac, attention, elementwise, embeddings, lm_head, blocks_only,
                       capacity_factor, mla_decode)
    report = flop_report(cfg.architecture, conv,
                         Mode(mode, recompute, position, prompt, new_tokens), cfg.workload)
    if total and per_token:
        fail("--total and --per-token each print one number: give one of them")
    if total or per_token:
        flag = "--total" if total else "--per-token"
        if format != "table":
            fail(f"{flag} prints one plain number: drop --format, or {flag}")
        number = report.total if total else per_token_json(report)["total_exact"]
        write_output([f"{number}\n"], output)
        return
    emit([flop_table(report)], flop_json(report), format, output)


@app.command(epilog="Example: flopcalc params --preset gpt2-xl")
@model_options(workload=False, every_architecture=True)
def params(cfg: Model, format: str = FormatOpt, output: Path | None = Output) -> None:
    """Every parameter tensor's shape and count, per block and in total."""
    from .analysis import param_report
    from .tables import param_json, param_table

    report = param_report(cfg.architecture)
    emit([param_table(report)], param_json(report), format, output)


@app.command(epilog="Example: flopcalc shapes --mode decode --batch 8 --seq-len 1024")
@model_options(every_architecture=True)
def shapes(
    cfg: Model,
    mode: Annotated[str, choice_option(
        "--mode", values=("forward", "decode"), help="forward (all seq_len tokens at once) or "
        "decode (one new token at --position with a KV cache: K and V of (B, h, t, "
        "d_head)).")] = "forward",
    position: int | None = Position,
    capacity_factor: Fraction | None = CapacityFactor, mla_decode: str = MlaDecodeOpt,
    format: str = FormatOpt, output: Path | None = Output,
) -> None:
    """Every operation's operand, weight and output (activation) shapes."""
    from .analysis import shape_report
    from .tables import shape_json, shape_table

    conv = conventions(capacity_factor=capacity_factor, mla_decode=mla_decode)
    report = shape_report(cfg.architecture, Mode(mode, position=position), cfg.workload,
                          conv)
    emit([shape_table(report)], shape_json(report), format, output)


@app.command(epilog="Example: flopcalc formulas --attention causal --format latex")
@shared_options
def formulas(
    flops_per_mac: int = FlopsPerMac,
    attention: str = AttentionOpt, elementwise: bool = ElementwiseOpt,
    embeddings: bool | None = Embeddings, lm_head: bool | None = LmHead, blocks_only: bool = BlocksOnly,
    mode: str = ModeOpt, recompute: bool = Recompute,
    preset: str = SHARED, config: Path = SHARED, family: str = SHARED,
    mlp: str = SHARED, activation: str = SHARED, norm: str = SHARED, positions: str = SHARED,
    window: Annotated[Optional[int], number_option(
        "--window", help="A sliding window W (its size is a symbol; any value gives the "
        "windowed formulas) \\[default: the model's].")] = None,
    qkv: str = SHARED, no_bias: bool = SHARED, untied_lm_head: bool = SHARED,
    capacity_factor: Fraction | None = CapacityFactor, mla_decode: str = MlaDecodeOpt,
    format: Annotated[str, choice_option("--format", "-f", values=("table", "latex", "markdown",
                                                                   "json"),
                                         help="Output format.")] = "table",
    output: Path | None = Output,
) -> None:
    """Each operation's FLOPs and the block and model totals as formulas, for GPT-2 or the model of --preset, --config or --family (its switches; the sizes are symbols).

    Symbols: B batch, L seq_len, d_model, h heads (d_head = d_model/h for GPT-2 and GPT-NeoX), h_kv KV heads, d_head, d_rot rotated dims, d_ff, V vocab, n_layers, W window, n_w windowed layers; experts E, k per token, d_e each, d_s shared, n_moe MoE layers, G groups; latent attention r_q, r_kv ranks, d_nope, d_rope, d_v head widths; decode position t; generation prompt p and new tokens n.
    """
    conv = conventions(flops_per_mac, attention, elementwise, embeddings, lm_head, blocks_only,
                       capacity_factor, mla_decode)
    arch = make_architecture(
        preset, config, family, bias=False if no_bias else None,
        fused_qkv=None if qkv is None else qkv == "fused",
        tied_lm_head=False if untied_lm_head else None, sliding_window=window,
        mlp=mlp, activation=activation, norm=norm, positions=positions)
    Mode(mode, recompute)  # the same rules as flops: --recompute is for train only
    from . import formulas as fm

    f = fm.formulas(conv, mode=fm.symbolic_mode(mode, recompute), architecture=arch)
    from . import render
    from .tables import formulas_json, formulas_table

    if format == "latex":
        text = render.to_latex(formulas_table(f, latex=True))
    elif format == "json":
        text = render.to_json(formulas_json(f))
    elif format == "markdown":
        table = formulas_table(f)
        table.rows = [[name, f"`{expr}`"] for name, expr in table.rows]
        text = render.to_markdown([table])
    else:
        text = render.to_text(formulas_table(f), table_width(output))
    write_output([text], output)


@app.command(epilog="Example: flopcalc presets --format markdown")
@shared_options
def presets(format: str = FormatOpt, output: Path | None = Output) -> None:
    """The published GPT-2 sizes and the released models, with their parameter counts."""
    from .analysis import param_report
    from .architectures.presets import PRESETS as ALL_PRESETS
    from .tables import models_table_and_json, presets_table_and_json

    gpt2 = {name for name, (_, source) in ALL_PRESETS.items() if isinstance(source, dict)}
    table, document = presets_table_and_json({name: param_report(make_architecture(name))
                                              for name in ALL_PRESETS if name in gpt2})
    models, rows = models_table_and_json({
        name: (hf_name, param_report(make_architecture(name)))
        for name, (hf_name, _) in ALL_PRESETS.items() if name not in gpt2})
    emit([table, models], {**document, "models": rows}, format, output)


@app.command(epilog="Example: flopcalc verify --mode incremental --n-layers 2 --seq-len 16")
@model_options(untied_lm_head=False, every_architecture=True)
def verify(
    cfg: Model,
    mode: Annotated[str, choice_option(
        "--mode", values=("full", "incremental"), help="full: all positions at once (compared "
        "with dense counting); incremental: token by token with a KV cache (compared with "
        "causal counting).")] = "full",
    seed: Annotated[int, number_option("--seed", help="Seed of the weights and tokens (>= 0) "
                                       "\\[default: 0].")] = 0,
    dtype: Annotated[str, choice_option("--dtype", values=("float32", "float64"),
                                        help="Floating-point type of the pass.")] = "float32",
    flops_per_mac: int = FlopsPerMac, mla_decode: str = MlaDecodeOpt,
    capacity_factor: Fraction | None = CapacityFactor,
    format: str = FormatOpt, output: Path | None = Output,
) -> None:
    """Run a real NumPy forward pass of the model and check every matmul against the model.

    Every family runs as its Hugging Face modeling code computes it (GQA, rotary, RMSNorm, gated MLPs, sliding windows, soft-capping, experts routed for real, latent attention, ...); each layer's matmuls are compared by role with its layer group's, the routed experts' summed over the experts that got tokens. The LM head is the model's: GPT-2 ties the LM head to the token embedding, most released models (their presets) do not; there is no --untied-lm-head here, as an untied head multiplies the same shapes. Exit 0 when every row matches exactly, 1 when any does not, 2 on bad input or when the pass would not fit in memory.
    """
    Conventions(flops_per_mac=flops_per_mac, capacity_factor=capacity_factor)  # before the
    from . import verify as verification                                      # slow imports
    from .tables import verify_json, verify_table

    # seed, dtype and memory are checked before the bar could appear
    arch, load = cfg.architecture, cfg.workload
    verification.check(arch, mode, seed, dtype, load, mla_decode)
    steps = arch.n_layers * (load.seq_len if mode == "incremental" else 1)
    done = 0
    # on stderr, and only once the pass has taken more than a moment
    with _LazyProgress("forward pass, blocks") as progress:
        def on_block() -> None:
            nonlocal done
            done += 1
            progress(done, steps)

        result = verification.verify(arch, mode, seed, dtype, flops_per_mac,
                                     on_block=on_block, workload=load,
                                     mla_decode=mla_decode,
                                     capacity_factor=capacity_factor)
    emit([verify_table(result)], verify_json(result), format, output)
    raise typer.Exit(0 if result.ok else 1)


MEMORY_DTYPES = ("fp32", "bf16", "fp16", "int8")


@app.command(epilog="Example: flopcalc memory --mode decode --device h100 --batch 8")
@model_options(every_architecture=True)
def memory(
    cfg: Model,
    mode: Annotated[str, choice_option(
        "--mode", values=("forward", "train", "decode"), help="Per-operation table of: forward "
        "(prefill), train (forward + backward) or decode (one token with a KV cache).")]
    = "forward",
    dtype: Annotated[str, choice_option(
        "--dtype", values=MEMORY_DTYPES, help="Element type of weights, activations and cache: "
        "fp32 (4 bytes), bf16, fp16 (2), int8 (1).")] = "bf16",
    recompute: Annotated[bool, typer.Option(
        "--recompute", help="Full activation recomputation: keep only each block's input "
        "(and re-run the blocks' forward in the train step).")] = False,
    position: int | None = Position,
    elementwise: Annotated[bool, typer.Option(
        "--elementwise/--matmul-only", help="Also list the elementwise ops (LayerNorm, "
        "softmax, GELU, adds …), which are memory-bound.")] = False,
    device: Annotated[Optional[str], typer.Option(
        "--device", help="Spec-sheet peak and bandwidth: a100, h100, h100-pcie, h200, b200, "
        "mi300x, l4, rtx4090, tpu-v4, tpu-v5e, tpu-v5p \\[default: a100].",
        show_default=False)] = None,
    peak_tflops: Annotated[Optional[str], typer.Option(
        "--peak-tflops", metavar="TFLOPS", help="Peak compute for --dtype, TOPS for int8 "
        "(overrides --device).",
        show_default=False)] = None,
    bandwidth_gbs: Annotated[Optional[str], typer.Option(
        "--bandwidth-gbs", metavar="GB/S", help="Memory bandwidth in 10⁹ bytes/s (overrides "
        "--device).", show_default=False)] = None,
    capacity_factor: Fraction | None = CapacityFactor, mla_decode: str = MlaDecodeOpt,
    format: str = FormatOpt, output: Path | None = Output,
    table: Annotated[Optional[str], _table_option(
        "summary, activations (--mode train), roofline or per-op")] = None,
) -> None:
    """Parameter, KV-cache and activation bytes; each operation's arithmetic intensity and a roofline time.

    Roofline: per op max(FLOPs / peak, bytes / bandwidth), summed; assumptions in the table notes and docs/memory.md.
    """
    from . import memory as mem

    dev = mem.device(device, peak_tflops, bandwidth_gbs, dtype)
    conv = conventions(elementwise=elementwise, capacity_factor=capacity_factor,
                       mla_decode=mla_decode)
    report = mem.memory_report(cfg.architecture, conv, mode, dtype, recompute, dev,
                               position, cfg.workload)
    emit(mem.memory_tables(report), mem.memory_json(report), format, output, table)


@app.command(epilog="Example: flopcalc compare --preset gpt2-xl --seq-len 1024")
@model_options(every_architecture=True)
def compare(
    cfg: Model, attention: str = AttentionOpt, elementwise: bool = ElementwiseOpt,
    format: str = FormatOpt, output: Path | None = Output,
) -> None:
    """Published estimates (Kaplan 2N, C_forward, 6N; PaLM; Chinchilla; Megatron) next to the exact count, with relative errors.

    Each estimate is compared with the exact count of the same computation and scope (see the 'compared with' column and docs/estimates.md); --attention and --elementwise choose how the exact side counts.
    """
    from . import estimates as est

    conv = Conventions(attention=attention, elementwise=elementwise)
    arch, load = cfg.architecture, cfg.workload
    rows = est.compare(arch, conv, load)
    emit([est.compare_table(arch, conv, rows, load)], est.compare_json(arch, conv, rows, load),
         format, output)


SkipInvalid = _flag(
    "--skip-invalid", "Leave out grid points that are not a valid model (heads not "
    "dividing d_model, seq_len > n_positions) instead of stopping at the first.")


def _sweep_setup(model: ModelValues, mode_given: dict, mode: Mode, require: bool = True):
    """(base fields, swept axes, config.Mode): one value fixes a field, more sweep it. The
    base holds Architecture fields, seq_len and batch (``sweep.check_point``). ``require``:
    at least one axis (else none may be, as in budget)."""
    from . import sweep as sw

    base = dict(model.base)
    axes, mode_fields = [], {}
    for name, text in {**model.given, **mode_given}.items():
        if text is None:
            continue
        axis = sw.parse_axis(name, text)
        if len(axis.values) > 1:
            axes.append(axis)
        elif name in sw.MODE_AXES:
            mode_fields[name] = axis.values[0]
        else:
            base[name] = axis.values[0]
    if not axes and require:
        raise FlopcalcError("give at least one dimension several values, e.g. --seq-len "
                            "128:1024:x2 or --d-model 384,768,1536")
    # a model whose windows or experts are on some layers: at another n_layers they are
    # placed as flops --n-layers places them (the family's rule, or layer_types)
    placed = model.layers_at is not None and any(
        base.get(k) is not None for k in ("window_layers", "moe_layers"))
    swept = next((a.values for a in axes if a.name == "n_layers"), None)
    if placed and swept is not None:
        base[sw.LAYERS_BY_N] = {n: _layers_or_error(model.layers_at, n) for n in swept}
    elif placed and model.given.get("n_layers") is not None:
        base.update(model.layers_at(base["n_layers"]))
    return base, axes, Mode(mode.kind, mode.recompute, **mode_fields)


def _layers_or_error(layers_at: Callable, n: int):
    """The window/MoE layers at ``n`` layers, or the FlopcalcError that says why there are
    none (a layer_types list with no pattern to repeat): an invalid point of the sweep."""
    try:
        return layers_at(n)
    except FlopcalcError as e:
        return e


def _stderr_may_be_terminal() -> bool:
    """False when rich would not take stderr for a terminal either, found without importing
    rich (a tenth of a second): stderr is no tty and the environment forces none (rich's
    TTY_COMPATIBLE and FORCE_COLOR)."""
    try:
        tty = sys.stderr is not None and sys.stderr.isatty()
    except ValueError:  # closed
        tty = False
    return tty or any(os.environ.get(k) for k in ("TTY_COMPATIBLE", "FORCE_COLOR"))


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
            if not _stderr_may_be_terminal():  # a log or a pipe: no bar, rich not imported
                self.after = float("inf")
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
@model_options(values=True, every_architecture=True)
def sweep(
    cfg: ModelValues, flops_per_mac: int = FlopsPerMac,
    attention: str = AttentionOpt, elementwise: bool = ElementwiseOpt,
    embeddings: bool | None = Embeddings, lm_head: bool | None = LmHead, blocks_only: bool = BlocksOnly,
    mode: str = ModeOpt, recompute: bool = Recompute,
    position: str | None = SwPosition, prompt: str | None = SwPrompt, new_tokens: str | None = SwNewTokens,
    capacity_factor: Fraction | None = CapacityFactor, mla_decode: str = MlaDecodeOpt,
    skip_invalid: bool = SkipInvalid,
    format: str = FormatOpt, output: Path | None = Output,
) -> None:
    """FLOPs over a grid of configs: every combination of the swept values, one row each, with each operation's share of the total.

    Sweep any dimension over a list (--d-model 384,768,1536) or a range (--seq-len 128:1024:x2 geometric, --seq-len 128:1024:+128 arithmetic); several at once form a grid. An invalid point stops the sweep with an error naming it, unless --skip-invalid.
    """
    from . import sweep as sw

    conv = conventions(flops_per_mac, attention, elementwise, embeddings, lm_head, blocks_only,
                       capacity_factor, mla_decode)
    base, axes, m = _sweep_setup(cfg, dict(position=position, prompt=prompt,
                                           new_tokens=new_tokens), Mode(mode, recompute))
    points = sw.check_axes(axes)
    if format in ("csv", "json"):
        # streamed: rows made and written in chunks; the bar only when not on the terminal
        with _LazyProgress("sweep") as progress:
            result = sw.stream(base, axes, conv, m, skip_invalid, progress if output else None,
                               precheck=output is None)
            write_output((sw.csv_chunks if format == "csv" else sw.json_chunks)(result),
                         output)
        return
    sw.check_table_size(points)
    # one bar for the sweep (its first half) and the rendering of its rows (the second); it
    # is gone before anything is written
    with _LazyProgress("sweep") as progress, sw.cycles_collected_after():
        result = sw.run(base, axes, conv, m, skip_invalid,
                        progress=lambda done, total: progress(done, 2 * total))
        table = sw.sweep_table(result)
        parts = render_output([table], None, format, output, lambda done, total: progress(
            points + points * done // total, 2 * points))
    write_output(parts, output)


@app.command(epilog="Example: flopcalc plot --seq-len 128:65536:x2 --n-positions 65536 "
             "--output shares.png")
@model_options(values=True, every_architecture=True)
def plot(
    output: Annotated[Path, typer.Option(
        "--output", "-o", help="The image to write (atomically): .png or .svg.",
        click_type=_FilePath())],
    kind: Annotated[str, choice_option(
        "--kind", values=("shares", "estimates"), help="shares: each operation's share of the "
        "FLOPs, stacked, with the attention/FFN crossover; estimates: each published "
        "estimate's error.")] = "shares",
    cfg: ModelValues = None,
    attention: str = AttentionOpt, elementwise: bool = ElementwiseOpt,
    embeddings: bool | None = Embeddings, lm_head: bool | None = LmHead, blocks_only: bool = BlocksOnly,
    mode: str = ModeOpt, recompute: bool = Recompute,
    position: str | None = SwPosition, prompt: str | None = SwPrompt, new_tokens: str | None = SwNewTokens,
    capacity_factor: Fraction | None = CapacityFactor, mla_decode: str = MlaDecodeOpt,
    skip_invalid: bool = SkipInvalid,
) -> None:
    """Plot a sweep of one dimension to PNG or SVG (needs matplotlib: pip install 'flopcalc\\[plot]').

    --kind shares (default) stacks each operation's share of the FLOPs and marks where attention (QKᵀ + P·V) overtakes the MLP's matmuls (GPT-2's ffn_up + ffn_down, Llama's gate, up and down), solved exactly, in every architecture. --kind estimates plots each published estimate's relative error (flopcalc compare); it uses --attention and --elementwise only.
    """
    from . import plot as pl

    pl.check_output(output)
    conv = conventions(2, attention, elementwise, embeddings, lm_head, blocks_only,
                       capacity_factor, mla_decode)
    base, axes, m = _sweep_setup(cfg, dict(position=position, prompt=prompt,
                                           new_tokens=new_tokens), Mode(mode, recompute))
    if kind == "estimates":
        pl.plot_estimates(base, axes, conv, output, skip_invalid)
    else:
        pl.plot_shares(base, axes, conv, m, output, skip_invalid)


@app.command(epilog="Example: flopcalc audit my-analysis.md --claims my-claims.toml")
@model_options(every_architecture=True)
def audit(
    document: Annotated[Optional[Path], typer.Argument(
        help="A Markdown/LaTeX FLOP write-up: every 'expression = number' in it is checked.",
        show_default=False, click_type=_FilePath())] = None,
    claims: Annotated[Optional[str], typer.Option(
        "--claims", help="A shipped claims file (gpt2-document) or a path to your own TOML "
        "(docs/audit.md). Default: the shipped file made for DOCUMENT, if there is one.",
        show_default=False, click_type=_NameOrPath())] = None,
    cfg: Model = None,
    infer: Annotated[bool, typer.Option(
        "--infer/--no-infer", help="Without a claims file or model options: check the "
        "figures against the model the text describes (the preset it names, the sizes it "
        "states).")] = True,
    format: str = FormatOpt, output: Path | None = Output,
    table: Annotated[Optional[str], _table_option(
        "claims, arithmetic, figures (with a DOCUMENT), flops or shapes (with claims)")] = None,
    code_blocks: Annotated[bool, typer.Option(
        "--code-blocks", help="Check the equations in fenced code blocks (``` or ~~~) "
        "too; by default they are not prose and are skipped.")] = False,
) -> None:
    """Check a FLOP write-up: its arithmetic, and its claims or its figures against flopcalc's own counts.

    Without --claims, the shipped claims file made for DOCUMENT is used if there is one; otherwise its arithmetic is checked, and its figures against a model: the one the model options give (e.g. --preset llama-3.1-8b --seq-len 2048), or the one the text describes. Each figure is matched against the model's FLOPs, parameters and bytes. The notes go to stderr too when the output goes to a file or a pipe. In a terminal each reason is one sentence; --format markdown or json gives every reason.

    Exit 0 when everything holds, 1 when anything is wrong, 2 on bad input, 3 when nothing could be checked (no claims file and no equation or figure with a verdict).
    """
    from .audit.report import audit_json, audit_tables, audit_text, run_audit

    model = (cfg.architecture, cfg.workload) if cfg.given else None
    if claims is not None and model is not None:
        fail("--claims carries its document's model: drop the model options, or --claims")
    if document is None:
        if claims is None:
            fail("nothing to audit: give a DOCUMENT, --claims NAME|PATH, or both")
        result = run_audit(None, claims)
    else:
        text = files.read_text(document, "document", files.DOCUMENT_LIMIT)  # "-": stdin
        result = audit_text(text, claims, "standard input" if str(document) == files.STDIN
                            else str(document), code=code_blocks, model=model, infer=infer)
    # the notes after the output: bad --table, --format or --output is then the only line
    emit(audit_tables(result, brief=format == "table"), audit_json(result), format, output,
         table)
    shown = output is None and sys.stdout.isatty()  # a terminal shows them in the notes
    for note in () if shown else result.notes:
        print(f"flopcalc: note: {note}", file=sys.stderr)
    for warning in result.warnings:  # "only 1 of 5 equations could be checked" in a CI log
        if not shown or warning == result.nothing_checked:
            print(f"flopcalc: warning: {warning}", file=sys.stderr)
    raise typer.Exit(result.exit_code)


def _version(value: bool) -> None:
    if value:
        write_output([f"flopcalc {__version__}\n"], None)
        raise typer.Exit()


@app.callback()
def main(version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                               help="Print the version and exit.")] = False) -> None:
    """Exact FLOP, parameter and shape tables for decoder-only transformers.

    Run `flopcalc flops` for the seed document's setting (GPT-2 small, 128 tokens).
    """


def run() -> None:
    """The command line (``flopcalc.__main__.main`` sets up the signals before importing it)."""
    with files.on_signals():  # Ctrl-C: one line and exit 130; SIGTERM: 143
        if sys.stdout is None:  # `>&-`: every write, --help's too, fails in one line
            sys.stdout = files.ClosedStdout()
        sys.set_int_max_str_digits(0)  # exact counts of any size print in full
        files.spell_in_ascii()  # an ASCII or Latin-1 stdout gets "~" for "≈", "x" for "×", …
        app()


# ---------------------------------------------------------------------------------------
# Framework FLOP conventions, MFU and budgets (flopcalc.frameworks, flopcalc.budget)
# ---------------------------------------------------------------------------------------

DeviceName = _SharedOption(
    "--device", help="Spec-sheet peak: a100, h100, h100-pcie, h200, b200, mi300x, l4, "
    "rtx4090, tpu-v4, tpu-v5e, tpu-v5p \\[default: a100].", show_default=False)
PeakTflops = _SharedOption(
    "--peak-tflops", metavar="TFLOPS", help="Peak TFLOP/s of one device at --dtype (overrides "
    "--device).", show_default=False)
Devices = _SharedOption("--devices", type=WHOLE, default=1, show_default=False,
                        help="Devices working together \\[default: 1].")
PeakDtype = _SharedOption("--dtype", type=_choice(MEMORY_DTYPES), default="bf16",
                          help="The dtype whose dense peak counts: fp32, bf16, fp16, int8 (TOPS).")


def _devices(count: int) -> int:
    from .config import check_dimension

    check_dimension("--devices", count)
    return count


@app.command(epilog="Example: flopcalc frameworks --preset gpt2 --seq-len 1024")
@model_options(every_architecture=True)
def frameworks(cfg: Model, format: str = FormatOpt, output: Path | None = Output,
               table: Annotated[Optional[str], _table_option("frameworks, terms")] = None) -> None:
    """Training FLOPs per token and per step as Megatron-LM, MaxText, torchtitan, nanoGPT, Hugging Face and llm-foundry count them, next to the exact count.

    Each framework's formula is reproduced from its source (docs/frameworks.md); a second table says, term by term, why each differs from flopcalc's exact count of the same training step.
    """
    from . import frameworks as fw

    arch, load = cfg.architecture, cfg.workload
    rows = fw.compare(arch, workload=load)
    emit(fw.frameworks_tables(arch, rows, load), fw.frameworks_json(arch, rows, load), format,
         output, table)


@app.command(epilog="Example: flopcalc mfu --preset gpt2 --seq-len 1024 --batch 16 "
             "--tokens-per-second 400000 --devices 8 --device h100")
@model_options(every_architecture=True)
def mfu(
    cfg: Model,
    tokens_per_second: Annotated[Optional[str], typer.Option(
        "--tokens-per-second", metavar="TOKENS", help="Measured training throughput over all "
        "devices.", show_default=False)] = None,
    step_time: Annotated[Optional[str], typer.Option(
        "--step-time", metavar="SECONDS", help="Or: measured seconds per training step of "
        "batch × seq_len tokens.", show_default=False)] = None,
    devices: int = Devices, device: str | None = DeviceName, peak_tflops: str | None = PeakTflops,
    dtype: str = PeakDtype, attention: str = AttentionOpt,
    format: str = FormatOpt, output: Path | None = Output,
) -> None:
    """Model-FLOPs utilisation of a measured training run, under flopcalc's exact count and each framework's convention, and the HFU with recomputation.

    Utilisation = FLOPs per token × tokens/s / (devices × dense peak); the results are estimates.
    """
    from dataclasses import replace

    from . import budget as bg
    from . import memory as mem

    dev = mem.device(device, peak_tflops, None, dtype)
    if device is None and peak_tflops is not None:  # no preset named, and mfu needs no bandwidth
        dev = replace(dev, label="custom device", source="peak given on the command line")
    load = cfg.workload
    rate = bg.tokens_per_second(tokens_per_second, step_time, load.batch * load.seq_len)
    report = bg.mfu_report(cfg.architecture, rate, _devices(devices), dev, dtype,
                           attention, load)
    emit([bg.mfu_table(report)], bg.mfu_json(report), format, output)


@app.command(epilog="Example: flopcalc budget --preset gpt2 --seq-len 1024 --chinchilla "
             "--devices 8 --device h100 --mfu 40%")
@model_options(values=True, every_architecture=True)
def budget(
    cfg: ModelValues,
    tokens: Annotated[Optional[str], typer.Option(
        "--tokens", metavar="VALUES", show_default=False,
        help="Training tokens (whole sequences of --seq-len): one value, a list or a range "
        "(1e12 is written 1000000000000).")] = None,
    chinchilla: Annotated[bool, typer.Option(
        "--chinchilla", help="Train on 20 tokens per parameter (Hoffmann et al. 2022).")] = False,
    devices: Annotated[Optional[str], typer.Option(
        "--devices", metavar="VALUES", show_default=False,
        help="Devices working together: one value, a list (8,64) or a range (8:1024:x2) "
        "\\[default: 1].")] = None,
    device: Annotated[Optional[str], typer.Option(
        "--device", metavar="NAMES", show_default=False,
        help="Spec-sheet peak: a100, h100, h100-pcie, h200, b200, mi300x, l4, rtx4090, "
        "tpu-v4, tpu-v5e, tpu-v5p, or a list (a100,h100) \\[default: a100].")] = None,
    peak_tflops: str | None = PeakTflops,
    dtype: str = PeakDtype,
    assumed_mfu: Annotated[str, typer.Option(
        "--mfu", metavar="FRACTIONS", help="Assumed model-FLOPs utilisation: 0.4 or 40%, or a "
        "list (30%,40%,50%).")] = "40%",
    price: Annotated[Optional[str], typer.Option(
        "--price", metavar="PRICES", help="Price of one device-hour, for a cost estimate; or "
        "a list.", show_default=False)] = None,
    prompt: str | None = SwPrompt, new_tokens: str | None = SwNewTokens,
    bandwidth_gbs: Annotated[Optional[str], typer.Option(
        "--bandwidth-gbs", metavar="GB/S", help="Memory bandwidth for the inference roofline "
        "(overrides --device).", show_default=False)] = None,
    attention: str = AttentionOpt, skip_invalid: bool = SkipInvalid,
    format: str = FormatOpt, output: Path | None = Output,
    table: Annotated[Optional[str], _table_option(
        "training, inference; training-sweep, inference-sweep for a sweep")] = None,
) -> None:
    """Training FLOPs, time, device-hours and cost for a token budget; inference FLOPs and roofline time per generated token and per request.

    Training: exact FLOPs of the training steps; time = FLOPs / (devices × peak × --mfu). Inference: generate --prompt then --new-tokens on one device (roofline bound). Times and costs are estimates. Several values of a size, --seq-len, --tokens, --devices, --device, --mfu or --price sweep the training budget, of a size, --seq-len, --batch, --prompt, --new-tokens or --device the inference budget (with --prompt or --new-tokens): one row per point of their grid.
    """
    from . import budget as bg
    from . import memory as mem
    from . import sweep as sw

    base, model_axes, _ = _sweep_setup(cfg, {}, Mode("train"), require=False)
    given = {"tokens": tokens, "devices": devices, "mfu": assumed_mfu, "price": price,
             "prompt": prompt, "new_tokens": new_tokens}
    fixed = {"tokens": None, "devices": 1, "price": None, "prompt": None, "new_tokens": None}
    budget_axes, inference_axes = [], []
    for name, text in given.items():
        if text is None:
            continue
        axis = bg.budget_axis(name, text, dtype)
        if len(axis.values) > 1:
            (inference_axes if name in bg.INFERENCE_AXES else budget_axes).append(axis)
        else:
            fixed[name] = axis.values[0]
    if device is not None and "," in device:  # several devices: each at its spec-sheet peak
        if peak_tflops is not None or bandwidth_gbs is not None:
            fail("--peak-tflops and --bandwidth-gbs describe one device: give one --device")
        budget_axes.append(bg.budget_axis("device", device, dtype))
    else:
        fixed["device"] = mem.device(device, peak_tflops, bandwidth_gbs, dtype)
    infer = prompt is not None or new_tokens is not None
    if model_axes or budget_axes or inference_axes:
        result = bg.budget_sweep(base, model_axes, budget_axes, fixed, chinchilla, dtype,
                                 attention, skip_invalid,
                                 inference_axes if infer else None)
        emit(bg.budget_sweep_tables(result), bg.budget_sweep_json(result), format, output,
             table)
        return
    arch, load, _, _ = sw.check_point(base, (), (), Mode("forward"))
    dev = fixed["device"]
    train = bg.training_budget(arch, fixed["tokens"], chinchilla, _devices(fixed["devices"]),
                               dev, dtype, fixed["mfu"], fixed["price"], attention,
                               load)
    infer = bg.inference_budget(arch, fixed["prompt"], fixed["new_tokens"], dev, dtype,
                                attention, load)
    emit(bg.budget_tables(train, infer), bg.budget_json(train, infer), format, output, table)
