"""Every file and stream flopcalc reads or writes, and how the command ends on a signal.

- ``write_text`` / ``write_bytes``: a regular file (or a new path) is replaced atomically
  (a temporary file in the same folder, flushed to disk, renamed over it; symlinks followed,
  permissions kept); anything else that exists (a device, a FIFO) is written in place and
  never replaced.
- ``read_text`` / ``read_json``: a file or ``-`` (standard input), refused beyond a size
  limit, never waiting forever for a FIFO's writer; JSON with a nesting-depth limit.
- ``spell_in_ascii``: streams that cannot encode a character print an ASCII spelling of it.
- ``exit_on_signals``: SIGINT and SIGTERM end the command with one line on stderr, exit
  130 or 143, and no temporary file left behind.

docs/io.md describes all of it for users.
"""

from __future__ import annotations

import codecs
import contextlib
import os
import re
import signal
import stat
import sys
import time
from pathlib import Path

from .config import FlopcalcError

MiB = 1024 * 1024
CONFIG_LIMIT = 1 * MiB        # a GPT-2 config.json is about 1 KB
DOCUMENT_LIMIT = 64 * MiB     # a FLOP write-up to audit
JSON_DEPTH_LIMIT = 100        # a config.json nests 3 levels deep
JSON_DIGITS_LIMIT = 4300      # Python's own default (reading longer ints takes quadratic time)
WRITER_WAIT = 10.0            # seconds a FIFO may stay without a writer
STDIN = "-"


def _shown(path) -> str:
    return "<stdin>" if str(path) == STDIN else str(path)


def _size(n: int) -> str:
    return f"{n // MiB} MiB" if n % MiB == 0 else f"{n:,} bytes"


# ---------------------------------------------------------------------------------------
# Writing
# ---------------------------------------------------------------------------------------


def write_text(path: str | Path, text) -> None:
    """Write ``text`` as UTF-8 to ``path`` (``write_bytes``): a str, or an iterable of str
    chunks, each encoded and written as it is made (a streamed sweep)."""
    chunks = [text] if isinstance(text, str) else text
    # (map keeps no chunk once it is encoded: a streamed chunk is gone before the next is made)
    write_bytes(path, map(lambda chunk: chunk.encode("utf-8", "surrogateescape"), chunks))


def write_bytes(path: str | Path, data) -> None:
    """Write ``data`` (bytes, or an iterable of bytes chunks) to ``path``, whole or not at all.

    A regular file or a new path gets a temporary file beside it, flushed to disk and renamed
    over it, so readers see the old content or the new, never a part; a symlink is written
    through, and an existing file keeps its permissions (and, where allowed, its owner).
    An existing non-regular file (a device such as /dev/null, a FIFO) is opened and written
    in place: it is never replaced. Raises FlopcalcError in one line on failure.
    """
    try:
        st = os.stat(path)  # follows symlinks, /proc's too (/dev/stdout)
    except FileNotFoundError:
        st = None
    except OSError as e:
        raise FlopcalcError(f"cannot write {path}: {e.strerror or e}") from None
    if st is not None and stat.S_ISDIR(st.st_mode):
        raise FlopcalcError(f"cannot write {path}: Is a directory")
    try:
        if st is None or stat.S_ISREG(st.st_mode):
            _replace(Path(os.path.realpath(path)), data, st)
        else:
            fd = os.open(path, os.O_WRONLY | getattr(os, "O_CLOEXEC", 0))
            try:
                _write_all(fd, data)
            finally:
                os.close(fd)
    except OSError as e:
        raise FlopcalcError(f"cannot write {path}: {e.strerror or e}") from None


