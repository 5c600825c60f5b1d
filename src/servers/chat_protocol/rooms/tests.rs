//! The server's side end to end: every row of the protocol's tables, as `ChatRooms::handle`
//! answers it, with the rooms' indexes checked after every datagram.

use std::time::{Duration, Instant};

use super::*;
use crate::servers::chat_protocol::{
    join_command, leave_command, parse_reply, send_command, who_command, ChatReply,
    MAX_REQUEST_BYTES,
};

const IDLE: Duration = Duration::from_secs(60);

fn rooms(max_users: usize, max_name_chars: usize) -> ChatRooms<u32> {
    ChatRooms::new(ChatLimits {
        max_users,
        max_name_chars,
        idle_timeout: IDLE,
    })
}

/// Every datagram `handle` produces, as text (the protocol only sends UTF-8).
fn say(r: &mut ChatRooms<u32>, from: u32, datagram: &[u8], now: Instant) -> Vec<(u32, String)> {
    let out: Vec<(u32, String)> = r
        .handle(from, datagram, now)
        .into_iter()
        .map(|(to, d)| (to, String::from_utf8(d).expect("replies are UTF-8")))
        .collect();
    assert_eq!(out[0].0, from, "the reply goes to the sender, first");
    assert_consistent(r);
    out
}

/// Just the reply to the sender.
fn reply(r: &mut ChatRooms<u32>, from: u32, datagram: &str, now: Instant) -> String {
    say(r, from, datagram.as_bytes(), now).swap_remove(0).1
}

/// The three indexes describe the same users.
fn assert_consistent(r: &ChatRooms<u32>) {
    assert_eq!(r.by_addr.len(), r.by_name.len());
    assert_eq!(r.by_addr.len(), r.by_last_seen.len());
    for (addr, registration) in &r.by_addr {
        assert_eq!(r.by_name.get(&registration.name), Some(addr));
        assert_eq!(r.by_last_seen.get(&registration.last_seen), Some(addr));
    }
    assert!(r.users() <= r.limits().max_users);
}

#[test]
fn join_send_who_leave() {
    let now = Instant::now();
    let mut r = rooms(10, 8);
    assert_eq!(
        say(&mut r, 1, "/join 小明".as_bytes(), now),
        [(1, "ok: joined as 小明".into())]
    );
    assert_eq!(reply(&mut r, 2, "/join bob", now), "ok: joined as bob");
    assert_eq!(
        say(&mut r, 1, b"@bob hello there", now),
        [
            (1, "ok: delivered to bob".into()),
            (2, "from 小明: hello there".into())
        ]
    );
    assert_eq!(
        say(&mut r, 2, "@小明 你好".as_bytes(), now),
        [
            (2, "ok: delivered to 小明".into()),
            (1, "from bob: 你好".into())
        ]
    );
    assert_eq!(reply(&mut r, 2, "/who", now), "users: bob, 小明");
    assert_eq!(
        reply(&mut r, 3, "/who", now),
        "error: join first with /join NAME"
    );
    assert_eq!(r.users(), 2);
    assert_eq!(say(&mut r, 2, b"/leave", now), [(2, "ok: bye".into())]);
    assert_eq!(reply(&mut r, 2, "/leave", now), "error: not joined");
    assert_eq!(reply(&mut r, 1, "@bob hi", now), "error: no such user bob");
    assert_eq!(reply(&mut r, 1, "/who", now), "users: 小明");
    assert_eq!(reply(&mut r, 1, "/leave", now), BYE);
    assert_eq!(r.users(), 0);
}

