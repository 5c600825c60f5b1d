"""``ferrosock serve ...`` and the client commands ``ferrosock time|echo|chat``."""

from __future__ import annotations

import argparse
import ipaddress
import os
import runpy
import select
import signal
import socket
import socketserver
import sys
import threading
from typing import Any

DEFAULT_PORTS = {"echo": 8899, "reply": 8898, "time": 9000, "chat": 8081}
LOOPBACK = "127.0.0.1"


def _port(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"a port is a number 0-65535, not {text!r}") from None
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"port must be 0-65535, not {port}")
    return port


UDP_ONLY = {"time", "chat"}  # the lesson's time server and the chat are UDP; echo/reply both


class _Terminated(Exception):
    """SIGTERM arrived: stop as cleanly as after Ctrl-C."""


def _on_sigterm(signum: int, frame: Any) -> None:
    raise _Terminated


def _resolve(host: str, port: int) -> list[str]:
    """The addresses `host` names (socket.gaierror if none)."""
    import socket

    return sorted({info[4][0] for info in socket.getaddrinfo(host, port, proto=socket.IPPROTO_UDP)})


def _warn_if_exposed(host: str, addresses: list[str]) -> None:
    if not all(ipaddress.ip_address(a.split("%")[0]).is_loopback for a in addresses):
        print(
            f"warning: binding {host}, which other machines may reach; "
            f"the lesson's servers use {LOOPBACK}",
            file=sys.stderr,
        )


def _print_line(line: str) -> None:
    print(line, flush=True)


def add_serve(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "serve",
        help="run a native (or the lesson's) server until Ctrl-C or SIGTERM",
        description="Run a server on HOST:PORT until Ctrl-C or SIGTERM, printing each request "
        "as the lesson's servers do. --backend rust (default) runs ferrosock's tokio server; "
        "--backend std runs the lesson's Python program on the stdlib socket module.",
    )
    parser.add_argument("server", choices=sorted(DEFAULT_PORTS), help="which server")
    parser.add_argument("--host", default=LOOPBACK, help=f"address to bind (default {LOOPBACK})")
    parser.add_argument("--port", type=_port, help="port (default: the lesson's, e.g. time 9000)")
    parser.add_argument(
        "--backend",
        choices=["rust", "std"],
        default="rust",
        help="rust: ferrosock's native (tokio) server (default, as for the lesson programs); "
        "std: the lesson's Python program on the stdlib socket module",
    )
    parser.add_argument(
        "--kind",
        choices=["tcp", "udp"],
        help="echo and reply: tcp (default) or udp; time and chat are udp only",
    )
    parser.add_argument("--quiet", action="store_true", help="do not print each request")
    parser.set_defaults(handler=serve)


def _std_echo(host: str, port: int, kind: str, quiet: bool) -> socketserver.BaseServer:
    from ferrosock.lessons._readable import readable

    class Echo(socketserver.BaseRequestHandler):
        def handle(self) -> None:
            if kind == "udp":
                data, sock = self.request
                if not quiet:
                    _print_line(
                        f"{self.client_address[0]}:{self.client_address[1]}: {readable(data)}"
                    )
                sock.sendto(data, self.client_address)
                return
            while data := self.request.recv(65536):
                if not quiet:
                    _print_line(
                        f"{self.client_address[0]}:{self.client_address[1]}: {readable(data)}"
                    )
                self.request.sendall(data)

    cls = socketserver.ThreadingUDPServer if kind == "udp" else socketserver.ThreadingTCPServer
    cls.allow_reuse_address = True
    cls.daemon_threads = True
    return cls((host, port), Echo)


