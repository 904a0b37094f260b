"""The dream: the compiled frame step (:mod:`.step`) with its octaves, its gradient ascent
written as optax transformations (:mod:`.ascent`), what the ascent maximises
(:mod:`.objectives`) and the camera move between frames (:mod:`.camera`). Everything here
is pure JAX on arrays: it reads a frame's values and a static :class:`~.step.DreamSpec`,
never a preset, a file or the clock.
"""
