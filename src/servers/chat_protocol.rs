//! The chat relay's protocol, without I/O: what `ChatServer` answers to each datagram, and how
//! `ChatClient` builds commands and reads the answers. The tokio loop and the clients only
//! move bytes; every rule lives here, so every rule is unit-tested here.
//!
//! # Wire format
//!
//! Each datagram is one command in UTF-8. One trailing line ending (`\n` or `\r\n`) is
//! ignored, so line-based tools (`nc -u 127.0.0.1 8081`, `socat - UDP:127.0.0.1:8081`) work as
//! clients. A command and its argument are separated by one white-space character (a space, a
//! tab, or the ideographic space U+3000 that Chinese keyboards type).
//!
//! | datagram       | reply to the sender     | and                                          |
//! |----------------|-------------------------|----------------------------------------------|
//! | `/join NAME`   | `ok: joined as NAME`    | from an address already joined: renames it   |
//! | `@NAME text`   | `ok: delivered to NAME` | NAME's address receives `from SENDER: text`  |
//! | `/who`         | `users: a, b, c`        | only to a joined address (so never empty)    |
//! | `/leave`       | `ok: bye`               | the name is free again                       |
//! | anything wrong | `error: <why>`          | nothing else happens                         |
//!
//! The reply to the sender always comes first, then the delivery. `/who` is answered only to
//! an address that has joined (its reply can be 16,000 times the size of the request, so an
//! open `/who` would amplify spoofed requests); it lists names sorted by code point (`Zed`
//! before `alice` before `小明`). The text of a message is relayed as it is (after the line
//! ending is dropped), newlines included.
//!
//! The errors, in the order they are checked:
//!
//! | reply                                       | when                                        |
//! |---------------------------------------------|---------------------------------------------|
//! | `error: empty datagram`                     | nothing, or only a line ending              |
//! | `error: message too long (max 60000 bytes)` | over 60000 bytes (or a delivery too big *)  |
//! | `error: not UTF-8`                          | the bytes are not UTF-8                     |
//! | `error: unknown command`                    | plain text, `/foo`, `/who x`, `/leave x`    |
//! | `error: malformed message (use @NAME text)` | `@` with no name, or no text after it       |
//! | `error: join first with /join NAME`         | `@NAME text` or `/who`, address not joined  |
//! | `error: invalid name`                       | a name (to join or send to) breaking a rule |
//! | `error: name too long (max N characters)`   | a name over `max_name_chars` characters     |
//! | `error: name taken`                         | `/join` with a name another address holds   |
//! | `error: server full (max N users)`          | `/join` from a new address when full        |
//! | `error: empty message`                      | `@NAME` then only white space               |
//! | `error: no such user NAME`                  | `@NAME text` to a name nobody holds         |
//! | `error: not joined`                         | `/leave` from an address not joined         |
//!
//! (*) Only possible when `max_name_chars` is set far above the default.
//!
//! # Limits
//!
//! - Names: 1 to `max_name_chars` (default 32) characters, counted as Unicode code points
//!   (`小明` is 2); no white space (Unicode's, U+3000 too), no control characters, no invisible
//!   formatting characters (zero-width spaces, direction overrides: they make a name look like
//!   another), no `@` anywhere, no `/` at the start. Names are compared exactly
//!   (case-sensitive, no Unicode normalization). One name per address.
//! - A datagram to the server is at most 60000 bytes (`MAX_REQUEST_BYTES`), so that a delivery,
//!   `from SENDER: ` and the text, fits in one datagram; no reply exceeds 65507 bytes
//!   (`MAX_DATAGRAM_BYTES`, the largest UDP payload over IPv4).
//! - At most `max_users` (default 1024) names are registered at once.
//! - A registration expires when its address has sent nothing for longer than `idle_timeout`
//!   (default 300 s). Any datagram from the address counts as activity, even a refused one.
//!   Until then its name is taken, even if the user is idle.
//! - A `/who` list too long for one datagram lists the first names and ends with a `+N more`
//!   item (it has a space, so it cannot be a name).
//!
//! An address is the only identity: UDP source addresses can be forged, so this relay is for
//! teaching on trusted networks, not for strangers on the internet.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::hash::Hash;
use std::time::{Duration, Instant};

