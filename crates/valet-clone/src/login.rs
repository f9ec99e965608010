//! Logins rebuilt from masked names in the source's own pattern (`a.svoboda` →
//! `k.vantermolen`, `svobodaa` → `vantermolenk`, `amelia.svoboda2` → `kelda.vantermolen2`),
//! and the book of the logins handed out in one run, which keeps them unique and the same in
//! every table.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;

use crate::names::ascii_fold;

/// One piece of a login: a name part in the source's letter case, or text kept as it is
/// (separators, digits, an e-mail domain).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Piece {
    First(Case),
    Last(Case),
    /// A name between the first and the last (`amelia.jane.svoboda`).
    Middle(Case),
    FirstInitial(Case),
    LastInitial(Case),
    Kept(String),
}

/// Letter case of a name part of the source.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Case {
    Lower,
    Upper,
    Capital,
}

impl Case {
    fn of(s: &str) -> Case {
        if !s.chars().next().is_some_and(char::is_uppercase) {
            Case::Lower
        } else if !s.chars().any(char::is_lowercase) {
            Case::Upper
        } else {
            Case::Capital
        }
    }

    fn apply(self, s: &str) -> String {
        match self {
            Case::Lower => s.to_string(),
            Case::Upper => s.to_ascii_uppercase(),
            Case::Capital => {
                let mut out = s.to_string();
                if let Some(f) = out.get_mut(..1) {
                    f.make_ascii_uppercase();
                }
                out
            }
        }
    }
}

/// The names a login is rebuilt from: ASCII lower case, letters only.
#[derive(Debug, Clone)]
pub struct Names {
    pub first: String,
    pub middle: String,
    pub last: String,
}

impl Names {
    /// Names as a login holds them (`Müller` → `mueller`, `de Jong` → `dejong`).
    pub fn folded(first: &str, last: &str) -> Names {
        Names {
            first: ascii_fold(first),
            middle: String::new(),
            last: ascii_fold(last),
        }
    }
}

/// Read the pattern of login `v`. With the source's names of the person, letters are matched
/// against them (`svobodaa` is the last name and the first initial of Amelia Svoboda);
/// without, or where they do not fit, a one-letter run of letters is an initial, and of the
/// longer runs the last is the last name, the first (when there are two or more) the first
/// name. Digits, separators and anything from an `@` on are kept.
pub fn pattern(v: &str, source: Option<&Names>) -> Vec<Piece> {
    let (local, domain) = match v.find('@') {
        Some(at) => (&v[..at], &v[at..]),
        None => (v, ""),
    };
    // Runs of letters, and everything else kept.
    let mut runs: Vec<(bool, &str)> = Vec::new();
    let mut start = 0;
    let mut letters = None;
    for (i, c) in local.char_indices() {
        let l = c.is_alphabetic();
        if letters.is_some_and(|x| x != l) {
            runs.push((letters.unwrap_or(false), &local[start..i]));
            start = i;
        }
        letters = Some(l);
    }
    if let Some(l) = letters {
        runs.push((l, &local[start..]));
    }
    let mut out: Vec<Option<Vec<Piece>>> = runs
        .iter()
        .map(|&(l, s)| {
            if !l {
                Some(vec![Piece::Kept(s.to_string())])
            } else {
                source.and_then(|n| by_names(s, n))
            }
        })
        .collect();
    // Runs the names did not explain, by their length and place.
    let open: Vec<usize> = (0..runs.len()).filter(|&k| out[k].is_none()).collect();
    let long: Vec<usize> = open
        .iter()
        .copied()
        .filter(|&k| runs[k].1.chars().count() > 1)
        .collect();
    let has =
        |out: &[Option<Vec<Piece>>], f: fn(&Piece) -> bool| out.iter().flatten().flatten().any(f);
    for (n, &k) in long.iter().enumerate() {
        let case = Case::of(runs[k].1);
        let piece = if n + 1 == long.len() && !has(&out, |p| matches!(p, Piece::Last(_))) {
            Piece::Last(case)
        } else if n == 0 && !has(&out, |p| matches!(p, Piece::First(_))) {
            Piece::First(case)
        } else {
            Piece::Middle(case)
        };
        out[k] = Some(vec![piece]);
    }
    for k in open {
        if out[k].is_none() {
            let case = Case::of(runs[k].1);
            let piece = if has(&out, |p| {
                matches!(p, Piece::First(_) | Piece::FirstInitial(_))
            }) {
                Piece::LastInitial(case)
            } else {
                Piece::FirstInitial(case)
            };
            out[k] = Some(vec![piece]);
        }
    }
    let mut pieces: Vec<Piece> = out.into_iter().flatten().flatten().collect();
    if !domain.is_empty() {
        pieces.push(Piece::Kept(domain.to_string()));
    }
    pieces
}

