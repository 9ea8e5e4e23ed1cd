"""Running the CLI in tests: one runner setup and one check of the one-line error contract."""

from __future__ import annotations

from typer.testing import CliRunner

from flopcalc.cli import app

WIDE = {"COLUMNS": "250", "TERMINAL_WIDTH": "250"}  # rich tables never cut at this width


def invoke(*args, env=None, input=None):
    """``flopcalc ARGS`` through typer's CliRunner, stderr kept apart from stdout; ``input``
    is its standard input."""
    try:
        runner = CliRunner(mix_stderr=False)  # click < 8.2
    except TypeError:
        runner = CliRunner()
    return runner.invoke(app, [str(a) for a in args], env={**WIDE, **(env or {})}, input=input)


def one_line_error(result) -> str:
    """Assert exit code 2 with exactly one line on stderr and no traceback; return that line."""
    assert result.exit_code == 2, (result.exit_code, result.stdout, result.stderr)
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].strip(), result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    return lines[0]
