"""Checks of hand-written FLOP analyses (Markdown/LaTeX)."""
