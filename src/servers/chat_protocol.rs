//! The chat relay's protocol, without I/O: what `ChatServer` answers to each datagram, and how
//! `ChatClient` builds commands and reads answers.
//!
//! Datagrams are UTF-8 text.
//!
//! | datagram        | reply to the sender       | and                                  |
//! |-----------------|---------------------------|--------------------------------------|
//! | `/join NAME`    | `ok: joined as NAME`      | a second join from one address renames |
//! | `@NAME text`    | `ok: delivered to NAME`   | NAME receives `from SENDER: text`    |
//! | `/who`          | `users: a, b, c` (sorted; `users:` when nobody is online) |      |
//! | `/leave`        | `ok: bye`                 |                                      |
//! | anything wrong  | `error: <why>`            |                                      |
//!
//! The errors: `error: not UTF-8`, `error: empty datagram`, `error: unknown command`,
//! `error: malformed message (use @NAME text)`, `error: empty message`,
//! `error: message too long (max N bytes)`, `error: invalid name`,
//! `error: name too long (max N characters)`, `error: name taken`,
//! `error: server full (max N users)`, `error: join first with /join NAME`,
//! `error: no such user NAME`, `error: not joined`.
//!
//! Names are 1 to `max_name_chars` characters with no white space, no control characters and
//! no `@`, and do not start with `/`. A registration expires after `idle_timeout` without a
//! datagram from its address; any datagram refreshes it.

use std::collections::HashMap;
use std::hash::Hash;
use std::time::{Duration, Instant};

/// A whole datagram's payload may not exceed this, so a delivery (`from NAME: ` + text)
/// always fits in one UDP datagram.
pub const MAX_MESSAGE_BYTES: usize = 60_000;

pub struct ChatLimits {
    pub max_users: usize,
    pub max_name_chars: usize,
    pub idle_timeout: Duration,
}

impl Default for ChatLimits {
    fn default() -> Self {
        ChatLimits {
            max_users: 1024,
            max_name_chars: 32,
            idle_timeout: Duration::from_secs(300),
        }
    }
}

struct User<A> {
    addr: A,
    last_seen: Instant,
}

/// The registered users and the rules between them.
pub struct ChatRooms<A> {
    limits: ChatLimits,
    by_name: HashMap<String, User<A>>,
    by_addr: HashMap<A, String>,
}

/// Why a name cannot be used.
pub fn check_name(name: &str, max_chars: usize) -> Result<(), String> {
    let invalid = name.is_empty()
        || name.starts_with('/')
        || name
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || c == '@');
    if invalid {
        return Err("invalid name".to_owned());
    }
    if name.chars().count() > max_chars {
        return Err(format!("name too long (max {max_chars} characters)"));
    }
    Ok(())
}

fn error(text: impl AsRef<str>) -> Vec<u8> {
    format!("error: {}", text.as_ref()).into_bytes()
}

impl<A: Copy + Eq + Hash> ChatRooms<A> {
    pub fn new(limits: ChatLimits) -> Self {
        ChatRooms {
            limits,
            by_name: HashMap::new(),
            by_addr: HashMap::new(),
        }
    }

    pub fn users(&self) -> usize {
        self.by_name.len()
    }

    /// Forgets users idle longer than the limit; returns how many.
    pub fn expire(&mut self, now: Instant) -> usize {
        let idle = self.limits.idle_timeout;
        let stale: Vec<String> = self
            .by_name
            .iter()
            .filter(|(_, u)| now.saturating_duration_since(u.last_seen) > idle)
            .map(|(name, _)| name.clone())
            .collect();
        for name in &stale {
            self.remove(name);
        }
        stale.len()
    }

    fn remove(&mut self, name: &str) {
        if let Some(user) = self.by_name.remove(name) {
            self.by_addr.remove(&user.addr);
        }
    }

