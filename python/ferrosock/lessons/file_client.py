"""File upload, the client: send one file. Start file_server first.

    python -m ferrosock.lessons.file_client PATH [--backend std|rust] [--port N]

It sends a JSON header (name, size, SHA-256) framed with a 4-byte length, then the file's
bytes, showing a progress bar, and prints the server's answer: saved, or refused and why.
"""

import sys
from pathlib import Path

from ferrosock.framing import FramingError, recv_obj, send_file
from ferrosock.lessons import backend as socket  # `import socket` (ferrosock with --backend rust)
from ferrosock.lessons._options import _parser
from ferrosock.lessons._progress import ProgressBar

ANSWER_SECONDS = 10.0  # how long to wait for the server's verdict after the last byte


def main() -> int:
    parser = _parser(port=8900, description=__doc__)
    parser.add_argument("path", type=Path, help="the file to upload")
    options = parser.parse_args()
    if not options.path.is_file():
        print(f"no such file: {options.path}", file=sys.stderr)
        return 1

    client = socket.socket()
    try:
        client.connect((options.host, options.port))
        bar = ProgressBar("sending")
        try:
            size = send_file(client, options.path, progress=bar)
        except OSError as exc:  # the server hung up early: its answer may still be there
            bar.interrupted()
            size = None
            print(f"the server stopped the upload: {exc}", file=sys.stderr)
        client.settimeout(ANSWER_SECONDS)
        answer = recv_obj(client)
    except (FramingError, OSError) as exc:
        print(f"upload failed: {exc}", file=sys.stderr)
        return 1
    finally:
        client.close()

    if answer is None:
        print("upload failed: the server closed the connection without an answer", file=sys.stderr)
        return 1
    verdict, _ = answer
    if not verdict.get("ok"):
        print(f"the server refused {options.path.name}: {verdict.get('error')}", file=sys.stderr)
        return 1
    print(f"uploaded {options.path.name}: {size} bytes, SHA-256 checked by the server")
    return 0


if __name__ == "__main__":
    sys.exit(main())
