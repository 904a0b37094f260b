"""zoomdream: infinite-zoom DeepDream animations in JAX.

    import zoomdream
    net = zoomdream.load_googlenet()
    zoomdream.render("noise-to-dogs", "dogs.mp4", seconds=8)

The package's folders follow the program's shape: ``network/`` (GoogLeNet, its weights),
``schedule/`` (presets -> per-frame values), ``audio/`` (the soundtrack that values may
follow), ``dream/`` (the compiled frame step), ``io/`` (pictures, video, checkpoints,
outputs), ``render.py`` (the loop), ``frontends/`` (the command line, notebooks,
galleries, ``--plan``) and ``web/`` (``python -m zoomdream serve``: the web page).
"""

__version__ = "0.1.0"

from zoomdream.network.googlenet import MEAN_BGR, GoogLeNet  # noqa: E402
from zoomdream.network.weights import load_googlenet  # noqa: E402
from zoomdream.render import RenderError, RenderResult, render, render_sweep, rerender, resume  # noqa: E402

__all__ = ["GoogLeNet", "MEAN_BGR", "RenderError", "RenderResult", "load_googlenet", "render", "render_sweep", "rerender",
           "resume", "__version__"]