/// `/join NAME`: register NAME for the sending address.
pub const JOIN: &str = "/join";
/// `/who`: list the registered names.
pub const WHO: &str = "/who";
/// `/leave`: give the name up.
pub const LEAVE: &str = "/leave";
/// `@NAME text`: send text to NAME.
pub const SEND_MARK: char = '@';
/// Replies that a command succeeded start with this.
pub const OK_PREFIX: &str = "ok: ";
/// Refusals start with this.
pub const ERROR_PREFIX: &str = "error: ";
/// The answer to `/who`: this, then ` a, b, c` when anyone is joined.
pub const USERS_PREFIX: &str = "users:";
/// Separates names in the `/who` list. Names have no white space, so it cannot occur in one.
pub const USERS_SEPARATOR: &str = ", ";
/// A delivery is `from SENDER: text`.
pub const DELIVERY_PREFIX: &str = "from ";
/// Ends the sender's name in a delivery. It has a space, so it cannot occur in a name.
pub const DELIVERY_SEPARATOR: &str = ": ";
/// The answer to `/leave`.
pub const BYE: &str = "ok: bye";

/// The longest datagram the server accepts. With the delivery's prefix added it must still fit
/// in one UDP datagram (`MAX_DATAGRAM_BYTES`), with room for a long sender name.
pub const MAX_REQUEST_BYTES: usize = 60_000;
/// The largest UDP payload over IPv4: no reply or delivery is longer.
pub const MAX_DATAGRAM_BYTES: usize = 65_507;

/// What the server allows; the defaults are `ChatServer`'s.
#[derive(Debug, Clone, PartialEq, Eq)]
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

/// Why the server refuses a datagram: the text after `error: `.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Refusal {
    EmptyDatagram,
    TooLong,
    NotUtf8,
    UnknownCommand,
    Malformed,
    JoinFirst,
    InvalidName,
    NameTooLong { max_chars: usize },
    NameTaken,
    ServerFull { max_users: usize },
    EmptyMessage,
    NoSuchUser(String),
    NotJoined,
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Refusal::EmptyDatagram => f.write_str("empty datagram"),
            Refusal::TooLong => write!(f, "message too long (max {MAX_REQUEST_BYTES} bytes)"),
            Refusal::NotUtf8 => f.write_str("not UTF-8"),
            Refusal::UnknownCommand => f.write_str("unknown command"),
            Refusal::Malformed => f.write_str("malformed message (use @NAME text)"),
            Refusal::JoinFirst => f.write_str("join first with /join NAME"),
            Refusal::InvalidName => f.write_str("invalid name"),
            Refusal::NameTooLong { max_chars } => {
                write!(f, "name too long (max {max_chars} characters)")
            }
            Refusal::NameTaken => f.write_str("name taken"),
            Refusal::ServerFull { max_users } => write!(f, "server full (max {max_users} users)"),
            Refusal::EmptyMessage => f.write_str("empty message"),
            Refusal::NoSuchUser(name) => write!(f, "no such user {name}"),
            Refusal::NotJoined => f.write_str("not joined"),
        }
    }
}

/// A datagram to the server, understood but not yet checked against who is joined.
#[derive(Debug, PartialEq, Eq)]
enum Request<'a> {
    Join(&'a str),
    Send { to: &'a str, text: &'a str },
    Who,
    Leave,
}

/// Reads a datagram's command; the checks that need no state happen here.
fn parse_request(datagram: &[u8]) -> Result<Request<'_>, Refusal> {
    let datagram = strip_line_ending(datagram);
    if datagram.is_empty() {
        return Err(Refusal::EmptyDatagram);
    }
    if datagram.len() > MAX_REQUEST_BYTES {
        return Err(Refusal::TooLong);
    }
    let text = std::str::from_utf8(datagram).map_err(|_| Refusal::NotUtf8)?;
    if let Some(addressed) = text.strip_prefix(SEND_MARK) {
        return match addressed.split_once(char::is_whitespace) {
            Some((to, text)) if !to.is_empty() => Ok(Request::Send { to, text }),
            _ => Err(Refusal::Malformed),
        };
    }
    let (verb, argument) = text
        .split_once(char::is_whitespace)
        .map_or((text, ""), |(verb, rest)| (verb, rest.trim()));
    match (verb, argument) {
        (JOIN, name) => Ok(Request::Join(name)),
        (WHO, "") => Ok(Request::Who),
        (LEAVE, "") => Ok(Request::Leave),
        _ => Err(Refusal::UnknownCommand),
    }
}

