"""``python -m zoomdream``: see :mod:`zoomdream.cli`."""

import sys

from zoomdream.cli import main

sys.exit(main())