#[test]
fn every_error_reply() {
    let now = Instant::now();
    let mut r = rooms(1, 8);
    let mut first = |from, text: &str| reply(&mut r, from, text, now);
    assert_eq!(first(1, ""), "error: empty datagram");
    assert_eq!(first(1, "\n"), "error: empty datagram");
    assert_eq!(first(1, "hello"), "error: unknown command");
    assert_eq!(first(1, "/frobnicate"), "error: unknown command");
    assert_eq!(first(1, "/JOIN ann"), "error: unknown command");
    assert_eq!(first(1, "/joinann"), "error: unknown command");
    assert_eq!(first(1, "/who me"), "error: unknown command");
    assert_eq!(first(1, "/leave now"), "error: unknown command");
    assert_eq!(first(1, " /who"), "error: unknown command");
    assert_eq!(first(1, "@"), "error: malformed message (use @NAME text)");
    assert_eq!(
        first(1, "@bob"),
        "error: malformed message (use @NAME text)"
    );
    assert_eq!(
        first(1, "@ hi"),
        "error: malformed message (use @NAME text)"
    );
    assert_eq!(first(1, "@bob hi"), "error: join first with /join NAME");
    assert_eq!(first(1, "/leave"), "error: not joined");
    assert_eq!(first(1, "/join"), "error: invalid name");
    assert_eq!(first(1, "/join "), "error: invalid name");
    assert_eq!(first(1, "/join a b"), "error: invalid name");
    assert_eq!(
        first(1, "/join abcdefghi"),
        "error: name too long (max 8 characters)"
    );
    assert_eq!(first(1, "/join ann"), "ok: joined as ann");
    assert_eq!(first(2, "/join ann"), "error: name taken");
    assert_eq!(first(2, "/join bob"), "error: server full (max 1 users)");
    assert_eq!(first(1, "@ann    "), "error: empty message");
    assert_eq!(first(1, "@ann "), "error: empty message");
    assert_eq!(first(1, "@a\u{200B}nn hi"), "error: invalid name");
    assert_eq!(
        first(1, "@abcdefghi hi"),
        "error: name too long (max 8 characters)"
    );
    assert_eq!(first(1, "@nobody x"), "error: no such user nobody");
    let long = format!("@ann {}", "x".repeat(MAX_REQUEST_BYTES));
    assert_eq!(first(1, &long), "error: message too long (max 60000 bytes)");
    let out = r.handle(1, b"\xff\xfe", now);
    assert_eq!(out.reply, (1, b"error: not UTF-8".to_vec()));
    assert_eq!(out.delivery, None);
}

#[test]
fn refusals_deliver_nothing_and_change_no_one() {
    let now = Instant::now();
    let mut r = rooms(2, 8);
    reply(&mut r, 1, "/join ann", now);
    reply(&mut r, 2, "/join bob", now);
    for bad in [
        "@bob ",
        "@bob",
        "@nobody hi",
        "/join bob",
        "/join a b",
        "/who x",
    ] {
        let out = say(&mut r, 1, bad.as_bytes(), now);
        assert_eq!(out.len(), 1, "{bad:?}");
        assert!(out[0].1.starts_with(ERROR_PREFIX), "{bad:?}");
    }
    assert_eq!(reply(&mut r, 2, "/who", now), "users: ann, bob");
}

#[test]
fn name_rules() {
    let now = Instant::now();
    let mut r = rooms(100, 8);
    let invalid = [
        "a\tb",
        "a\u{00A0}b",
        "小\u{3000}明",
        "a\u{0}",
        "a\u{1b}[31m",
        "\u{7f}",
        "a@b",
        "@a",
        "/a",
        "a\u{200B}",
        "\u{202E}nna",
        "\u{FEFF}ann",
        "\u{3164}",
        "ann\u{E0041}",
    ];
    for name in invalid {
        let datagram = format!("/join {name}");
        assert_eq!(
            reply(&mut r, 1, &datagram, now),
            "error: invalid name",
            "{name:?}"
        );
        assert!(join_command(name).is_err(), "{name:?}");
        assert!(send_command(name, "hi").is_err(), "{name:?}");
    }
    // `/` only counts at the start; `,` and `:` cannot confuse the list or a delivery.
    let valid = ["a/b", "a,", "a:", ":", "Ann", "ann", "😀", "é", "e\u{301}"];
    for (addr, name) in (10..).zip(valid) {
        assert_eq!(
            reply(&mut r, addr, &format!("/join {name}"), now),
            format!("ok: joined as {name}")
        );
    }
    // Case-sensitive and not normalized: these are all different users.
    assert_eq!(r.users(), valid.len());
}

#[test]
fn name_length_counts_characters_not_bytes() {
    let now = Instant::now();
    let mut r = rooms(100, 4);
    assert_eq!(
        reply(&mut r, 1, "/join 小明小明", now),
        "ok: joined as 小明小明"
    );
    assert_eq!(
        reply(&mut r, 2, "/join 😀😀😀😀", now),
        "ok: joined as 😀😀😀😀"
    );
    assert_eq!(
        reply(&mut r, 3, "/join 小明小明小", now),
        "error: name too long (max 4 characters)"
    );
    assert_eq!(
        reply(&mut r, 3, "/join abcde", now),
        "error: name too long (max 4 characters)"
    );
    let mut none = rooms(100, 0);
    assert_eq!(
        reply(&mut none, 1, "/join a", now),
        "error: name too long (max 0 characters)"
    );
}

