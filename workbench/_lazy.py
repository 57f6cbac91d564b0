"""Names a package exports but imports only on first use (PEP 562 ``__getattr__``).

Used by package ``__init__`` files whose names would otherwise pull in heavy modules
(Keras, MediaPipe, ipywidgets) at ``import workbench``.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any


def lazy_exports(
    package: str, exports: Mapping[str, str], namespace: dict[str, Any]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """``__getattr__`` and ``__dir__`` for ``package``.

    Args:
        package: the package's ``__name__``.
        exports: public name -> the module that defines it (absolute, or relative to
            ``package`` when it starts with ``.``).
        namespace: the package's ``globals()``; a name once imported is stored there, so
            later look-ups do not come back here.
    """

    def __getattr__(name: str) -> Any:
        module = exports.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        from workbench.native_logs import quiet_native_logs

        # The heavy modules log as they import (TensorFlow under Keras: oneDNN and
        # CPU-feature lines on fd 2); hold those back, as for every model load.
        with quiet_native_logs():
            value = getattr(importlib.import_module(module, package), name)
        namespace[name] = value
        return value

    def __dir__() -> list[str]:
        return sorted(set(namespace) | set(exports))

    return __getattr__, __dir__
