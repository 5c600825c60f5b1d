//! The client's side: building commands (refusing what the server would refuse) and reading
//! the server's answers.

use super::limits::check_name;
use super::refusal::Refusal;
use super::wire::{
    DELIVERY_PREFIX, DELIVERY_SEPARATOR, ERROR_PREFIX, JOIN, LEAVE, MAX_REQUEST_BYTES, OK_PREFIX,
    SEND_MARK, USERS_PREFIX, USERS_SEPARATOR, WHO,
};

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
}