/// Line-based tools end every datagram with a line ending the user did not mean to send.
fn strip_line_ending(datagram: &[u8]) -> &[u8] {
    match datagram.strip_suffix(b"\n") {
        Some(line) => line.strip_suffix(b"\r").unwrap_or(line),
        None => datagram,
    }
}

/// Characters that show as nothing or reorder the text around them: a name containing one can
/// pass for another user's name in a `/who` list or a delivery.
fn is_invisible(c: char) -> bool {
    matches!(
        c,
        '\u{00AD}'
            | '\u{034F}'
            | '\u{061C}'
            | '\u{115F}'
            | '\u{1160}'
            | '\u{180E}'
            | '\u{200B}'..='\u{200F}'
            | '\u{202A}'..='\u{202E}'
            | '\u{2060}'..='\u{206F}'
            | '\u{3164}'
            | '\u{FE00}'..='\u{FE0F}'
            | '\u{FEFF}'
            | '\u{FFA0}'
            | '\u{FFF9}'..='\u{FFFB}'
            | '\u{E0000}'..='\u{E0FFF}'
    )
}

/// The name rules, shared by the server and the clients' command builders.
fn check_name(name: &str, max_chars: usize) -> Result<(), Refusal> {
    let breaks_rules = name.is_empty()
        || name.starts_with('/')
        || name
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || c == SEND_MARK || is_invisible(c));
    if breaks_rules {
        return Err(Refusal::InvalidName);
    }
    if name.chars().nth(max_chars).is_some() {
        return Err(Refusal::NameTooLong { max_chars });
    }
    Ok(())
}

/// The `/who` answer, cut short with `+N more` if it would not fit in `budget` bytes (which
/// must have room for `users: +N more` itself).
fn users_reply(sorted_names: &[&str], budget: usize) -> String {
    let full_len = USERS_PREFIX.len()
        + sorted_names.iter().map(|name| name.len()).sum::<usize>()
        + match sorted_names.len() {
            0 => 0,
            n => " ".len() + (n - 1) * USERS_SEPARATOR.len(),
        };
    let mut reply = String::with_capacity(full_len.min(budget));
    reply.push_str(USERS_PREFIX);
    for (listed, name) in sorted_names.iter().enumerate() {
        let separator = if listed == 0 { " " } else { USERS_SEPARATOR };
        let left_after = sorted_names.len() - listed - 1;
        let marker_room = match left_after {
            0 => 0,
            n => USERS_SEPARATOR.len() + more_marker_len(n),
        };
        if full_len > budget && reply.len() + separator.len() + name.len() + marker_room > budget {
            let more = sorted_names.len() - listed;
            reply.push_str(separator);
            reply.push_str(&format!("+{more} more"));
            break;
        }
        reply.push_str(separator);
        reply.push_str(name);
    }
    reply
}

/// The length of `+N more`, without building it for every name listed.
fn more_marker_len(more: usize) -> usize {
    let digits = more.checked_ilog10().map_or(1, |log| log as usize + 1);
    "+".len() + digits + " more".len()
}

/// The datagrams one received datagram causes: always a reply to its sender, first, and at
/// most one delivery to another address (or the same one, for `@OWN_NAME text`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outgoing<A> {
    pub reply: (A, Vec<u8>),
    pub delivery: Option<(A, Vec<u8>)>,
}

impl<A> IntoIterator for Outgoing<A> {
    type Item = (A, Vec<u8>);
    type IntoIter =
        std::iter::Chain<std::iter::Once<(A, Vec<u8>)>, std::option::IntoIter<(A, Vec<u8>)>>;

    fn into_iter(self) -> Self::IntoIter {
        std::iter::once(self.reply).chain(self.delivery)
    }
}

/// One joined address.
struct Registration {
    name: String,
    /// The key in `by_last_seen`.
    last_seen: (Instant, u64),
}