#[test]
fn message_length_counts_bytes_at_the_boundary() {
    let now = Instant::now();
    let mut r = rooms(10, 32);
    reply(&mut r, 1, "/join a", now);
    reply(&mut r, 2, "/join b", now);
    let room = MAX_REQUEST_BYTES - "@b ".len();
    let exact = format!("@b {}", "x".repeat(room));
    assert_eq!(exact.len(), MAX_REQUEST_BYTES);
    assert_eq!(reply(&mut r, 1, &exact, now), "ok: delivered to b");
    let over = format!("@b {}", "x".repeat(room + 1));
    assert_eq!(
        reply(&mut r, 1, &over, now),
        "error: message too long (max 60000 bytes)"
    );
    // A 3-byte character that would straddle the limit is refused whole.
    let straddling = format!("@b {}小", "x".repeat(room - 2));
    assert_eq!(straddling.len(), MAX_REQUEST_BYTES + 1);
    assert!(reply(&mut r, 1, &straddling, now).starts_with("error: message too long"));
    // The line ending does not count.
    let with_newline = format!("{exact}\r\n");
    assert_eq!(reply(&mut r, 1, &with_newline, now), "ok: delivered to b");
    // A request one byte too long but not UTF-8 is refused for its length, unread.
    let mut junk = vec![0xff; MAX_REQUEST_BYTES + 1];
    assert!(reply_bytes(&mut r, 1, &junk, now).starts_with("error: message too long"));
    junk.truncate(MAX_REQUEST_BYTES);
    assert_eq!(reply_bytes(&mut r, 1, &junk, now), "error: not UTF-8");
}

fn reply_bytes(r: &mut ChatRooms<u32>, from: u32, datagram: &[u8], now: Instant) -> String {
    say(r, from, datagram, now).swap_remove(0).1
}

#[test]
fn a_delivery_always_fits_in_one_datagram() {
    let now = Instant::now();
    let mut r = rooms(10, usize::MAX);
    let long_name = "n".repeat(20_000);
    reply(&mut r, 1, &format!("/join {long_name}"), now);
    reply(&mut r, 2, "/join b", now);
    let text = "x".repeat(MAX_REQUEST_BYTES - "@b ".len());
    let out = say(&mut r, 1, format!("@b {text}").as_bytes(), now);
    assert_eq!(
        out,
        [(1, "error: message too long (max 60000 bytes)".into())]
    );
    // With default-sized names the largest message is delivered.
    let mut r = rooms(10, 32);
    let longest_name = "😀".repeat(32);
    reply(&mut r, 1, &format!("/join {longest_name}"), now);
    reply(&mut r, 2, "/join b", now);
    let out = say(&mut r, 1, format!("@b {text}").as_bytes(), now);
    assert_eq!(out.len(), 2);
    assert!(out[1].1.len() <= MAX_DATAGRAM_BYTES);
}

#[test]
fn line_endings_and_separators() {
    let now = Instant::now();
    let mut r = rooms(10, 8);
    assert_eq!(reply(&mut r, 1, "/join ann\r\n", now), "ok: joined as ann");
    assert_eq!(reply(&mut r, 2, "/join\tbob\n", now), "ok: joined as bob");
    assert_eq!(
        reply(&mut r, 3, "/join  carol ", now),
        "ok: joined as carol"
    );
    assert_eq!(reply(&mut r, 3, "/who\n", now), "users: ann, bob, carol");
    assert_eq!(reply(&mut r, 3, "/who  ", now), "users: ann, bob, carol");
    assert_eq!(
        say(&mut r, 1, b"@bob hi\n", now),
        [
            (1, "ok: delivered to bob".into()),
            (2, "from ann: hi".into())
        ]
    );
    // Only one line ending goes; the rest of the text is relayed as it is.
    assert_eq!(
        say(&mut r, 1, b"@bob  two\nlines\r\n\n", now)[1].1,
        "from ann:  two\nlines\r\n"
    );
    // A lone `\r` is text, not a line ending.
    assert_eq!(say(&mut r, 1, b"@bob x\r", now)[1].1, "from ann: x\r");
    // An ideographic space separates the name from the text, as Chinese keyboards type it.
    assert_eq!(
        say(&mut r, 1, "@bob\u{3000}你好".as_bytes(), now)[1].1,
        "from ann: 你好"
    );
    assert_eq!(reply(&mut r, 1, "/leave\r\n", now), "ok: bye");
}

