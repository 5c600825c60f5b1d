"""``python -m ferrosock``: the command line (see ferrosock.cli)."""

import sys

from ferrosock.cli import main

if __name__ == "__main__":
    sys.exit(main())
