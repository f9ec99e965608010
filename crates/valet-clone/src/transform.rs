//! Transformers: how one column value is masked. Every transformer is deterministic under the
//! run key and the row's subject (or, without a subject, the value itself), so the same
//! volunteer masks to the same values in every table and audit copy.

use std::borrow::Cow;

use regex::Regex;

use crate::array::PgArray;
use crate::key::{RunKey, Stream};
use crate::leak::PiiIndex;
pub use crate::login::Logins;
use crate::{login, names};

/// A transformer with its options, as parsed from the policy.
#[derive(Debug, Clone)]
pub enum Transformer {
    /// A placeholder `policy suggest` writes where it has no evidence either way: the clone
    /// refuses to start until a person replaces it.
    Review {
        reason: String,
    },
    Keep,
    Null,
    Constant {
        value: String,
    },
    Marker {
        value: String,
    },
    FirstName,
    LastName,
    FullName,
    Initials {
        from: Vec<String>,
    },
    DateOfBirth(DobMode),
    Sex {
        shuffle: bool,
        values: Vec<String>,
    },
    Email {
        domain: String,
        /// Longest address the column takes: the local part and the tag are shortened, the
        /// domain kept (set from the column's type).
        max_length: Option<usize>,
    },
    /// A login rebuilt from the subject's masked names in the source's pattern.
    Username {
        /// Columns of the same row holding the person's source names (first and last, or
        /// one full name), to read glued logins (`svobodaa`) by.
        from: Vec<String>,
        /// Longest login the column takes (`varchar(n)`, or the `max_length` option).
        max_length: Option<usize>,
    },
    Phone {
        keep_prefix: Option<usize>,
    },
    Address {
        part: AddressPart,
    },
    FreeText {
        redact: bool,
        /// `lorem` keeps digits as they are (`keep_digits = true`); by default each digit
        /// becomes another one, so numbers written in notes do not survive.
        keep_digits: bool,
    },
    Hmac {
        length: usize,
    },
    RegexReplace {
        regex: Regex,
        replacement: String,
    },
    Json {
        paths: Vec<(JsonPath, Transformer)>,
    },
    /// Each element of an array (any number of dimensions) masked by `element`; NULL
    /// elements stay NULL.
    Array {
        element: Box<Transformer>,
        /// The elements' limit (`varchar(40)[]`), for elements that may be cut.
        cut: Option<Limit>,
    },
    Switch {
        on: String,
        cases: Vec<(String, Transformer)>,
        default: Box<Transformer>,
    },
}

impl PartialEq for Transformer {
    fn eq(&self, other: &Self) -> bool {
        format!("{self:?}") == format!("{other:?}")
    }
}

/// How `date_of_birth` changes a date.
#[derive(Debug, Clone, PartialEq)]
pub enum DobMode {
    /// Move by a per-subject number of days in `[-n, n]`, never 0.
    Shift(u32),
    /// Replace by this date (`YYYY-MM-DD`).
    Fixed(String),
}

/// Which part of an address `address` produces.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum AddressPart {
    Line,
    City,
    Postcode,
    Full,
}

/// Every transformer name, for error messages and documentation.
pub const TRANSFORMERS: &[&str] = &[
    "review",
    "keep",
    "null",
    "constant",
    "marker",
    "first_name",
    "last_name",
    "full_name",
    "initials",
    "date_of_birth",
    "sex",
    "email",
    "username",
    "phone",
    "address",
    "free_text",
    "hmac",
    "regex_replace",
    "json",
    "array",
    "switch",
];

/// Parse a column specification: a transformer name, or a table with `transformer` and options.
pub fn parse_transformer(v: &toml::Value) -> Result<Transformer, String> {
    let (name, opts) = match v {
        toml::Value::String(s) => (s.as_str(), toml::Table::new()),
        toml::Value::Table(t) => {
            let mut t = t.clone();
            let name = match t.remove("transformer") {
                Some(toml::Value::String(s)) => s,
                Some(_) => return Err("`transformer` must be a string".into()),
                None => return Err("missing `transformer = \"...\"`".into()),
            };
            return parse_named(&name, t);
        }
        _ => return Err("expected a transformer name or `{ transformer = \"...\", ... }`".into()),
    };
    parse_named(name, opts)
}

struct Opts {
    transformer: String,
    t: toml::Table,
}

impl Opts {
    fn str(&mut self, k: &str) -> Result<Option<String>, String> {
        match self.t.remove(k) {
            None => Ok(None),
            Some(toml::Value::String(s)) => Ok(Some(s)),
            Some(_) => Err(format!("`{k}` must be a string")),
        }
    }
    fn int(&mut self, k: &str) -> Result<Option<i64>, String> {
        match self.t.remove(k) {
            None => Ok(None),
            Some(toml::Value::Integer(i)) => Ok(Some(i)),
            Some(_) => Err(format!("`{k}` must be an integer")),
        }
    }
    fn strings(&mut self, k: &str) -> Result<Option<Vec<String>>, String> {
        match self.t.remove(k) {
            None => Ok(None),
            Some(toml::Value::Array(a)) => a
                .into_iter()
                .map(|v| match v {
                    toml::Value::String(s) => Ok(s),
                    _ => Err(format!("`{k}` must be a list of strings")),
                })
                .collect::<Result<Vec<_>, _>>()
                .map(Some),
            Some(_) => Err(format!("`{k}` must be a list of strings")),
        }
    }
    fn table(&mut self, k: &str) -> Result<Option<toml::Table>, String> {
        match self.t.remove(k) {
            None => Ok(None),
            Some(toml::Value::Table(t)) => Ok(Some(t)),
            Some(_) => Err(format!("`{k}` must be a table")),
        }
    }
    fn finish(self) -> Result<(), String> {
        match self.t.keys().next() {
            None => Ok(()),
            Some(k) => Err(format!(
                "unknown option `{k}` for transformer `{}` (see docs/policy.md)",
                self.transformer
            )),
        }
    }
}

