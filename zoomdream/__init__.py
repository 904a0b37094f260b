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

import gc as _gc  # noqa: E402

from zoomdream.frontends import startup as _startup  # noqa: E402 - the standard library only

# Importing JAX and the rest makes a few hundred thousand objects that live as long as
# the process; the cyclic garbage collector walked them over and over while they were
# made (0.2-0.4 s of every start on two cores). None of them is garbage, so it waits.
_collecting = _gc.isenabled()
_gc.disable()
try:
    with _startup.interrupts_held():  # (the command line's Ctrl-C: one line, after the imports)
        # First, with JAX: the command line's warm start loads the last render's programs
        # beside the imports that follow (see dream/warm_start.py).
        from zoomdream.dream import warm_start as _warm_start  # noqa: E402

        if (_args := _startup.command_line_args()) is not None and _startup.renders(_args):
            _warm_start.begin()
        from zoomdream.network.googlenet import MEAN_BGR, GoogLeNet  # noqa: E402
        from zoomdream.network.weights import load_googlenet  # noqa: E402
        from zoomdream.render import RenderError, RenderResult, render, render_sweep, rerender, resume  # noqa: E402
finally:
    if _collecting:
        _gc.enable()

__all__ = ["GoogLeNet", "MEAN_BGR", "RenderError", "RenderResult", "load_googlenet", "render", "render_sweep", "rerender",
           "resume", "__version__"]
