"""ferrosock.framing's client check: challenge_client / answer_challenge (HMAC-SHA256 of a
random challenge under a shared key), with honest, wrong and misbehaving peers."""

from __future__ import annotations

import hashlib
import hmac
import socket
import struct
from typing import Any, Callable

import pytest
from conftest import HOST4, PATIENCE, Background
from ferrosock.framing import (
    AuthenticationError,
    FramingError,
    answer_challenge,
    challenge_client,
    recv_msg,
    send_msg,
)

KEY = b"ferrosock-lesson"


def tcp_pair(mod: Any) -> tuple[Any, Any]:
    """(server side, client side): a loopback TCP connection, both ends of `mod`."""
    with mod.socket() as listener:
        listener.bind((HOST4, 0))
        listener.listen(1)
        client = mod.create_connection(listener.getsockname(), timeout=PATIENCE)
        conn, _ = listener.accept()
    conn.settimeout(PATIENCE)
    return conn, client


def run_both(mod: Any, server: Callable[[Any], Any], client: Callable[[Any], Any]):
    """Run `server(conn)` in a thread and `client(sock)` here; each side's outcome:
    ("ok", value) or ("raise", exception)."""
    conn, sock = tcp_pair(mod)
    with conn, sock:

        def server_side() -> Any:
            try:
                return ("ok", server(conn))
            except Exception as exc:  # noqa: BLE001 - the outcome is the result
                return ("raise", exc)
            finally:
                conn.close()

        job = Background(server_side)
        try:
            client_outcome = ("ok", client(sock))
        except Exception as exc:  # noqa: BLE001
            client_outcome = ("raise", exc)
        finally:
            sock.close()
        return job.join(), client_outcome


def test_right_key_is_accepted_and_the_connection_goes_on(mod):
    def server(conn):
        challenge_client(conn, KEY)
        send_msg(conn, recv_msg(conn).upper())

    def client(sock):
        answer_challenge(sock, KEY)
        send_msg(sock, b"hello")
        return recv_msg(sock)

    assert run_both(mod, server, client) == (("ok", None), ("ok", b"HELLO"))


def test_wrong_key_is_refused_on_both_sides(mod):
    server, client = run_both(
        mod, lambda c: challenge_client(c, KEY), lambda s: answer_challenge(s, b"guess")
    )
    assert server[0] == client[0] == "raise"
    assert isinstance(server[1], AuthenticationError)
    assert "did not prove it knows the key" in str(server[1])
    assert isinstance(client[1], AuthenticationError)
    assert "refused our answer" in str(client[1])
    assert isinstance(client[1], ConnectionError)


def test_answer_is_the_hmac_sha256_of_the_challenge(mod):
    """A hand-written server: the client's answer is exactly HMAC-SHA256(key, challenge)."""
    challenge = bytes(range(32))

    def server(conn):
        send_msg(conn, challenge)
        answer = recv_msg(conn)
        send_msg(conn, b"ok")
        return answer

    server_outcome, client_outcome = run_both(mod, server, lambda s: answer_challenge(s, KEY))
    assert client_outcome == ("ok", None)
    assert server_outcome == ("ok", hmac.new(KEY, challenge, hashlib.sha256).digest())


def test_every_challenge_is_fresh_so_a_recorded_answer_fails(mod):
    """A client that replays the answer to an earlier challenge is refused."""
    seen: dict[str, bytes] = {}

    def honest(sock):
        seen["challenge"] = recv_msg(sock)
        send_msg(sock, hmac.new(KEY, seen["challenge"], hashlib.sha256).digest())
        return recv_msg(sock)

    assert run_both(mod, lambda c: challenge_client(c, KEY), honest) == (
        ("ok", None),
        ("ok", b"ok"),
    )
    recorded = hmac.new(KEY, seen["challenge"], hashlib.sha256).digest()

    def replay(sock):
        challenge = recv_msg(sock)
        assert challenge != seen["challenge"] and len(challenge) == 32
        send_msg(sock, recorded)
        return recv_msg(sock)

    server, client = run_both(mod, lambda c: challenge_client(c, KEY), replay)
    assert isinstance(server[1], AuthenticationError)
    assert client == ("ok", b"denied")


