//! PostgreSQL's binary COPY format: a header, then tuples (`i16` field count, then each field
//! as `i32` length, -1 for NULL, and that many bytes), then an `i16` -1 trailer. Rows are
//! parsed in place; fields that are kept are passed on as raw bytes.

use bytes::{Buf, BufMut, Bytes, BytesMut};

use crate::transform::{days_from_civil, parse_date};

pub const SIGNATURE: &[u8; 11] = b"PGCOPY\n\xff\r\n\0";

/// The header of a binary COPY stream with no flags and no extension.
pub fn header() -> Bytes {
    let mut b = BytesMut::with_capacity(19);
    b.put_slice(SIGNATURE);
    b.put_i32(0);
    b.put_i32(0);
    b.freeze()
}

/// The trailer.
pub fn trailer() -> Bytes {
    Bytes::from_static(&[0xff, 0xff])
}

/// Incremental reader of a binary COPY stream.
pub struct CopyReader {
    buf: BytesMut,
    header_done: bool,
    pub finished: bool,
}

/// Byte ranges of one tuple's fields inside the tuple slice (`None` = NULL).
pub type Fields = Vec<Option<(usize, usize)>>;

impl CopyReader {
    pub fn new() -> CopyReader {
        CopyReader {
            buf: BytesMut::new(),
            header_done: false,
            finished: false,
        }
    }

    pub fn push(&mut self, chunk: &[u8]) {
        self.buf.extend_from_slice(chunk);
    }

    /// Bytes received and not yet taken.
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// Skip the header once it is complete. Returns false while more bytes are needed.
    fn header(&mut self) -> Result<bool, String> {
        if self.header_done {
            return Ok(true);
        }
        if self.buf.len() < 19 {
            return Ok(false);
        }
        if &self.buf[..11] != SIGNATURE {
            return Err("not a binary COPY stream".into());
        }
        let ext = u32::from_be_bytes(self.buf[15..19].try_into().expect("4 bytes")) as usize;
        if self.buf.len() < 19 + ext {
            return Ok(false);
        }
        self.buf.advance(19 + ext);
        self.header_done = true;
        Ok(true)
    }

    /// Take every complete tuple as one contiguous block (for tables copied unchanged),
    /// showing each tuple and its field ranges to `each` on the way. Returns the block and the
    /// number of tuples in it.
    pub fn take_complete(
        &mut self,
        fields: &mut Fields,
        mut each: impl FnMut(&[u8], &Fields),
    ) -> Result<Option<(Bytes, u64)>, String> {
        if !self.header()? {
            return Ok(None);
        }
        let mut end = 0;
        let mut count = 0;
        while !self.finished {
            match parse_tuple(&self.buf[end..], fields)? {
                Next::Tuple(l) => {
                    each(&self.buf[end..end + l], fields);
                    end += l;
                    count += 1;
                }
                Next::Trailer => {
                    self.finished = true;
                    self.buf.truncate(end);
                }
                Next::NeedMore => break,
            }
        }
        if count == 0 {
            return Ok(None);
        }
        Ok(Some((self.buf.split_to(end).freeze(), count)))
    }

    /// The next complete tuple, with its field ranges filled in `fields`.
    pub fn next_tuple(&mut self, fields: &mut Fields) -> Result<Option<Bytes>, String> {
        if !self.header()? {
            return Ok(None);
        }
        match parse_tuple(&self.buf, fields)? {
            Next::Tuple(l) => Ok(Some(self.buf.split_to(l).freeze())),
            Next::Trailer => {
                self.finished = true;
                self.buf.clear();
                Ok(None)
            }
            Next::NeedMore => Ok(None),
        }
    }

    /// Whether bytes remain that never formed a tuple (a truncated stream).
    pub fn has_leftover(&self) -> bool {
        !self.finished && !self.buf.is_empty()
    }
}

enum Next {
    Tuple(usize),
    Trailer,
    NeedMore,
}

/// Parse the tuple at the start of `b`, filling `fields` with ranges relative to `b`.
fn parse_tuple(b: &[u8], fields: &mut Fields) -> Result<Next, String> {
    if b.len() < 2 {
        return Ok(Next::NeedMore);
    }
    let n = i16::from_be_bytes([b[0], b[1]]);
    if n == -1 {
        return Ok(Next::Trailer);
    }
    if n < 0 {
        return Err(format!("bad field count {n} in COPY stream"));
    }
    fields.clear();
    let mut pos = 2;
    for _ in 0..n {
        if b.len() < pos + 4 {
            return Ok(Next::NeedMore);
        }
        let len = i32::from_be_bytes(b[pos..pos + 4].try_into().expect("4 bytes"));
        pos += 4;
        if len < 0 {
            fields.push(None);
        } else {
            let len = len as usize;
            if b.len() < pos + len {
                return Ok(Next::NeedMore);
            }
            fields.push(Some((pos, len)));
            pos += len;
        }
    }
    Ok(Next::Tuple(pos))
}

