"""``python -m zoomdream``: see :mod:`zoomdream.frontends.cli`."""

import sys

from zoomdream.frontends.cli import main

sys.exit(main())