def serve(args: argparse.Namespace) -> int:
    port = DEFAULT_PORTS[args.server] if args.port is None else args.port
    if args.server in UDP_ONLY:
        if args.kind == "tcp":
            print(
                f"error: the {args.server} server is UDP only (leave out --kind tcp)",
                file=sys.stderr,
            )
            return 2
        args.kind = "udp"
    elif args.kind is None:
        args.kind = "tcp"
    try:
        addresses = _resolve(args.host, port)
    except OSError as exc:  # before any warning about other machines: there is no such host
        print(f"cannot serve on {args.host}:{port}: {exc}", file=sys.stderr)
        return 1
    _warn_if_exposed(args.host, addresses)
    signal.signal(signal.SIGTERM, _on_sigterm)
    # A shell starts background jobs with SIGINT ignored; a server is stopped with Ctrl-C (or
    # `kill -INT`), so take it back.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    if args.backend == "std":
        return _serve_std(args, port)
    from ferrosock import servers

    log = None if args.quiet else _print_line
    kinds = {"echo": servers.EchoServer, "reply": servers.ReplyServer}
    try:
        if args.server in kinds:
            srv: servers.Server = kinds[args.server]((args.host, port), kind=args.kind, log=log)
        elif args.server == "time":
            srv = servers.TimeServer((args.host, port), log=log)
        else:
            srv = servers.ChatServer((args.host, port), log=log)
    except OSError as exc:
        print(f"cannot serve on {args.host}:{port}: {exc}", file=sys.stderr)
        return 1
    host, bound_port = srv.address[:2]
    try:
        # Inside the try: a signal right after the ready line still stops cleanly.
        _print_line(f"{args.server} server ({srv.kind}, rust) listening on {host}:{bound_port}")
        srv.serve_forever()
    except KeyboardInterrupt:
        srv.stop()
        _print_line("")  # the terminal shows ^C: end that line first, as the lessons do
    except _Terminated:
        srv.stop()
    _print_line("server stopped")
    return 0


def _serve_std(args: argparse.Namespace, port: int) -> int:
    if args.server == "chat":
        print(
            "the lesson's chat server is interactive (its operator types every reply): run "
            "`python -m ferrosock.lessons.qq_chat_server` instead, or use --backend rust",
            file=sys.stderr,
        )
        return 2
    if args.server == "echo":
        try:
            srv = _std_echo(args.host, port, args.kind, args.quiet)
        except OSError as exc:
            print(f"cannot serve on {args.host}:{port}: {exc}", file=sys.stderr)
            return 1
        host, bound_port = srv.server_address[:2]
        worker = threading.Thread(target=srv.serve_forever, daemon=True)
        try:
            worker.start()
            _print_line(f"echo server ({args.kind}, std) listening on {host}:{bound_port}")
            while worker.is_alive():
                worker.join(0.2)
        except KeyboardInterrupt:
            srv.shutdown()
            _print_line("")  # after the terminal's ^C
        except _Terminated:
            srv.shutdown()
        srv.server_close()
        _print_line("server stopped")
        return 0
    # reply and time: the lesson's own programs.
    program = {
        ("reply", "tcp"): "tcp_hello_server",
        ("reply", "udp"): "udp_hello_server",
        ("time", "udp"): "time_server",
    }[(args.server, args.kind)]
    sys.argv = [program, "--backend", "std", "--host", args.host, "--port", str(port)]
    try:
        runpy.run_module(f"ferrosock.lessons.{program}", run_name="__main__")
    except KeyboardInterrupt:
        _print_line("\nserver stopped")
    except _Terminated:
        _print_line("server stopped")
    except OSError as exc:
        print(f"cannot serve on {args.host}:{port}: {exc}", file=sys.stderr)
        return 1
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else 0
    return 0


def _client_parser(subparsers: Any, name: str, help: str) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(name, help=help, description=help)
    parser.add_argument("--host", default=LOOPBACK)
    parser.add_argument("--port", type=_port, default=DEFAULT_PORTS[name])
    parser.add_argument("--timeout", type=float, default=5.0, help="seconds (default 5)")
    return parser


def add_time(subparsers: Any) -> None:
    parser = _client_parser(subparsers, "time", "ask a time server for the time")
    parser.add_argument("format", nargs="?", default="", help="a time.strftime format")
    parser.set_defaults(handler=time_client)


def add_echo(subparsers: Any) -> None:
    parser = _client_parser(subparsers, "echo", "send text to an echo server, print the echo")
    parser.add_argument("--kind", choices=["tcp", "udp"], default="tcp")
    parser.add_argument("text", help="what to send")
    parser.set_defaults(handler=echo_client)