    /// The datagrams to send for one received from `from`: the reply first, then any delivery.
    pub fn handle(&mut self, from: A, datagram: &[u8], now: Instant) -> Vec<(A, Vec<u8>)> {
        self.expire(now);
        if let Some(name) = self.by_addr.get(&from) {
            if let Some(user) = self.by_name.get_mut(name) {
                user.last_seen = now;
            }
        }
        let mut out = Vec::with_capacity(2);
        let reply = match std::str::from_utf8(datagram) {
            Err(_) => error("not UTF-8"),
            Ok("") => error("empty datagram"),
            Ok(text) => self.command(from, text, now, &mut out),
        };
        out.insert(0, (from, reply));
        out
    }

    fn command(
        &mut self,
        from: A,
        text: &str,
        now: Instant,
        out: &mut Vec<(A, Vec<u8>)>,
    ) -> Vec<u8> {
        if text.len() > MAX_MESSAGE_BYTES {
            return error(format!("message too long (max {MAX_MESSAGE_BYTES} bytes)"));
        }
        if let Some(rest) = text.strip_prefix('@') {
            return self.deliver(from, rest, out);
        }
        let (verb, arg) = text.split_once(' ').unwrap_or((text, ""));
        match verb {
            "/join" => self.join(from, arg.trim(), now),
            "/who" if arg.trim().is_empty() => {
                let mut names: Vec<&str> = self.by_name.keys().map(String::as_str).collect();
                names.sort_unstable();
                let list = names.join(", ");
                format!("users:{}{list}", if list.is_empty() { "" } else { " " }).into_bytes()
            }
            "/leave" if arg.trim().is_empty() => match self.by_addr.get(&from).cloned() {
                Some(name) => {
                    self.remove(&name);
                    b"ok: bye".to_vec()
                }
                None => error("not joined"),
            },
            _ => error("unknown command"),
        }
    }

    fn join(&mut self, from: A, name: &str, now: Instant) -> Vec<u8> {
        if let Err(why) = check_name(name, self.limits.max_name_chars) {
            return error(why);
        }
        let current = self.by_addr.get(&from).cloned();
        if current.as_deref() == Some(name) {
            return format!("ok: joined as {name}").into_bytes();
        }
        if self.by_name.contains_key(name) {
            return error("name taken");
        }
        if current.is_none() && self.by_name.len() >= self.limits.max_users {
            return error(format!("server full (max {} users)", self.limits.max_users));
        }
        if let Some(old) = current {
            self.remove(&old);
        }
        self.by_name.insert(
            name.to_owned(),
            User {
                addr: from,
                last_seen: now,
            },
        );
        self.by_addr.insert(from, name.to_owned());
        format!("ok: joined as {name}").into_bytes()
    }

    fn deliver(&mut self, from: A, rest: &str, out: &mut Vec<(A, Vec<u8>)>) -> Vec<u8> {
        let Some((to, text)) = rest.split_once(' ') else {
            return error("malformed message (use @NAME text)");
        };
        if to.is_empty() {
            return error("malformed message (use @NAME text)");
        }
        let Some(sender) = self.by_addr.get(&from) else {
            return error("join first with /join NAME");
        };
        if text.trim().is_empty() {
            return error("empty message");
        }
        let Some(recipient) = self.by_name.get(to) else {
            return error(format!("no such user {to}"));
        };
        out.push((
            recipient.addr,
            format!("from {sender}: {text}").into_bytes(),
        ));
        format!("ok: delivered to {to}").into_bytes()
    }
}

/// An answer from the server, as the client reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChatReply {
    Ok(String),
    Error(String),
    Users(Vec<String>),
    Delivery { from: String, text: String },
}

/// Reads a datagram from the server; None for anything that is not part of the protocol.
pub fn parse_reply(datagram: &[u8]) -> Option<ChatReply> {
    let text = std::str::from_utf8(datagram).ok()?;
    if let Some(rest) = text.strip_prefix("ok: ") {
        return Some(ChatReply::Ok(rest.to_owned()));
    }
    if let Some(rest) = text.strip_prefix("error: ") {
        return Some(ChatReply::Error(rest.to_owned()));
    }
    if let Some(rest) = text.strip_prefix("users:") {
        let users = rest
            .split(',')
            .map(str::trim)
            .filter(|n| !n.is_empty())
            .map(str::to_owned)
            .collect();
        return Some(ChatReply::Users(users));
    }
    let (from, body) = text.strip_prefix("from ")?.split_once(": ")?;
    Some(ChatReply::Delivery {
        from: from.to_owned(),
        text: body.to_owned(),
    })
}

