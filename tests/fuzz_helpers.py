"""How many examples a property test draws: its own number in the suite, times
``FLOPCALC_FUZZ_EXAMPLES`` for a long fuzz outside it, e.g.
``FLOPCALC_FUZZ_EXAMPLES=20 python -m pytest -k random`` draws twenty times as many."""

from __future__ import annotations

import os

SCALE = float(os.environ.get("FLOPCALC_FUZZ_EXAMPLES", "1"))
# the suite draws the same examples every run (its verdict on a commit is the code's, not the
# luck of the draw); a long fuzz draws fresh ones
DERANDOMIZE = "FLOPCALC_FUZZ_EXAMPLES" not in os.environ


def examples(n: int) -> int:
    """``n`` examples in the suite, ``n × FLOPCALC_FUZZ_EXAMPLES`` in a long run (at least 1)."""
    return max(1, int(n * SCALE))