/// Who is joined, from which address: the server's whole state. Generic over the address so
/// tests can use small integers; the server uses `SocketAddr`.
pub struct ChatRooms<A> {
    limits: ChatLimits,
    by_addr: HashMap<A, Registration>,
    by_name: HashMap<String, A>,
    /// Oldest activity first, so expiry looks only at the users it removes (plus one).
    /// The counter makes keys unique when two users are seen at the same instant.
    by_last_seen: BTreeMap<(Instant, u64), A>,
    activity_counter: u64,
}

impl<A: Copy + Eq + Hash> ChatRooms<A> {
    pub fn new(limits: ChatLimits) -> Self {
        ChatRooms {
            limits,
            by_addr: HashMap::new(),
            by_name: HashMap::new(),
            by_last_seen: BTreeMap::new(),
            activity_counter: 0,
        }
    }

    pub fn limits(&self) -> &ChatLimits {
        &self.limits
    }

    /// How many names are registered (some may be past their idle time until the next
    /// `expire` or `handle`).
    pub fn users(&self) -> usize {
        self.by_addr.len()
    }

    /// Forgets the users idle for longer than `idle_timeout`; returns how many.
    pub fn expire(&mut self, now: Instant) -> usize {
        let mut expired = 0;
        while let Some((&(last_seen, _), &addr)) = self.by_last_seen.first_key_value() {
            if now.saturating_duration_since(last_seen) <= self.limits.idle_timeout {
                break;
            }
            self.unregister(addr);
            expired += 1;
        }
        expired
    }

    /// What to send in answer to `datagram` from `from`.
    pub fn handle(&mut self, from: A, datagram: &[u8], now: Instant) -> Outgoing<A> {
        self.expire(now);
        self.touch(from, now);
        let (reply, delivery) = parse_request(datagram)
            .and_then(|request| self.obey(from, request, now))
            .unwrap_or_else(|refusal| (format!("{ERROR_PREFIX}{refusal}"), None));
        Outgoing {
            reply: (from, reply.into_bytes()),
            delivery: delivery.map(|(to, text)| (to, text.into_bytes())),
        }
    }

    /// Carries out a request: the reply, and a delivery if there is one.
    fn obey(
        &mut self,
        from: A,
        request: Request<'_>,
        now: Instant,
    ) -> Result<(String, Option<(A, String)>), Refusal> {
        match request {
            Request::Join(name) => self.join(from, name, now).map(|reply| (reply, None)),
            Request::Send { to, text } => self
                .delivery(from, to, text)
                .map(|delivery| (format!("{OK_PREFIX}delivered to {to}"), Some(delivery))),
            // Only to joined addresses: a `/who` is 4 bytes and its answer up to 64 KiB, so
            // answering anyone would let a spoofed source address aim that at a third party.
            Request::Who if !self.by_addr.contains_key(&from) => Err(Refusal::JoinFirst),
            Request::Who => {
                let mut names: Vec<&str> = self.by_name.keys().map(String::as_str).collect();
                names.sort_unstable();
                Ok((users_reply(&names, MAX_DATAGRAM_BYTES), None))
            }
            Request::Leave => match self.unregister(from) {
                Some(_) => Ok((BYE.to_owned(), None)),
                None => Err(Refusal::NotJoined),
            },
        }
    }

    fn join(&mut self, from: A, name: &str, now: Instant) -> Result<String, Refusal> {
        check_name(name, self.limits.max_name_chars)?;
        match self.by_name.get(name) {
            Some(&holder) if holder != from => return Err(Refusal::NameTaken),
            // The same name again: `touch` has already refreshed it.
            Some(_) => return Ok(format!("{OK_PREFIX}joined as {name}")),
            None => {}
        }
        let renaming = self.by_addr.contains_key(&from);
        if !renaming && self.by_addr.len() >= self.limits.max_users {
            return Err(Refusal::ServerFull {
                max_users: self.limits.max_users,
            });
        }
        self.unregister(from);
        let last_seen = self.next_activity(now);
        self.by_last_seen.insert(last_seen, from);
        self.by_name.insert(name.to_owned(), from);
        self.by_addr.insert(
            from,
            Registration {
                name: name.to_owned(),
                last_seen,
            },
        );
        Ok(format!("{OK_PREFIX}joined as {name}"))
    }