impl Default for CopyReader {
    fn default() -> Self {
        CopyReader::new()
    }
}

/// How masked text is turned back into a column's binary representation.
#[derive(Debug, Clone, PartialEq)]
pub enum Codec {
    /// text, varchar, char, name, citext, json, xml, enum labels
    Text,
    Jsonb,
    Date,
    Int2,
    Int4,
    Int8,
    Float4,
    Float8,
    Bool,
    Uuid,
    Timestamp,
    Timestamptz,
    /// Arrays of text types, by element type oid (text, varchar, bpchar, name).
    TextArray(u32),
    /// No text encoder: only NULL or server-encoded constants can be written.
    Other(String),
}

impl Codec {
    /// Codec for a base type name (`typname`) and type kind (`typtype`).
    pub fn for_type(typname: &str, typtype: &str) -> Codec {
        if typtype == "e" {
            return Codec::Text;
        }
        match typname {
            "text" | "varchar" | "bpchar" | "name" | "citext" | "json" | "xml" => Codec::Text,
            "jsonb" => Codec::Jsonb,
            "date" => Codec::Date,
            "int2" => Codec::Int2,
            "int4" => Codec::Int4,
            "int8" => Codec::Int8,
            "float4" => Codec::Float4,
            "float8" => Codec::Float8,
            "bool" => Codec::Bool,
            "uuid" => Codec::Uuid,
            "timestamp" => Codec::Timestamp,
            "timestamptz" => Codec::Timestamptz,
            "_text" => Codec::TextArray(25),
            "_varchar" => Codec::TextArray(1043),
            "_bpchar" => Codec::TextArray(1042),
            "_name" => Codec::TextArray(19),
            other => Codec::Other(other.to_string()),
        }
    }

    /// Append the binary field (length + bytes) for `v`.
    pub fn encode(&self, v: &str, out: &mut BytesMut) -> Result<(), String> {
        let bad = |what: &str| {
            format!(
                "masked value `{}` is not a valid {what}",
                v.chars().take(20).collect::<String>()
            )
        };
        match self {
            Codec::Text => {
                out.put_i32(v.len() as i32);
                out.put_slice(v.as_bytes());
            }
            Codec::TextArray(oid) => {
                crate::array::PgArray::parse(v)
                    .map_err(|_| bad("array"))?
                    .encode_text_elements(*oid, out);
            }
            Codec::Jsonb => {
                out.put_i32(v.len() as i32 + 1);
                out.put_u8(1);
                out.put_slice(v.as_bytes());
            }
            Codec::Date => {
                let (y, m, d, rest) = parse_date(v).ok_or_else(|| bad("date"))?;
                if !rest.trim().is_empty() {
                    return Err(bad("date"));
                }
                out.put_i32(4);
                out.put_i32((days_from_civil(y, m, d) - days_from_civil(2000, 1, 1)) as i32);
            }
            Codec::Int2 => {
                out.put_i32(2);
                out.put_i16(v.trim().parse().map_err(|_| bad("smallint"))?);
            }
            Codec::Int4 => {
                out.put_i32(4);
                out.put_i32(v.trim().parse().map_err(|_| bad("integer"))?);
            }
            Codec::Int8 => {
                out.put_i32(8);
                out.put_i64(v.trim().parse().map_err(|_| bad("bigint"))?);
            }
            Codec::Float4 => {
                out.put_i32(4);
                out.put_f32(v.trim().parse().map_err(|_| bad("real"))?);
            }
            Codec::Float8 => {
                out.put_i32(8);
                out.put_f64(v.trim().parse().map_err(|_| bad("double precision"))?);
            }
            Codec::Bool => {
                let b = match v.trim().to_ascii_lowercase().as_str() {
                    "t" | "true" | "y" | "yes" | "on" | "1" => 1,
                    "f" | "false" | "n" | "no" | "off" | "0" => 0,
                    _ => return Err(bad("boolean")),
                };
                out.put_i32(1);
                out.put_u8(b);
            }
            Codec::Uuid => {
                let hexs: String = v.chars().filter(|c| *c != '-').collect();
                let bytes = hex::decode(&hexs).map_err(|_| bad("uuid"))?;
                if bytes.len() != 16 {
                    return Err(bad("uuid"));
                }
                out.put_i32(16);
                out.put_slice(&bytes);
            }
            Codec::Timestamp | Codec::Timestamptz => {
                let micros = parse_timestamp(v).ok_or_else(|| bad("timestamp"))?;
                out.put_i32(8);
                out.put_i64(micros);
            }
            Codec::Other(t) => {
                return Err(format!(
                "cannot write masked text into a column of type {t}; use keep, null or constant"
            ))
            }
        }
        Ok(())
    }

    /// Whether masked text can be encoded for this type.
    pub fn encodes_text(&self) -> bool {
        !matches!(self, Codec::Other(_))
    }
}

