"""``python -m flopcalc`` and the ``flopcalc`` console script."""


def main() -> None:
    """Run the command line, with Ctrl-C and SIGTERM handled from the start: importing the
    CLI (typer, rich) takes a while, and an interrupt then is one line too, not a traceback."""
    from .files import on_signals

    with on_signals():
        from .cli import run
        run()


if __name__ == "__main__":
    main()
