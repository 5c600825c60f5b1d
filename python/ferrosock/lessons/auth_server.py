"""Is this client legitimate? The server: an HMAC challenge. Start it first, then auth_client.

Server and client share a secret key, which never crosses the network. For each client the
server sends 32 random bytes (the challenge); the client answers with HMAC-SHA256(key,
challenge), which only a holder of the key can compute. A right answer gets served (here: its
one message echoed back); a wrong one is refused and the connection closed. Serves clients
one after another until Ctrl-C.
"""

from ferrosock.framing import (
    AuthenticationError,
    FramingError,
    challenge_client,
    recv_msg,
    send_msg,
)
from ferrosock.lessons import backend as socket  # `import socket` (ferrosock with --backend rust)
from ferrosock.lessons._options import _parser
from ferrosock.lessons._readable import readable

DEFAULT_KEY = "ferrosock-lesson"
IDLE_SECONDS = 30.0  # a client that stalls this long is dropped, so the next one gets its turn


def serve_one(conn, addr, key: bytes) -> None:
    who = f"{addr[0]}:{addr[1]}"
    try:
        challenge_client(conn, key)
    except AuthenticationError:
        print(f"refused {who}: it does not know the key")
        return
    message = recv_msg(conn, max_size=64 * 1024)
    if message is None:
        print(f"{who} is authenticated, but left without a message")
        return
    print(f"{who} is authenticated; echoing {readable(message)}")
    send_msg(conn, message)


def main() -> None:
    parser = _parser(port=8901, description=__doc__)
    parser.add_argument("--key", default=DEFAULT_KEY, help="the shared key (default: %(default)s)")
    options = parser.parse_args()
    key = options.key.encode("utf-8")

    server = socket.socket()
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind((options.host, options.port))
    server.listen()
    print(f"auth server listening on {options.host}:{server.getsockname()[1]}")

    try:
        while True:
            conn, addr = server.accept()
            conn.settimeout(IDLE_SECONDS)
            try:
                serve_one(conn, addr, key)
            except (FramingError, OSError) as exc:  # a client that breaks the protocol
                print(f"dropped {addr[0]}:{addr[1]}: {exc}")
            finally:
                conn.close()
    except KeyboardInterrupt:
        print("\nserver stopped")
    finally:
        server.close()


if __name__ == "__main__":
    main()
