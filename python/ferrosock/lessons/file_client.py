"""File upload, the client: send one file. Start file_server first.

    python -m ferrosock.lessons.file_client PATH [--backend std|rust] [--port N]

It sends a JSON header (name, size, SHA-256) framed with a 4-byte length, then the file's
bytes, showing a progress bar, and prints the server's answer: saved, or refused and why.
"""

import sys
from pathlib import Path

from ferrosock.framing import FileRefused, FramingError, recv_obj, send_file
from ferrosock.lessons import backend as socket  # `import socket` (ferrosock with --backend rust)
from ferrosock.lessons._options import _parser
from ferrosock.lessons._progress import ProgressBar

ANSWER_SECONDS = 10.0  # how long to wait for the server's verdict after the last byte


def main() -> int:
    parser = _parser(port=8900, description=__doc__)
    parser.add_argument("path", type=Path, help="the file to upload")
    options = parser.parse_args()
    if options.path.is_dir():
        print(f"not a file: {options.path} is a directory (upload one file)", file=sys.stderr)
        return 1
    if not options.path.is_file():
        print(f"no such file: {options.path}", file=sys.stderr)
        return 1

    client = socket.socket()
    bar = ProgressBar("sending")
    try:
        client.connect((options.host, options.port))
        client.settimeout(ANSWER_SECONDS)  # for the server's go-ahead, and its verdict
        try:
            # ask_first: the server checks the header (size, name) and says go, or why not,
            # before the body is sent
            size = send_file(client, options.path, progress=bar, ask_first=True)
        except FileRefused as exc:
            print(f"the server refused {options.path.name}: {exc}", file=sys.stderr)
            return 1
        except OSError as exc:  # the server hung up early: its answer may still be there
            bar.interrupted()
            size = None
            print(f"the server stopped the upload: {exc}", file=sys.stderr)
        answer = recv_obj(client)
    except (FramingError, OSError) as exc:
        bar.interrupted()
        print(f"upload failed: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        bar.interrupted()
        print("upload interrupted (Ctrl-C): the server keeps nothing of it", file=sys.stderr)
        return 130
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