#[test]
fn sending_to_yourself() {
    let now = Instant::now();
    let mut r = rooms(10, 8);
    reply(&mut r, 1, "/join ann", now);
    assert_eq!(
        say(&mut r, 1, b"@ann note", now),
        [
            (1, "ok: delivered to ann".into()),
            (1, "from ann: note".into())
        ]
    );
}

#[test]
fn rejoining_renames_and_frees_the_old_name() {
    let now = Instant::now();
    let mut r = rooms(2, 8);
    reply(&mut r, 1, "/join ann", now);
    reply(&mut r, 2, "/join bob", now);
    // Full, but a rename takes no new place.
    assert_eq!(reply(&mut r, 1, "/join anna", now), "ok: joined as anna");
    assert_eq!(reply(&mut r, 1, "/join anna", now), "ok: joined as anna");
    assert_eq!(reply(&mut r, 1, "/join bob", now), "error: name taken");
    assert_eq!(reply(&mut r, 2, "/who", now), "users: anna, bob");
    assert_eq!(reply(&mut r, 2, "@ann hi", now), "error: no such user ann");
    assert_eq!(reply(&mut r, 2, "/join ann", now), "ok: joined as ann");
    assert_eq!(
        say(&mut r, 2, b"@anna hi", now),
        [
            (2, "ok: delivered to anna".into()),
            (1, "from ann: hi".into())
        ]
    );
    assert_eq!(r.users(), 2);
}

#[test]
fn idle_users_expire_and_any_datagram_refreshes() {
    let start = Instant::now();
    let at = |secs| start + Duration::from_secs(secs);
    let mut r = rooms(10, 8);
    reply(&mut r, 1, "/join ann", start);
    reply(&mut r, 2, "/join bob", start);
    reply(&mut r, 3, "/join carol", start);
    // Refused datagrams are activity too.
    reply_bytes(&mut r, 1, b"\xff", at(50));
    reply(&mut r, 2, "nonsense", at(50));
    // Exactly the idle time is not yet too long.
    assert_eq!(r.expire(at(60)), 0);
    assert_eq!(r.expire(at(61)), 1);
    assert_eq!(reply(&mut r, 1, "/who", at(61)), "users: ann, bob");
    assert_eq!(r.expire(at(200)), 2);
    assert_eq!(r.users(), 0);
    assert_eq!(r.expire(at(300)), 0);
}

#[test]
fn handle_expires_lazily() {
    let start = Instant::now();
    let at = |secs| start + Duration::from_secs(secs);
    let mut r = rooms(1, 8);
    reply(&mut r, 1, "/join ann", start);
    // Idle but not expired: the name is taken, and the place too.
    assert_eq!(reply(&mut r, 2, "/join ann", at(60)), "error: name taken");
    assert_eq!(
        reply(&mut r, 2, "/join bob", at(60)),
        "error: server full (max 1 users)"
    );
    // Expired: both are free again, without anyone calling `expire`.
    assert_eq!(reply(&mut r, 2, "/join ann", at(121)), "ok: joined as ann");
    // The expired user has to join again, and cannot leave twice.
    assert_eq!(
        reply(&mut r, 1, "@ann hi", at(121)),
        "error: join first with /join NAME"
    );
    assert_eq!(reply(&mut r, 1, "/leave", at(121)), "error: not joined");
}

#[test]
fn an_expired_sender_is_not_revived_by_its_own_datagram() {
    let start = Instant::now();
    let mut r = rooms(10, 8);
    reply(&mut r, 1, "/join ann", start);
    reply(&mut r, 2, "/join bob", start);
    let later = start + IDLE + Duration::from_secs(1);
    reply(&mut r, 2, "/join bob", later - Duration::from_secs(2));
    assert_eq!(
        reply(&mut r, 1, "@bob hi", later),
        "error: join first with /join NAME"
    );
    assert_eq!(reply(&mut r, 2, "/who", later), "users: bob");
}

