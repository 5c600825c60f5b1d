//! Who is joined from which address, and what the server sends in answer to each datagram.

use std::collections::{BTreeMap, HashMap};
use std::hash::Hash;
use std::time::Instant;

use super::limits::{check_name, ChatLimits};
use super::parse::{parse_request, Request};
use super::refusal::Refusal;
use super::wire::{
    BYE, DELIVERY_PREFIX, DELIVERY_SEPARATOR, ERROR_PREFIX, MAX_DATAGRAM_BYTES, OK_PREFIX,
    USERS_PREFIX, USERS_SEPARATOR,
};

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

#[cfg(test)]
mod tests;