def add_chat(subparsers: Any) -> None:
    parser = _client_parser(subparsers, "chat", "chat through a ChatServer")
    parser.add_argument("--name", required=True, help="your name in the chat")
    parser.set_defaults(handler=chat_client)


def _client_error(exc: BaseException) -> int:
    print(f"error: {exc}", file=sys.stderr)
    return 1


def time_client(args: argparse.Namespace) -> int:
    from ferrosock import clients

    try:
        print(clients.time_query((args.host, args.port), args.format, timeout=args.timeout))
    except (OSError, ValueError) as exc:
        return _client_error(exc)
    return 0


def echo_client(args: argparse.Namespace) -> int:
    from ferrosock import clients

    try:
        data = clients.echo(
            (args.host, args.port), args.text.encode(), kind=args.kind, timeout=args.timeout
        )
    except (OSError, ValueError) as exc:
        return _client_error(exc)
    print(data.decode(errors="replace"))
    return 0


def _printable(text: str) -> str:
    """Text from other users, with control characters shown escaped: a message must not be able
    to drive this terminal (clear it, move the cursor, retitle the window)."""
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode() for c in text)


CHAT_HELP = "type '@NAME text' to send, '/who' to list users, 'q' or '/quit' (or Ctrl-D) to leave"
PROMPT = "> "


class _CtrlC:
    """Makes one Ctrl-C always end the chat, wherever it lands.

    CPython's signal handler only sets a flag; the main thread acts on it when it next runs
    Python code or when a blocking call is interrupted. `input()` waits for a key in readline's
    `select()`: a SIGINT that lands after the prompt is drawn but before `select()` starts
    waiting (microseconds, more on a loaded machine) interrupts nothing, and the chat sleeps on
    until the next key. Here a thread hears every SIGINT through `signal.set_wakeup_fd`; if the
    main thread has not said `handled()` a moment later, the thread signals the main thread
    again, which by then is waiting in `select()`, and that wait ends in KeyboardInterrupt.
    """

    PATIENCE = 0.25  # seconds the main thread has to act on a SIGINT before it is sent again

    def __init__(self) -> None:
        self._handled = threading.Event()
        self._stop = threading.Event()
        self._pipe: tuple[int, int] | None = None
        self._old_fd = -1
        self._watcher: threading.Thread | None = None

    def __enter__(self) -> _CtrlC:
        if threading.current_thread() is not threading.main_thread() or not hasattr(
            signal, "pthread_kill"
        ):
            return self
        self._pipe = os.pipe()
        os.set_blocking(self._pipe[1], False)  # set_wakeup_fd wants a non-blocking descriptor
        try:
            self._old_fd = signal.set_wakeup_fd(self._pipe[1], warn_on_full_buffer=False)
        except ValueError:  # not in the main interpreter
            self._close_pipe()
            return self
        self._watcher = threading.Thread(
            target=self._watch, args=(threading.main_thread().ident,), daemon=True
        )
        self._watcher.start()
        return self

    def handled(self) -> None:
        """The main thread has its KeyboardInterrupt: no more signals for it."""
        self._handled.set()

    def _watch(self, main: int) -> None:
        assert self._pipe is not None
        while not self._stop.is_set():
            select.select([self._pipe[0]], [], [])
            try:
                numbers = os.read(self._pipe[0], 512)
            except OSError:
                return
            while signal.SIGINT in numbers and not self._handled.wait(self.PATIENCE):
                if self._stop.is_set():
                    return
                signal.pthread_kill(main, signal.SIGINT)
                numbers = b""  # that signal writes its own byte, read on the next turn

    def __exit__(self, *exc: object) -> None:
        if self._pipe is None:
            return
        self._stop.set()
        signal.set_wakeup_fd(self._old_fd)
        try:
            os.write(self._pipe[1], b"\0")  # wakes the watcher; 0 is no signal
        except OSError:
            pass
        if self._watcher is not None:
            self._watcher.join(1)
        self._close_pipe()

    def _close_pipe(self) -> None:
        if self._pipe is not None:
            for fd in self._pipe:
                os.close(fd)
            self._pipe = None


