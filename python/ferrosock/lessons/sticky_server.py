"""Sticky packets (黏包), the server: TCP is a byte stream. Start it first, then sticky_client.

It accepts one client and waits a moment before reading, so that the client's quick sends pile
up in the connection; then it prints what each recv(1024) returns. The five small messages come
out glued together, and the large one cut into many pieces: `send` boundaries are not kept.
This server only prints what arrives; nothing received is ever executed.
"""

import time

from ferrosock.lessons import backend as socket  # `import socket` (ferrosock with --backend rust)
from ferrosock.lessons._options import lesson_options

PAUSE = 0.5  # seconds: long enough for every send of the client to arrive before we read


def preview(data: bytes, width: int = 40) -> str:
    """The bytes as Python prints them, cut to `width` bytes."""
    return repr(data) if len(data) <= width else f"{data[:width]!r}..."


def main() -> None:
    options = lesson_options(port=8899, description=__doc__)

    server = socket.socket()
    server.bind((options.host, options.port))
    server.listen()
    print(f"sticky server listening on {options.host}:{server.getsockname()[1]}")

    conn, addr = server.accept()
    print(f"client {addr[0]}:{addr[1]} connected; waiting {PAUSE} s before reading")
    time.sleep(PAUSE)

    calls = total = 0
    while True:
        data = conn.recv(1024)
        if not data:  # b'': the client closed the connection
            break
        calls += 1
        total += len(data)
        print(f"recv #{calls}: {len(data)} bytes {preview(data)}")
    print(f"the client closed the connection: {total} bytes in {calls} recv calls")

    conn.close()
    server.close()


if __name__ == "__main__":
    main()
