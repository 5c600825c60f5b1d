"""Lesson 4, the server: a QQ-style chat over UDP. Start it first, then qq_chat_client.

It prints every message it receives, asks you for a reply and sends it back; Ctrl-C stops it.
"""

from ferrosock.lessons import backend as socket  # `import socket` (ferrosock with --backend rust)
from ferrosock.lessons._options import lesson_options


def highlight(text: str) -> str:
    return f"\033[1;33;44m{text}\033[0m"  # ANSI colours: bold yellow on blue


def main() -> None:
    options = lesson_options(port=8081, description=__doc__)

    server = socket.socket(type=socket.SOCK_DGRAM)
    server.bind((options.host, options.port))
    print(f"QQ chat server listening on {options.host}:{server.getsockname()[1]}")

    try:
        while True:
            msg, addr = server.recvfrom(1024)
            print(f"来自 [{addr[0]}:{addr[1]}] 的消息: {highlight(msg.decode('utf-8'))}")
            reply = input("回复消息: ").strip()
            server.sendto(reply.encode("utf-8"), addr)
    except (KeyboardInterrupt, EOFError):  # Ctrl-C, or no more replies to read
        print("\nserver stopped")
    finally:
        server.close()


if __name__ == "__main__":
    main()