/// `/join NAME`, refusing a name the server would refuse (default limits).
pub fn join_command(name: &str) -> Result<Vec<u8>, String> {
    check_name(name, usize::MAX)?;
    Ok(format!("/join {name}").into_bytes())
}

/// `@TO text`, refusing what the server would refuse.
pub fn send_command(to: &str, text: &str) -> Result<Vec<u8>, String> {
    check_name(to, usize::MAX).map_err(|_| format!("invalid recipient name {to:?}"))?;
    if text.trim().is_empty() {
        return Err("empty message".to_owned());
    }
    let datagram = format!("@{to} {text}");
    if datagram.len() > MAX_MESSAGE_BYTES {
        return Err(format!("message too long (max {MAX_MESSAGE_BYTES} bytes)"));
    }
    Ok(datagram.into_bytes())
}

pub fn who_command() -> Vec<u8> {
    b"/who".to_vec()
}

pub fn leave_command() -> Vec<u8> {
    b"/leave".to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rooms(max_users: usize) -> ChatRooms<u32> {
        ChatRooms::new(ChatLimits {
            max_users,
            max_name_chars: 8,
            idle_timeout: Duration::from_secs(60),
        })
    }

    fn say(r: &mut ChatRooms<u32>, from: u32, text: &str, now: Instant) -> Vec<(u32, String)> {
        r.handle(from, text.as_bytes(), now)
            .into_iter()
            .map(|(to, d)| (to, String::from_utf8(d).unwrap()))
            .collect()
    }

    #[test]
    fn join_send_who_leave() {
        let now = Instant::now();
        let mut r = rooms(10);
        assert_eq!(
            say(&mut r, 1, "/join 小明", now),
            [(1, "ok: joined as 小明".into())]
        );
        assert_eq!(
            say(&mut r, 2, "/join bob", now),
            [(2, "ok: joined as bob".into())]
        );
        assert_eq!(
            say(&mut r, 1, "@bob hello there", now),
            [
                (1, "ok: delivered to bob".into()),
                (2, "from 小明: hello there".into())
            ]
        );
        assert_eq!(
            say(&mut r, 3, "/who", now),
            [(3, "users: bob, 小明".into())]
        );
        assert_eq!(say(&mut r, 2, "/leave", now), [(2, "ok: bye".into())]);
        assert_eq!(
            say(&mut r, 2, "/leave", now),
            [(2, "error: not joined".into())]
        );
        assert_eq!(
            say(&mut r, 1, "@bob hi", now),
            [(1, "error: no such user bob".into())]
        );
        assert_eq!(say(&mut r, 1, "/leave", now)[0].1, "ok: bye");
        assert_eq!(say(&mut r, 1, "/who", now), [(1, "users:".into())]);
    }

    #[test]
    fn every_error_reply() {
        let now = Instant::now();
        let mut r = rooms(1);
        let first = |r: &mut ChatRooms<u32>, from, text: &str| say(r, from, text, now)[0].1.clone();
        assert_eq!(
            first(&mut r, 1, "@bob hi"),
            "error: join first with /join NAME"
        );
        assert_eq!(first(&mut r, 1, "/join"), "error: invalid name");
        assert_eq!(first(&mut r, 1, "/join a b"), "error: invalid name");
        assert_eq!(first(&mut r, 1, "/join @x"), "error: invalid name");
        assert_eq!(first(&mut r, 1, "/join /x"), "error: invalid name");
        assert_eq!(
            first(&mut r, 1, "/join abcdefghi"),
            "error: name too long (max 8 characters)"
        );
        assert_eq!(first(&mut r, 1, "/join ann"), "ok: joined as ann");
        assert_eq!(first(&mut r, 2, "/join ann"), "error: name taken");
        assert_eq!(
            first(&mut r, 2, "/join bob"),
            "error: server full (max 1 users)"
        );
        assert_eq!(
            first(&mut r, 1, "@ann"),
            "error: malformed message (use @NAME text)"
        );
        assert_eq!(
            first(&mut r, 1, "@ hi"),
            "error: malformed message (use @NAME text)"
        );
        assert_eq!(first(&mut r, 1, "@ann    "), "error: empty message");
        assert_eq!(first(&mut r, 1, "hello"), "error: unknown command");
        assert_eq!(first(&mut r, 1, "/frobnicate"), "error: unknown command");
        assert_eq!(first(&mut r, 1, ""), "error: empty datagram");
        let long = format!("@ann {}", "x".repeat(MAX_MESSAGE_BYTES));
        assert!(first(&mut r, 1, &long).starts_with("error: message too long"));
        let raw = r.handle(1, b"\xff\xfe", now);
        assert_eq!(raw, [(1, b"error: not UTF-8".to_vec())]);
    }

    #[test]
    fn rejoining_renames_and_frees_the_old_name() {
        let now = Instant::now();
        let mut r = rooms(10);
        say(&mut r, 1, "/join ann", now);
        assert_eq!(say(&mut r, 1, "/join anna", now)[0].1, "ok: joined as anna");
        assert_eq!(say(&mut r, 2, "/join ann", now)[0].1, "ok: joined as ann");
        assert_eq!(r.users(), 2);
    }

    #[test]
    fn idle_users_expire_and_activity_refreshes() {
        let start = Instant::now();
        let mut r = rooms(10);
        say(&mut r, 1, "/join ann", start);
        say(&mut r, 2, "/join bob", start);
        say(&mut r, 1, "/who", start + Duration::from_secs(50));
        assert_eq!(r.expire(start + Duration::from_secs(70)), 1);
        assert_eq!(
            say(&mut r, 3, "/who", start + Duration::from_secs(70))[0].1,
            "users: ann"
        );
        assert_eq!(r.expire(start + Duration::from_secs(200)), 1);
        assert_eq!(r.users(), 0);
    }

    #[test]
    fn client_side_parsing_and_building() {
        assert_eq!(parse_reply(b"ok: bye"), Some(ChatReply::Ok("bye".into())));
        assert_eq!(
            parse_reply(b"error: name taken"),
            Some(ChatReply::Error("name taken".into()))
        );
        assert_eq!(parse_reply(b"users:"), Some(ChatReply::Users(vec![])));
        assert_eq!(
            parse_reply(b"users: a, b"),
            Some(ChatReply::Users(vec!["a".into(), "b".into()]))
        );
        assert_eq!(
            parse_reply("from 小明: a: b".as_bytes()),
            Some(ChatReply::Delivery {
                from: "小明".into(),
                text: "a: b".into()
            })
        );
        assert_eq!(parse_reply(b"\xff"), None);
        assert_eq!(parse_reply(b"noise"), None);
        assert_eq!(join_command("ann").unwrap(), b"/join ann");
        assert!(join_command("a b").is_err());
        assert_eq!(send_command("ann", "hi").unwrap(), b"@ann hi");
        assert!(send_command("ann", "  ").is_err());
        assert!(send_command("a@b", "hi").is_err());
    }

    #[test]
    fn never_panics_on_arbitrary_bytes() {
        let now = Instant::now();
        let mut r = rooms(3);
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        for i in 0..20_000u32 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let len = (seed % 64) as usize;
            let prefixes: [&[u8]; 5] = [b"/join ", b"@", b"/who", b"/leave", b""];
            let mut data = prefixes[(seed >> 8) as usize % 5].to_vec();
            data.extend((0..len).map(|k| (seed >> (k % 56)) as u8));
            let out = r.handle(i % 7, &data, now);
            assert!(!out.is_empty() && out.len() <= 2);
            for (_, d) in out {
                let _ = parse_reply(&d);
            }
        }
        assert!(r.users() <= 3);
    }
}
