"""``python -m zoomdream``: see :mod:`zoomdream.frontends.cli`."""

import gc
import os
import sys

# XLA's C++ log lines (compiler banners such as "Very slow compile?") are not for the
# user of a command line; errors still reach them as exceptions, said in one line.
# Set before JAX is imported; TF_CPP_MIN_LOG_LEVEL=0 in the environment shows them.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from zoomdream.frontends.cli import main  # noqa: E402

# What the imports made lives as long as the process: kept out of the collector's full
# passes, which otherwise walk it again and again while the frame's programs load.
gc.freeze()
sys.exit(main())