#[test]
fn limits_at_their_extremes_do_not_panic() {
    let now = Instant::now();
    let mut forever = ChatRooms::new(ChatLimits {
        max_users: usize::MAX,
        max_name_chars: usize::MAX,
        idle_timeout: Duration::MAX,
    });
    assert_eq!(
        forever.handle(1u8, b"/join ann", now).reply.1,
        b"ok: joined as ann"
    );
    assert_eq!(forever.expire(now + Duration::from_secs(1 << 40)), 0);
    // A clock that went backwards counts as no idle time.
    assert_eq!(forever.expire(now - Duration::from_secs(1)), 0);
    let mut instant = ChatRooms::new(ChatLimits {
        max_users: 0,
        max_name_chars: 32,
        idle_timeout: Duration::ZERO,
    });
    assert_eq!(
        instant.handle(1u8, b"/join ann", now).reply.1,
        b"error: server full (max 0 users)"
    );
    assert_eq!(instant.users(), 0);
}

#[test]
fn who_is_answered_only_to_joined_addresses() {
    // A spoofed 4-byte `/who` must not draw a long list at somebody else's address.
    let now = Instant::now();
    let mut r = rooms(100, 32);
    for addr in 1..=50u32 {
        reply(&mut r, addr, &format!("/join user{addr:02}"), now);
    }
    let stranger = reply(&mut r, 99, "/who", now);
    assert_eq!(stranger, "error: join first with /join NAME");
    assert_eq!(r.users(), 50); // and the stranger was not registered by asking
    assert!(reply(&mut r, 1, "/who", now).len() > 50 * 6);
}

#[test]
fn who_is_sorted_by_code_point() {
    let now = Instant::now();
    let mut r = rooms(10, 8);
    for (addr, name) in (1..).zip(["小明", "bob", "Zed", "alice", "_x"]) {
        reply(&mut r, addr, &format!("/join {name}"), now);
    }
    assert_eq!(
        reply(&mut r, 1, "/who", now),
        "users: Zed, _x, alice, bob, 小明"
    );
}

#[test]
fn a_long_who_list_is_cut_short_and_says_so() {
    let names = ["aa", "bb", "cc", "dd", "ee"];
    let all = "users: aa, bb, cc, dd, ee";
    assert_eq!(users_reply(&names, 1000), all);
    assert_eq!(users_reply(&[], 0), "users:");
    // Exactly full: nothing is cut.
    assert_eq!(users_reply(&names, all.len()), all);
    let short = users_reply(&names, all.len() - 1);
    assert_eq!(short, "users: aa, bb, +3 more");
    assert_eq!(users_reply(&names, short.len() - 1), "users: aa, +4 more");
    assert_eq!(users_reply(&names, 10), "users: +5 more");
    assert_eq!(more_marker_len(9), "+9 more".len());
    assert_eq!(more_marker_len(10), "+10 more".len());
    assert_eq!(more_marker_len(0), "+0 more".len());
    assert_eq!(
        parse_reply(short.as_bytes()),
        Some(ChatReply::Users(vec!["aa".into(), "bb".into()]))
    );
    assert_eq!(
        parse_reply(b"users: +5 more"),
        Some(ChatReply::Users(vec![]))
    );

    // Through the server: many long names overflow one datagram.
    let now = Instant::now();
    let mut r = rooms(100, 1000);
    for addr in 0..80u32 {
        let name = format!("{addr:02}{}", "名".repeat(300));
        reply(&mut r, addr, &format!("/join {name}"), now);
    }
    let list = reply(&mut r, 0, "/who", now);
    assert!(list.len() <= MAX_DATAGRAM_BYTES);
    let Some(ChatReply::Users(listed)) = parse_reply(list.as_bytes()) else {
        panic!("not a list: {list:.40}");
    };
    let more: usize = list
        .rsplit_once(", +")
        .and_then(|(_, tail)| tail.strip_suffix(" more"))
        .and_then(|n| n.parse().ok())
        .expect("a +N more marker");
    assert_eq!(listed.len() + more, 80);
    assert!(listed.windows(2).all(|w| w[0] < w[1]));
    assert!(listed[0].starts_with("00"));
}

