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


def glued(data: bytes) -> str:
    """What a piece shows about the client's sends, in words."""
    hellos = data.count(b"hello")
    if hellos > 1:
        rest = ", with the large one's start" if data.strip(b"hello") else ""
        return f"  <- {hellos} sends glued together{rest}"
    return ""


class Pieces:
    """Prints one line per recv, but one line for a run of recv calls of the same size,
    so that the whole story fits on one screen."""

    def __init__(self) -> None:
        self.first = self.last = 0
        self.size = -1

    def add(self, call: int, data: bytes) -> None:
        if len(data) == self.size and not glued(data):
            self.last = call  # one more piece of the same size: part of the current run
            return
        self.flush()
        print(f"recv #{call}: {len(data)} bytes {preview(data)}{glued(data)}")
        self.first = self.last = call
        self.size = len(data)

    def flush(self) -> None:
        if self.last > self.first:
            count = self.last - self.first
            first, last = self.first + 1, self.last
            calls = f"recv #{first}" if count == 1 else f"recv #{first} to #{last}"
            print(f"{calls}: {self.size} bytes each ({count} more pieces of the large message)")
        self.first = self.last


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
    pieces = Pieces()
    while True:
        data = conn.recv(1024)
        if not data:  # b'': the client closed the connection
            break
        calls += 1
        total += len(data)
        pieces.add(calls, data)
    pieces.flush()
    print(f"the client closed the connection: {total} bytes in {calls} recv calls")
    print("it made 6 sends (5 x 5 bytes, then 204800): the boundaries between them are gone")

    conn.close()
    server.close()


if __name__ == "__main__":
    main()