    /// The datagram for the recipient of `@to text`.
    fn delivery(&self, from: A, to: &str, text: &str) -> Result<(A, String), Refusal> {
        let sender = &self.by_addr.get(&from).ok_or(Refusal::JoinFirst)?.name;
        check_name(to, self.limits.max_name_chars)?;
        if text.trim().is_empty() {
            return Err(Refusal::EmptyMessage);
        }
        let &recipient = self
            .by_name
            .get(to)
            .ok_or_else(|| Refusal::NoSuchUser(to.to_owned()))?;
        let delivery = format!("{DELIVERY_PREFIX}{sender}{DELIVERY_SEPARATOR}{text}");
        // Only reachable with names far longer than the default limit allows.
        if delivery.len() > MAX_DATAGRAM_BYTES {
            return Err(Refusal::TooLong);
        }
        Ok((recipient, delivery))
    }

    /// Any datagram from a joined address restarts its idle time.
    fn touch(&mut self, from: A, now: Instant) {
        let Some(old) = self.by_addr.get(&from).map(|r| r.last_seen) else {
            return;
        };
        let new = self.next_activity(now);
        self.by_last_seen.remove(&old);
        self.by_last_seen.insert(new, from);
        if let Some(registration) = self.by_addr.get_mut(&from) {
            registration.last_seen = new;
        }
    }

    fn next_activity(&mut self, now: Instant) -> (Instant, u64) {
        self.activity_counter += 1;
        (now, self.activity_counter)
    }

    /// Frees the address's name; returns it, or None if the address had not joined.
    fn unregister(&mut self, addr: A) -> Option<String> {
        let registration = self.by_addr.remove(&addr)?;
        self.by_name.remove(&registration.name);
        self.by_last_seen.remove(&registration.last_seen);
        Some(registration.name)
    }
}

/// An answer from the server, as the client reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChatReply {
    /// `ok: ...`, without the prefix.
    Ok(String),
    /// `error: ...`, without the prefix.
    Error(String),
    /// The `/who` list (without a `+N more` marker, if the server had to cut it short).
    Users(Vec<String>),
    /// A message for us.
    Delivery { from: String, text: String },
}

/// Which answers a command accepts (an error answers any command).
#[derive(Clone, Copy)]
pub enum Expect<'a> {
    Joined,
    Delivered(&'a str),
    Users,
    Bye,
}

impl Expect<'_> {
    pub fn accepts(self, reply: &ChatReply) -> bool {
        match (self, reply) {
            (_, ChatReply::Error(_)) => true,
            (Expect::Joined, ChatReply::Ok(text)) => text.starts_with("joined as "),
            (Expect::Delivered(to), ChatReply::Ok(text)) => {
                text.strip_prefix("delivered to ") == Some(to)
            }
            (Expect::Users, ChatReply::Users(_)) => true,
            (Expect::Bye, ChatReply::Ok(text)) => text == "bye",
            _ => false,
        }
    }
}

/// Reads a datagram from the server; None for anything the protocol does not send.
pub fn parse_reply(datagram: &[u8]) -> Option<ChatReply> {
    let text = std::str::from_utf8(datagram).ok()?;
    if let Some(rest) = text.strip_prefix(OK_PREFIX) {
        return Some(ChatReply::Ok(rest.to_owned()));
    }
    if let Some(rest) = text.strip_prefix(ERROR_PREFIX) {
        return Some(ChatReply::Error(rest.to_owned()));
    }
    if let Some(list) = text.strip_prefix(USERS_PREFIX) {
        if list.is_empty() {
            return Some(ChatReply::Users(Vec::new()));
        }
        let names = list
            .strip_prefix(' ')?
            .split(USERS_SEPARATOR)
            // Names have no white space: an item with some is the `+N more` marker.
            .filter(|item| !item.is_empty() && !item.contains(char::is_whitespace))
            .map(str::to_owned)
            .collect();
        return Some(ChatReply::Users(names));
    }
    let (from, text) = text
        .strip_prefix(DELIVERY_PREFIX)?
        .split_once(DELIVERY_SEPARATOR)?;
    Some(ChatReply::Delivery {
        from: from.to_owned(),
        text: text.to_owned(),
    })
}

