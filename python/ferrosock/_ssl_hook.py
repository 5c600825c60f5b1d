"""Install :mod:`ferrosock.ssl` as soon as the stdlib's ``ssl`` is imported, whenever that is.

``import ferrosock`` does not import ``ssl`` (it costs a program that never uses TLS about 10 ms):
when ``ssl`` is already loaded, :mod:`ferrosock.ssl` is installed at once; otherwise a finder on
``sys.meta_path`` waits for the first ``import ssl`` and installs it right after the module has
run. Either way ``SSLContext.wrap_socket()`` returns a ferrosock TLS socket for a ferrosock
socket, whatever the order of the imports.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import sys
from typing import Any


def _install_ferrosock_ssl() -> None:
    import ferrosock.ssl  # noqa: F401  (its import installs SSLContext.sslsocket_class)


class _Loader(importlib.abc.Loader):
    """The stdlib's loader for ``ssl``, followed by the install."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner

    def create_module(self, spec: Any) -> Any:
        return self._inner.create_module(spec)

    def exec_module(self, module: Any) -> None:
        # Put the real loader back first: tracebacks, reload() and inspect use it.
        module.__loader__ = self._inner
        if module.__spec__ is not None:
            module.__spec__.loader = self._inner
        self._inner.exec_module(module)
        _install_ferrosock_ssl()


class _Finder(importlib.abc.MetaPathFinder):
    def find_spec(self, fullname: str, path: Any, target: Any = None) -> Any:
        if fullname != "ssl":
            return None
        remove()
        spec = importlib.machinery.PathFinder.find_spec(fullname, path)
        if spec is None or spec.loader is None:
            return spec
        spec.loader = _Loader(spec.loader)
        return spec


_finder = _Finder()


def remove() -> None:
    try:
        sys.meta_path.remove(_finder)
    except ValueError:
        pass


def arm() -> None:
    """Install ferrosock.ssl now if ``ssl`` is loaded, else on its first import."""
    if "ssl" in sys.modules:
        _install_ferrosock_ssl()
    elif _finder not in sys.meta_path:
        sys.meta_path.insert(0, _finder)
