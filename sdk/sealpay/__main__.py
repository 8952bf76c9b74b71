"""``python -m sealpay``: the SDK's command line (see :mod:`sealpay.cli`)."""

import sys

from sealpay.cli import main

sys.exit(main())
