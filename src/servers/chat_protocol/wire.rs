//! The protocol's words and sizes, as they appear in datagrams.

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
