"""Reading the YAML that users write (preset files, ``--set`` values, notebook cells),
defensively: whatever the text, the answer is data of a bounded size or one line that
says what is wrong with it.

* Numbers are read as people write them: ``0x10``, ``010`` and ``1:30`` stay text rather
  than becoming 16, 8 and 90 (YAML 1.1's hexadecimal, octal and base-60 forms), so a
  size such as ``0x10`` is refused as a size, not read as a number; ``1e-3`` is a number.
* A document may be at most :data:`MAX_BYTES` long and may expand to at most
  :data:`MAX_VALUES` values. Anchors and aliases stay allowed (handy for repeating a list
  of keyframes), but nested aliases that would expand exponentially (the "billion
  laughs" shape) are refused at once instead of exhausting memory later.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from zoomdream.errors import ConfigError

MAX_BYTES = 1 << 20
MAX_VALUES = 100_000


class _Loader(yaml.SafeLoader):
    """YAML's safe loader with decimal numbers only."""


_Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag not in ("tag:yaml.org,2002:int", "tag:yaml.org,2002:float")]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Loader.add_implicit_resolver("tag:yaml.org,2002:int", re.compile(r"^[-+]?(?:0|[1-9][0-9_]*)$"), list("-+0123456789"))
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"""^(?:[-+]?(?:[0-9][0-9_]*)?\.[0-9_]*(?:[eE][-+]?[0-9]+)?
                    |[-+]?[0-9][0-9_]*[eE][-+]?[0-9]+
                    |[-+]?\.(?:inf|Inf|INF)
                    |\.(?:nan|NaN|NAN))$""", re.X),
    list("-+0123456789."),
)


def _count_values(data: Any, limit: int) -> int:
    """How many values ``data`` holds once aliases are expanded, counting no further
    than just past ``limit`` (so an exponential document costs nothing to measure)."""
    count, stack = 0, [data]
    while stack and count <= limit:
        node = stack.pop()
        count += 1
        if isinstance(node, dict):
            stack.extend(node.keys())
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return count


def parse(text: str, where: str) -> Any:
    """The data of a YAML document; mistakes raise :class:`ConfigError` naming ``where``
    (a file, ``--set``, ...) and the line."""
    if len(text) > MAX_BYTES:
        raise ConfigError(f"{where}: {len(text):,} characters is more than a preset may have ({MAX_BYTES:,})")
    try:
        data = yaml.load(text, Loader=_Loader)  # noqa: S506  (a safe loader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f"{where}:{mark.line + 1}" if mark is not None else where
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(f"{at}: malformed YAML: {problem}") from None
    except RecursionError:
        raise ConfigError(f"{where}: the YAML is nested too deeply") from None
    if _count_values(data, MAX_VALUES) > MAX_VALUES:
        raise ConfigError(f"{where}: the YAML expands to more than {MAX_VALUES:,} values (nested aliases?)")
    return data


def read_file(path: Path) -> Any:
    """The data of a YAML file, read as UTF-8 text."""
    if path.is_dir():
        raise ConfigError(f"preset {str(path)!r} is a folder, not a preset file")
    try:
        if path.stat().st_size > MAX_BYTES:
            raise ConfigError(f"{path}: {path.stat().st_size:,} bytes is more than a preset may have ({MAX_BYTES:,})")
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not a text file (a preset is YAML in UTF-8)") from None
    except OSError as exc:
        raise ConfigError(f"cannot read preset {path}: {exc.strerror or exc}") from None
    return parse(text, str(path))
