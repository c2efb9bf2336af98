"""`python -m gepa_jupyter optimize ...`: the command line (gepa_jupyter.frontends.cli)."""

import sys

from gepa_jupyter.frontends.cli import main

if __name__ == "__main__":
    sys.exit(main())
