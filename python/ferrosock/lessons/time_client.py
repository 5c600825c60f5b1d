"""Lesson 5, the client: what time is it? (UDP). Start time_server first.

Type a `time.strftime` format (an empty line asks for the server's default); Ctrl-D or Ctrl-C
quits.
"""

from ferrosock.lessons import backend as socket  # `import socket` (ferrosock with --backend rust)
from ferrosock.lessons._options import lesson_options


def main() -> None:
    options = lesson_options(port=9000, description=__doc__)

    client = socket.socket(type=socket.SOCK_DGRAM)
    try:
        while True:
            fmt = input("请输入时间格式 (例如 %Y %m %d, 回车用默认格式): ")
            client.sendto(fmt.encode("utf-8"), (options.host, options.port))
            data = client.recv(1024)
            print(data.decode("utf-8"))
    except (EOFError, KeyboardInterrupt):  # Ctrl-D or Ctrl-C
        print()
    finally:
        client.close()


if __name__ == "__main__":
    main()