def _replace(path: Path, data: bytes, old: os.stat_result | None) -> None:
    import tempfile  # (this module is imported first thing, before the signals are set up)

    fd = tmp = made = None
    try:
        with _signals_held():  # the name is kept before an interrupt could strike
            # a short fixed-length name: it fits wherever the target's name fits
            fd, tmp = tempfile.mkstemp(prefix=".flopcalc-", suffix=".tmp", dir=path.parent)
            made = tmp
            _temporaries.add(made)
        _write_all(fd, data)
        os.fsync(fd)
        if old is not None and (old.st_uid, old.st_gid) != (os.geteuid(), os.getegid()):
            with contextlib.suppress(OSError):  # only root may give a file away
                os.fchown(fd, old.st_uid, old.st_gid)
        os.fchmod(fd, 0o666 & ~_umask() if old is None else stat.S_IMODE(old.st_mode))
        os.close(fd)
        fd = None
        os.replace(tmp, path)
        tmp = None
    finally:  # after a failure or a signal the old file stays and the temporary goes
        with contextlib.suppress(OSError):
            if fd is not None:
                os.close(fd)
        with contextlib.suppress(OSError):
            if tmp is not None:
                os.unlink(tmp)
        _temporaries.discard(made)


def _write_all(fd: int, data) -> None:
    for chunk in [data] if isinstance(data, (bytes, bytearray, memoryview)) else data:
        view = memoryview(chunk)
        while view:
            view = view[os.write(fd, view):]
        del chunk, view  # written: gone before the next chunk is made


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


# ---------------------------------------------------------------------------------------
# Reading
# ---------------------------------------------------------------------------------------


def read_bytes(path: str | Path, what: str, limit: int) -> bytes:
    """The content of ``path`` (``-``: standard input), refused in one line when it is over
    ``limit`` bytes. At most ``limit + 1`` bytes are read, so /dev/zero ends quickly; a
    FIFO that gets no writer within ``WRITER_WAIT`` seconds is refused instead of waited
    for. ``what`` names the input in messages ("config", "document")."""
    name, too_big = _shown(path), False
    try:
        if str(path) == STDIN:
            if sys.stdin is None:
                raise OSError(9, "standard input is closed")
            data = sys.stdin.buffer.read(limit + 1)
        else:
            flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
            fd = os.open(path, flags)
            try:
                st = os.fstat(fd)
                if stat.S_ISDIR(st.st_mode):
                    raise IsADirectoryError(21, "Is a directory")
                too_big = stat.S_ISREG(st.st_mode) and st.st_size > limit
                data = b"" if too_big else _read(fd, limit, stat.S_ISFIFO(st.st_mode), what, name)
            finally:
                os.close(fd)
    except OSError as e:
        raise FlopcalcError(f"cannot read {what} {name}: {e.strerror or e}") from None
    if too_big or len(data) > limit:
        raise FlopcalcError(f"{what} {name} is over the {_size(limit)} limit for a {what}")
    return data


def _read(fd: int, limit: int, fifo: bool, what: str, name: str) -> bytes:
    """Read an fd opened with O_NONBLOCK (so that opening a FIFO does not wait for a writer).
    An empty read of a FIFO means "no writer yet" until a writer has shown itself; select()
    then waits for one, at most WRITER_WAIT seconds (Linux reports a FIFO that never had a
    writer as not ready, and one whose writer came and went as ready)."""
    import select

    chunks, size, writer_seen = [], 0, not fifo
    deadline = time.monotonic() + WRITER_WAIT
    while size <= limit:
        try:
            chunk = os.read(fd, min(limit + 1 - size, MiB))
        except BlockingIOError:  # a writer is there, its data is not yet
            select.select([fd], [], [])
            writer_seen = True
            continue
        if chunk:
            chunks.append(chunk)
            size += len(chunk)
            writer_seen = True
            continue
        if writer_seen:
            break
        left = deadline - time.monotonic()
        if left <= 0 or not select.select([fd], [], [], left)[0]:
            raise FlopcalcError(f"{what} {name} is a FIFO with no writer "
                                f"(waited {WRITER_WAIT:g} s)")
        writer_seen = True  # it wrote, or came and went
    return b"".join(chunks)


def read_text(path: str | Path, what: str, limit: int) -> str:
    """``read_bytes`` decoded as UTF-8 (one line naming the input if it is not)."""
    data = read_bytes(path, what, limit)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise FlopcalcError(f"{what} {_shown(path)} is not UTF-8 text (byte {e.start:,} is "
                            f"0x{data[e.start]:02x})") from None


# compiled when a document is first read (re caches them), not at every start
_JSON_STRING = r'"(?:[^"\\]|\\.)*"'
_JSON_BRACKET = r"[\[\]{}]"