#[test]
fn client_commands_round_trip_through_the_server() {
    let now = Instant::now();
    let mut r = rooms(10, 32);
    let mut ask = |from, datagram: Vec<u8>| -> Vec<(u32, ChatReply)> {
        r.handle(from, &datagram, now)
            .into_iter()
            .map(|(to, d)| (to, parse_reply(&d).expect("a protocol answer")))
            .collect()
    };
    assert_eq!(
        ask(1, join_command("小明").unwrap()),
        [(1, ChatReply::Ok("joined as 小明".into()))]
    );
    ask(2, join_command("bob").unwrap());
    assert_eq!(
        ask(1, send_command("bob", "a: b\nc").unwrap()),
        [
            (1, ChatReply::Ok("delivered to bob".into())),
            (
                2,
                ChatReply::Delivery {
                    from: "小明".into(),
                    text: "a: b\nc".into()
                }
            )
        ]
    );
    assert_eq!(
        ask(2, who_command()),
        [(2, ChatReply::Users(vec!["bob".into(), "小明".into()]))]
    );
    assert_eq!(
        ask(3, leave_command()),
        [(3, ChatReply::Error("not joined".into()))]
    );
    assert_eq!(ask(2, leave_command()), [(2, ChatReply::Ok("bye".into()))]);
}

/// A small deterministic generator: the tests need no crates and no seed file.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

#[test]
fn never_panics_and_keeps_its_promises_on_arbitrary_input() {
    let start = Instant::now();
    let mut r = rooms(5, 4);
    let mut rng = XorShift(0x2545_f491_4f6c_dd1d);
    let prefixes: [&[u8]; 8] = [
        b"/join ",
        b"@",
        b"@a ",
        b"/who",
        b"/leave",
        b"",
        "@小".as_bytes(),
        b"/join \xe5\xb0",
    ];
    let alphabet: [&[u8]; 10] = [
        b"a",
        b"b",
        b" ",
        b"\n",
        b"\r",
        b"@",
        b"/",
        "小".as_bytes(),
        b"\xff",
        b"\xe5",
    ];
    // The input has to reach every answer, or the test proves little.
    let mut kinds = [
        "ok: joined as",
        "ok: delivered to",
        "ok: bye",
        "users: ",
        "error: empty datagram",
        "error: not UTF-8",
        "error: unknown command",
        "error: malformed message",
        "error: join first",
        "error: invalid name",
        "error: name too long",
        "error: name taken",
        "error: server full",
        "error: empty message",
        "error: no such user",
        "error: not joined",
    ]
    .map(|kind| (kind, 0));
    for i in 0..30_000u64 {
        let mut data = prefixes[rng.below(prefixes.len())].to_vec();
        for _ in 0..rng.below(12) {
            data.extend_from_slice(alphabet[rng.below(alphabet.len())]);
        }
        if rng.below(50) == 0 {
            let random_bytes = (0..rng.below(300)).map(|_| rng.next() as u8);
            data.extend(random_bytes);
        }
        let from = rng.below(9) as u32;
        let now = start + Duration::from_secs(i / 100);
        let out = r.handle(from, &data, now);
        assert_eq!(out.reply.0, from);
        let reply = String::from_utf8_lossy(&out.reply.1);
        if let Some(seen) = kinds.iter_mut().find(|(kind, _)| reply.starts_with(kind)) {
            seen.1 += 1;
        }
        for (_, datagram) in out {
            assert!(datagram.len() <= MAX_DATAGRAM_BYTES);
            assert!(parse_reply(&datagram).is_some(), "{datagram:?}");
        }
        assert_consistent(&r);
        if i % 1000 == 0 {
            r.expire(now);
            assert_consistent(&r);
        }
    }
    for (kind, seen) in kinds {
        assert!(seen > 0, "never answered {kind:?}");
    }
    // Random bytes as replies: the client parser never panics either.
    for _ in 0..5_000 {
        let data: Vec<u8> = (0..rng.below(40)).map(|_| rng.next() as u8).collect();
        let _ = parse_reply(&data);
    }
}

#[test]
fn huge_inputs_are_refused_cheaply() {
    let now = Instant::now();
    let mut r = rooms(5, 32);
    reply(&mut r, 1, "/join ann", now);
    let megabyte = vec![b'x'; 1 << 20];
    let mut at_ann = b"@ann ".to_vec();
    at_ann.extend_from_slice(&megabyte);
    for datagram in [&megabyte[..], &at_ann] {
        assert_eq!(
            say(&mut r, 1, datagram, now),
            [(1, "error: message too long (max 60000 bytes)".into())]
        );
    }
    assert!(join_command(&"名".repeat(1 << 18)).is_err());
    assert!(send_command("ann", &"名".repeat(1 << 18)).is_err());
    assert_eq!(parse_reply(&megabyte), None);
}