fn parse_named(name: &str, t: toml::Table) -> Result<Transformer, String> {
    let mut o = Opts {
        transformer: name.to_string(),
        t,
    };
    let tr = match name {
        "review" => Transformer::Review {
            reason: o.str("reason")?.unwrap_or_default(),
        },
        "keep" => Transformer::Keep,
        "null" => Transformer::Null,
        "constant" => Transformer::Constant {
            value: o
                .str("value")?
                .ok_or("`constant` needs `value = \"...\"`")?,
        },
        "marker" => Transformer::Marker {
            value: o.str("value")?.unwrap_or_else(|| "DELETED".into()),
        },
        "first_name" => Transformer::FirstName,
        "last_name" => Transformer::LastName,
        "full_name" => Transformer::FullName,
        "initials" => Transformer::Initials {
            from: o.strings("from")?.unwrap_or_default(),
        },
        "date_of_birth" => {
            let shift = o.int("shift_days")?;
            let fixed = o.str("fixed")?;
            match (shift, fixed) {
                (Some(n), None) if (1..=36_500).contains(&n) => {
                    Transformer::DateOfBirth(DobMode::Shift(n as u32))
                }
                (Some(_), None) => return Err("`shift_days` must be between 1 and 36500".into()),
                (None, Some(d)) => {
                    parse_date(&d)
                        .ok_or(format!("`fixed` must be a date YYYY-MM-DD, not `{d}`"))?;
                    Transformer::DateOfBirth(DobMode::Fixed(d))
                }
                (None, None) => Transformer::DateOfBirth(DobMode::Shift(180)),
                (Some(_), Some(_)) => {
                    return Err("give either `shift_days` or `fixed`, not both".into())
                }
            }
        }
        "sex" => {
            let mode = o.str("mode")?.unwrap_or_else(|| "shuffle".into());
            let shuffle = match mode.as_str() {
                "shuffle" => true,
                "keep" => false,
                m => return Err(format!("`mode` of `sex` is `keep` or `shuffle`, not `{m}`")),
            };
            let values = o.strings("values")?.unwrap_or_default();
            Transformer::Sex { shuffle, values }
        }
        "email" => Transformer::Email {
            domain: o.str("domain")?.unwrap_or_else(|| "example.invalid".into()),
            max_length: None,
        },
        "username" => {
            let from = o.strings("from")?.unwrap_or_default();
            if from.len() > 2 {
                return Err(
                    "`from` of `username` names at most two columns: the first and \
                            last names, or one full name"
                        .into(),
                );
            }
            let max_length = match o.int("max_length")? {
                Some(n) if n >= 1 => Some(n as usize),
                Some(_) => return Err("`max_length` of `username` must be at least 1".into()),
                None => None,
            };
            Transformer::Username { from, max_length }
        }
        "phone" => Transformer::Phone {
            keep_prefix: o.int("keep_prefix")?.map(|n| n.clamp(0, 8) as usize),
        },
        "address" => {
            let part = match o.str("part")?.as_deref().unwrap_or("line") {
                "line" => AddressPart::Line,
                "city" => AddressPart::City,
                "postcode" => AddressPart::Postcode,
                "full" => AddressPart::Full,
                p => {
                    return Err(format!(
                        "`part` of `address` is line, city, postcode or full, not `{p}`"
                    ))
                }
            };
            Transformer::Address { part }
        }
        "free_text" => {
            let redact = match o.str("mode")?.as_deref().unwrap_or("lorem") {
                "lorem" => false,
                "redact" => true,
                m => {
                    return Err(format!(
                        "`mode` of `free_text` is `lorem` or `redact`, not `{m}`"
                    ))
                }
            };
            let keep_digits = match o.t.remove("keep_digits") {
                None => false,
                Some(toml::Value::Boolean(b)) if !redact => b,
                Some(toml::Value::Boolean(_)) => {
                    return Err("`keep_digits` applies to `mode = \"lorem\"` only".into())
                }
                Some(_) => return Err("`keep_digits` must be true or false".into()),
            };
            Transformer::FreeText {
                redact,
                keep_digits,
            }
        }
        "hmac" => {
            let length = o.int("length")?.unwrap_or(16);
            if !(8..=64).contains(&length) {
                return Err("`length` of `hmac` must be between 8 and 64".into());
            }
            Transformer::Hmac {
                length: length as usize,
            }
        }
        "regex_replace" => {
            let pattern = o.str("pattern")?.ok_or("`regex_replace` needs `pattern`")?;
            let regex = Regex::new(&pattern).map_err(|e| format!("bad `pattern`: {e}"))?;
            Transformer::RegexReplace {
                regex,
                replacement: o.str("replacement")?.unwrap_or_default(),
            }
        }
        "json" => {
            let paths = o
                .table("paths")?
                .ok_or("`json` needs `paths = { \"$.a.b\" = \"...\" }`")?;
            let mut out = Vec::new();
            for (p, spec) in paths {
                let path = JsonPath::parse(&p)?;
                let t = parse_transformer(&spec).map_err(|e| format!("path `{p}`: {e}"))?;
                out.push((path, t));
            }
            Transformer::Json { paths: out }
        }
        "array" => {
            let element = match o.t.remove("element") {
                Some(v) => parse_transformer(&v).map_err(|e| format!("element: {e}"))?,
                None => {
                    return Err(
                        "`array` needs `element = \"...\"` (the spec of each element)".into(),
                    )
                }
            };
            Transformer::Array {
                element: Box::new(element),
                cut: None,
            }
        }
        "switch" => {
            let on = o.str("on")?.ok_or("`switch` needs `on = \"column\"`")?;
            let cases_t = o.table("cases")?.unwrap_or_default();
            let mut cases = Vec::new();
            for (k, spec) in cases_t {
                let t = parse_transformer(&spec).map_err(|e| format!("case `{k}`: {e}"))?;
                cases.push((k, t));
            }
            let default = match o.t.remove("default") {
                Some(v) => parse_transformer(&v).map_err(|e| format!("default: {e}"))?,
                None => return Err("`switch` needs `default = \"...\"` (fail closed)".into()),
            };
            Transformer::Switch {
                on,
                cases,
                default: Box::new(default),
            }
        }
        other => {
            return Err(format!(
                "unknown transformer `{other}`; known: {}",
                TRANSFORMERS.join(", ")
            ))
        }
    };
    o.finish()?;
    Ok(tr)
}

/// A JSON path: `$.a.b`, `$.list[*].name`, `$.list[0]`.
#[derive(Debug, Clone, PartialEq)]
pub struct JsonPath(Vec<JsonStep>);

#[derive(Debug, Clone, PartialEq)]
enum JsonStep {
    Key(String),
    Index(usize),
    All,
}