class _ChatScreen:
    """Where the chat's lines go. On a terminal, a message that arrives while the user types
    is printed above the line being typed, and the prompt and the typed text are drawn again
    below it (readline keeps the text); on a pipe, lines are just printed."""

    def __init__(self) -> None:
        self.interactive = sys.stdin.isatty() and sys.stdout.isatty()
        self.lock = threading.Lock()
        self.readline: Any = None
        if self.interactive:
            try:
                import readline  # noqa: PLC0415 - only for a terminal; absent on some builds

                self.readline = readline
            except ImportError:
                pass

    def read(self) -> str:
        """One line typed by the user (EOFError at the end of input)."""
        if self.interactive:
            return input(PROMPT)
        line = sys.stdin.readline()
        if not line:
            raise EOFError
        return line

    def show(self, text: str) -> None:
        """A line from the program or the chat, without disturbing what the user is typing."""
        with self.lock:
            if not self.interactive:
                print(text, flush=True)
                return
            typed = self.readline.get_line_buffer() if self.readline else ""
            # \r and "erase line", the message, then the prompt and the typed text again
            sys.stdout.write(f"\r\033[K{text}\n{PROMPT}{typed}")
            sys.stdout.flush()

    def reply(self, text: str) -> None:
        """An answer to what the user just typed (the prompt comes back by itself)."""
        with self.lock:
            print(text, flush=True)


def _chat_failure(exc: BaseException) -> str:
    """One line for a failed chat command."""
    if isinstance(exc, socket.timeout):  # TimeoutError itself from 3.10 on
        return "error: the server did not answer (is it running? the link may be losing data)"
    if isinstance(exc, ConnectionRefusedError):
        return "error: nobody is serving the chat there now (connection refused)"
    return f"error: {exc}"


def chat_client(args: argparse.Namespace) -> int:
    from ferrosock import clients

    try:
        client = clients.ChatClient((args.host, args.port), args.name, timeout=args.timeout)
    except (OSError, ValueError, clients.ChatError) as exc:
        print(_chat_failure(exc), file=sys.stderr)
        return 1
    screen = _ChatScreen()
    done = threading.Event()
    rejoins = [client.rejoins]

    def tell_if_rejoined() -> None:
        if client.rejoins != rejoins[0]:
            rejoins[0] = client.rejoins
            screen.show(
                f"(the server had forgotten us, after a restart or a long silence: "
                f"joined again as {_printable(args.name)})"
            )

    def deliveries() -> None:
        while not done.is_set():
            try:
                sender, text = client.recv(timeout=0.2)  # also keeps our registration alive
            except socket.timeout:
                tell_if_rejoined()
                continue
            except clients.ChatError as exc:  # our name was taken while we were away
                screen.show(f"error: {exc}")
                continue
            except OSError:  # a refusal while the server restarts; or we are closing
                if done.wait(0.5):
                    return
                continue
            screen.show(f"{_printable(sender)}: {_printable(text)}")

    reader = threading.Thread(target=deliveries, daemon=True)
    with _CtrlC() as ctrl_c:
        try:
            screen.reply(f"joined as {args.name}; {CHAT_HELP}")
            reader.start()
            while True:
                try:
                    line = screen.read().strip()
                except EOFError:
                    break
                if not line:
                    continue
                if line in ("q", "/quit"):  # 'q' ends the conversation, as in the lesson's client
                    break
                try:
                    if line == "/who":
                        screen.reply("users: " + ", ".join(client.who()))
                    elif line.startswith("@") and " " in line:
                        to, text = line[1:].split(" ", 1)
                        client.send(to, text)
                    else:
                        screen.reply(CHAT_HELP)
                except (clients.ChatError, ValueError, OSError) as exc:
                    screen.reply(_chat_failure(exc))
                tell_if_rejoined()
        except KeyboardInterrupt:
            ctrl_c.handled()
            print(flush=True)  # so the shell's prompt starts on a line of its own, not after ^C
        finally:
            done.set()
            if reader.is_alive():
                reader.join(1)
            try:
                client.close()
            except OSError:
                pass
    return 0
