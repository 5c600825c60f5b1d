//! Why the server refuses a datagram: the `error: ...` texts, in one place.

use std::fmt;

use super::wire::MAX_REQUEST_BYTES;

/// Why the server refuses a datagram: the text after `error: `.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Refusal {
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