impl JsonPath {
    pub fn parse(p: &str) -> Result<JsonPath, String> {
        let rest = p
            .strip_prefix('$')
            .ok_or_else(|| format!("JSON path `{p}` must start with `$`"))?;
        let mut steps = Vec::new();
        let mut s = rest;
        while !s.is_empty() {
            if let Some(r) = s.strip_prefix('.') {
                let end = r.find(['.', '[']).unwrap_or(r.len());
                if end == 0 {
                    return Err(format!("empty key in JSON path `{p}`"));
                }
                steps.push(JsonStep::Key(r[..end].to_string()));
                s = &r[end..];
            } else if let Some(r) = s.strip_prefix('[') {
                let end = r
                    .find(']')
                    .ok_or_else(|| format!("unclosed `[` in JSON path `{p}`"))?;
                let inner = &r[..end];
                if inner == "*" {
                    steps.push(JsonStep::All);
                } else if let Ok(i) = inner.parse() {
                    steps.push(JsonStep::Index(i));
                } else {
                    let key = inner.trim_matches(|c| c == '"' || c == '\'');
                    steps.push(JsonStep::Key(key.to_string()));
                }
                s = &r[end + 1..];
            } else {
                return Err(format!("JSON path `{p}`: expected `.` or `[` at `{s}`"));
            }
        }
        Ok(JsonPath(steps))
    }

    fn visit<'v>(&self, v: &'v mut serde_json::Value, f: &mut dyn FnMut(&mut serde_json::Value)) {
        fn go(
            steps: &[JsonStep],
            v: &mut serde_json::Value,
            f: &mut dyn FnMut(&mut serde_json::Value),
        ) {
            let Some((first, rest)) = steps.split_first() else {
                f(v);
                return;
            };
            match (first, v) {
                (JsonStep::Key(k), serde_json::Value::Object(m)) => {
                    if let Some(c) = m.get_mut(k) {
                        go(rest, c, f)
                    }
                }
                (JsonStep::Index(i), serde_json::Value::Array(a)) => {
                    if let Some(c) = a.get_mut(*i) {
                        go(rest, c, f)
                    }
                }
                (JsonStep::All, serde_json::Value::Array(a)) => {
                    for c in a {
                        go(rest, c, f)
                    }
                }
                (JsonStep::All, serde_json::Value::Object(m)) => {
                    for (_, c) in m.iter_mut() {
                        go(rest, c, f)
                    }
                }
                _ => {}
            }
        }
        go(&self.0, v, f)
    }
}

/// What a transformer may look at besides its own value: the run key, the row's subject and
/// the other columns of the same row.
#[derive(Clone, Copy)]
pub struct Cx<'a> {
    pub key: &'a RunKey,
    pub subject: Option<&'a str>,
    /// Names of the row's columns that are available as text.
    pub names: &'a [String],
    /// Source text of those columns.
    pub source: &'a [Option<&'a str>],
    /// Masked text of those columns, for the ones computed so far.
    pub masked: &'a [Option<Option<String>>],
    /// (source, masked) PII values of this row, longest first, for `free_text` redaction.
    pub redactions: &'a [(String, String)],
    /// Source values the output must not equal (the leak-scan index): a masked value that
    /// happens to be some other person's real value is drawn again.
    pub avoid: Option<&'a PiiIndex>,
    /// How many times the value was drawn again.
    pub attempt: u32,
    /// Seeds already derived for this row's subject (several columns draw from the same
    /// seed: the e-mail from the names, the three address parts from one address).
    pub memo: Option<&'a RowMemo>,
    /// The run's masked logins (`username`); without it each login is rebuilt alone.
    pub logins: Option<&'a Logins>,
}

/// The per-subject seeds derived while masking one row, by domain and redraw count (the
/// first [`RowMemo::SLOTS`] of them; more are derived each time).
#[derive(Debug, Default)]
pub struct RowMemo(std::cell::RefCell<MemoSlots>);

