"""File upload, the server: framed transfers with a checksum. Start it first, then file_client.

Each upload is the lesson's full framing: a 4-byte length, a JSON header (file name, size,
SHA-256), then the file's bytes. The server refuses a name that is not a plain file name
(``../x``, ``/etc/passwd``, ``a/b``), a file over --max-size and a name already taken in the
directory (unless --overwrite), before the client sends the body, writes the bytes to a
temporary file, and keeps it under its name only when its SHA-256 matches the header. It answers
every upload with a JSON header of its own (``ok``, then ``saved`` or the ``error``), and
serves uploads one after another until Ctrl-C.
"""

import time
from pathlib import Path

from ferrosock.framing import (
    DEFAULT_MAX_FILE,
    FrameTooLarge,
    FramingError,
    IncompleteFrame,
    recv_file,
    send_obj,
)
from ferrosock.lessons import backend as socket  # `import socket` (ferrosock with --backend rust)
from ferrosock.lessons._options import _parser
from ferrosock.lessons._progress import ProgressBar, human_size

DRAIN_SECONDS = 2.0  # how long a refused client may go on sending before we hang up
IDLE_SECONDS = 30.0  # a client that stalls this long is dropped, so the next one gets its turn


def refuse(conn, error: str) -> None:
    """Tell the client why, then read and drop what it is still sending, for a while.

    Closing a connection with unread bytes makes the kernel reset it, and the client would
    see "Connection reset" instead of our answer."""
    try:
        send_obj(conn, {"ok": False, "error": error})
        conn.shutdown(socket.SHUT_WR)
        conn.settimeout(DRAIN_SECONDS)
        deadline = time.monotonic() + DRAIN_SECONDS
        while time.monotonic() < deadline and conn.recv(65536):
            pass
    except OSError:  # the client is gone, or still sending after DRAIN_SECONDS
        pass


def serve_one(conn, addr, directory: Path, max_size: int, overwrite: bool) -> None:
    who = f"{addr[0]}:{addr[1]}"
    print(f"upload from {who}")
    bar = ProgressBar("receiving")
    try:
        path = recv_file(conn, directory, progress=bar, max_size=max_size, overwrite=overwrite)
    except IncompleteFrame as exc:  # the client went away (Ctrl-C, a crash) half-way
        bar.interrupted()
        got, size = human_size(exc.received), human_size(exc.expected)
        print(f"lost the upload from {who}: the connection closed after {got} of {size}")
        return
    except FramingError as exc:
        bar.interrupted()
        if isinstance(exc, FrameTooLarge):
            why = f"the file is {exc.length} bytes, over the limit of {exc.limit} bytes"
        else:
            why = str(exc)
        print(f"refused the upload from {who}: {why}")
        refuse(conn, why)
        return
    except OSError as exc:  # reset, or silent for IDLE_SECONDS
        bar.interrupted()
        print(f"lost the upload from {who}: {exc}")
        return
    if path is None:
        print(f"{who} closed the connection without sending a file")
        return
    size = path.stat().st_size
    print(f"saved {path} ({size} bytes, SHA-256 checked)")
    send_obj(conn, {"ok": True, "name": path.name, "saved": size})


def main() -> None:
    parser = _parser(port=8900, description=__doc__)
    parser.add_argument(
        "--directory", default="received", help="where uploads are saved (default: %(default)s)"
    )
    parser.add_argument(
        "--max-size",
        type=int,
        default=DEFAULT_MAX_FILE,
        help="the largest file accepted, in bytes (default: %(default)s)",
    )
    parser.add_argument(
        "--overwrite",
        action="store_true",
        help="replace a file already there (default: refuse an upload whose name is taken)",
    )
    options = parser.parse_args()
    directory = Path(options.directory)
    directory.mkdir(parents=True, exist_ok=True)

    server = socket.socket()
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind((options.host, options.port))
    server.listen()
    port = server.getsockname()[1]  # the one the kernel chose, with --port 0
    print(f"file server listening on {options.host}:{port}, saving into {directory}")

    try:
        while True:
            conn, addr = server.accept()
            conn.settimeout(IDLE_SECONDS)
            try:
                serve_one(conn, addr, directory, options.max_size, options.overwrite)
            except OSError as exc:
                print(f"lost {addr[0]}:{addr[1]}: {exc}")
            finally:
                conn.close()
    except KeyboardInterrupt:
        print("\nserver stopped")
    finally:
        server.close()


if __name__ == "__main__":
    main()
