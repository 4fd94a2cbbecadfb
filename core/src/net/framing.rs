//! Reading a response: the head (status line and headers, parsed by `httparse`) and the body
//! decoded from its framing (`Content-Length`, chunked or until close), every part bounded.

use std::io::{self, BufRead, Read};

use super::{Head, invalid};

/// Largest response head accepted; also the bound on all interim heads together and on the
/// trailer fields.
const MAX_HEAD: u64 = 16 * 1024;
/// Interim (`1xx`) responses skipped before the final one at most.
const MAX_INTERIM: usize = 8;
/// Longest chunk-size or trailer line accepted.
const MAX_LINE: u64 = 4096;

/// Reads the response head, skipping at most [`MAX_INTERIM`] interim `1xx` responses; all the
/// heads together may not exceed [`MAX_HEAD`] bytes.
pub(super) fn read_head<R: BufRead>(reader: &mut R) -> io::Result<Head> {
    let mut total = 0u64;
    let mut interim = 0usize;
    loop {
        let mut buf = Vec::new();
        loop {
            let room = MAX_HEAD.saturating_sub(total + buf.len() as u64);
            if room == 0 {
                return Err(invalid("the response head is too large"));
            }
            let n = reader.by_ref().take(room).read_until(b'\n', &mut buf)?;
            if n == 0 {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "the connection closed before a response",
                ));
            }
            if buf.ends_with(b"\r\n\r\n") || buf.ends_with(b"\n\n") || buf == b"\r\n" {
                break;
            }
        }
        total += buf.len() as u64;
        if buf == b"\r\n" {
            continue; // stray empty line before a status line
        }
        let mut headers = [httparse::EMPTY_HEADER; 64];
        let mut resp = httparse::Response::new(&mut headers);
        match resp.parse(&buf) {
            Ok(httparse::Status::Complete(_)) => {}
            Ok(httparse::Status::Partial) => return Err(invalid("incomplete response head")),
            Err(e) => return Err(invalid(format!("malformed response head: {e}"))),
        }
        let status = resp.code.unwrap_or_default();
        if (100..200).contains(&status) {
            interim += 1;
            if interim > MAX_INTERIM {
                return Err(invalid("too many interim (1xx) responses"));
            }
            continue;
        }
        return Ok(Head {
            status,
            reason: resp.reason.unwrap_or_default().to_owned(),
            headers: resp
                .headers
                .iter()
                .map(|h| {
                    (
                        h.name.to_owned(),
                        String::from_utf8_lossy(h.value).trim().to_owned(),
                    )
                })
                .collect(),
        });
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Framing {
    /// This many bytes remain.
    Length(u64),
    /// Chunked: bytes left in the current chunk, and whether its trailing CRLF is still due.
    Chunked { left: u64, crlf_due: bool },
    /// Until the connection closes.
    Close,
    /// The body is complete.
    Done,
}

pub(super) fn framing(head: &Head) -> io::Result<Framing> {
    if head.status == 204 || head.status == 304 {
        return Ok(Framing::Done);
    }
    if let Some(te) = head.header("transfer-encoding") {
        let last = te.rsplit(',').next().unwrap_or_default().trim();
        return if last.eq_ignore_ascii_case("chunked") {
            Ok(Framing::Chunked {
                left: 0,
                crlf_due: false,
            })
        } else {
            Err(invalid(format!("unsupported transfer encoding {te:?}")))
        };
    }
    let mut length = None;
    for (_, v) in head
        .headers
        .iter()
        .filter(|(k, _)| k.eq_ignore_ascii_case("content-length"))
    {
        let n: u64 = v
            .parse()
            .map_err(|_| invalid(format!("bad Content-Length {v:?}")))?;
        if length.is_some_and(|l| l != n) {
            return Err(invalid("conflicting Content-Length headers"));
        }
        length = Some(n);
    }
    Ok(match length {
        Some(0) => Framing::Done,
        Some(n) => Framing::Length(n),
        None => Framing::Close,
    })
}

/// Decodes a body from its framing over any buffered reader.
pub(super) struct Decoder<R> {
    pub(super) reader: R,
    pub(super) framing: Framing,
    /// Trailer bytes read so far (bounded by [`MAX_HEAD`]).
    trailer: u64,
}

impl<R> Decoder<R> {
    pub(super) fn new(reader: R, framing: Framing) -> Self {
        Self {
            reader,
            framing,
            trailer: 0,
        }
    }
}

fn cut_short() -> io::Error {
    io::Error::new(io::ErrorKind::UnexpectedEof, "the body was cut short")
}

impl<R: BufRead> Decoder<R> {
    fn read_line(&mut self) -> io::Result<Vec<u8>> {
        let mut line = Vec::new();
        self.reader
            .by_ref()
            .take(MAX_LINE)
            .read_until(b'\n', &mut line)?;
        if !line.ends_with(b"\n") {
            return Err(if line.len() as u64 >= MAX_LINE {
                invalid("chunk line too long")
            } else {
                cut_short()
            });
        }
        Ok(line)
    }

