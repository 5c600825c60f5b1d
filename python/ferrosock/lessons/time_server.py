"""Lesson 5, the server: what time is it? (UDP). Start it first, then time_client.

Every datagram is a `time.strftime` format; the reply is the local time in that format. An
empty datagram asks for the default, '%Y-%m-%d %X'. Ctrl-C stops the server.

The lesson sets SO_REUSEADDR, and on a UDP socket that does more than on TCP: on Linux any
number of sockets that all set it may bind the same port. A second time_server on port 9000
starts without a word (udp_hello_server, which does not set it, gets Errno 98), and the
kernel hands each datagram to one of them; the newest one gets them all. Notebook 03 shows it.
Like the lesson's, it reads with recvfrom(1024): a reply or format over 1024 bytes is cut, mid
character if it is Chinese (notebook 03 explains why, and what to do).
"""

# ruff: noqa: F403, F405 -- the lesson imports the whole socket module with *
import time

from ferrosock.lessons._options import lesson_options
from ferrosock.lessons.backend import *  # `from socket import *` (ferrosock with --backend rust)

DEFAULT_FORMAT = "%Y-%m-%d %X"


def main() -> None:
    options = lesson_options(port=9000, description=__doc__)

    server = socket(AF_INET, SOCK_DGRAM)
    server.setsockopt(SOL_SOCKET, SO_REUSEADDR, 1)
    server.bind((options.host, options.port))
    print(f"time server listening on {options.host}:{server.getsockname()[1]}")

    try:
        while True:
            fmt, addr = server.recvfrom(1024)
            fmt = fmt.decode("utf-8", "replace") or DEFAULT_FORMAT
            print(f"{addr[0]}:{addr[1]} asks for {fmt!r}")
            server.sendto(time.strftime(fmt).encode("utf-8"), addr)
    except KeyboardInterrupt:
        print("\nserver stopped")
    finally:
        server.close()


if __name__ == "__main__":
    main()
