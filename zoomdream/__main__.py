"""``python -m zoomdream``: see :mod:`zoomdream.frontends.cli`."""

import os
import sys

# XLA's C++ log lines (compiler banners such as "Very slow compile?") are not for the
# user of a command line; errors still reach them as exceptions, said in one line.
# Set before JAX is imported; TF_CPP_MIN_LOG_LEVEL=0 in the environment shows them.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from zoomdream.frontends.cli import main  # noqa: E402

sys.exit(main())
