//! PostgreSQL arrays as text (`{a,"b c",NULL}`, `{{a,b},{c,d}}`, `[0:1]={x,y}`): read into
//! their dimensions and elements so the `array` transformer can mask each element, written
//! back as text, and encoded in `COPY`'s binary form.

use bytes::{BufMut, BytesMut};

/// An array: its dimensions (lower bound, length), outermost first, and its elements in
/// storage order (`None` is a NULL element).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PgArray {
    pub dims: Vec<(i32, i32)>,
    pub items: Vec<Option<String>>,
}

enum Node {
    List(Vec<Node>),
    Item(Option<String>),
}

impl PgArray {
    /// Read an array's text form as PostgreSQL writes it.
    pub fn parse(s: &str) -> Result<PgArray, String> {
        let s = s.trim();
        let (bounds, body) = match s.find('=') {
            Some(eq) if s.starts_with('[') => (Some(&s[..eq]), s[eq + 1..].trim_start()),
            _ => (None, s),
        };
        let chars: Vec<char> = body.chars().collect();
        let mut i = 0;
        let root = parse_node(&chars, &mut i)?;
        if chars[i..].iter().any(|c| !c.is_whitespace()) {
            return Err("text after the array's closing `}`".into());
        }
        let mut lens = Vec::new();
        let mut node = &root;
        while let Node::List(children) = node {
            if children.is_empty() {
                break;
            }
            lens.push(children.len() as i32);
            node = &children[0];
        }
        let mut items = Vec::new();
        flatten(&root, 0, &lens, &mut items)?;
        let lowers = match bounds {
            Some(b) => parse_bounds(b, lens.len())?,
            None => vec![1; lens.len()],
        };
        Ok(PgArray {
            dims: lowers.into_iter().zip(lens).collect(),
            items,
        })
    }

    /// The text form (`{…}`, with `[lo:hi]=` when a lower bound is not 1).
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        if self.dims.iter().any(|(lo, _)| *lo != 1) {
            for (lo, len) in &self.dims {
                out.push_str(&format!("[{lo}:{}]", lo + len - 1));
            }
            out.push('=');
        }
        if self.dims.is_empty() {
            out.push_str("{}");
            return out;
        }
        let mut next = 0;
        self.write_dim(0, &mut next, &mut out);
        out
    }

    fn write_dim(&self, d: usize, next: &mut usize, out: &mut String) {
        out.push('{');
        for k in 0..self.dims[d].1 {
            if k > 0 {
                out.push(',');
            }
            if d + 1 < self.dims.len() {
                self.write_dim(d + 1, next, out);
            } else {
                match &self.items[*next] {
                    None => out.push_str("NULL"),
                    Some(v) => push_element(v, out),
                }
                *next += 1;
            }
        }
        out.push('}');
    }

    /// Append the binary `COPY` field (length + array) with elements of type `elem_oid`
    /// whose binary form is their UTF-8 text (text, varchar, bpchar, name).
    pub fn encode_text_elements(&self, elem_oid: u32, out: &mut BytesMut) {
        let mut body = BytesMut::new();
        body.put_i32(self.dims.len() as i32);
        body.put_i32(i32::from(self.items.iter().any(Option::is_none)));
        body.put_u32(elem_oid);
        for (lo, len) in &self.dims {
            body.put_i32(*len);
            body.put_i32(*lo);
        }
        for item in &self.items {
            match item {
                None => body.put_i32(-1),
                Some(v) => {
                    body.put_i32(v.len() as i32);
                    body.put_slice(v.as_bytes());
                }
            }
        }
        out.put_i32(body.len() as i32);
        out.put_slice(&body);
    }
}

