"""The schedule: presets loaded into validated dataclasses (:mod:`.config`), scheduled
numbers as keyframes (:mod:`.keyframes`) or whitelisted formulas (:mod:`.expressions`),
every scheduled value evaluated up front into one pytree of per-frame arrays
(:mod:`.values`, :mod:`.plan`), and the command line's shortcuts and the static shape of a
render resolved from all that (:mod:`.settings`). Pure host code: a whole render can be
planned and checked before a device is touched.
"""
