//! What the server allows: its configurable limits and the rules every name follows (shared by
//! the server and the clients' command builders).

use std::time::Duration;

use super::refusal::Refusal;
use super::wire::SEND_MARK;

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
pub(super) fn check_name(name: &str, max_chars: usize) -> Result<(), Refusal> {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn name_rules_and_length_in_characters() {
        for ok in ["ann", "a/b", "小明", "😀", "e\u{301}", ":"] {
            assert_eq!(check_name(ok, 8), Ok(()), "{ok:?}");
        }
        for bad in [
            "",
            "/a",
            "a b",
            "a@b",
            "a\u{0}",
            "a\u{200B}",
            "\u{202E}x",
            "a\u{3000}b",
        ] {
            assert_eq!(check_name(bad, 8), Err(Refusal::InvalidName), "{bad:?}");
        }
        assert_eq!(check_name("小明小明", 4), Ok(()));
        assert_eq!(
            check_name("小明小明小", 4),
            Err(Refusal::NameTooLong { max_chars: 4 })
        );
        // A broken rule is reported before the length.
        assert_eq!(check_name("a b c d e", 2), Err(Refusal::InvalidName));
    }
}
