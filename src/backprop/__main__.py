"""``python -m backprop`` works like the ``backprop`` script."""

import sys

from backprop.cli import main

sys.exit(main())