    /// Reads at most `left` bytes of the current chunk or length.
    fn read_data(&mut self, left: u64, buf: &mut [u8]) -> io::Result<usize> {
        let max = usize::try_from(left).unwrap_or(usize::MAX).min(buf.len());
        match self.reader.read(&mut buf[..max])? {
            0 => Err(cut_short()),
            n => Ok(n),
        }
    }
}

impl<R: BufRead> Read for Decoder<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        loop {
            match self.framing {
                Framing::Done => return Ok(0),
                Framing::Close => return self.reader.read(buf),
                Framing::Length(left) => {
                    let n = self.read_data(left, buf)?;
                    self.framing = match left - n as u64 {
                        0 => Framing::Done,
                        left => Framing::Length(left),
                    };
                    return Ok(n);
                }
                Framing::Chunked { left: 0, crlf_due } => {
                    if crlf_due && !matches!(self.read_line()?.as_slice(), b"\r\n" | b"\n") {
                        return Err(invalid("missing line break after a chunk"));
                    }
                    let line = self.read_line()?;
                    let text =
                        std::str::from_utf8(&line).map_err(|_| invalid("bad chunk size line"))?;
                    let size = text.split(';').next().unwrap_or_default().trim();
                    let size = u64::from_str_radix(size, 16)
                        .map_err(|_| invalid(format!("bad chunk size {size:?}")))?;
                    if size == 0 {
                        // Trailer fields until an empty line, no more of them than a head.
                        loop {
                            let line = self.read_line()?;
                            if matches!(line.as_slice(), b"\r\n" | b"\n") {
                                break;
                            }
                            self.trailer += line.len() as u64;
                            if self.trailer > MAX_HEAD {
                                return Err(invalid("the trailer fields are too large"));
                            }
                        }
                        self.framing = Framing::Done;
                    } else {
                        self.framing = Framing::Chunked {
                            left: size,
                            crlf_due: true,
                        };
                    }
                }
                Framing::Chunked { left, .. } => {
                    let n = self.read_data(left, buf)?;
                    self.framing = Framing::Chunked {
                        left: left - n as u64,
                        crlf_due: true,
                    };
                    return Ok(n);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body_of(raw: &[u8]) -> io::Result<(Head, Vec<u8>)> {
        let mut reader = io::BufReader::with_capacity(5, raw); // small reads cross boundaries
        let head = read_head(&mut reader)?;
        let framing = framing(&head)?;
        let mut decoder = Decoder::new(reader, framing);
        let mut out = Vec::new();
        let mut buf = [0u8; 3];
        loop {
            match decoder.read(&mut buf)? {
                0 => return Ok((head, out)),
                n => out.extend_from_slice(&buf[..n]),
            }
        }
    }

    #[test]
    fn reads_heads_and_picks_the_framing() {
        let (head, body) =
            body_of(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 5\r\nDate: Mon, 23 Nov 2026 10:00:00 GMT\r\n\r\nhelloEXTRA")
                .expect("parse");
        assert_eq!((head.status, head.reason.as_str()), (200, "OK"));
        assert_eq!(head.header("date"), Some("Mon, 23 Nov 2026 10:00:00 GMT"));
        assert_eq!(body, b"hello");

        let (_, body) = body_of(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4;ext=1\r\nWiki\r\n6\r\npedia \r\n0\r\nX-Trailer: 1\r\n\r\n",
        )
        .expect("chunked");
        assert_eq!(body, b"Wikipedia ");

        let (head, body) = body_of(b"HTTP/1.1 204 No Content\r\n\r\n").expect("204");
        assert_eq!((head.status, body.len()), (204, 0));

        let (_, body) = body_of(b"HTTP/1.0 200 OK\r\n\r\nuntil close").expect("close");
        assert_eq!(body, b"until close");
    }

    #[test]
    fn refuses_malformed_answers() {
        let bad: &[&[u8]] = &[
            b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello",
            b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
            b"NOT HTTP\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n",
        ];
        for raw in bad {
            assert!(
                body_of(raw).is_err(),
                "accepted {:?}",
                String::from_utf8_lossy(raw)
            );
        }
        let huge = [
            b"HTTP/1.1 200 OK\r\nX: ".as_slice(),
            &[b'a'; 20_000],
            b"\r\n\r\n",
        ]
        .concat();
        assert!(body_of(&huge).is_err());
    }

    #[test]
    fn interim_responses_and_trailers_are_bounded() {
        let mut raw = b"HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n".repeat(MAX_INTERIM);
        raw.extend_from_slice(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
        assert_eq!(body_of(&raw).expect("a few interim heads").1, b"ok");
        let mut endless = b"HTTP/1.1 100 Continue\r\n\r\n".repeat(MAX_INTERIM + 1);
        endless.extend_from_slice(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
        let err = body_of(&endless).expect_err("endless interim heads");
        assert!(err.to_string().contains("interim"), "{err}");

        let mut trailers =
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n".to_vec();
        for _ in 0..2000 {
            trailers.extend_from_slice(b"X-Trailer: 0123456789\r\n");
        }
        trailers.extend_from_slice(b"\r\n");
        let err = body_of(&trailers).expect_err("endless trailers");
        assert!(err.to_string().contains("trailer"), "{err}");
    }
}
