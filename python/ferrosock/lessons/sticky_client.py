"""Sticky packets (黏包), the client: a burst of sends. Start sticky_server first.

It sends b'hello' five times as fast as it can, then one large message (200 KB of a repeated
pattern), and closes. Watch the server: what it receives does not line up with these sends.
"""

from ferrosock.lessons import backend as socket  # `import socket` (ferrosock with --backend rust)
from ferrosock.lessons._options import lesson_options

SMALL = b"hello"
LARGE = b"0123456789abcdef" * (200 * 1024 // 16)  # 200 KB


def main() -> None:
    options = lesson_options(port=8899, description=__doc__)

    client = socket.socket()
    client.connect((options.host, options.port))
    for _ in range(5):
        client.send(SMALL)
        print(f"sent {SMALL!r}")
    client.sendall(LARGE)  # send() may take only part of it; sendall() sends it all
    print(f"sent {len(LARGE)} bytes {LARGE[:16]!r}...")
    client.close()


if __name__ == "__main__":
    main()
