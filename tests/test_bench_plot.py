"""The --plot picture: every contender has a family (and so a colour), and a document in the
--json layout draws."""

from __future__ import annotations

import pytest
from ferrosock.bench import _plot


@pytest.mark.parametrize(
    ("label", "expected"),
    [
        ("tokio echo (ceiling)", "tokio"),
        ("ferrosock EchoServer", "ferrosock"),
        ("ferrosock StreamServer + handler", "ferrosock"),
        ("asyncio Protocol + handler", "asyncio"),
        ("uvloop streams", "uvloop"),
        ("socketserver ThreadingTCPServer", "stdlib"),
        ("native TimeServer", "ferrosock"),
        ("lesson time_server (stdlib)", "stdlib"),
        ("lesson time_server (ferrosock)", "ferrosock"),
        ("asyncio DatagramProtocol echo", "asyncio"),
        ("ferrosock.aio, uvloop", "ferrosock"),
        ("asyncio streams, uvloop", "uvloop"),
        ("asyncio streams, asyncio loop", "asyncio"),
    ],
)
def test_every_contender_has_its_family(label, expected):
    assert _plot.family(label) == expected


def test_a_json_document_draws_every_panel(tmp_path):
    pytest.importorskip("matplotlib")
    document = {
        "suites": {
            "socket": [
                {"workload": "ping-pong 1 B x10000", "ratio": 1.01, "target": 1.05, "met": True},
                {"workload": "bulk 10 MiB", "ratio": 1.2, "target": 1.0, "met": False},
            ]
        },
        "tables": {
            "tls": [
                {
                    "rows": [
                        {
                            "workload": "ping-pong 1 B x100",
                            "ratio": 1.1,
                            "target": 1.25,
                            "target_is": "maximum",
                            "met": True,
                        },
                        {
                            "workload": "bulk 2 MiB",
                            "ratio": 0.8,
                            "target": 0.9,
                            "target_is": "minimum",
                            "met": False,
                        },
                    ]
                }
            ],
            "echo": [
                {
                    "rows": [
                        {"server": s, "size": 1024, "connections": 16, "requests_per_sec": v}
                        for s, v in [("tokio echo (ceiling)", 9.0), ("uvloop Protocol", 8.0)]
                    ]
                }
            ],
            "udp": [{"rows": [{"server": "native TimeServer", "requests_per_sec": 5.0}]}],
            "aio": [{"rows": [{"contender": "ferrosock.aio, uvloop", "one": 1.0, "hundred": 2.0}]}],
            "framing": [{"rows": [{"size": 64, **{k: 10.0 for k in _plot.FRAMING_LABELS}}]}],
            "scale": [{"rows": [{"connections": 1, "requests_per_sec": 3.0}]}],
        },
    }
    assert len(_plot._panels(document)) == 8  # framing: receiving and sending apart
    path = tmp_path / "quick.png"
    _plot.draw(str(path), document)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_scale_panel_draws_every_server_of_the_run(tmp_path):
    pytest.importorskip("matplotlib")
    servers = {
        key: {"requests_per_sec": rps, "p99_us": 100.0, "errors_and_timeouts": 0}
        for key, rps in (("ferrosock-echo", 3.0), ("uvloop-protocol", 4.0), ("tokio", 5.0))
    }
    rows = [{"connections": n, "requests_per_sec": 3.0, "servers": servers} for n in (1, 10)]
    document = {"tables": {"scale": [{"rows": rows}, {"rows": []}]}}
    assert len(_plot._panels(document)) == 1
    path = tmp_path / "scale.png"
    _plot.draw(str(path), document)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
