"""zoomdream: infinite-zoom DeepDream animations in JAX.

    import zoomdream
    net = zoomdream.load_googlenet()
    zoomdream.render("noise-to-dogs", "dogs.mp4", seconds=8)

The package's folders follow the program's shape: ``network/`` (GoogLeNet, its weights),
``schedule/`` (presets -> per-frame values), ``dream/`` (the compiled frame step), ``io/``
(pictures, video, checkpoints, outputs), ``render.py`` (the loop) and ``frontends/`` (the
command line, notebooks, galleries, ``--plan``).
"""

__version__ = "0.1.0"

from zoomdream.network.googlenet import MEAN_BGR, GoogLeNet  # noqa: E402
from zoomdream.network.weights import load_googlenet  # noqa: E402
from zoomdream.render import RenderError, RenderResult, render, rerender, resume  # noqa: E402

__all__ = ["GoogLeNet", "MEAN_BGR", "RenderError", "RenderResult", "load_googlenet", "render", "rerender", "resume",
           "__version__"]
