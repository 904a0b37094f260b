"""zoomdream: infinite-zoom DeepDream animations in JAX."""

__version__ = "0.1.0"

from zoomdream.googlenet import MEAN_BGR, GoogLeNet  # noqa: E402
from zoomdream.weights import load_googlenet  # noqa: E402

__all__ = ["GoogLeNet", "MEAN_BGR", "load_googlenet", "__version__"]
