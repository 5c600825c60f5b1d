"""The TimeServer's formatting against time.strftime: generated formats, fixed instants, several
time zones. The server's reply at the same second is checked too."""

from __future__ import annotations

import os
import socket
import time

import pytest
from ferrosock import _native, servers
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

ZONES = ["UTC", "Europe/Berlin", "America/New_York", "EST5EDT,M3.2.0,M11.1.0", "Asia/Kolkata"]
# DST edges, a leap day, ISO week-year edges, the epoch, an old and a far date.
INSTANTS = [
    0,
    951_782_400,
    1_774_746_000,
    1_774_749_600,
    1_792_890_000,
    1_798_675_200,
    1_609_459_199,
    -2_208_988_800,
    4_102_444_800,
]

DIRECTIVES = list("aAbBcCdDeFgGhHIjklmMnpPrRsStTuUVwWxXyYzZ%") + [
    "Ey",
    "EY",
    "Ec",
    "Od",
    "OH",
    "Ez",
]
FLAGS = ["", "-", "_", "0", "^", "#"]


@st.composite
def formats(draw) -> str:
    parts = []
    for _ in range(draw(st.integers(0, 6))):
        kind = draw(st.sampled_from(["directive", "literal", "stray"]))
        if kind == "directive":
            flag = draw(st.sampled_from(FLAGS))
            width = draw(st.sampled_from(["", "", "1", "3", "10"]))
            parts.append("%" + flag + width + draw(st.sampled_from(DIRECTIVES)))
        elif kind == "literal":
            parts.append(draw(st.text(alphabet="ab -:/年月日é", max_size=4)))
        else:
            parts.append(draw(st.sampled_from(["%", "%Q", "%5", "%E", "%O5d"])))
    return "".join(parts)


@pytest.fixture(params=ZONES)
def zone(request):
    old = os.environ.get("TZ")
    os.environ["TZ"] = request.param
    time.tzset()
    yield request.param
    if old is None:
        del os.environ["TZ"]
    else:
        os.environ["TZ"] = old
    time.tzset()


# The zone fixture is meant to hold for every example of one test run.
@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(fmt=formats(), instant=st.sampled_from(INSTANTS))
def test_generated_formats_match_time_strftime(zone, fmt, instant):
    expected = time.strftime(fmt, time.localtime(instant))
    assert _native.strftime(fmt, instant) == expected, (zone, fmt, instant)


@pytest.mark.parametrize(
    "fmt",
    [
        "%Y-%m-%d %X",
        "%c",
        "%Z %z",
        "%-d %_5H %^a %#Z",
        "%Ez %Ey %Od",
        "%G-W%V-%u %g %U %W %j",
        "trailing %",
        "%Q unknown",
        "%10z|%-10z|%010s",
        "%k %l %P %C %e %F %T %D %R %n %t %h",
    ],
)
def test_known_quirks_match_time_strftime(zone, fmt):
    for instant in INSTANTS:
        assert _native.strftime(fmt, instant) == time.strftime(fmt, time.localtime(instant))


def test_errors_match_time_strftime():
    with pytest.raises(ValueError, match="embedded null character"):
        time.strftime("a\0b")
    with pytest.raises(ValueError, match="embedded null character"):
        _native.strftime("a\0b")


def query(address, fmt: bytes) -> bytes:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(5)
        s.sendto(fmt, address)
        return s.recv(70_000)


def test_time_server_reply_is_time_strftime_now(zone):
    with servers.TimeServer(("127.0.0.1", 0)) as srv:
        for fmt in ["", "%Y-%m-%d %X", "%A %e %B %Z %z", "%s"]:
            for _attempt in range(3):  # the second may tick between the two calls
                # time.time(), the clock the server reads: time.strftime() with no time takes
                # time(2), which may lag it by a clock tick at the turn of a second.
                before = time.strftime(fmt or "%Y-%m-%d %X", time.localtime(time.time()))
                reply = query(srv.address, fmt.encode()).decode()
                after = time.strftime(fmt or "%Y-%m-%d %X", time.localtime(time.time()))
                if before == after:
                    break
            assert reply in (before, after), (zone, fmt)
