"""Is this client legitimate? The client: answer the challenge. Start auth_server first.

    python -m ferrosock.lessons.auth_client [--key KEY] [--message TEXT]

It answers the server's challenge with HMAC-SHA256 under --key, then (if the server accepted
the answer) sends one message and prints the echo. Try a wrong --key to see it refused.
"""

import sys

from ferrosock.framing import (
    AuthenticationError,
    FramingError,
    answer_challenge,
    recv_msg,
    send_msg,
)
from ferrosock.lessons import backend as socket  # `import socket` (ferrosock with --backend rust)
from ferrosock.lessons._options import _parser
from ferrosock.lessons._readable import readable

DEFAULT_KEY = "ferrosock-lesson"


def main() -> int:
    parser = _parser(port=8901, description=__doc__)
    parser.add_argument("--key", default=DEFAULT_KEY, help="the shared key (default: %(default)s)")
    parser.add_argument("--message", default="hello", help="what to send (default: %(default)s)")
    options = parser.parse_args()

    client = socket.socket()
    client.settimeout(10.0)
    try:
        client.connect((options.host, options.port))
        answer_challenge(client, options.key.encode("utf-8"))
        print("the server accepted our answer")
        send_msg(client, options.message.encode("utf-8"))
        echo = recv_msg(client)
    except AuthenticationError as exc:
        print(f"refused: {exc}", file=sys.stderr)
        return 1
    except (FramingError, OSError) as exc:
        print(f"failed: {exc}", file=sys.stderr)
        return 1
    finally:
        client.close()
    print(readable(echo))
    return 0


if __name__ == "__main__":
    sys.exit(main())
