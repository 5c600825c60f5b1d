"""Lesson 2: the TCP hello server, restartable at once.

Run tcp_hello_server, connect a client, and start the server again right away: `bind` fails
with ``OSError: [Errno 98] Address already in use``, because the port's last connection is
still in TIME_WAIT. SO_REUSEADDR, set before `bind`, lets this server bind anyway.
"""

from ferrosock.lessons import backend as socket  # `import socket` (ferrosock with --backend rust)
from ferrosock.lessons._options import lesson_options
from ferrosock.lessons.backend import SO_REUSEADDR, SOL_SOCKET


def main() -> None:
    options = lesson_options(port=8898, description=__doc__)

    server = socket.socket()
    server.setsockopt(SOL_SOCKET, SO_REUSEADDR, 1)  # the fix: before bind
    server.bind((options.host, options.port))
    server.listen()
    print(f"TCP server (SO_REUSEADDR) listening on {options.host}:{server.getsockname()[1]}")

    conn, addr = server.accept()
    data = conn.recv(1024)
    print(data)
    conn.send(b"hi")

    conn.close()
    server.close()


if __name__ == "__main__":
    main()
