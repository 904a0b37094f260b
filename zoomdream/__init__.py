"""zoomdream: infinite-zoom DeepDream animations in JAX.

    import zoomdream
    net = zoomdream.load_googlenet()
    zoomdream.render("noise-to-dogs", "dogs.mp4", seconds=8)
"""

__version__ = "0.1.0"

from zoomdream.googlenet import MEAN_BGR, GoogLeNet  # noqa: E402
from zoomdream.render import RenderError, RenderResult, render, rerender, resume  # noqa: E402
from zoomdream.weights import load_googlenet  # noqa: E402

__all__ = ["GoogLeNet", "MEAN_BGR", "RenderError", "RenderResult", "load_googlenet", "render", "rerender", "resume",
           "__version__"]
