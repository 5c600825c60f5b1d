//! Length-prefixed framing, the lesson's fix for sticky packets (黏包): a header carrying the
//! body's length, then exactly that many bytes. Plain Rust; `framing_io` does the socket I/O.

/// The header formats, named as `struct` writes them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Header {
    /// `!I`: 4 bytes, big-endian (the lesson's `struct.pack('!I', n)`).
    U32Be,
    /// `<I`: 4 bytes, little-endian (the lesson's native `'i'` on x86).
    U32Le,
    /// `!H`: 2 bytes, big-endian.
    U16Be,
    /// `!Q`: 8 bytes, big-endian.
    U64Be,
}

impl Header {
    pub fn parse(spec: &str) -> Option<Header> {
        match spec {
            "!I" | ">I" => Some(Header::U32Be),
            "<I" => Some(Header::U32Le),
            "!H" | ">H" => Some(Header::U16Be),
            "!Q" | ">Q" => Some(Header::U64Be),
            _ => None,
        }
    }

    pub fn size(self) -> usize {
        match self {
            Header::U16Be => 2,
            Header::U32Be | Header::U32Le => 4,
            Header::U64Be => 8,
        }
    }

    /// The largest body length the header can carry.
    pub fn max_body(self) -> u64 {
        match self {
            Header::U16Be => u64::from(u16::MAX),
            Header::U32Be | Header::U32Le => u64::from(u32::MAX),
            Header::U64Be => u64::MAX,
        }
    }

    /// The header for a body of `len` bytes, or None when the header cannot express it.
    pub fn encode(self, len: usize) -> Option<([u8; 8], usize)> {
        let len = u64::try_from(len).ok().filter(|&n| n <= self.max_body())?;
        let mut out = [0u8; 8];
        match self {
            Header::U16Be => out[..2].copy_from_slice(&(len as u16).to_be_bytes()),
            Header::U32Be => out[..4].copy_from_slice(&(len as u32).to_be_bytes()),
            Header::U32Le => out[..4].copy_from_slice(&(len as u32).to_le_bytes()),
            Header::U64Be => out.copy_from_slice(&len.to_be_bytes()),
        }
        Some((out, self.size()))
    }

    /// The body length a received header announces.
    pub fn decode(self, bytes: &[u8]) -> u64 {
        match self {
            Header::U16Be => u64::from(u16::from_be_bytes([bytes[0], bytes[1]])),
            Header::U32Be => u64::from(u32::from_be_bytes(bytes[..4].try_into().expect("4 bytes"))),
            Header::U32Le => u64::from(u32::from_le_bytes(bytes[..4].try_into().expect("4 bytes"))),
            Header::U64Be => u64::from_be_bytes(bytes[..8].try_into().expect("8 bytes")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_match_struct_pack() {
        // struct.pack('!I', 258), ('<I', 258), ('!H', 258), ('!Q', 258)
        let cases = [
            (Header::U32Be, &[0u8, 0, 1, 2][..]),
            (Header::U32Le, &[2, 1, 0, 0][..]),
            (Header::U16Be, &[1, 2][..]),
            (Header::U64Be, &[0, 0, 0, 0, 0, 0, 1, 2][..]),
        ];
        for (header, packed) in cases {
            let (bytes, n) = header.encode(258).unwrap();
            assert_eq!(&bytes[..n], packed, "{header:?}");
            assert_eq!(header.decode(packed), 258);
        }
    }

    #[test]
    fn lengths_the_header_cannot_carry_are_refused() {
        assert!(Header::U16Be.encode(65_535).is_some());
        assert!(Header::U16Be.encode(65_536).is_none());
        assert!(Header::U32Be.encode(u32::MAX as usize).is_some());
        assert!(Header::U32Be.encode(u32::MAX as usize + 1).is_none());
    }

    #[test]
    fn only_known_formats_parse() {
        assert_eq!(Header::parse("!I"), Some(Header::U32Be));
        assert_eq!(Header::parse("<I"), Some(Header::U32Le));
        assert_eq!(Header::parse("i"), None);
        assert_eq!(Header::parse(""), None);
    }
}