type MemoSlots = ([(&'static str, u32, [u8; 32]); RowMemo::SLOTS], usize);

impl RowMemo {
    const SLOTS: usize = 16;

    fn get_or(&self, domain: &'static str, attempt: u32, f: impl FnOnce() -> [u8; 32]) -> [u8; 32] {
        let mut memo = self.0.borrow_mut();
        let (slots, len) = &mut *memo;
        if let Some((_, _, seed)) = slots[..*len]
            .iter()
            .find(|(d, a, _)| *a == attempt && *d == domain)
        {
            return *seed;
        }
        let seed = f();
        if *len < Self::SLOTS {
            slots[*len] = (domain, attempt, seed);
            *len += 1;
        }
        seed
    }
}

impl Cx<'_> {
    fn index(&self, col: &str) -> Option<usize> {
        self.names.iter().position(|n| *n == col)
    }
    fn source_of(&self, col: &str) -> Option<&str> {
        self.index(col).and_then(|i| self.source[i])
    }
    fn masked_of(&self, col: &str) -> Option<Option<&str>> {
        self.index(col)
            .and_then(|i| self.masked[i].as_ref().map(|m| m.as_deref()))
    }
    /// Seed by subject when there is one, else by value: the subject makes the result
    /// consistent across tables; the value keeps rows apart when there is no subject.
    fn rng(&self, domain: &'static str, value: &str) -> Stream {
        match (self.subject, self.memo) {
            (Some(s), Some(memo)) => Stream::new(memo.get_or(domain, self.attempt, || {
                self.key_rng(domain, Some(s), None).into_seed()
            })),
            (Some(s), None) => self.key_rng(domain, Some(s), None),
            (None, _) => self.key_rng(domain, None, Some(value)),
        }
    }
    /// Like [`RunKey::rng`], with the redraw count mixed in.
    fn key_rng(&self, domain: &str, subject: Option<&str>, value: Option<&str>) -> Stream {
        if self.attempt == 0 {
            self.key.rng(domain, subject, value)
        } else {
            self.key
                .rng(&format!("{domain}#{}", self.attempt), subject, value)
        }
    }
}

impl Transformer {
    /// The reason of a `review` placeholder anywhere in this spec (also in a `switch` case,
    /// an `array` element or a `json` path).
    pub fn review_reason(&self) -> Option<&str> {
        match self {
            Transformer::Review { reason } => Some(reason),
            Transformer::Array { element, .. } => element.review_reason(),
            Transformer::Json { paths } => paths.iter().find_map(|(_, t)| t.review_reason()),
            Transformer::Switch { cases, default, .. } => default
                .review_reason()
                .or_else(|| cases.iter().find_map(|(_, t)| t.review_reason())),
            _ => None,
        }
    }

    /// Whether this transformer leaves values as they are.
    pub fn is_keep(&self) -> bool {
        matches!(
            self,
            Transformer::Keep | Transformer::Sex { shuffle: false, .. }
        )
    }

    /// The transformer's name as written in policies.
    pub fn name(&self) -> &'static str {
        match self {
            Transformer::Review { .. } => "review",
            Transformer::Keep => "keep",
            Transformer::Null => "null",
            Transformer::Constant { .. } => "constant",
            Transformer::Marker { .. } => "marker",
            Transformer::FirstName => "first_name",
            Transformer::LastName => "last_name",
            Transformer::FullName => "full_name",
            Transformer::Initials { .. } => "initials",
            Transformer::DateOfBirth(_) => "date_of_birth",
            Transformer::Sex { .. } => "sex",
            Transformer::Email { .. } => "email",
            Transformer::Username { .. } => "username",
            Transformer::Phone { .. } => "phone",
            Transformer::Address { .. } => "address",
            Transformer::FreeText { .. } => "free_text",
            Transformer::Hmac { .. } => "hmac",
            Transformer::RegexReplace { .. } => "regex_replace",
            Transformer::Json { .. } => "json",
            Transformer::Array { .. } => "array",
            Transformer::Switch { .. } => "switch",
        }
    }

    /// Other columns of the same row this transformer reads.
    pub fn row_dependencies(&self) -> Vec<String> {
        match self {
            Transformer::Initials { from } | Transformer::Username { from, .. } => from.clone(),
            Transformer::Array { element, .. } => element.row_dependencies(),
            Transformer::Switch { on, cases, default } => {
                let mut v = vec![on.clone()];
                for (_, c) in cases {
                    v.extend(c.row_dependencies());
                }
                v.extend(default.row_dependencies());
                v
            }
            _ => Vec::new(),
        }
    }

    /// Whether the transformer needs the masked values of other columns first.
    pub fn is_dependent(&self) -> bool {
        match self {
            Transformer::Initials { from } => !from.is_empty(),
            Transformer::FreeText { redact, .. } => *redact,
            Transformer::Array { element, .. } => element.is_dependent(),
            Transformer::Switch { cases, default, .. } => {
                default.is_dependent() || cases.iter().any(|(_, c)| c.is_dependent())
            }
            _ => false,
        }
    }

    /// Whether source values of this column identify someone and so are looked for by the
    /// leak scan. Initials, sex, dates, towns and postcodes are shared by many people and too
    /// short to be looked for as text (a postcode `123 45` also reads as a blood pressure
    /// `123/45`); their masking is checked by the transformer's properties instead.
    pub fn is_identifying(&self) -> bool {
        if let Transformer::Array { element, .. } = self {
            return element.is_identifying();
        }
        !matches!(
            self,
            Transformer::Keep
                | Transformer::Initials { .. }
                | Transformer::Sex { .. }
                | Transformer::DateOfBirth(_)
                | Transformer::Address {
                    part: AddressPart::City | AddressPart::Postcode
                }
        )
    }

    /// Whether the output stands for the same person's name or contact value, so it can
    /// replace that value inside free text of the same row.
    pub fn is_redaction_source(&self) -> bool {
        matches!(
            self,
            Transformer::FirstName
                | Transformer::LastName
                | Transformer::FullName
                | Transformer::Email { .. }
                | Transformer::Username { .. }
                | Transformer::Phone { .. }
                | Transformer::Address { .. }
        )
    }

    /// This transformer for a column of type `data_type`: `username` and `email` learn the
    /// longest value the column takes (`varchar(64)`, `character varying(64)`, `char(8)`),
    /// `hmac` is shortened to it. An error (before anything is written) when no value that
    /// stays unique, or the constant, fits.
    pub fn fitted_to(self, data_type: &str) -> Result<Transformer, String> {
        if let Transformer::Array { element, .. } = self {
            // `character varying(40)[]`, `varchar(40)[][]`: the elements' type.
            let elem = data_type.split('[').next().unwrap_or(data_type);
            let element = element.fitted_to(elem)?;
            let cut = Limit::of(elem).filter(|_| element.may_be_cut());
            return Ok(Transformer::Array {
                element: Box::new(element),
                cut,
            });
        }
        let Some(limit) = Limit::of(data_type) else {
            return Ok(self);
        };
        let max = limit.max();
        Ok(match self {
            Transformer::Username { from, max_length } => Transformer::Username {
                from,
                max_length: Some(max_length.map_or(max, |a| a.min(max))),
            },
            Transformer::Email { domain, .. } => {
                let least = domain.len() + 1 + EMAIL_MIN_TAG;
                if max < least {
                    return Err(format!(
                        "a masked e-mail at `@{domain}` needs at least {least} characters to \
                         stay a valid, unique address, but the column is `{data_type}`; widen \
                         the column, give a shorter `domain`, or mask it with `hmac` or `null`"
                    ));
                }
                Transformer::Email {
                    domain,
                    max_length: Some(max),
                }
            }
            Transformer::Hmac { length } if length > max => {
                if max < 8 {
                    return Err(format!(
                        "`hmac` needs at least 8 characters to stay unique, but the column is \
                         `{data_type}`; widen the column or mask it with `null` or `constant`"
                    ));
                }
                Transformer::Hmac { length: max }
            }
            Transformer::Constant { value } | Transformer::Marker { value }
                if !limit.fits(&value) =>
            {
                return Err(format!(
                    "the value `{value}` does not fit the column `{data_type}`; give a shorter \
                     `value`"
                ));
            }
            Transformer::Switch { on, cases, default } => Transformer::Switch {
                on,
                cases: cases
                    .into_iter()
                    .map(|(k, t)| {
                        t.fitted_to(data_type)
                            .map(|t| (k.clone(), t))
                            .map_err(|e| format!("case `{k}`: {e}"))
                    })
                    .collect::<Result<_, _>>()?,
                default: Box::new(
                    default
                        .fitted_to(data_type)
                        .map_err(|e| format!("default: {e}"))?,
                ),
            },
            other => other,
        })
    }

    /// Whether an output longer than its column may be cut to fit: names, addresses, phone
    /// numbers, free text, initials and sex words mean as much (to a test) when shortened;
    /// JSON, rewritten values and kept values would not, so the target refuses them instead.
    pub fn may_be_cut(&self) -> bool {
        match self {
            Transformer::FirstName
            | Transformer::LastName
            | Transformer::FullName
            | Transformer::Initials { .. }
            | Transformer::Sex { .. }
            | Transformer::Phone { .. }
            | Transformer::Address { .. }
            | Transformer::FreeText { .. } => true,
            Transformer::Switch { cases, default, .. } => {
                default.may_be_cut() && cases.iter().all(|(_, c)| c.may_be_cut())
            }
            _ => false,
        }
    }

    /// The source values to look for in the target (leak scan) for input `v`.
    pub fn scan_values<'v>(&self, v: &'v str, cx: &Cx) -> Vec<Cow<'v, str>> {
        match self {
            Transformer::Switch { on, cases, default } => {
                self.switch_case(on, cases, default, cx).scan_values(v, cx)
            }
            Transformer::Array { element, .. } => match PgArray::parse(v) {
                Ok(a) => a
                    .items
                    .iter()
                    .flatten()
                    .flat_map(|e| {
                        element
                            .scan_values(e, cx)
                            .into_iter()
                            .map(|s| Cow::Owned(s.into_owned()))
                            .collect::<Vec<_>>()
                    })
                    .collect(),
                Err(_) => vec![Cow::Borrowed(v)],
            },
            Transformer::Json { paths } => {
                let Ok(mut doc) = serde_json::from_str::<serde_json::Value>(v) else {
                    return vec![Cow::Borrowed(v)];
                };
                let mut out = Vec::new();
                for (path, t) in paths {
                    if !t.is_identifying() {
                        continue;
                    }
                    path.visit(&mut doc, &mut |node| match node {
                        serde_json::Value::String(s) => out.push(Cow::Owned(s.clone())),
                        serde_json::Value::Null => {}
                        other => out.push(Cow::Owned(other.to_string())),
                    });
                }
                out
            }
            t if t.is_identifying() => vec![Cow::Borrowed(v)],
            _ => Vec::new(),
        }
    }

    fn switch_case<'t>(
        &'t self,
        on: &str,
        cases: &'t [(String, Transformer)],
        default: &'t Transformer,
        cx: &Cx,
    ) -> &'t Transformer {
        let sel = cx.source_of(on);
        cases
            .iter()
            .find(|(k, _)| Some(k.as_str()) == sel)
            .map(|(_, t)| t)
            .unwrap_or(default)
    }

    /// Whether an output that equals a source value is drawn again.
    fn redraws(&self) -> bool {
        matches!(
            self,
            Transformer::FirstName
                | Transformer::LastName
                | Transformer::Phone { .. }
                | Transformer::Address { .. }
                | Transformer::FreeText { redact: false, .. }
        )
    }

    /// Mask one value. `None` is SQL NULL; most transformers keep NULL as NULL.
    pub fn apply(&self, input: Option<&str>, cx: &Cx) -> Result<Option<String>, String> {
        self.apply_cut(input, cx, None)
    }

    /// Mask one value and cut it to `cut` (a column's limit, for values that
    /// [may be cut](Self::may_be_cut)) before it is checked against the source's values.
    pub fn apply_cut(
        &self,
        input: Option<&str>,
        cx: &Cx,
        cut: Option<Limit>,
    ) -> Result<Option<String>, String> {
        let once = |cx: &Cx| {
            let mut out = self.apply_once(input, cx)?;
            if let (Some(l), Some(s)) = (cut, &mut out) {
                l.cut(s);
            }
            Ok::<_, String>(out)
        };
        let Some(avoid) = cx.avoid.filter(|_| self.redraws()) else {
            return once(cx);
        };
        let mut out = None;
        for attempt in 0..16 {
            out = once(&Cx { attempt, ..*cx })?;
            let found = match &out {
                // Cached when clean: the leak scan of the written row looks it up again.
                Some(s) => crate::leak::with_scratch(|buf| avoid.check(s, buf).is_some()),
                None => false,
            };
            if !found {
                return Ok(out);
            }
        }
        Ok(out)
    }

    fn apply_once(&self, input: Option<&str>, cx: &Cx) -> Result<Option<String>, String> {
        let v = match (self, input) {
            (Transformer::Keep, i) => return Ok(i.map(str::to_string)),
            (Transformer::Null, _) => return Ok(None),
            (Transformer::Switch { on, cases, default }, i) => {
                return self.switch_case(on, cases, default, cx).apply(i, cx)
            }
            (Transformer::Initials { from }, None) if from.is_empty() => return Ok(None),
            (_, None) => return Ok(None),
            (_, Some(v)) => v,
        };
        Ok(Some(match self {
            Transformer::Keep | Transformer::Null | Transformer::Switch { .. } => {
                unreachable!("handled above")
            }
            Transformer::Review { .. } => {
                return Err("the policy still says \"review\" for this column".into())
            }
            Transformer::Constant { value } | Transformer::Marker { value } => value.clone(),
            Transformer::FirstName => names::first_name(&mut cx.rng("first_name", v)),
            Transformer::LastName => names::last_name(&mut cx.rng("last_name", v)),
            Transformer::FullName => {
                let first = Transformer::FirstName
                    .apply(Some(v), cx)?
                    .unwrap_or_default();
                let last = Transformer::LastName
                    .apply(Some(v), cx)?
                    .unwrap_or_default();
                format!("{first} {last}")
            }
            Transformer::Initials { from } => {
                let parts: Vec<String> = if from.is_empty() {
                    vec![
                        Transformer::FirstName
                            .apply(Some(v), cx)?
                            .unwrap_or_default(),
                        Transformer::LastName
                            .apply(Some(v), cx)?
                            .unwrap_or_default(),
                    ]
                } else {
                    from.iter()
                        .map(|c| cx.masked_of(c).flatten().unwrap_or("").to_string())
                        .collect()
                };
                initials_of(&parts, v)
            }
            Transformer::DateOfBirth(mode) => {
                let (y, m, d, rest) =
                    parse_date(v).ok_or_else(|| format!("`{}` is not a date", shorten(v)))?;
                match mode {
                    DobMode::Fixed(f) => f.clone(),
                    DobMode::Shift(n) => {
                        let n = *n as i64;
                        let mut r = cx.rng("date_of_birth", v);
                        let mut off = (r.next_u64() % (2 * n as u64)) as i64 - n;
                        if off >= 0 {
                            off += 1;
                        }
                        let (y2, m2, d2) = civil_from_days(days_from_civil(y, m, d) + off);
                        format!("{y2:04}-{m2:02}-{d2:02}{rest}")
                    }
                }
            }
            Transformer::Sex { shuffle, values } => {
                if !shuffle {
                    v.to_string()
                } else if !values.is_empty() {
                    let refs: Vec<&str> = values.iter().map(String::as_str).collect();
                    cx.rng("sex", v).pick(&refs).to_string()
                } else {
                    let female = cx.rng("sex", v).next_u64() & 1 == 0;
                    sex_like(v, female)
                }
            }
            Transformer::Email { domain, max_length } => {
                let first = Transformer::FirstName
                    .apply(Some(v), cx)?
                    .unwrap_or_default();
                let last = Transformer::LastName
                    .apply(Some(v), cx)?
                    .unwrap_or_default();
                let norm = v.trim().to_lowercase();
                let tag = cx.key.rng("email", cx.subject, Some(&norm)).hex();
                let (first, last) = (names::ascii_lower(&first), names::ascii_lower(&last));
                match max_length {
                    None => format!("{first}.{last}.{}@{domain}", &tag[..16]),
                    Some(max) => fitted_email(&first, &last, &tag, domain, *max),
                }
            }
            Transformer::Username { from, max_length } => {
                let first = Transformer::FirstName
                    .apply(Some(v), cx)?
                    .unwrap_or_default();
                let last = Transformer::LastName
                    .apply(Some(v), cx)?
                    .unwrap_or_default();
                let masked = login::Names {
                    first: names::ascii_lower(&first),
                    middle: names::ascii_lower(&names::first_name(&mut cx.rng("middle_name", v))),
                    last: names::ascii_lower(&last),
                };
                let source = match from.as_slice() {
                    [f, l] => cx
                        .source_of(f)
                        .zip(cx.source_of(l))
                        .map(|(f, l)| login::Names::folded(f, l)),
                    [full] => cx.source_of(full).map(|full| {
                        let full = full.trim();
                        let (f, l) = full.split_once(char::is_whitespace).unwrap_or((full, ""));
                        login::Names::folded(f, l)
                    }),
                    _ => None,
                };
                let pattern = login::pattern(v, source.as_ref());
                let make = |bump| login::render(&pattern, &masked, bump, *max_length);
                let clean = |l: &str| {
                    cx.avoid.is_none_or(|ix| {
                        crate::leak::with_scratch(|buf| ix.check(l, buf).is_none())
                    })
                };
                match cx.logins {
                    Some(book) => book.claim(cx.subject, v, make, clean)?,
                    None => (0..16)
                        .map(make)
                        .find(|l| clean(l))
                        .unwrap_or_else(|| make(0)),
                }
            }
            Transformer::Phone { keep_prefix } => {
                let mut r = cx.key_rng("phone", cx.subject, Some(v));
                phone_like(v, *keep_prefix, &mut r)
            }
            Transformer::Address { part } => {
                let mut r = cx.rng("address", v);
                let line = names::street_line(&mut r);
                let city = names::city(&mut r);
                match part {
                    AddressPart::Line => line,
                    AddressPart::City => city,
                    AddressPart::Postcode => {
                        shape_like(v, &mut cx.key_rng("postcode", cx.subject, Some(v)))
                    }
                    AddressPart::Full => format!("{line}, {city}"),
                }
            }
            Transformer::FreeText {
                redact,
                keep_digits,
            } => {
                if *redact {
                    redact_text(v, cx.redactions)
                } else {
                    let mut r = cx.key_rng("free_text", cx.subject, Some(v));
                    lorem_like(v, *keep_digits, &mut r)
                }
            }
            Transformer::Hmac { length } => {
                let h = hex::encode(cx.key.digest("hmac", None, Some(v)));
                h[..*length].to_string()
            }
            Transformer::RegexReplace { regex, replacement } => {
                regex.replace_all(v, replacement.as_str()).into_owned()
            }
            Transformer::Array { element, cut } => {
                let mut a =
                    PgArray::parse(v).map_err(|e| format!("value is not an array ({e})"))?;
                for item in &mut a.items {
                    if item.is_some() {
                        *item = element.apply_cut(item.as_deref(), cx, *cut)?;
                    }
                }
                a.to_text()
            }
            Transformer::Json { paths } => {
                let mut doc: serde_json::Value =
                    serde_json::from_str(v).map_err(|e| format!("value is not JSON ({e})"))?;
                let mut err = None;
                for (path, t) in paths {
                    path.visit(&mut doc, &mut |node| {
                        let input = match &*node {
                            serde_json::Value::Null => None,
                            serde_json::Value::String(s) => Some(s.clone()),
                            other => Some(other.to_string()),
                        };
                        match t.apply(input.as_deref(), cx) {
                            Ok(Some(s)) => *node = serde_json::Value::String(s),
                            Ok(None) => *node = serde_json::Value::Null,
                            Err(e) => err = Some(e),
                        }
                    });
                }
                if let Some(e) = err {
                    return Err(e);
                }
                doc.to_string()
            }
        }))
    }
}

