"""Both ends of the ``framing`` suite: ``python -m ferrosock.bench._framing_peer
send|recv IMPL PORT COUNT SIZE``. IMPL ``ferrosock`` uses ferrosock.framing's send_msg /
recv_msg, ``reader`` send_msg and a FrameReader, ``python`` the lesson's hand-written ``struct`` header and recv loop; both on
stdlib sockets, so only the framing differs. The receiver prints messages/s."""

from __future__ import annotations

import socket
import struct
import sys
import time

HEADER = struct.Struct("!I")


def py_send(sock: socket.socket, data: bytes) -> None:
    sock.sendall(HEADER.pack(len(data)) + data)


def py_recv_exactly(sock: socket.socket, n: int) -> bytes:
    chunks = []
    while n:
        chunk = sock.recv(n)
        if not chunk:
            raise EOFError
        chunks.append(chunk)
        n -= len(chunk)
    return b"".join(chunks)


def py_recv(sock: socket.socket) -> bytes:
    (n,) = HEADER.unpack(py_recv_exactly(sock, 4))
    return py_recv_exactly(sock, n)


def main(argv: list[str]) -> None:
    role, impl, port, count, size = argv[0], argv[1], *map(int, argv[2:5])
    if impl == "ferrosock":
        from ferrosock.framing import recv_msg as recv
        from ferrosock.framing import send_msg as send
    elif impl == "reader":
        from ferrosock.framing import FrameReader
        from ferrosock.framing import send_msg as send

        readers: dict[int, FrameReader] = {}

        def recv(conn: socket.socket) -> bytes:
            reader = readers.get(id(conn)) or readers.setdefault(id(conn), FrameReader(conn))
            return reader.recv_msg()
    else:
        send, recv = py_send, py_recv  # type: ignore[assignment]
    if role == "recv":
        with socket.socket() as listener:
            listener.bind(("127.0.0.1", 0))
            listener.listen()
            print(listener.getsockname()[1], flush=True)
            conn, _ = listener.accept()
        with conn:
            recv(conn)  # the first message starts the clock
            started = time.perf_counter()
            for _ in range(count - 1):
                assert len(recv(conn)) == size
            print((count - 1) / (time.perf_counter() - started), flush=True)
    else:
        message = b"m" * size
        with socket.create_connection(("127.0.0.1", port)) as conn:
            for _ in range(count):
                send(conn, message)


if __name__ == "__main__":
    main(sys.argv[1:])
