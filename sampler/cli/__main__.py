"""``python -m mdhmc.sampler.cli``: the ``mdhmc`` command."""

import sys

from . import main

sys.exit(main())
