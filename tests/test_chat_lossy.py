"""ChatClient over a link that loses datagrams, across idle time and server restarts.

The lossy link is a UDP proxy in a thread: one upstream socket per client (so the server sees
each client at an address of its own, as it would over a real network), dropping datagrams in
either direction on a seeded random draw or on purpose.
"""

from __future__ import annotations

import random
import selectors
import socket
import threading
import time

import pytest
from conftest import HOST4, PATIENCE, ferrosock

pytestmark = pytest.mark.skipif(ferrosock is None, reason="ferrosock is not built")

if ferrosock is not None:
    from ferrosock import clients, servers


class LossyLink:
    """127.0.0.1:port forwards to `server`; `loss` is the chance each datagram is dropped,
    `drop_replies` a number of server-to-client datagrams to drop first, whatever the draw."""

    def __init__(self, server: tuple[str, int], loss: float = 0.0, seed: int = 11):
        self.server = server
        self.loss = loss
        self.drop_replies = 0
        self.dropped = 0
        self.random = random.Random(seed)
        self.front = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.front.bind((HOST4, 0))
        self.address = self.front.getsockname()
        self.upstream: dict[tuple[str, int], socket.socket] = {}
        self.client_of: dict[socket.socket, tuple[str, int]] = {}
        self.selector = selectors.DefaultSelector()
        self.selector.register(self.front, selectors.EVENT_READ)
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _lose(self) -> bool:
        if self.random.random() < self.loss:
            self.dropped += 1
            return True
        return False

    def _run(self) -> None:
        while not self.stopping.is_set():
            for key, _ in self.selector.select(0.05):
                sock = key.fileobj
                try:
                    data, peer = sock.recvfrom(70_000)
                except OSError:  # ICMP from a server that is down: the datagram is lost anyway
                    continue
                if sock is self.front:
                    up = self.upstream.get(peer)
                    if up is None:
                        up = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                        up.bind((HOST4, 0))
                        self.upstream[peer] = up
                        self.client_of[up] = peer
                        self.selector.register(up, selectors.EVENT_READ)
                    if not self._lose():
                        up.sendto(data, self.server)
                elif self.drop_replies > 0:
                    self.drop_replies -= 1
                    self.dropped += 1
                elif not self._lose():
                    self.front.sendto(data, self.client_of[sock])

    def close(self) -> None:
        self.stopping.set()
        self.thread.join(PATIENCE)
        self.selector.close()
        for sock in [self.front, *self.upstream.values()]:
            sock.close()

    def __enter__(self) -> LossyLink:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def test_a_join_whose_answer_is_lost_is_retried_on_the_same_socket():
    """The first answer never arrives; the second /join, from the same address, is a rename
    to the same name, so the client joins, and nobody is left holding the name."""
    with servers.ChatServer((HOST4, 0)) as srv, LossyLink(srv.address) as link:
        link.drop_replies = 1
        with clients.ChatClient(link.address, "小明", timeout=PATIENCE) as xiaoming:
            assert link.dropped == 1
            assert xiaoming.who() == ["小明"]
            assert srv.stats()["messages_in"] >= 3  # two joins and the /who


@pytest.mark.parametrize("loss", [0.1, 0.3])
def test_twenty_users_join_and_talk_over_a_lossy_link(loss):
    with servers.ChatServer((HOST4, 0)) as srv, LossyLink(srv.address, loss) as link:
        users = []
        try:
            for i in range(20):
                users.append(clients.ChatClient(link.address, f"user{i:02}", timeout=PATIENCE))
            assert len(users) == 20  # every one joined, none got 'name taken'
            assert users[0].who() == [f"user{i:02}" for i in range(20)]
            users[1].send("user02", "你好")
            assert users[2].recv(timeout=PATIENCE) == ("user01", "你好")
        finally:
            for user in users:
                user.close()
        assert link.dropped > 0


def test_an_idle_client_keeps_its_registration_while_it_waits():
    with servers.ChatServer((HOST4, 0), idle_timeout=0.6) as srv:
        with clients.ChatClient(srv.address, "ann", keepalive=0.2) as ann:
            with pytest.raises(socket.timeout):
                ann.recv(timeout=1.5)  # waiting, past two idle timeouts
            with clients.ChatClient(srv.address, "bob", timeout=PATIENCE) as bob:
                bob.send("ann", "still there?")  # 'no such user ann' if she had expired
            assert ann.recv(timeout=PATIENCE) == ("bob", "still there?")
            assert ann.rejoins == 0


def test_an_expired_client_joins_again_by_itself_and_says_so():
    with servers.ChatServer((HOST4, 0), idle_timeout=0.3) as srv:
        with clients.ChatClient(srv.address, "bob", keepalive=None) as bob:
            with clients.ChatClient(srv.address, "ann", keepalive=None) as ann:
                time.sleep(0.6)  # silent for twice the idle timeout: both expire
                ann.send("ann", "back")  # 'join first' -> joins again -> sends
                assert ann.rejoins == 1
                assert ann.recv(timeout=PATIENCE) == ("ann", "back")
                assert bob.who() == ["ann", "bob"] and bob.rejoins == 1


def test_a_client_survives_a_server_restart():
    first = servers.ChatServer((HOST4, 0))
    first.start()
    address = first.address
    with clients.ChatClient(address, "小红", timeout=PATIENCE) as xiaohong:
        first.stop()
        with servers.ChatServer(address) as again:  # a new server: it knows nobody
            assert xiaohong.who() == ["小红"]
            assert xiaohong.rejoins == 1
            assert again.stats()["messages_in"] >= 3  # /who refused, /join, /who


def test_who_is_not_answered_before_joining():
    """A 4-byte request must not draw a long list at whatever source address it claims."""
    with servers.ChatServer((HOST4, 0)) as srv:
        users = [clients.ChatClient(srv.address, f"user{i:02}") for i in range(30)]
        try:
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as stranger:
                stranger.settimeout(PATIENCE)
                stranger.sendto(b"/who", srv.address)
                answer = stranger.recv(70_000)
            assert answer == b"error: join first with /join NAME"
        finally:
            for user in users:
                user.close()


def test_the_async_client_retries_too():
    import asyncio

    from ferrosock import aio

    async def over(link: LossyLink) -> list[str]:
        link.drop_replies = 1  # the answer to the first /join
        client = await aio.ChatClient.connect(link.address, "老王", timeout=PATIENCE)
        try:
            link.drop_replies = 1  # and to the first /who
            return await client.who()
        finally:
            await client.close()

    with servers.ChatServer((HOST4, 0)) as srv, LossyLink(srv.address, 0.3) as link:
        assert asyncio.run(over(link)) == ["老王"]
        assert link.dropped >= 2
