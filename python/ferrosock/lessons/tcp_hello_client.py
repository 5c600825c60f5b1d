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
    client.close()


if __name__ == "__main__":
    main()
