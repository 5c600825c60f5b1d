"""Sticky packets fixed, the client: the same burst, framed. Start framed_server first.

The sticky_client's messages (b'hello' five times, then 200 KB), each sent with `send_msg`,
which puts a 4-byte length header in front: ``struct.pack('!I', len(body)) + body``.
"""

from ferrosock.framing import send_msg
from ferrosock.lessons import backend as socket  # `import socket` (ferrosock with --backend rust)
from ferrosock.lessons._options import lesson_options

SMALL = b"hello"
LARGE = b"0123456789abcdef" * (200 * 1024 // 16)  # 200 KB


def main() -> None:
    options = lesson_options(port=8899, description=__doc__)

    client = socket.socket()
    client.connect((options.host, options.port))
    for _ in range(5):
        send_msg(client, SMALL)
        print(f"sent {SMALL!r} as one message")
    send_msg(client, LARGE)
    print(f"sent {len(LARGE)} bytes {LARGE[:16]!r}... as one message")
    client.close()


if __name__ == "__main__":
    main()
