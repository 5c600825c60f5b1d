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
//!
//! # Layout
//!
//! `wire` holds the protocol's words and sizes, `refusal` the error texts, `parse` reads a
//! datagram to the server, `limits` the server's limits and the name rules, `rooms` the
//! server's state and answers, `client` the client's commands and how it reads answers. This
//! file only re-exports; the parts use each other, never it.

mod client;
mod limits;
mod parse;
mod refusal;
mod rooms;
mod wire;

pub use client::{
    join_command, leave_command, parse_reply, send_command, who_command, ChatReply, Expect,
};
pub use limits::ChatLimits;
pub use rooms::{ChatRooms, Outgoing};
pub use wire::{
    BYE, DELIVERY_PREFIX, DELIVERY_SEPARATOR, ERROR_PREFIX, JOIN, LEAVE, MAX_DATAGRAM_BYTES,
    MAX_REQUEST_BYTES, OK_PREFIX, SEND_MARK, USERS_PREFIX, USERS_SEPARATOR, WHO,
};
