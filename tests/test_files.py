"""Files and streams: what ``--output`` may replace, standard input, size and depth limits on
what is read, ASCII-only terminals, and Ctrl-C / SIGTERM (real processes, bounded waits)."""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from cli_helpers import invoke, one_line_error

# GPT-2 medium from first principles: per block 12·d² + 13·d (QKV, out, FFN weights and
# biases, two LayerNorms), plus wte V·d, wpe 1024·d and the final LayerNorm 2·d.
D_MEDIUM = 1024
MEDIUM_PARAMS = 24 * (12 * D_MEDIUM ** 2 + 13 * D_MEDIUM) + 50257 * D_MEDIUM + 1024 * D_MEDIUM \
    + 2 * D_MEDIUM
MEDIUM_CONFIG = json.dumps({"model_type": "gpt2", "n_embd": 1024, "n_head": 16, "n_layer": 24})


def flopcalc(*args, env=None, **kwargs) -> subprocess.CompletedProcess:
    """``python -m flopcalc ARGS`` in a real process, bounded in time."""
    return subprocess.run([sys.executable, "-m", "flopcalc", *map(str, args)],
                          capture_output=True, timeout=120, env={**os.environ, **(env or {})},
                          **kwargs)


def is_one_line(stderr: bytes, line: str) -> bool:
    return stderr.decode() == line + "\n"


# ---------------------------------------------------------------------------------------
# --output: what it replaces and what it writes in place
# ---------------------------------------------------------------------------------------


def test_output_to_a_character_device_writes_into_it_and_leaves_it_a_device(tmp_path):
    device = tmp_path / "mynull"
    try:
        os.mknod(device, stat.S_IFCHR | 0o666, os.makedev(1, 3))  # /dev/null's numbers
    except OSError as e:
        pytest.skip(f"cannot create a device here: {e}")
    assert invoke("flops", "--output", device).exit_code == 0
    assert stat.S_ISCHR(os.stat(device).st_mode)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mynull"]


def test_output_to_a_fifo_goes_to_its_reader_and_leaves_it_a_fifo(tmp_path):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    received = []
    reader = threading.Thread(target=lambda: received.append(fifo.read_bytes()), daemon=True)
    reader.start()
    result = invoke("flops", "--format", "csv", "--output", fifo)
    reader.join(timeout=60)
    assert result.exit_code == 0 and not reader.is_alive()
    assert received[0].decode().startswith("# FLOPs of one forward pass")
    assert stat.S_ISFIFO(os.stat(fifo).st_mode)