/// Hex digits of an e-mail's tag kept at the least when the address is shortened to fit its
/// column: 48 bits, so distinct values stay distinct (two values of one masked name would
/// collide with odds of about one in 10^14 per pair).
pub const EMAIL_MIN_TAG: usize = 12;

/// `first.last.tag@domain` within `max` characters: the domain is kept, the tag (16 hex
/// digits) shortened to no less than [`EMAIL_MIN_TAG`]; the last name, then the first name
/// are cut down to one letter, then left out (`f.tag`, `tag`).
/// The caller checked that `max` leaves room for the domain and the shortest tag.
fn fitted_email(first: &str, last: &str, tag: &str, domain: &str, max: usize) -> String {
    let full = 16 + first.len() + last.len() + 2 + 1 + domain.len();
    if full <= max {
        return format!("{first}.{last}.{}@{domain}", &tag[..16]);
    }
    let budget = max.saturating_sub(1 + domain.len());
    // Room for `f.l.` or `f.` beside the shortest tag goes to the names first.
    let t = if budget >= EMAIL_MIN_TAG + 4 {
        16.min(budget - 4)
    } else if budget >= EMAIL_MIN_TAG + 2 {
        budget - 2
    } else {
        budget.min(16)
    };
    let rest = budget - t;
    let local = if rest >= 4 && !first.is_empty() && !last.is_empty() {
        // `f.l.`: cut the last name first, down to one letter, then the first name.
        let avail = rest - 2;
        let l = last.len().min(avail.saturating_sub(first.len()).max(1));
        let f = first.len().min(avail - l);
        format!("{}.{}.{}", &first[..f], &last[..l], &tag[..t])
    } else if rest >= 2 && !first.is_empty() {
        let f = first.len().min(rest - 1);
        format!("{}.{}", &first[..f], &tag[..t])
    } else {
        tag[..budget.min(tag.len())].to_string()
    };
    format!("{local}@{domain}")
}

