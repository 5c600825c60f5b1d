"""Both ends of the ``framing`` suite, one per process::

    python -m ferrosock.bench._framing_peer recv SIDE IMPL PORT COUNT SIZE
    python -m ferrosock.bench._framing_peer send SIDE IMPL PORT COUNT SIZE

SIDE says which end is measured. ``receive``: the sender streams pre-framed messages in large
writes, the receiver reads them with IMPL (``recv_msg``, ``reader`` for a FrameReader, or
``python``, the lesson's struct + recv loop). ``send``: the sender frames each message with IMPL
(``send_msg`` or ``python``: ``sendall(struct.pack(...) + body)``), the receiver drains bytes.
Both on stdlib sockets, so only the framing differs. The receiver prints messages/s.
"""

from __future__ import annotations

import socket
import struct
import sys
import time

HEADER = struct.Struct("!I")


def py_recv_exactly(sock: socket.socket, n: int) -> bytes:
    chunks = []
    while n:
        chunk = sock.recv(n)
        if not chunk:
            raise EOFError
        chunks.append(chunk)
        n -= len(chunk)
    return b"".join(chunks)


def py_recv_msg(sock: socket.socket) -> bytes:
    (n,) = HEADER.unpack(py_recv_exactly(sock, 4))
    return py_recv_exactly(sock, n)


def receiver(side: str, impl: str, count: int, size: int) -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        print(listener.getsockname()[1], flush=True)
        conn, _ = listener.accept()
    with conn:
        if side == "send":
            total = count * (size + HEADER.size)
            buf = bytearray(1 << 20)
            got = conn.recv_into(buf)
            started = time.perf_counter()
            while got < total:
                n = conn.recv_into(buf)
                if not n:
                    raise EOFError
                got += n
            print(count / (time.perf_counter() - started), flush=True)
            return
        if impl == "recv_msg":
            from ferrosock.framing import recv_msg

            def recv() -> bytes | None:
                return recv_msg(conn)
        elif impl == "reader":
            from ferrosock.framing import FrameReader

            recv = FrameReader(conn).recv_msg
        else:

            def recv() -> bytes | None:
                return py_recv_msg(conn)

        recv()  # the first message starts the clock
        started = time.perf_counter()
        for _ in range(count - 1):
            message = recv()
            assert message is not None and len(message) == size
        print((count - 1) / (time.perf_counter() - started), flush=True)


def sender(side: str, impl: str, port: int, count: int, size: int) -> None:
    body = b"m" * size
    with socket.create_connection(("127.0.0.1", port)) as conn:
        if side == "receive":
            frame = HEADER.pack(size) + body
            batch = max(1, (1 << 20) // len(frame))
            chunk = frame * batch
            sent = 0
            while sent + batch <= count:
                conn.sendall(chunk)
                sent += batch
            conn.sendall(frame * (count - sent))
        elif impl == "send_msg":
            from ferrosock.framing import send_msg

            for _ in range(count):
                send_msg(conn, body)
        else:
            for _ in range(count):
                conn.sendall(HEADER.pack(len(body)) + body)


def main(argv: list[str]) -> None:
    role, side, impl = argv[:3]
    port, count, size = map(int, argv[3:6])
    if role == "recv":
        receiver(side, impl, count, size)
    else:
        sender(side, impl, port, count, size)


if __name__ == "__main__":
    main(sys.argv[1:])
