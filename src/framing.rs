//! Length-prefixed framing, the lesson's fix for sticky packets (黏包): a header carrying the
//! body's length, then exactly that many bytes. Plain Rust; `framing_io` does the socket I/O,
//! `framing_py` its exceptions.

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

/// Bytes read from a stream and not consumed yet, with end-of-stream noted.
#[derive(Default)]
pub struct ReadBuffer {
    data: Vec<u8>,
    start: usize,
    pub eof: bool,
}

/// Where the next frame stands in a `ReadBuffer`.
#[derive(Debug, PartialEq, Eq)]
pub enum Frame {
    /// A whole frame: its body is `available()[body]`, and `used` bytes make the frame.
    Ready {
        body: std::ops::Range<usize>,
        used: usize,
    },
    /// More bytes are needed.
    Incomplete,
    /// The stream ended between frames.
    End,
    /// The header announces more than the limit.
    TooLarge(u64),
    /// The stream ended inside a frame (header or body): (expected, received).
    Truncated(u64, u64),
}

impl ReadBuffer {
    pub fn available(&self) -> &[u8] {
        &self.data[self.start..]
    }

    pub fn consume(&mut self, n: usize) {
        self.start += n;
        if self.start >= self.data.len() {
            self.data.clear();
            self.start = 0;
        }
    }

    /// Room for at least `chunk` more bytes (consumed bytes are dropped first when they are
    /// half the buffer or more).
    pub fn spare(&mut self, chunk: usize) -> &mut [std::mem::MaybeUninit<u8>] {
        if self.start > 0 && self.start * 2 >= self.data.len() {
            self.data.drain(..self.start);
            self.start = 0;
        }
        self.data.reserve(chunk);
        &mut self.data.spare_capacity_mut()[..chunk]
    }

    /// Marks `n` bytes of `spare()` as read.
    ///
    /// # Safety
    /// The first `n` bytes returned by the last `spare()` must have been initialised.
    pub unsafe fn commit(&mut self, n: usize) {
        let len = self.data.len() + n;
        self.data.set_len(len);
    }

    /// The state of the next frame under `header`, refusing bodies over `max_size`.
    pub fn frame(&self, header: Header, max_size: u64) -> Frame {
        let have = self.available();
        let head = header.size();
        if have.len() < head {
            return match (self.eof, have.is_empty()) {
                (true, true) => Frame::End,
                (true, false) => Frame::Truncated(head as u64, have.len() as u64),
                (false, _) => Frame::Incomplete,
            };
        }
        let len = header.decode(&have[..head]);
        if len > max_size {
            return Frame::TooLarge(len);
        }
        let body = (have.len() - head) as u64;
        if body < len {
            return match self.eof {
                true => Frame::Truncated(len, body),
                false => Frame::Incomplete,
            };
        }
        Frame::Ready {
            body: head..head + len as usize,
            used: head + len as usize,
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

    fn buffer_with(bytes: &[u8], eof: bool) -> ReadBuffer {
        let mut buf = ReadBuffer::default();
        let spare = buf.spare(bytes.len().max(1));
        for (dst, src) in spare.iter_mut().zip(bytes) {
            dst.write(*src);
        }
        // SAFETY: the first bytes.len() spare bytes were just written.
        unsafe { buf.commit(bytes.len()) };
        buf.eof = eof;
        buf
    }

    #[test]
    fn frames_are_found_in_the_buffer() {
        let mut buf = buffer_with(b"\0\0\0\x03abc\0\0\0\x01z\0\0", false);
        let Frame::Ready { body, used } = buf.frame(Header::U32Be, 10) else {
            panic!("first frame is whole")
        };
        assert_eq!(&buf.available()[body], b"abc");
        buf.consume(used);
        let Frame::Ready { used, .. } = buf.frame(Header::U32Be, 10) else {
            panic!("second frame is whole")
        };
        buf.consume(used);
        assert_eq!(buf.frame(Header::U32Be, 10), Frame::Incomplete);
        buf.eof = true;
        assert_eq!(buf.frame(Header::U32Be, 10), Frame::Truncated(4, 2));
    }

    #[test]
    fn limits_truncation_and_clean_end() {
        assert_eq!(
            buffer_with(b"\0\0\x01\0", false).frame(Header::U32Be, 255),
            Frame::TooLarge(256)
        );
        assert_eq!(
            buffer_with(b"\0\x05ab", true).frame(Header::U16Be, 10),
            Frame::Truncated(5, 2)
        );
        assert_eq!(buffer_with(b"", true).frame(Header::U16Be, 10), Frame::End);
        assert_eq!(
            buffer_with(b"", false).frame(Header::U16Be, 10),
            Frame::Incomplete
        );
    }

    #[test]
    fn only_known_formats_parse() {
        assert_eq!(Header::parse("!I"), Some(Header::U32Be));
        assert_eq!(Header::parse("<I"), Some(Header::U32Le));
        assert_eq!(Header::parse("i"), None);
        assert_eq!(Header::parse(""), None);
    }
}
