"""Lesson 1, the client: TCP hello. Start tcp_hello_server (or reuse_server) first."""

from ferrosock.lessons import backend as socket  # `import socket` (ferrosock with --backend rust)
from ferrosock.lessons._options import lesson_options


def main() -> None:
    options = lesson_options(port=8898, description=__doc__)

    client = socket.socket()
    client.connect((options.host, options.port))
    client.send(b"hello!")
    data = client.recv(1024)
    print(data)
    # Wait for the server to hang up (recv returns b'') before closing: the side that closes
    # first keeps the connection in TIME_WAIT, and lesson 2 needs that to be the server's side
    # every time, not only when the server happens to win the race.
    client.recv(1024)
    client.close()


if __name__ == "__main__":
    main()
