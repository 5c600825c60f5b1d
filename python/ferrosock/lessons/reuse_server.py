"""Lesson 2: the TCP hello server, restartable at once with SO_REUSEADDR.

The problem, on port 8898 (two terminals):
  1. python -m ferrosock.lessons.tcp_hello_server       then: ... tcp_hello_client
  2. python -m ferrosock.lessons.tcp_hello_server       again, at once:
     OSError: [Errno 98] Address already in use
The server closed the connection first, so its side of it stays in TIME_WAIT for 60 s
(`ss -tan | grep 8898` shows it), and while it does the port counts as in use.

  3. python -m ferrosock.lessons.reuse_server           now fails the same way. The Linux
     rule: a port held by a connection in TIME_WAIT can be bound again only if the new
     socket AND the old one set SO_REUSEADDR (an accepted connection inherits the option
     from its listening socket). tcp_hello_server did not set it, so nothing can reuse its
     port until the minute is up. (BSD and macOS only look at the new socket.)

The fix, on a port the plain server has not used in the last minute (here 8897):
  4. python -m ferrosock.lessons.reuse_server --port 8897
                                                        then: ... tcp_hello_client --port 8897
  5. python -m ferrosock.lessons.reuse_server --port 8897   again, at once: it binds and
     serves; both runs set SO_REUSEADDR before bind. Another tcp_hello_server on 8897 would
     still fail: it does not set the option.

Every step behaves the same with --backend std and --backend rust: the kernel decides.
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
