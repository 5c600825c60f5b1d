"""Stands for ``import socket`` in the lesson programs.

Importing this module imports the stdlib ``socket`` module, or ``ferrosock`` when the command
line says ``--backend rust``, and this module's name then refers to that module; so

    from ferrosock.lessons import backend as socket
    from ferrosock.lessons.backend import SOL_SOCKET, SO_REUSEADDR
    from ferrosock.lessons.backend import *

read exactly like ``import socket``, ``from socket import SOL_SOCKET, SO_REUSEADDR`` and
``from socket import *``.
"""

import importlib
import sys

from ferrosock.lessons._options import MODULES, chosen_backend

# The import system hands out whatever sys.modules holds for this name once the module body
# has run, so every importer gets the chosen socket module itself.
sys.modules[__name__] = importlib.import_module(MODULES[chosen_backend()])