fn shorten(v: &str) -> String {
    v.chars().take(3).collect::<String>() + "…"
}

/// Initials from masked names, in the style of the source value (`JS`, `J.S.`, `js`).
fn initials_of(parts: &[String], source: &str) -> String {
    let dotted = source.contains('.');
    let lower =
        source.chars().any(|c| c.is_lowercase()) && !source.chars().any(|c| c.is_uppercase());
    let mut out = String::new();
    for p in parts {
        if let Some(c) = p.chars().find(|c| c.is_alphabetic()) {
            let c: String = if lower {
                c.to_lowercase().collect()
            } else {
                c.to_uppercase().collect()
            };
            out.push_str(&c);
            if dotted {
                out.push('.');
            }
        }
    }
    out
}

fn sex_like(source: &str, female: bool) -> String {
    let word = if source.chars().count() > 1 {
        if female {
            "female"
        } else {
            "male"
        }
    } else if female {
        "f"
    } else {
        "m"
    };
    let upper_all = source.chars().all(|c| !c.is_lowercase());
    let upper_first = source.chars().next().is_some_and(|c| c.is_uppercase());
    if upper_all {
        word.to_uppercase()
    } else if upper_first {
        let mut c = word.chars();
        let f = c
            .next()
            .map(|f| f.to_uppercase().collect::<String>())
            .unwrap_or_default();
        f + c.as_str()
    } else {
        word.to_string()
    }
}