/// A name as a login writes it, and the piece it stands for.
type Word = (String, fn(Case) -> Piece);

/// Spell run `s` as names, initials of the names, or both glued (`svobodaa`, `asvoboda`,
/// `ameliasvoboda`); `None` when it is something else.
fn by_names(s: &str, n: &Names) -> Option<Vec<Piece>> {
    let folded = ascii_fold(s);
    if folded.is_empty() {
        return None;
    }
    let initial = |w: &str| w.get(..1).unwrap_or("").to_string();
    let words: [Word; 4] = [
        (n.first.clone(), Piece::First),
        (n.last.clone(), Piece::Last),
        (initial(&n.first), Piece::FirstInitial),
        (initial(&n.last), Piece::LastInitial),
    ];
    // At most three words glued; the names are tried before their initials.
    fn go(rest: &str, words: &[Word], out: &mut Vec<usize>) -> bool {
        if rest.is_empty() {
            return !out.is_empty();
        }
        if out.len() == 3 {
            return false;
        }
        for (k, (w, _)) in words.iter().enumerate() {
            if !w.is_empty() && rest.starts_with(w.as_str()) {
                out.push(k);
                if go(&rest[w.len()..], words, out) {
                    return true;
                }
                out.pop();
            }
        }
        false
    }
    let mut found = Vec::new();
    if !go(&folded, &words, &mut found) {
        return None;
    }
    // Each word in its own case where the letters line up with the source (`ASvoboda`),
    // else in the case of the whole run.
    let aligned = s.is_ascii();
    let mut at = 0;
    Some(
        found
            .into_iter()
            .map(|k| {
                let (w, piece) = &words[k];
                let case = if aligned {
                    Case::of(&s[at..at + w.len()])
                } else {
                    Case::of(s)
                };
                at += w.len();
                piece(case)
            })
            .collect(),
    )
}

/// Write a login: `pattern` with the masked `names`, the number at its end raised by `bump`
/// (or `bump + 1` appended when it has none), shortened to `max` characters by cutting the
/// last name, then the first name, then the end.
pub fn render(pattern: &[Piece], names: &Names, bump: u32, max: Option<usize>) -> String {
    let write = |first: &str, last: &str| {
        let mut s = String::new();
        for p in pattern {
            match p {
                Piece::First(c) => s.push_str(&c.apply(first)),
                Piece::Last(c) => s.push_str(&c.apply(last)),
                Piece::Middle(c) => s.push_str(&c.apply(&names.middle)),
                Piece::FirstInitial(c) => s.push_str(&c.apply(first.get(..1).unwrap_or(""))),
                Piece::LastInitial(c) => s.push_str(&c.apply(last.get(..1).unwrap_or(""))),
                Piece::Kept(k) => s.push_str(k),
            }
        }
        if bump > 0 {
            bump_number(&mut s, bump);
        }
        s
    };
    let mut out = write(&names.first, &names.last);
    let Some(max) = max else {
        return out;
    };
    let over = out.chars().count().saturating_sub(max);
    if over > 0 {
        let last = &names.last[..names.last.len().saturating_sub(over).max(1)];
        out = write(&names.first, last);
        let over = out.chars().count().saturating_sub(max);
        if over > 0 {
            let first = &names.first[..names.first.len().saturating_sub(over).max(1)];
            out = write(first, last);
        }
    }
    if out.chars().count() > max {
        out = out.chars().take(max).collect();
    }
    out
}

/// Raise the number at the end of `s` by `bump`, or append `bump + 1`.
fn bump_number(s: &mut String, bump: u32) {
    let digits = s.len() - s.trim_end_matches(|c: char| c.is_ascii_digit()).len();
    let at = s.len() - digits;
    match s[at..].parse::<u64>() {
        Ok(n) if digits > 0 && digits <= 18 => {
            let width = digits;
            let raised = format!("{:0width$}", n + u64::from(bump));
            s.truncate(at);
            s.push_str(&raised);
        }
        _ => s.push_str(&(u64::from(bump) + 1).to_string()),
    }
}

/// The logins handed out in one run: the same person's login masks to the same login in every
/// table and row, and two different logins never to the same one (compared case-blind).
#[derive(Debug, Default)]
pub struct Logins(Mutex<Book>);

#[derive(Debug, Default)]
struct Book {
    /// (subject, source login case-folded) → masked login.
    given: HashMap<(Option<String>, String), String>,
    /// Masked logins, case-folded.
    taken: HashSet<String>,
}

