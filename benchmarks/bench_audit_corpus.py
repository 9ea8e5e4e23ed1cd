"""The audit over the corpus of public write-ups (tests/fixtures/corpus/), next to the
targets of issue 11: the share of the equations a careful reader checks that the audit
finds (>= 90%), the share of the wrong ones it flags (>= 90%), and its false alarms (0).

The expected verdicts and the scoring are those of tests/test_audit_corpus.py (one piece of
code serves both); this script prints the figures and the equations missed.

    python benchmarks/bench_audit_corpus.py
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from test_audit_corpus import MANIFEST, score  # noqa: E402


def main() -> None:
    pairs, wrong, alarms = score()
    found = sum(hit is not None for _, hit in pairs)
    flagged = sum(hit is not None and hit.verdict == "wrong" for _, hit in wrong)
    identities = len(MANIFEST.get("identity", []))
    print(f"corpus: {len(MANIFEST['document'])} write-ups, {len(pairs)} equations a careful "
          f"reader checks ({identities} of them symbolic identities), {len(wrong)} of them "
          "wrong")
    rows = [("equations found", found, len(pairs), "≥ 90%"),
            ("wrong ones flagged", flagged, len(wrong), "≥ 90%")]
    for name, k, n, target in rows:
        share = k / n if n else 1.0
        print(f"  {name:<20} {k:>3} of {n:<3} {share:>7.1%}   target {target}: "
              f"{'PASS' if share >= 0.9 else 'MISS'}")
    print(f"  {'false alarms':<20} {len(alarms):>3}{'':>15}target 0: "
          f"{'PASS' if not alarms else 'MISS'}")
    for entry, hit in pairs:
        if hit is None:
            left, right = (entry["left"], entry["right"]) if "left" in entry else \
                (entry["exact"], entry["stated"])
            print(f"  missed: {entry['file']}:{entry['line']}  {left} = {right}")
    for e in alarms:
        print(f"  false alarm: line {e.line}  {e.expression} = {e.stated_text}")


if __name__ == "__main__":
    main()