/// `YYYY-MM-DD[ T]HH:MM:SS[.ffffff][+HH[:MM]]` → microseconds since 2000-01-01 UTC.
pub fn parse_timestamp(v: &str) -> Option<i64> {
    let (y, m, d, rest) = parse_date(v)?;
    let days = days_from_civil(y, m, d) - days_from_civil(2000, 1, 1);
    let rest = rest.trim_start_matches([' ', 'T']);
    let mut micros = 0i64;
    let mut tail = rest;
    if rest.len() >= 8 && rest.as_bytes()[2] == b':' {
        let h: i64 = rest[0..2].parse().ok()?;
        let mi: i64 = rest[3..5].parse().ok()?;
        let s: i64 = rest[6..8].parse().ok()?;
        micros = ((h * 60 + mi) * 60 + s) * 1_000_000;
        tail = &rest[8..];
        if let Some(f) = tail.strip_prefix('.') {
            let digits: String = f.chars().take_while(|c| c.is_ascii_digit()).collect();
            tail = &f[digits.len()..];
            let mut frac = digits.clone();
            frac.truncate(6);
            while frac.len() < 6 {
                frac.push('0');
            }
            micros += frac.parse::<i64>().ok()?;
        }
    }
    let tail = tail.trim();
    if !tail.is_empty() {
        let sign = match tail.as_bytes()[0] {
            b'+' => 1,
            b'-' => -1,
            _ => return None,
        };
        let t = &tail[1..];
        let (hh, mm) = match t.split_once(':') {
            Some((h, m)) => (h.parse::<i64>().ok()?, m.get(..2)?.parse::<i64>().ok()?),
            None => (
                t.get(..2)?.parse::<i64>().ok()?,
                t.get(2..4).map(|m| m.parse().unwrap_or(0)).unwrap_or(0),
            ),
        };
        micros -= sign * (hh * 3600 + mm * 60) * 1_000_000;
    }
    Some(days * 86_400_000_000 + micros)
}

/// Inverse of the date encoding.
#[cfg(test)]
pub fn date_text(days_since_2000: i32) -> String {
    let (y, m, d) =
        crate::transform::civil_from_days(days_since_2000 as i64 + days_from_civil(2000, 1, 1));
    format!("{y:04}-{m:02}-{d:02}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stream(rows: &[&[Option<&[u8]>]]) -> Vec<u8> {
        let mut b = BytesMut::new();
        b.put_slice(&header());
        for r in rows {
            b.put_i16(r.len() as i16);
            for f in *r {
                match f {
                    Some(v) => {
                        b.put_i32(v.len() as i32);
                        b.put_slice(v);
                    }
                    None => b.put_i32(-1),
                }
            }
        }
        b.put_slice(&trailer());
        b.to_vec()
    }

    #[test]
    fn tuples_are_found_across_chunk_boundaries() {
        let s = stream(&[&[Some(b"abc"), None], &[Some(b""), Some(b"xy")]]);
        for split in 1..s.len() {
            let mut r = CopyReader::new();
            let mut f = Vec::new();
            let mut got = Vec::new();
            for chunk in [&s[..split], &s[split..]] {
                r.push(chunk);
                while let Some(t) = r.next_tuple(&mut f).unwrap() {
                    got.push(
                        f.iter()
                            .map(|x| x.map(|(p, l)| t[p..p + l].to_vec()))
                            .collect::<Vec<_>>(),
                    );
                }
            }
            assert!(r.finished && !r.has_leftover(), "split {split}");
            assert_eq!(
                got,
                vec![
                    vec![Some(b"abc".to_vec()), None],
                    vec![Some(vec![]), Some(b"xy".to_vec())]
                ]
            );
        }
    }

    #[test]
    fn complete_blocks_count_and_show_each_tuple() {
        let s = stream(&[&[Some(b"a")], &[Some(b"b")], &[None]]);
        let mut r = CopyReader::new();
        let mut f = Vec::new();
        let mut seen: Vec<Option<Vec<u8>>> = Vec::new();
        let mut look = |tuple: &[u8], fields: &Fields| {
            seen.push(fields[0].map(|(p, l)| tuple[p..p + l].to_vec()));
        };
        r.push(&s[..s.len() - 3]);
        let (block, n) = r.take_complete(&mut f, &mut look).unwrap().unwrap();
        assert_eq!(n, 2);
        assert_eq!(block.len(), 2 * (2 + 4 + 1));
        r.push(&s[s.len() - 3..]);
        let (_, n) = r.take_complete(&mut f, &mut look).unwrap().unwrap();
        assert_eq!(n, 1);
        assert!(r.finished);
        assert_eq!(seen, vec![Some(b"a".to_vec()), Some(b"b".to_vec()), None]);
    }

    #[test]
    fn timestamps_and_dates_encode() {
        assert_eq!(parse_timestamp("2000-01-01 00:00:00"), Some(0));
        assert_eq!(parse_timestamp("2000-01-01 01:00:00.5+01"), Some(500_000));
        assert_eq!(parse_timestamp("1999-12-31"), Some(-86_400_000_000));
        assert_eq!(date_text(-1), "1999-12-31");
    }
}
