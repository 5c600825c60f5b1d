"""Lesson 5, the server: what time is it? (UDP). Start it first, then time_client.

Every datagram is a `time.strftime` format; the reply is the local time in that format. An
empty datagram asks for the default, '%Y-%m-%d %X'. Ctrl-C stops the server.
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