def parse_json(text: str, what: str, name: str, max_depth: int = JSON_DEPTH_LIMIT):
    """``json.loads`` with arrays and objects nested at most ``max_depth`` deep (deeper ones
    would exhaust the recursion limit) and whole numbers of at most ``JSON_DIGITS_LIMIT``
    digits; errors in one line naming the input."""
    import json

    def whole_number(digits: str) -> int:
        if len(digits.lstrip("-")) > JSON_DIGITS_LIMIT:
            raise FlopcalcError(f"{what} {name} has a number of more than "
                                f"{JSON_DIGITS_LIMIT:,} digits")
        return int(digits)

    depth = 0
    for m in re.finditer(_JSON_BRACKET, re.sub(_JSON_STRING, '""', text, flags=re.S)):
        depth += 1 if m.group() in "[{" else -1
        if depth > max_depth:
            raise FlopcalcError(f"{what} {name} nests arrays or objects more than "
                                f"{max_depth} deep")
    try:
        return json.loads(text, parse_int=whole_number)
    except FlopcalcError:
        raise
    except (ValueError, RecursionError) as e:  # JSONDecodeError, or an int too long to read
        raise FlopcalcError(f"{what} {name} is not valid JSON: {e}") from None


def read_json(path: str | Path, what: str, limit: int):
    """A JSON document read from ``path`` or ``-`` (``read_text``, ``parse_json``)."""
    return parse_json(read_text(path, what, limit), what, _shown(path))


# ---------------------------------------------------------------------------------------
# Streams that are not UTF-8
# ---------------------------------------------------------------------------------------

# The characters flopcalc prints, as ASCII; any other goes through NFKD (é -> e) or "?".
ASCII_SPELLINGS = {
    "≈": "~", "×": "x", "−": "-", "·": "*", "…": "...", "→": "->", "←": "<-", "≥": ">=",
    "≤": "<=", "≠": "!=", "√": "sqrt", "∞": "inf", "±": "+/-", "÷": "/", "–": "-", "—": "--",
    "“": '"', "”": '"', "‘": "'", "’": "'", "§": "S", "µ": "u", "✓": "ok", "✗": "x",
    "²": "^2", "³": "^3", "¹": "^1", "⁰": "^0", "⁴": "^4", "⁵": "^5", "⁶": "^6", "⁷": "^7",
    "⁸": "^8", "⁹": "^9", "⁻": "^-", "ᵀ": "^T", "\u00a0": " ",
    "α": "alpha", "β": "beta", "γ": "gamma", "δ": "delta", "ε": "epsilon", "θ": "theta",
    "λ": "lambda", "μ": "mu", "π": "pi", "σ": "sigma", "τ": "tau", "Σ": "Sigma",
    "█": "#", "▌": "#", "▍": "#", "▏": "#", "▎": "#", "▋": "#", "▊": "#", "▉": "#", "▐": "#",
}
_BOX = {"─": "-", "━": "-", "│": "|", "┃": "|"}  # other box-drawing characters become "+"


def ascii_spelling(char: str) -> str:
    """An ASCII spelling of one character (``≈`` -> ``~``, ``²`` -> ``^2``, ``β`` -> ``beta``)."""
    if char in ASCII_SPELLINGS:
        return ASCII_SPELLINGS[char]
    if "\u2500" <= char <= "\u257f":
        return _BOX.get(char, "+")
    if "\udc80" <= char <= "\udcff":  # an undecodable byte of a file name
        return f"\\x{ord(char) - 0xdc00:02x}"
    import unicodedata

    plain = unicodedata.normalize("NFKD", char).encode("ascii", "ignore").decode()
    return plain or "?"


def spelled_in_ascii(text: str) -> str:
    """``text`` with every non-ASCII character replaced by ``ascii_spelling``."""
    return text if text.isascii() else "".join(
        c if c.isascii() else ascii_spelling(c) for c in text)


def _encode_error(e: UnicodeError):
    if not isinstance(e, UnicodeEncodeError):
        raise e
    return spelled_in_ascii(e.object[e.start:e.end]), e.end


ERRORS = "flopcalc-ascii"
codecs.register_error(ERRORS, _encode_error)


