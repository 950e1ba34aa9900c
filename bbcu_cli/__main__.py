"""``python -m bbcu_cli`` and the ``bbcu`` console script.

:func:`entry` imports the command line (typer, rich, numpy: the slow first half-second) inside
a guard, so Ctrl-C while it loads exits 130 with one line instead of a traceback.

Before numpy loads, it asks numpy's OpenBLAS for one thread (``OPENBLAS_NUM_THREADS=1`` unless
the environment sets it): the packed kernels run on their own thread pool, and OpenBLAS's idle
threads spin for a while after each product, so the routing detector's tile CNN
(:mod:`bbcu_cli.tile_cnn`, a few matrix products) slowed the restore right after it from 26 to
48 ms on a 2-core machine (``bbcu-fast-clean-x4``, 320x180); with one BLAS thread the CNN takes
as long as before and the restore is not slowed.
"""

import os
import sys


def entry() -> int:
    """Import the app, then run it; Ctrl-C during the import is an ordinary interruption."""
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    try:
        from .cli.app import main
    except KeyboardInterrupt:
        sys.stderr.write("interrupted\n")
        return 130
    return main()


if __name__ == "__main__":
    sys.exit(entry())
