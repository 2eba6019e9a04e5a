"""`python -m stepsize.cli`: the same as the `stepsize` console script."""

import sys

from . import main

sys.exit(main())
