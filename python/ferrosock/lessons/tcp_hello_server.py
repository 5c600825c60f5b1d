"""Lesson 1, the server: TCP hello. Start it first, then tcp_hello_client."""

from ferrosock.lessons import backend as socket  # `import socket` (ferrosock with --backend rust)
from ferrosock.lessons._options import lesson_options


def main() -> None:
    options = lesson_options(port=8898, description=__doc__)

    server = socket.socket()  # AF_INET + SOCK_STREAM: TCP over IPv4
    server.bind((options.host, options.port))
    server.listen()
    print(f"TCP server listening on {options.host}:{server.getsockname()[1]}")

    conn, addr = server.accept()  # wait for a client to connect
    data = conn.recv(1024)  # at most 1024 bytes
    print(data)
    conn.send(b"hi")

    conn.close()
    server.close()


if __name__ == "__main__":
    main()
