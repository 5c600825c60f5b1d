"""select, poll and selectors accept ferrosock sockets (they use fileno())."""

from __future__ import annotations

import select
import selectors
import socket

from conftest import HOST4, PATIENCE, listener


def test_select_readable_writable(mod):
    a, b = mod.socketpair()
    with a, b:
        r, w, x = select.select([a, b], [a], [], 0)
        assert (r, w, x) == ([], [a], [])
        b.sendall(b"ping")
        r, _, _ = select.select([a, b], [], [], PATIENCE)
        assert r == [a]
        assert a.recv(4) == b"ping"


def test_select_listener_readable_on_pending_connection(mod):
    with listener(mod, socket.AF_INET, (HOST4, 0)) as srv:
        assert select.select([srv], [], [], 0)[0] == []
        with mod.create_connection(srv.getsockname()):
            assert select.select([srv], [], [], PATIENCE)[0] == [srv]
            conn, _ = srv.accept()
            conn.close()


def test_poll(mod):
    a, b = mod.socketpair()
    with a, b:
        poller = select.poll()
        poller.register(a, select.POLLIN)
        assert poller.poll(0) == []
        b.sendall(b"x")
        assert poller.poll(PATIENCE * 1000) == [(a.fileno(), select.POLLIN)]


def test_selectors_echo_loop(mod):
    """A small non-blocking echo server driven by selectors, one client, three messages."""
    sel = selectors.DefaultSelector()
    with sel, listener(mod, socket.AF_INET, (HOST4, 0)) as srv:
        srv.setblocking(False)
        sel.register(srv, selectors.EVENT_READ, data="listener")
        with mod.create_connection(srv.getsockname(), timeout=PATIENCE) as client:
            conns = []
            replies = []
            for msg in (b"one", b"two", b"three"):
                client.sendall(msg)
                while True:
                    events = sel.select(PATIENCE)
                    assert events, "selector timed out"
                    for key, _ in events:
                        if key.data == "listener":
                            conn, _ = key.fileobj.accept()
                            conn.setblocking(False)
                            conns.append(conn)
                            sel.register(conn, selectors.EVENT_READ, data="conn")
                        else:
                            key.fileobj.sendall(key.fileobj.recv(100).upper())
                    if any(key.data == "conn" for key, _ in events):
                        break
                replies.append(client.recv(100))
            assert replies == [b"ONE", b"TWO", b"THREE"]
            for conn in conns:
                sel.unregister(conn)
                conn.close()
            assert sel.get_key(srv).fileobj is srv


def test_asyncio_sock_api(mod):
    """asyncio's loop.sock_* drive a non-blocking socket through its selector."""
    import asyncio

    async def exchange(srv, client):
        loop = asyncio.get_running_loop()
        await asyncio.wait_for(loop.sock_connect(client, srv.getsockname()), PATIENCE)
        conn, _ = await asyncio.wait_for(loop.sock_accept(srv), PATIENCE)
        with conn:
            conn.setblocking(False)
            await loop.sock_sendall(client, b"async hello")
            data = await asyncio.wait_for(loop.sock_recv(conn, 100), PATIENCE)
            await loop.sock_sendall(conn, data.upper())
            buf = bytearray(100)
            n = await asyncio.wait_for(loop.sock_recv_into(client, buf), PATIENCE)
            return bytes(buf[:n])

    with listener(mod, socket.AF_INET, (HOST4, 0)) as srv, mod.socket() as client:
        srv.setblocking(False)
        client.setblocking(False)
        assert asyncio.run(exchange(srv, client)) == b"ASYNC HELLO"


def test_asyncio_refuses_blocking_socket(mod):
    """asyncio checks gettimeout() == 0 and refuses the socket with the same error."""
    import asyncio

    from conftest import assert_parity

    def run(m):
        async def go():
            with m.socket() as s:
                await asyncio.get_running_loop().sock_recv(s, 10)

        return asyncio.run(go())

    assert_parity(run, mod)
