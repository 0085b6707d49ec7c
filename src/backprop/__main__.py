"""``python -m backprop`` works like the ``backprop`` script."""

import sys

from .cli import main

sys.exit(main())