def test_output_dash_is_standard_output(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    to_dash = invoke("flops", "--format", "csv", "-o", "-")
    assert to_dash.exit_code == 0
    assert to_dash.stdout == invoke("flops", "--format", "csv").stdout
    assert to_dash.stdout.startswith("# FLOPs of one forward pass")
    assert list(tmp_path.iterdir()) == []  # no file named "-"


def test_a_file_name_of_255_characters_can_be_written(tmp_path):
    target = tmp_path / ("a" * 251 + ".csv")  # the longest name most file systems allow
    assert invoke("flops", "--format", "csv", "--output", target).exit_code == 0
    assert target.read_text(encoding="utf-8").startswith("# FLOPs of one forward pass")
    assert [p.name for p in tmp_path.iterdir()] == [target.name]


def test_plot_writes_through_a_symlink_and_keeps_the_permissions(tmp_path):
    pytest.importorskip("matplotlib")
    target, link = tmp_path / "real.svg", tmp_path / "latest.svg"
    target.write_text("old\n")
    target.chmod(0o600)
    link.symlink_to(target)
    result = invoke("plot", "--seq-len", "128:256:x2", "--output", link)
    assert result.exit_code == 0, result.stderr
    assert link.is_symlink() and target.read_text(encoding="utf-8").startswith("<?xml")
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == ["latest.svg", "real.svg"]


# A real signal, delivered while the file is being written: os.fsync (called on the
# temporary file, before the rename) sends it to its own process first.
SIGNAL_DURING_WRITE = """
import os, signal, sys
fsync = os.fsync
def fsync_after_a_signal(fd):
    os.kill(os.getpid(), signal.{sig})
    fsync(fd)
os.fsync = fsync_after_a_signal
sys.argv = ["flopcalc", *sys.argv[1:]]
from flopcalc.__main__ import main
main()
"""


@pytest.mark.parametrize("sig, code, line", [("SIGINT", 130, "flopcalc: interrupted"),
                                             ("SIGTERM", 143, "flopcalc: terminated")])
def test_a_signal_during_an_output_write_keeps_the_old_file_and_leaves_no_temporary(
        tmp_path, sig, code, line):
    target = tmp_path / "report.csv"
    target.write_text("old\n")
    run = subprocess.run([sys.executable, "-c", SIGNAL_DURING_WRITE.format(sig=sig), "flops",
                          "--format", "csv", "--output", str(target)],
                         capture_output=True, timeout=120)
    assert run.returncode == code and is_one_line(run.stderr, line), run.stderr
    assert target.read_text() == "old\n"
    assert [p.name for p in tmp_path.iterdir()] == ["report.csv"]


# ---------------------------------------------------------------------------------------
# Reading: standard input, limits
# ---------------------------------------------------------------------------------------


def test_config_dash_reads_standard_input():
    result = flopcalc("params", "--config", "-", "--format", "json", input=MEDIUM_CONFIG.encode())
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["totals"]["total"] == MEDIUM_PARAMS == 354_823_168


def test_audit_dash_reads_standard_input():
    result = invoke("audit", "-", "--format", "json", input="QKV: 3 × 128 = 384\n2 × 3 = 7\n")
    assert result.exit_code == 1, result.stderr  # one equation is wrong
    verdicts = [(e["line"], e["verdict"]) for e in json.loads(result.stdout)["arithmetic"]]
    assert verdicts == [(1, "ok"), (2, "wrong")]


@pytest.mark.parametrize("args, message", [
    (["params", "--config", "/dev/zero"], "config /dev/zero is over the 1 MiB limit"),
    (["params", "--config", "/dev/urandom"], "config /dev/urandom is over the 1 MiB limit"),
    (["audit", "/dev/zero"], "document /dev/zero is over the 64 MiB limit"),
])
def test_endless_inputs_are_refused_at_their_size_limit(args, message):
    if not Path(args[-1]).exists():
        pytest.skip(f"no {args[-1]} here")
    assert message in one_line_error(invoke(*args))


def test_a_config_over_one_mib_is_refused(write_json):
    path = write_json(" " * (1024 * 1024) + MEDIUM_CONFIG)
    assert "is over the 1 MiB limit" in one_line_error(invoke("params", "--config", path))


def test_a_config_of_100000_nested_brackets_is_refused_in_one_line(write_json):
    path = write_json("[" * 100_000 + "]" * 100_000)
    assert "nests arrays or objects more than 100 deep" in \
        one_line_error(invoke("params", "--config", path))


def test_a_number_too_long_to_read_quickly_is_refused(write_json):
    path = write_json('{"model_type": "gpt2", "n_embd": ' + "7" * 100_000 + "}")
    assert one_line_error(invoke("params", "--config", path)).endswith(
        f"config {path} has a number of more than 4,300 digits")


def test_a_config_that_is_not_utf8_is_refused_in_one_line(write_json):
    path = write_json("")
    path.write_bytes(b'{"n_embd": "\xff"}')
    assert "is not UTF-8 text (byte 12 is 0xff)" in one_line_error(invoke("params", "--config", path))


NO_WRITER_WAIT = """
import sys
import flopcalc.files
flopcalc.files.WRITER_WAIT = 0.5
sys.argv = ["flopcalc", *sys.argv[1:]]
from flopcalc.__main__ import main
main()
"""


def test_a_fifo_with_no_writer_is_refused_instead_of_waited_for(tmp_path):
    fifo = tmp_path / "config.json"
    os.mkfifo(fifo)
    run = subprocess.run([sys.executable, "-c", NO_WRITER_WAIT, "params", "--config", str(fifo)],
                         capture_output=True, timeout=60)
    assert run.returncode == 2
    assert is_one_line(run.stderr, f"flopcalc: error: config {fifo} is a FIFO with no writer "
                                   "(waited 0.5 s)"), run.stderr


def test_a_fifo_with_a_writer_is_read(tmp_path):
    fifo = tmp_path / "config.json"
    os.mkfifo(fifo)
    writer = threading.Thread(target=lambda: fifo.write_text(MEDIUM_CONFIG), daemon=True)
    writer.start()
    result = invoke("params", "--config", fifo, "--format", "json")
    writer.join(timeout=60)
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["totals"]["total"] == MEDIUM_PARAMS


# ---------------------------------------------------------------------------------------
# Terminals that are not UTF-8
# ---------------------------------------------------------------------------------------


def test_ascii_spellings():
    from flopcalc.files import ascii_spelling, spelled_in_ascii

    assert spelled_in_ascii("≈ 1.86 G, 3 × 128 − 1 · 2 → L², Wᵀ, β") == \
        "~ 1.86 G, 3 x 128 - 1 * 2 -> L^2, W^T, beta"
    assert ascii_spelling("é") == "e" and ascii_spelling("\u2603") == "?"


@pytest.mark.parametrize("encoding, args", [
    ("ascii", ["flops"]), ("ascii", ["flops", "--format", "csv"]),
    ("latin-1", ["flops", "--format", "csv"]), ("ascii", ["flops", "--format", "markdown"]),
    ("ascii", ["flops", "--format", "json"]), ("ascii", ["memory"]),
    ("latin-1", ["compare"]), ("ascii", ["flops", "--help"]),
])
def test_a_terminal_that_is_not_utf8_gets_ascii_spellings(encoding, args):
    run = flopcalc(*args, env={"PYTHONIOENCODING": encoding, "COLUMNS": "200"})
    assert run.returncode == 0, run.stderr[-300:]
    assert run.stderr == b""
    text = run.stdout.decode(encoding)  # every character is one the terminal can show
    assert "≈" not in text and "−" not in text  # neither is in Latin-1
    if args[0] == "flops" and "--help" not in args:
        assert "32,228,179,968" in text or "32228179968" in text


def test_error_lines_on_an_ascii_terminal_are_ascii():
    run = flopcalc("params", "--config", "missing×.json", env={"PYTHONIOENCODING": "ascii"})
    assert run.returncode == 2
    assert is_one_line(run.stderr, "flopcalc: error: cannot read config missingx.json: No such "
                                   "file or directory"), run.stderr


def test_output_files_stay_utf8_on_an_ascii_terminal(tmp_path):
    target = tmp_path / "flops.md"
    run = flopcalc("flops", "--format", "markdown", "-o", target,
                   env={"PYTHONIOENCODING": "ascii"})
    assert run.returncode == 0, run.stderr
    assert "≈" in target.read_text(encoding="utf-8")


# ---------------------------------------------------------------------------------------
# Ctrl-C and SIGTERM
# ---------------------------------------------------------------------------------------


def _catches_sigterm(pid: int) -> bool:
    """Whether the process has installed flopcalc's handler (Linux: /proc's SigCgt mask)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("SigCgt:"):
            return bool(int(line.split()[1], 16) >> (signal.SIGTERM - 1) & 1)
    return False


def _signal_when_ready(args, sig, settle: float, stdin=subprocess.DEVNULL):
    """Start ``python -m flopcalc ARGS``; once its signal handler is in place, wait
    ``settle`` seconds (to land in its imports, or in the middle of its work) and send
    ``sig``; return (exit code, stderr). Every wait is bounded."""
    proc = subprocess.Popen([sys.executable, "-m", "flopcalc", *args], stdin=stdin,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        while not _catches_sigterm(proc.pid):
            assert proc.poll() is None and time.monotonic() < deadline, "no handler installed"
            time.sleep(0.005)
        time.sleep(settle)
        assert proc.poll() is None, "finished before the signal"
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
        proc.wait()
    return proc.returncode, err


needs_proc = pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs /proc")
LONG_SWEEP = ["sweep", "--seq-len", "1:5000000:+1", "--n-positions", "5000000", "-f", "csv"]
LONG_VERIFY = ["verify", "--preset", "gpt2-medium", "--seq-len", "256"]


@needs_proc
@pytest.mark.parametrize("args, settle", [
    (LONG_VERIFY, 0.0),  # while the CLI is still being imported
    (LONG_VERIFY, 1.0), (LONG_SWEEP, 0.5),
    (["audit", "-"], 0.5),  # reading its document from a pipe that stays open
])
def test_ctrl_c_is_one_line_and_exit_130(args, settle):
    read_end, write_end = os.pipe()
    try:
        code, err = _signal_when_ready(args, signal.SIGINT, settle, stdin=read_end)
    finally:
        os.close(read_end)
        os.close(write_end)
    assert code == 130 and is_one_line(err, "flopcalc: interrupted"), err


@needs_proc
def test_sigterm_is_one_line_and_exit_143():
    code, err = _signal_when_ready(LONG_SWEEP, signal.SIGTERM, 0.5)
    assert code == 143 and is_one_line(err, "flopcalc: terminated"), err


def test_an_interrupt_that_never_arrives_still_ends_in_one_line(tmp_path):
    # CPython can lose the exception a signal handler raises; the watchdog the handler
    # starts then ends the process with the same line and exit code, temporary files removed.
    script = tmp_path / "lost.py"
    script.write_text(
        "import os, signal, sys, time\n"
        "from flopcalc import files\n"
        "files.FALLBACK_AFTER = 0.2\n"
        "tmp = os.path.join(sys.argv[1], '.flopcalc-x.tmp')\n"
        "open(tmp, 'w').close(); files._temporaries.add(tmp)\n"
        "with files.on_signals():\n"
        "    try:\n"
        "        os.kill(os.getpid(), signal.SIGTERM)\n"
        "        time.sleep(0.01)\n"
        "    except files.Interrupted:\n"
        "        pass  # lost, as CPython sometimes loses it\n"
        "    time.sleep(30)\n", encoding="utf-8")
    run = subprocess.run([sys.executable, str(script), str(tmp_path)], capture_output=True,
                         timeout=60)
    assert run.returncode == 143 and run.stderr == b"flopcalc: terminated\n"
    assert not (tmp_path / ".flopcalc-x.tmp").exists()