/// How many numbers a login may try before the clone gives up on making it unique.
const TRIES: u32 = 10_000;

impl Logins {
    /// The masked login of source login `v` of `subject`: the one handed out before, or the
    /// first of `make(0)`, `make(1)`, … that nobody holds and `clean` accepts.
    pub fn claim(
        &self,
        subject: Option<&str>,
        v: &str,
        make: impl Fn(u32) -> String,
        clean: impl Fn(&str) -> bool,
    ) -> Result<String, String> {
        let key = (subject.map(str::to_string), v.to_lowercase());
        let mut book = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(l) = book.given.get(&key) {
            return Ok(l.clone());
        }
        for bump in 0..TRIES {
            let login = make(bump);
            let folded = login.to_lowercase();
            if !book.taken.contains(&folded) && clean(&login) {
                book.taken.insert(folded);
                book.given.insert(key, login.clone());
                return Ok(login);
            }
        }
        Err(format!(
            "no unique login left for `{}…` within the column's length; widen the column or \
             mask it with `hmac`",
            v.chars().take(2).collect::<String>()
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn masked() -> Names {
        Names {
            first: "kelda".into(),
            middle: "selwyn".into(),
            last: "vantermolen".into(),
        }
    }

    fn mask(v: &str, source: Option<(&str, &str)>, max: Option<usize>) -> String {
        let names = source.map(|(f, l)| Names::folded(f, l));
        render(&pattern(v, names.as_ref()), &masked(), 0, max)
    }

    #[test]
    fn logins_keep_the_source_pattern() {
        let amelia = Some(("Amelia", "Svoboda"));
        for (source, names, want) in [
            ("a.svoboda", None, "k.vantermolen"),
            ("a.svoboda", amelia, "k.vantermolen"),
            ("svobodaa", amelia, "vantermolenk"),
            ("asvoboda", amelia, "kvantermolen"),
            ("amelia.svoboda2", None, "kelda.vantermolen2"),
            ("amelia.svoboda2", amelia, "kelda.vantermolen2"),
            ("svoboda.amelia", amelia, "vantermolen.kelda"),
            ("ASvoboda", amelia, "KVantermolen"),
            (
                "Amelia.Svoboda@clinic.example",
                None,
                "Kelda.Vantermolen@clinic.example",
            ),
            ("amelia.j.svoboda", None, "kelda.v.vantermolen"),
            ("amelia_jane_svoboda", None, "kelda_selwyn_vantermolen"),
            ("as", amelia, "kv"),
            ("müller.a", Some(("Anna", "Müller")), "vantermolen.k"),
        ] {
            assert_eq!(mask(source, names, None), want, "{source}");
        }
    }

    #[test]
    fn logins_fit_the_column() {
        assert_eq!(mask("a.svoboda", None, Some(9)), "k.vanterm");
        assert_eq!(mask("amelia.svoboda2", None, Some(8)), "kelda.v2");
        assert_eq!(mask("amelia.svoboda2", None, Some(4)), "k.v2");
        assert_eq!(mask("amelia.svoboda2", None, Some(2)), "k.");
        let p = pattern("a.svoboda", None);
        assert_eq!(render(&p, &masked(), 3, Some(10)), "k.vanterm4");
    }

    #[test]
    fn numbers_at_the_end_are_raised() {
        let p = pattern("amelia.svoboda09", None);
        assert_eq!(render(&p, &masked(), 0, None), "kelda.vantermolen09");
        assert_eq!(render(&p, &masked(), 2, None), "kelda.vantermolen11");
        let p = pattern("a.svoboda", None);
        assert_eq!(render(&p, &masked(), 1, None), "k.vantermolen2");
    }

    #[test]
    fn the_book_hands_out_one_login_per_person_and_never_twice() {
        let book = Logins::default();
        let make = |bump| render(&pattern("a.svoboda", None), &masked(), bump, None);
        let a = book.claim(Some("1"), "a.svoboda", make, |_| true).unwrap();
        assert_eq!(a, "k.vantermolen");
        // The same person in another table, written in another case.
        assert_eq!(
            book.claim(Some("1"), "A.Svoboda", make, |_| true).unwrap(),
            a
        );
        // Another person whose masked names happen to be the same.
        let b = book.claim(Some("2"), "a.smith", make, |_| true).unwrap();
        assert_eq!(b, "k.vantermolen2");
        // A login the leak scan would flag is passed over.
        let c = book
            .claim(Some("3"), "b.jones", make, |l| l != "k.vantermolen3")
            .unwrap();
        assert_eq!(c, "k.vantermolen4");
    }
}
