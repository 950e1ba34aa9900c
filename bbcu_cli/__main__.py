"""``python -m bbcu_cli`` and the ``bbcu`` console script.

:func:`entry` imports the command line (typer, rich, numpy: the slow first half-second) inside
a guard, so Ctrl-C while it loads exits 130 with one line instead of a traceback.
"""

import sys


def entry() -> int:
    """Import the app, then run it; Ctrl-C during the import is an ordinary interruption."""
    try:
        from .cli.app import main
    except KeyboardInterrupt:
        sys.stderr.write("interrupted\n")
        return 130
    return main()


if __name__ == "__main__":
    sys.exit(entry())
