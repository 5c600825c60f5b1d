"""Lesson 4, the client: a QQ-style chat over UDP. Start qq_chat_server first.

Pick a contact, then type messages: each one waits for the server's reply. An empty message
sends nothing, `q` ends the conversation with that contact; Ctrl-D or Ctrl-C quits.
"""

from ferrosock.lessons import backend as socket  # `import socket` (ferrosock with --backend rust)
from ferrosock.lessons._options import lesson_options


def highlight(text: str) -> str:
    return f"\033[1;33;44m{text}\033[0m"  # ANSI colours: bold yellow on blue


def main() -> None:
    options = lesson_options(port=8081, description=__doc__)
    server_addr = (options.host, options.port)
    contacts = {"小明": server_addr, "小红": server_addr, "老王": server_addr}

    client = socket.socket(type=socket.SOCK_DGRAM)
    try:
        while True:
            name = input(f"请选择聊天对象 ({'/'.join(contacts)}): ").strip()
            if name not in contacts:
                print("没有这个联系人")
                continue
            while True:
                msg = input(f"发给 {name} 的消息 (回车发送, q 结束): ").strip()
                if msg == "q":
                    break
                if not msg:
                    continue
                client.sendto(msg.encode("utf-8"), contacts[name])
                reply, addr = client.recvfrom(1024)
                print(f"来自 [{addr[0]}:{addr[1]}] 的消息: {highlight(reply.decode('utf-8'))}")
    except (EOFError, KeyboardInterrupt):  # Ctrl-D or Ctrl-C: leave the chat
        print()
    finally:
        client.close()


if __name__ == "__main__":
    main()
