"""``python -m redactline``: the same entry point as the ``redactline`` command."""

import sys

from redactline.pipelines.cli import main

if __name__ == "__main__":
    sys.exit(main())
