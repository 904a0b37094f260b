"""Small formulas of time, such as ``1.2 + 0.1*sin(2*pi*t/8)``, for preset values.

A formula is parsed with Python's ``ast`` module and then checked node by node against a
whitelist: numbers, the names ``t`` (seconds), ``frame``, ``fps`` and ``pi``, the
soundtrack's features (``rms``, ``onsets``, ``beats``, ``bass``...: see
:mod:`zoomdream.audio.sources`; each 0..1 at the time), the operators
``+ - * / **`` and the functions ``sin cos abs min max``. Anything else (attributes,
subscripts, other names, ``__import__``...) is refused before evaluation. Evaluation walks
the checked tree itself; Python's ``eval`` is never called.
"""

from __future__ import annotations

import ast
import dataclasses
import operator

import numpy as np

from zoomdream.audio import sources
from zoomdream.errors import ConfigError

VARIABLES = ("t", "frame", "fps") + sources.NAMES
CONSTANTS = {"pi": np.pi}
FUNCTIONS = {"sin": np.sin, "cos": np.cos, "abs": np.abs, "min": np.minimum, "max": np.maximum}
FUNCTION_ARITY = {"sin": 1, "cos": 1, "abs": 1, "min": 2, "max": 2}
BINARY = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv, ast.Pow: operator.pow}
UNARY = {ast.USub: operator.neg, ast.UAdd: operator.pos}
MAX_LENGTH = 500


class ExpressionError(ConfigError):
    """A formula that is not allowed, cannot be read, or has no finite value."""


def _check(node: ast.AST) -> None:
    if isinstance(node, ast.Expression):
        return _check(node.body)
    if isinstance(node, ast.Constant):
        if isinstance(node.value, bool) or not isinstance(node.value, (int, float)):
            raise ExpressionError(f"only numbers are allowed, not {node.value!r}")
        return
    if isinstance(node, ast.Name):
        if node.id not in VARIABLES and node.id not in CONSTANTS:
            raise ExpressionError(f"unknown name {node.id!r} (allowed: {', '.join(VARIABLES + tuple(CONSTANTS))})")
        return
    if isinstance(node, ast.BinOp):
        if type(node.op) not in BINARY:
            raise ExpressionError("only + - * / ** are allowed")
        _check(node.left)
        _check(node.right)
        return
    if isinstance(node, ast.UnaryOp):
        if type(node.op) not in UNARY:
            raise ExpressionError("only + and - may stand before a value")
        return _check(node.operand)
    if isinstance(node, ast.Call):
        name = node.func.id if isinstance(node.func, ast.Name) else None
        if name not in FUNCTIONS:
            raise ExpressionError(f"only the functions {', '.join(FUNCTIONS)} may be called")
        if node.keywords or len(node.args) != FUNCTION_ARITY[name]:
            raise ExpressionError(f"{name} takes {FUNCTION_ARITY[name]} argument(s)")
        for arg in node.args:
            _check(arg)
        return
    raise ExpressionError(f"{type(node).__name__.lower()} is not allowed in a formula")


def _evaluate(node: ast.AST, env: dict):
    if isinstance(node, ast.Expression):
        return _evaluate(node.body, env)
    if isinstance(node, ast.Constant):
        # NumPy's float, not Python's: 1/0, 10**10**10 and (-1)**0.5 become inf and nan
        # (refused below with the formula named) instead of raising or going complex.
        return np.float64(node.value)
    if isinstance(node, ast.Name):
        return env[node.id] if node.id in env else CONSTANTS[node.id]
    if isinstance(node, ast.BinOp):
        return BINARY[type(node.op)](_evaluate(node.left, env), _evaluate(node.right, env))
    if isinstance(node, ast.UnaryOp):
        return UNARY[type(node.op)](_evaluate(node.operand, env))
    return FUNCTIONS[node.func.id](*(_evaluate(a, env) for a in node.args))


@dataclasses.dataclass(frozen=True)
class Expression:
    """A checked formula; call :meth:`evaluate` with arrays of t, frame and fps."""

    text: str
    tree: ast.Expression = dataclasses.field(compare=False, repr=False, hash=False)

    @property
    def sound_names(self) -> tuple[str, ...]:
        """The soundtrack's features this formula reads."""
        used = {node.id for node in ast.walk(self.tree) if isinstance(node, ast.Name)}
        return tuple(name for name in sources.NAMES if name in used)

    def evaluate(self, t: np.ndarray, frame: np.ndarray, fps: float, sound=None, window: float = 0.0) -> np.ndarray:
        """The formula's values at times ``t``. ``sound`` (a
        :class:`~zoomdream.audio.soundtrack.Soundtrack`) is read for the features it
        names, each at its highest within ``window`` seconds of the time (see there)."""
        t = np.asarray(t, np.float64)
        env = {"t": t, "frame": np.asarray(frame, np.float64), "fps": float(fps)}
        for name in self.sound_names:
            if sound is None:
                raise ExpressionError(f"{self.text!r} {sources.without_soundtrack(name)}")
            env[name] = sound.sample(sources.parse(name, name), t, window)
        with np.errstate(all="ignore"):
            value = np.broadcast_to(np.asarray(_evaluate(self.tree, env), np.float64), t.shape)
        if not np.all(np.isfinite(value)):
            bad = int(np.argmin(np.isfinite(value)))
            raise ExpressionError(f"{self.text!r} is not a finite number at t={float(t.flat[bad]):g}")
        return value


def parse(text: str) -> Expression:
    """Parse and check a formula; :class:`ExpressionError` says what is not allowed."""
    if not isinstance(text, str) or not text.strip():
        raise ExpressionError("a formula must be non-empty text")
    if len(text) > MAX_LENGTH:
        raise ExpressionError(f"a formula may have at most {MAX_LENGTH} characters")
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError:
        raise ExpressionError(f"cannot read the formula {text!r}") from None
    _check(tree)
    return Expression(text.strip(), tree)
