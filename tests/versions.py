"""What differs between the CPython versions the suite runs on (3.9 to 3.13), in one place.

The stdlib of the interpreter running the tests is the specification; a test compares with
what the stdlib does here and now wherever it can. What is left, a fact that is true on some
versions only, is named here once, with the change that made it so, and tests import it.
"""

from __future__ import annotations

import ssl
import sys

PY = sys.version_info[:2]

# bpo-42413 (3.10): socket.timeout became an alias of the builtin TimeoutError. Before, it was
# its own OSError subclass, and tracebacks print it as "socket.timeout".
TIMEOUT_IS_TIMEOUTERROR = PY >= (3, 10)
TIMEOUT_TRACEBACK_NAME = "TimeoutError" if TIMEOUT_IS_TIMEOUTERROR else "socket.timeout"

# 3.9's parser reports an EOF inside brackets (`x = (`) on the line after the last for a file
# (`python s.py`), on the last line for the same text given to compile(); runpy, pdb and
# `ferrosock run` compile the text, so on 3.9 their traceback names another line. 3.10's
# parser gives both the same line.
SYNTAX_ERROR_AT_EOF_AS_FILE = PY >= (3, 10)

# TLS (the stdlib's `ssl` over the same OpenSSL, so the differences are in _ssl.c):
# 3.10 moved _ssl to SSL_read_ex/SSL_write_ex and OpenSSL 3's strict EOF handling.
# - A peer that closes without close_notify: 3.9 reads b"" even with suppress_ragged_eofs=False;
#   3.10+ raises SSLEOFError.
RAGGED_EOF_RAISES = PY >= (3, 10)
# - A zero-length send()/sendall(): 3.9 raises SSLEOFError ("EOF occurred in violation of
#   protocol"), 3.10+ returns 0 / None.
TLS_EMPTY_WRITE_WORKS = PY >= (3, 10)
# - Writing after the peer closed (AF_UNIX: EPIPE): 3.9 raises the BrokenPipeError itself;
#   3.10 to 3.12 take SSL_write_ex's failure for an EOF and raise SSLEOFError; 3.13 reports the
#   system call's error again (BrokenPipeError), as it does for a failed read.
TLS_WRITE_AFTER_CLOSE = ssl.SSLEOFError if (3, 10) <= PY < (3, 13) else BrokenPipeError
# - shared_ciphers(): 3.9 lists the context's ciphers on the client side and before the
#   handshake too; 3.10+ returns None there (only a server after the handshake has a list).
SHARED_CIPHERS_SERVER_ONLY = PY >= (3, 10)
