//! Reading a datagram to the server: the command and its argument, with the checks that need
//! no state (size, UTF-8, syntax).

use super::refusal::Refusal;
use super::wire::{JOIN, LEAVE, MAX_REQUEST_BYTES, SEND_MARK, WHO};

/// A datagram to the server, understood but not yet checked against who is joined.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Request<'a> {
    Join(&'a str),
    Send { to: &'a str, text: &'a str },
    Who,
    Leave,
}

/// Reads a datagram's command; the checks that need no state happen here.
pub(super) fn parse_request(datagram: &[u8]) -> Result<Request<'_>, Refusal> {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_and_their_arguments() {
        assert_eq!(parse_request(b"/join ann"), Ok(Request::Join("ann")));
        // One trailing line ending is dropped; the separator may be a tab or U+3000.
        assert_eq!(parse_request(b"/join ann\r\n"), Ok(Request::Join("ann")));
        assert_eq!(
            parse_request("/join\u{3000}小明\n".as_bytes()),
            Ok(Request::Join("小明"))
        );
        assert_eq!(parse_request(b"/who\n"), Ok(Request::Who));
        assert_eq!(parse_request(b"/leave"), Ok(Request::Leave));
        assert_eq!(
            parse_request(b"@bob hi\tthere\n\n"),
            Ok(Request::Send {
                to: "bob",
                text: "hi\tthere\n"
            })
        );
        // The name rules are the rooms' business, not the parser's.
        assert_eq!(parse_request(b"/join "), Ok(Request::Join("")));
    }

    #[test]
    fn refusals_that_need_no_state() {
        let refused = |datagram: &[u8]| parse_request(datagram).unwrap_err();
        assert_eq!(refused(b""), Refusal::EmptyDatagram);
        assert_eq!(refused(b"\r\n"), Refusal::EmptyDatagram);
        assert_eq!(
            refused(&vec![b'x'; MAX_REQUEST_BYTES + 1]),
            Refusal::TooLong
        );
        assert_eq!(refused(b"/join \xff"), Refusal::NotUtf8);
        for unknown in [&b"hello"[..], b"/foo", b"/who x", b"/leave now", b"/JOIN a"] {
            assert_eq!(refused(unknown), Refusal::UnknownCommand, "{unknown:?}");
        }
        for malformed in [&b"@"[..], b"@bob", b"@ hi"] {
            assert_eq!(refused(malformed), Refusal::Malformed, "{malformed:?}");
        }
    }
}