def spell_in_ascii(*streams) -> None:
    """Make text streams (default: stdout and stderr) print what their encoding cannot
    encode in ASCII spellings (``--format`` output to an ASCII or Latin-1 terminal or pipe)
    instead of raising UnicodeEncodeError; an explicit ``PYTHONIOENCODING=...:replace``
    is kept."""
    for stream in streams or (sys.stdout, sys.stderr):
        if getattr(stream, "errors", None) in ("strict", "backslashreplace") and \
                hasattr(stream, "reconfigure"):
            stream.reconfigure(errors=ERRORS)


class ClosedStdout:
    """Standard output closed by the shell (``>&-``), where Python leaves ``sys.stdout`` None
    and click would print ``--help`` nowhere without a word: every write fails as a closed
    stream's would, and the command says so in one line."""

    encoding, errors = "utf-8", "strict"

    def write(self, text: str) -> int:
        raise OSError(9, "it is closed")  # EBADF

    def fileno(self) -> int:
        raise OSError(9, "it is closed")

    def flush(self) -> None:
        pass

    def isatty(self) -> bool:
        return False


def encodable(stream, text: str) -> bool:
    """Whether ``stream``'s encoding can write ``text`` as it is."""
    try:
        text.encode(getattr(stream, "encoding", None) or "utf-8")
    except UnicodeEncodeError:
        return False
    except LookupError:
        return True
    return True


# ---------------------------------------------------------------------------------------
# Signals
# ---------------------------------------------------------------------------------------


class Interrupted(SystemExit):
    """SIGINT or SIGTERM: unwinds like ``sys.exit`` (``finally`` blocks and ``with`` exits
    run, so temporary files go and a progress bar is cleared), then ``on_signals`` prints
    its one line."""

    def __init__(self, signum: int):
        super().__init__(128 + signum)
        self.signum = signum

    @property
    def line(self) -> str:
        return "flopcalc: interrupted" if self.signum == signal.SIGINT else "flopcalc: terminated"


_SIGNALS = tuple(s for s in (getattr(signal, "SIGINT", None), getattr(signal, "SIGTERM", None))
                 if s is not None)


# Temporary files being written (``_replace``): removed by the fallback below too.
_temporaries: set[str] = set()
_handled = False  # set once ``on_signals`` has turned an Interrupted into its line
FALLBACK_AFTER = 3.0  # seconds the raised Interrupted has to reach ``on_signals``


def _on_signal(signum, frame) -> None:
    for s in _SIGNALS:  # the way out is not interrupted again
        signal.signal(s, signal.SIG_IGN)
    # CPython can lose an exception raised from a signal handler (seen while an import
    # compiled a module): should this one not arrive, a watchdog ends the process the same way.
    import threading

    threading.Thread(target=_fallback_exit, args=(signum,), daemon=True).start()
    raise Interrupted(signum)


def _fallback_exit(signum: int) -> None:
    time.sleep(FALLBACK_AFTER)
    if _handled:
        return
    for tmp in list(_temporaries):
        with contextlib.suppress(OSError):
            os.unlink(tmp)
    with contextlib.suppress(OSError, ValueError):
        print(Interrupted(signum).line, file=sys.stderr, flush=True)
    os._exit(128 + signum)


@contextlib.contextmanager
def on_signals():
    """Within: SIGINT and SIGTERM raise ``Interrupted``; on the way out it becomes one line on
    stderr and exit code 130 (SIGINT) or 143 (SIGTERM). Nested uses print the line once."""
    for s in _SIGNALS:
        if signal.getsignal(s) not in (signal.SIG_IGN, _on_signal):  # nohup keeps its meaning
            signal.signal(s, _on_signal)
    try:
        yield
    except Interrupted as e:
        global _handled
        _handled = True
        with contextlib.suppress(OSError, ValueError):
            sys.stderr.flush()
            print(e.line, file=sys.stderr, flush=True)
        raise SystemExit(e.code) from None


@contextlib.contextmanager
def _signals_held():
    """SIGINT and SIGTERM wait (blocked) until the block is done."""
    if not hasattr(signal, "pthread_sigmask"):
        yield
        return
    old = signal.pthread_sigmask(signal.SIG_BLOCK, _SIGNALS)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)
