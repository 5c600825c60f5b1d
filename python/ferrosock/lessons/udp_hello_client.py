"""Lesson 3, the client: UDP hello. Start udp_hello_server first."""

from ferrosock.lessons import backend as socket  # `import socket` (ferrosock with --backend rust)
from ferrosock.lessons._options import lesson_options


def main() -> None:
    options = lesson_options(port=9000, description=__doc__)

    client = socket.socket(type=socket.SOCK_DGRAM)
    client.sendto(b"hello", (options.host, options.port))  # no connect: name the address
    msg, addr = client.recvfrom(1024)
    print(msg.decode("utf-8"), addr)
    client.close()


if __name__ == "__main__":
    main()
