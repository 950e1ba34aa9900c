"""``python -m bbcu_cli`` runs the ``bbcu`` command."""

import sys

from .cli.app import main

sys.exit(main())