/// Replace digits, keeping separators, a leading `+` and the first `keep_prefix` digits
/// (default: two after `+`, the trunk `0`, else none).
fn phone_like(v: &str, keep_prefix: Option<usize>, r: &mut Stream) -> String {
    let t = v.trim_start();
    let keep = keep_prefix.unwrap_or(if t.starts_with('+') {
        2
    } else if t.starts_with('0') {
        1
    } else {
        0
    });
    let mut seen = 0;
    v.chars()
        .map(|c| {
            if c.is_ascii_digit() {
                seen += 1;
                if seen <= keep {
                    c
                } else {
                    char::from(b'0' + r.below(10) as u8)
                }
            } else {
                c
            }
        })
        .collect()
}

/// Same shape: letters become letters of the same case, digits become digits.
fn shape_like(v: &str, r: &mut Stream) -> String {
    v.chars()
        .map(|c| {
            if c.is_ascii_digit() {
                char::from(b'0' + r.below(10) as u8)
            } else if c.is_uppercase() {
                char::from(b'A' + r.below(26) as u8)
            } else if c.is_lowercase() {
                char::from(b'a' + r.below(26) as u8)
            } else {
                c
            }
        })
        .collect()
}

/// Pseudo text of the same length: letters alternate consonants and vowels (so words stay
/// pronounceable), case, spaces and punctuation keep their places. Each digit (of any script)
/// becomes another ASCII digit, never itself, so a phone number or record number written in a
/// note keeps its shape but none of its digits; `keep_digits` leaves digits as they are.
fn lorem_like(v: &str, keep_digits: bool, r: &mut Stream) -> String {
    const C: &[u8] = b"bcdfghklmnprstvz";
    const V: &[u8] = b"aeiou";
    let mut vowel = false;
    v.chars()
        .map(|c| {
            if c.is_alphabetic() {
                let b = if vowel {
                    V[r.below(V.len())]
                } else {
                    C[r.below(C.len())]
                };
                vowel = !vowel;
                let ch = char::from(b);
                if c.is_uppercase() {
                    ch.to_ascii_uppercase()
                } else {
                    ch
                }
            } else if c.is_numeric() && !keep_digits {
                vowel = false;
                // Another digit than the source's: 1–9 steps on from it.
                let d = c.to_digit(10).unwrap_or(0) as usize;
                char::from(b'0' + ((d + 1 + r.below(9)) % 10) as u8)
            } else {
                vowel = false;
                c
            }
        })
        .collect()
}

/// Replace every whole-word, case-insensitive occurrence of a redaction source by its masked
/// counterpart. `pairs` are longest first so "Mary Ann" wins over "Mary".
pub fn redact_text(v: &str, pairs: &[(String, String)]) -> String {
    let mut out = v.to_string();
    for (src, masked) in pairs {
        if src.chars().count() < 2 {
            continue;
        }
        out = replace_word_ci(&out, src, masked);
    }
    out
}

fn replace_word_ci(hay: &str, needle: &str, with: &str) -> String {
    let lower_hay = hay.to_lowercase();
    let lower_needle = needle.to_lowercase();
    if lower_hay.len() != hay.len() || lower_needle.is_empty() {
        // Case folding changed byte lengths (rare scripts): fall back to an exact match.
        return replace_word_exact(hay, needle, with);
    }
    let mut out = String::with_capacity(hay.len());
    let mut last = 0;
    let mut from = 0;
    while let Some(pos) = lower_hay[from..].find(&lower_needle) {
        let start = from + pos;
        let end = start + lower_needle.len();
        let before_ok = hay[..start]
            .chars()
            .next_back()
            .is_none_or(|c| !c.is_alphanumeric());
        let after_ok = hay[end..]
            .chars()
            .next()
            .is_none_or(|c| !c.is_alphanumeric());
        if before_ok && after_ok {
            out.push_str(&hay[last..start]);
            out.push_str(with);
            last = end;
        }
        from = start
            + lower_needle[..]
                .chars()
                .next()
                .map(char::len_utf8)
                .unwrap_or(1);
    }
    out.push_str(&hay[last..]);
    out
}

fn replace_word_exact(hay: &str, needle: &str, with: &str) -> String {
    hay.replace(needle, with)
}

/// The most a column takes: characters (`varchar(n)`, `char(n)`) and bytes (`binary(n)`,
/// `varbinary(n)`, MariaDB's `tinytext`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit {
    pub chars: Option<usize>,
    pub bytes: Option<usize>,
}

impl Limit {
    /// The limit of a column of type `data_type`, `None` for types without one (`text`).
    pub fn of(data_type: &str) -> Option<Limit> {
        let t = data_type.trim().to_ascii_lowercase();
        let limit = if t.starts_with("tinytext") {
            Limit {
                chars: None,
                bytes: Some(255),
            }
        } else if t.starts_with("binary") || t.starts_with("varbinary") {
            Limit {
                chars: None,
                bytes: Some(paren_number(&t)?),
            }
        } else {
            Limit {
                chars: Some(char_length(&t)?),
                bytes: None,
            }
        };
        Some(limit)
    }

    /// The most characters of ASCII text the column takes.
    pub fn max(&self) -> usize {
        self.chars
            .unwrap_or(usize::MAX)
            .min(self.bytes.unwrap_or(usize::MAX))
    }

    pub fn fits(&self, s: &str) -> bool {
        self.bytes.is_none_or(|b| s.len() <= b)
            && self
                .chars
                .is_none_or(|c| s.len() <= c || s.chars().count() <= c)
    }

