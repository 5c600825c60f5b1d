"""Lesson 3, the server: UDP hello. Start it first, then udp_hello_client."""

from ferrosock.lessons import backend as socket  # `import socket` (ferrosock with --backend rust)
from ferrosock.lessons._options import lesson_options


def main() -> None:
    options = lesson_options(port=9000, description=__doc__)

    server = socket.socket(type=socket.SOCK_DGRAM)  # UDP: no listen, no accept
    server.bind((options.host, options.port))
    print(f"UDP server listening on {options.host}:{server.getsockname()[1]}")

    msg, addr = server.recvfrom(1024)  # one datagram, and who sent it
    print(msg.decode("utf-8"))
    server.sendto(b"hi", addr)
    server.close()


if __name__ == "__main__":
    main()
