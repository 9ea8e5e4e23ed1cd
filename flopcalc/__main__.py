"""``python -m flopcalc``."""

from .cli import run

run()