fn parse_node(c: &[char], i: &mut usize) -> Result<Node, String> {
    while *i < c.len() && c[*i].is_whitespace() {
        *i += 1;
    }
    if c.get(*i) != Some(&'{') {
        return Err("an array starts with `{`".into());
    }
    *i += 1;
    let mut children = Vec::new();
    loop {
        while *i < c.len() && c[*i].is_whitespace() {
            *i += 1;
        }
        match c.get(*i) {
            None => return Err("unclosed `{` in array".into()),
            Some('}') if children.is_empty() => {
                *i += 1;
                return Ok(Node::List(children));
            }
            Some('{') => children.push(parse_node(c, i)?),
            Some('"') => {
                *i += 1;
                let mut s = String::new();
                loop {
                    match c.get(*i) {
                        None => return Err("unclosed quote in array".into()),
                        Some('\\') => {
                            s.extend(c.get(*i + 1));
                            *i += 2;
                        }
                        Some('"') => {
                            *i += 1;
                            break;
                        }
                        Some(&ch) => {
                            s.push(ch);
                            *i += 1;
                        }
                    }
                }
                children.push(Node::Item(Some(s)));
            }
            Some(_) => {
                let mut s = String::new();
                while let Some(&ch) = c.get(*i) {
                    if ch == ',' || ch == '}' {
                        break;
                    }
                    if ch == '\\' {
                        s.extend(c.get(*i + 1));
                        *i += 2;
                        continue;
                    }
                    s.push(ch);
                    *i += 1;
                }
                let s = s.trim_end().to_string();
                children.push(Node::Item(if s.eq_ignore_ascii_case("NULL") {
                    None
                } else {
                    Some(s)
                }));
            }
        }
        while *i < c.len() && c[*i].is_whitespace() {
            *i += 1;
        }
        match c.get(*i) {
            Some(',') => *i += 1,
            Some('}') => {
                *i += 1;
                return Ok(Node::List(children));
            }
            _ => return Err("expected `,` or `}` in array".into()),
        }
    }
}

fn flatten(n: &Node, d: usize, lens: &[i32], out: &mut Vec<Option<String>>) -> Result<(), String> {
    match n {
        Node::Item(v) if d == lens.len() => {
            out.push(v.clone());
            Ok(())
        }
        Node::List(children) if d < lens.len() && children.len() as i32 == lens[d] => {
            for c in children {
                flatten(c, d + 1, lens, out)?;
            }
            Ok(())
        }
        Node::List(children) if children.is_empty() && lens.is_empty() => Ok(()),
        _ => Err("a multidimensional array's sub-arrays must all have the same size".into()),
    }
}

fn parse_bounds(b: &str, ndim: usize) -> Result<Vec<i32>, String> {
    let lowers: Vec<i32> = b
        .split(']')
        .filter(|p| !p.is_empty())
        .map(|p| {
            p.trim_start_matches('[')
                .split(':')
                .next()
                .and_then(|lo| lo.trim().parse().ok())
                .ok_or_else(|| format!("bad array bounds `{b}`"))
        })
        .collect::<Result<_, _>>()?;
    if lowers.len() != ndim {
        return Err(format!("array bounds `{b}` do not match its dimensions"));
    }
    Ok(lowers)
}

fn push_element(v: &str, out: &mut String) {
    let quote = v.is_empty()
        || v.eq_ignore_ascii_case("NULL")
        || v.chars()
            .any(|c| matches!(c, '{' | '}' | ',' | '"' | '\\') || c.is_whitespace());
    if !quote {
        out.push_str(v);
        return;
    }
    out.push('"');
    for c in v.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn arrays_are_read_with_their_shape() {
        let a = PgArray::parse(r#"{{Ann,"Mary Jo"},{NULL,"NULL"}}"#).unwrap();
        assert_eq!(a.dims, vec![(1, 2), (1, 2)]);
        assert_eq!(
            a.items,
            vec![
                Some("Ann".into()),
                Some("Mary Jo".into()),
                None,
                Some("NULL".into())
            ]
        );
        assert_eq!(a.to_text(), r#"{{Ann,"Mary Jo"},{NULL,"NULL"}}"#);
        let b = PgArray::parse(r#"[0:1]={"a\"b",c\,d}"#).unwrap();
        assert_eq!(b.dims, vec![(0, 2)]);
        assert_eq!(b.items, vec![Some("a\"b".into()), Some("c,d".into())]);
        assert_eq!(b.to_text(), r#"[0:1]={"a\"b","c,d"}"#);
        assert_eq!(PgArray::parse("{}").unwrap().to_text(), "{}");
        assert!(PgArray::parse("{{a},{b,c}}").is_err());
        assert!(PgArray::parse("{a").is_err());
    }

    proptest! {
        #[test]
        fn text_round_trips(items in prop::collection::vec(prop::option::of("\\PC{0,8}"), 1..6), rows in 1usize..3) {
            let n = items.len() * rows;
            let all: Vec<Option<String>> = items.iter().cycle().take(n).cloned().collect();
            let dims = if rows > 1 { vec![(1, rows as i32), (1, items.len() as i32)] } else { vec![(1, n as i32)] };
            let a = PgArray { dims, items: all };
            prop_assert_eq!(PgArray::parse(&a.to_text()).unwrap(), a);
        }
    }
}