@pytest.mark.parametrize(
    "garbage", [b"", b"x", b"\0" * 31, b"A" * 32], ids=["empty", "short", "31-bytes", "32-bytes"]
)
def test_garbage_instead_of_a_digest_is_refused(mod, garbage):
    def client(sock):
        recv_msg(sock)
        send_msg(sock, garbage)
        return recv_msg(sock)

    server, client_outcome = run_both(mod, lambda c: challenge_client(c, KEY), client)
    assert isinstance(server[1], AuthenticationError)
    assert client_outcome == ("ok", b"denied")


def test_long_garbage_instead_of_a_digest_is_refused():
    def client(sock):
        recv_msg(sock)
        send_msg(sock, b"x" * 100)
        return recv_msg(sock)

    server, client_outcome = run_both(socket, lambda c: challenge_client(c, KEY), client)
    assert isinstance(server[1], AuthenticationError), server
    assert client_outcome == ("ok", b"denied"), client_outcome


def test_huge_garbage_is_refused_as_an_authentication_failure(mod):
    """An answer too long to read (over MAX_ANSWER) is refused like any wrong answer."""

    def client(sock):
        recv_msg(sock)
        send_msg(sock, b"x" * 100_000)

    server, _ = run_both(mod, lambda c: challenge_client(c, KEY), client)
    assert isinstance(server[1], AuthenticationError)


def test_garbage_that_is_not_a_frame_is_refused(mod):
    """Raw bytes instead of a framed answer: their first bytes read as a huge length."""

    def client(sock):
        recv_msg(sock)
        sock.sendall(b"GET / HTTP/1.0\r\n\r\n")

    server, _ = run_both(mod, lambda c: challenge_client(c, KEY), client)
    assert server[0] == "raise" and isinstance(server[1], FramingError)


def test_client_that_closes_after_the_challenge_is_refused(mod):
    def client(sock):
        recv_msg(sock)
        sock.close()

    server, _ = run_both(mod, lambda c: challenge_client(c, KEY), client)
    assert isinstance(server[1], AuthenticationError)


def test_client_that_closes_at_once_is_refused(mod):
    """It never reads the challenge: the server sees a refusal or a reset, never a success."""
    server, _ = run_both(mod, lambda c: challenge_client(c, KEY), lambda s: s.close())
    assert server[0] == "raise" and isinstance(server[1], ConnectionError)


def test_client_that_stops_inside_its_answer(mod):
    def client(sock):
        recv_msg(sock)
        sock.sendall(struct.pack("!I", 32) + b"half")
        sock.shutdown(socket.SHUT_WR)
        return recv_msg(sock)

    server, _ = run_both(mod, lambda c: challenge_client(c, KEY), client)
    assert server[0] == "raise" and isinstance(server[1], (FramingError, ConnectionError))


def test_server_that_closes_without_a_challenge(mod):
    _, client = run_both(mod, lambda c: None, lambda s: answer_challenge(s, KEY))
    assert isinstance(client[1], AuthenticationError)
    assert "before its challenge" in str(client[1])


def test_server_that_closes_without_a_verdict(mod):
    def server(conn):
        send_msg(conn, b"c" * 32)
        recv_msg(conn)

    _, client = run_both(mod, server, lambda s: answer_challenge(s, KEY))
    assert isinstance(client[1], AuthenticationError)


def test_silent_server_times_out(mod):
    conn, sock = tcp_pair(mod)
    with conn, sock:
        sock.settimeout(0.2)
        with pytest.raises(socket.timeout):
            answer_challenge(sock, KEY)