/// Why the client refuses a name, in words a user of `ChatClient` can act on.
fn explain_name(role: &str, name: &str, refusal: Refusal) -> String {
    match refusal {
        Refusal::InvalidName => format!(
            "invalid {role} {name:?}: a name has no white space, control or invisible \
             characters, no '@', and does not start with '/'"
        ),
        other => format!("invalid {role} {name:?}: {other}"),
    }
}

/// `/join NAME`, or why the server would refuse NAME. The server's length limit is its own
/// setting, so only the datagram's size limits the length here.
pub fn join_command(name: &str) -> Result<Vec<u8>, String> {
    check_name(name, usize::MAX).map_err(|refusal| explain_name("name", name, refusal))?;
    let command = format!("{JOIN} {name}");
    if command.len() > MAX_REQUEST_BYTES {
        return Err(format!("name too long (max {MAX_REQUEST_BYTES} bytes)"));
    }
    Ok(command.into_bytes())
}

/// `@TO text`, or why the server would refuse it.
pub fn send_command(to: &str, text: &str) -> Result<Vec<u8>, String> {
    check_name(to, usize::MAX).map_err(|refusal| explain_name("recipient name", to, refusal))?;
    if text.trim().is_empty() {
        return Err(Refusal::EmptyMessage.to_string());
    }
    let command = format!("{SEND_MARK}{to} {text}");
    if command.len() > MAX_REQUEST_BYTES {
        return Err(Refusal::TooLong.to_string());
    }
    Ok(command.into_bytes())
}

pub fn who_command() -> Vec<u8> {
    WHO.as_bytes().to_vec()
}

pub fn leave_command() -> Vec<u8> {
    LEAVE.as_bytes().to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn parse_reply_reads_every_kind_of_answer() {
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
        // Names may end in `,`: only `, ` separates.
        assert_eq!(
            parse_reply(b"users: a,, b,c"),
            Some(ChatReply::Users(vec!["a,".into(), "b,c".into()]))
        );
        assert_eq!(
            parse_reply("from 小明: a: b".as_bytes()),
            Some(ChatReply::Delivery {
                from: "小明".into(),
                text: "a: b".into()
            })
        );
        // A sender name ending in `:` still ends at the first `: `.
        assert_eq!(
            parse_reply(b"from a:: text"),
            Some(ChatReply::Delivery {
                from: "a:".into(),
                text: "text".into()
            })
        );
        assert_eq!(
            parse_reply(b"from a: "),
            Some(ChatReply::Delivery {
                from: "a".into(),
                text: "".into()
            })
        );
        for noise in [
            &b"\xff"[..],
            b"",
            b"noise",
            b"ok:bye",
            b"users:x",
            b"from a",
            b"OK: x",
        ] {
            assert_eq!(parse_reply(noise), None, "{noise:?}");
        }
    }

    #[test]
    fn client_commands_and_their_refusals() {
        assert_eq!(join_command("ann").unwrap(), b"/join ann");
        assert_eq!(join_command("小明").unwrap(), "/join 小明".as_bytes());
        let err = join_command("two words").unwrap_err();
        assert!(err.starts_with("invalid name \"two words\": "), "{err}");
        assert!(join_command("")
            .unwrap_err()
            .starts_with("invalid name \"\""));
        assert!(join_command(&"x".repeat(MAX_REQUEST_BYTES))
            .unwrap_err()
            .starts_with("name too long"));
        assert_eq!(send_command("ann", "hi there").unwrap(), b"@ann hi there");
        assert_eq!(send_command("ann", "  ").unwrap_err(), "empty message");
        assert_eq!(send_command("ann", "").unwrap_err(), "empty message");
        let err = send_command("a@b", "hi").unwrap_err();
        assert!(err.starts_with("invalid recipient name \"a@b\""), "{err}");
        let room = MAX_REQUEST_BYTES - "@ann ".len();
        assert!(send_command("ann", &"x".repeat(room)).is_ok());
        assert_eq!(
            send_command("ann", &"x".repeat(room + 1)).unwrap_err(),
            "message too long (max 60000 bytes)"
        );
        assert_eq!(who_command(), b"/who");
        assert_eq!(leave_command(), b"/leave");
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
}
