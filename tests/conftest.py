"""Shared helpers for the flopcalc test suite (kept deliberately small)."""

from __future__ import annotations

import json

import pytest
from fuzz_helpers import DERANDOMIZE
from hypothesis import HealthCheck, settings

# The machine running the tests may be busy: a slow draw is not a failure (every test's own
# @settings still chooses its number of examples). Derandomized but in a long fuzz (see
# fuzz_helpers.py).
settings.register_profile("flopcalc", deadline=None, derandomize=DERANDOMIZE,
                          suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
settings.load_profile("flopcalc")

# The seed document's setting: GPT-2 small, batch 1, 128 tokens.
B, L, D, H, DH, DFF, V, NPOS, NL = 1, 128, 768, 12, 64, 3072, 50257, 1024, 12

# Hugging Face's config.json of the "gpt2" checkpoint (the fields that matter, plus a few
# that flopcalc must ignore).
GPT2_CONFIG_JSON = {
    "activation_function": "gelu_new",
    "architectures": ["GPT2LMHeadModel"],
    "attn_pdrop": 0.1,
    "bos_token_id": 50256,
    "embd_pdrop": 0.1,
    "eos_token_id": 50256,
    "initializer_range": 0.02,
    "layer_norm_epsilon": 1e-05,
    "model_type": "gpt2",
    "n_ctx": 1024,
    "n_embd": 768,
    "n_head": 12,
    "n_inner": None,
    "n_layer": 12,
    "n_positions": 1024,
    "resid_pdrop": 0.1,
    "vocab_size": 50257,
}


def rows_by_name(report) -> dict:
    """A FlopReport's rows keyed by operation name."""
    return {r.op.name: r for r in report.rows}


@pytest.fixture
def write_json(tmp_path):
    """Write a JSON document (or raw text) to a file in tmp_path and return its path."""

    def write(content, name: str = "config.json"):
        path = tmp_path / name
        path.write_text(content if isinstance(content, str) else json.dumps(content),
                        encoding="utf-8")
        return path

    return write