    /// Cut `s` to the limit, at a character boundary.
    pub fn cut(&self, s: &mut String) {
        if self.fits(s) {
            return;
        }
        let mut end = s.len();
        if let Some(c) = self.chars {
            end = s.char_indices().nth(c).map_or(end, |(i, _)| i);
        }
        if let Some(b) = self.bytes {
            end = end.min(b);
            while !s.is_char_boundary(end) {
                end -= 1;
            }
        }
        s.truncate(end);
    }
}

fn paren_number(t: &str) -> Option<usize> {
    let open = t.find('(')?;
    let close = t[open..].find(')')? + open;
    t[open + 1..close].trim().parse().ok().filter(|&n| n > 0)
}

/// The length `n` of a `varchar(n)`, `character varying(n)`, `char(n)` or `nvarchar(n)` type.
fn char_length(data_type: &str) -> Option<usize> {
    let t = data_type.to_ascii_lowercase();
    if !t.contains("char") || t.contains('[') {
        return None;
    }
    let open = t.find('(')?;
    let close = t[open..].find(')')? + open;
    t[open + 1..close].trim().parse().ok().filter(|&n| n > 0)
}

/// Parse `YYYY-MM-DD` at the start of `v`; returns the rest (a time part) unchanged.
pub fn parse_date(v: &str) -> Option<(i64, u32, u32, &str)> {
    let b = v.as_bytes();
    if b.len() < 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let y: i64 = v.get(0..4)?.parse().ok()?;
    let m: u32 = v.get(5..7)?.parse().ok()?;
    let d: u32 = v.get(8..10)?.parse().ok()?;
    if !(1..=12).contains(&m) || d == 0 || d > days_in_month(y, m) {
        return None;
    }
    Some((y, m, d, &v[10..]))
}

fn days_in_month(y: i64, m: u32) -> u32 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        _ => 28,
    }
}

/// Days since 1970-01-01 (proleptic Gregorian; Howard Hinnant's algorithm).
pub fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let mp = (m as i64 + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Inverse of [`days_from_civil`].
pub fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = if z >= 0 { z } else { z - 146_096 } / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cx<'a>(key: &'a RunKey, subject: Option<&'a str>) -> Cx<'a> {
        Cx {
            key,
            subject,
            names: &[],
            source: &[],
            masked: &[],
            redactions: &[],
            avoid: None,
            attempt: 0,
            memo: None,
            logins: None,
        }
    }

    #[test]
    fn varchar_lengths_are_read_from_the_type() {
        assert_eq!(char_length("varchar(64)"), Some(64));
        assert_eq!(char_length("character varying(32)"), Some(32));
        assert_eq!(char_length("CHAR(8)"), Some(8));
        assert_eq!(char_length("text"), None);
        assert_eq!(char_length("numeric(10,2)"), None);
        let t = parse_transformer(&toml::Value::String("username".into()))
            .unwrap()
            .fitted_to("varchar(12)")
            .unwrap();
        assert!(matches!(
            t,
            Transformer::Username {
                max_length: Some(12),
                ..
            }
        ));
    }

    #[test]
    fn usernames_follow_the_subjects_masked_names() {
        let key = RunKey::from_bytes(b"k");
        let t = parse_transformer(&toml::Value::String("username".into())).unwrap();
        let cx = cx(&key, Some("17"));
        let first = names::ascii_lower(
            &Transformer::FirstName
                .apply(Some("x"), &cx)
                .unwrap()
                .unwrap(),
        );
        let last = names::ascii_lower(
            &Transformer::LastName
                .apply(Some("x"), &cx)
                .unwrap()
                .unwrap(),
        );
        assert_eq!(
            t.apply(Some("a.svoboda"), &cx).unwrap().unwrap(),
            format!("{}.{last}", &first[..1])
        );
        assert_eq!(
            t.apply(Some("amelia.svoboda2"), &cx).unwrap().unwrap(),
            format!("{first}.{last}2")
        );
        assert_eq!(t.apply(None, &cx).unwrap(), None);
    }

    #[test]
    fn emails_are_shortened_names_first_and_keep_the_domain() {
        let tag = "3f9c01aa52d1e6b0".repeat(4);
        let d = "example.invalid";
        let f = |max| fitted_email("kelda", "vantermolen", &tag, d, max);
        assert_eq!(f(50), "kelda.vantermolen.3f9c01aa52d1e6b0@example.invalid");
        assert_eq!(f(40), "kelda.v.3f9c01aa52d1e6b0@example.invalid");
        assert_eq!(f(36), "k.v.3f9c01aa52d1e6b0@example.invalid");
        assert_eq!(f(33), "k.v.3f9c01aa52d1e@example.invalid");
        assert_eq!(f(30), "k.3f9c01aa52d1@example.invalid");
        assert_eq!(f(28), "3f9c01aa52d1@example.invalid");
    }

    #[test]
    fn civil_round_trip() {
        for z in [-800_000, -1, 0, 1, 10_957, 19_000, 2_932_896] {
            let (y, m, d) = civil_from_days(z);
            assert_eq!(days_from_civil(y, m, d), z);
        }
        assert_eq!(days_from_civil(2000, 1, 1), 10_957);
    }

    #[test]
    fn redaction_is_whole_word_and_case_insensitive() {
        let pairs = vec![("Ann".to_string(), "Vex".to_string())];
        assert_eq!(
            redact_text("ann met Anna and ANN.", &pairs),
            "Vex met Anna and Vex."
        );
    }

    #[test]
    fn dob_shift_is_nonzero_and_bounded() {
        let key = RunKey::from_bytes(b"k");
        let t = Transformer::DateOfBirth(DobMode::Shift(3));
        for s in 0..200 {
            let s = s.to_string();
            let out = t
                .apply(Some("1980-03-01"), &cx(&key, Some(&s)))
                .unwrap()
                .unwrap();
            let (y, m, d, _) = parse_date(&out).unwrap();
            let diff = days_from_civil(y, m, d) - days_from_civil(1980, 3, 1);
            assert!(diff != 0 && diff.abs() <= 3, "{diff}");
        }
    }

    #[test]
    fn json_paths_mask_only_named_nodes() {
        let key = RunKey::from_bytes(b"k");
        let t = parse_transformer(&toml::Value::Table(
            toml::from_str("transformer = 'json'\npaths = { '$.who.name' = 'null', '$.tags[*]' = { transformer = 'constant', value = 'x' } }").unwrap(),
        ))
        .unwrap();
        let out = t
            .apply(
                Some(r#"{"who":{"name":"Ann","age":3},"tags":["a","b"]}"#),
                &cx(&key, None),
            )
            .unwrap()
            .unwrap();
        assert_eq!(out, r#"{"tags":["x","x"],"who":{"age":3,"name":null}}"#);
    }
}
