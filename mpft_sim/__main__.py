"""``python -m mpft_sim``: the same as the ``mpft-sim`` command."""

import sys

from mpft_sim.cli import main

sys.exit(main())
