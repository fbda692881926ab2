"""``python -m sayna``: the command line (see :mod:`sayna.cli`)."""

from __future__ import annotations

import sys

from sayna.cli import main

if __name__ == "__main__":
    sys.exit(main())
