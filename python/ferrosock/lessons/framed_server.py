"""Sticky packets fixed, the server: framed messages. Start it first, then framed_client.

The sticky_server again, with the fix: every message now travels behind a 4-byte header that
holds its length (``struct.pack('!I', len(body))``), and `recv_msg` reads one header and then
exactly that many bytes. The server still waits before reading, so the bytes still pile up,
yet every message comes out exactly as it was sent.
"""

import time

from ferrosock.framing import recv_msg
from ferrosock.lessons import backend as socket  # `import socket` (ferrosock with --backend rust)
from ferrosock.lessons._options import lesson_options

PAUSE = 0.5  # seconds: as in sticky_server, every send has arrived before we read


def preview(data: bytes, width: int = 40) -> str:
    """The bytes as Python prints them, cut to `width` bytes."""
    return repr(data) if len(data) <= width else f"{data[:width]!r}..."


def main() -> None:
    options = lesson_options(port=8899, description=__doc__)

    server = socket.socket()
    server.bind((options.host, options.port))
    server.listen()
    print(f"framed server listening on {options.host}:{server.getsockname()[1]}")

    conn, addr = server.accept()
    print(f"client {addr[0]}:{addr[1]} connected; waiting {PAUSE} s before reading")
    time.sleep(PAUSE)

    count = 0
    while True:
        data = recv_msg(conn)  # the header, then exactly the body it announces
        if data is None:  # the client closed the connection between two messages
            break
        count += 1
        print(f"message #{count}: {len(data)} bytes {preview(data)}")
    print(f"the client closed the connection: {count} messages, each exactly as sent")

    conn.close()
    server.close()


if __name__ == "__main__":
    main()
