//! `valet policy suggest`: a first policy from column names and sampled values. The output is
//! a starting point a person reviews; each line says why it was chosen.

use regex::Regex;
use std::sync::OnceLock;

use crate::plan::{policy_table_key, Catalog};

fn email_re() -> &'static Regex {
    static R: OnceLock<Regex> = OnceLock::new();
    R.get_or_init(|| Regex::new(r"^[^@\s]+@[^@\s]+\.[A-Za-z]{2,}$").expect("valid regex"))
}

fn phone_re() -> &'static Regex {
    static R: OnceLock<Regex> = OnceLock::new();
    R.get_or_init(|| Regex::new(r"^\+?[\d\s().-]{7,20}$").expect("valid regex"))
}

fn date_re() -> &'static Regex {
    static R: OnceLock<Regex> = OnceLock::new();
    R.get_or_init(|| Regex::new(r"^\d{4}-\d{2}-\d{2}").expect("valid regex"))
}

fn has(n: &str, words: &[&str]) -> bool {
    words.iter().any(|w| n.contains(w))
}

/// Suggest a transformer spec (TOML value) for one column, with the reason.
pub fn suggest_for_column(name: &str, data_type: &str, sample: Option<&str>) -> (String, String) {
    let n = name.to_lowercase();
    let t = data_type.to_lowercase();
    let q = |s: &str| format!("\"{s}\"");
    let by_name = |why: &str| format!("column name looks like {why}");
    if n == "id" || n.ends_with("_id") || n.ends_with("id") && n.len() <= 4 {
        return (q("keep"), "key column".into());
    }
    if has(&n, &["first_name", "firstname", "given_name", "forename"]) {
        return (q("first_name"), by_name("a first name"));
    }
    if has(&n, &["last_name", "lastname", "surname", "family_name"]) {
        return (q("last_name"), by_name("a last name"));
    }
    if has(&n, &["full_name", "fullname", "display_name"]) || n == "name" && t.contains("char") {
        return (q("full_name"), by_name("a person's name"));
    }
    if n == "initials" || n.ends_with("_initials") {
        return (q("initials"), by_name("initials"));
    }
    if has(&n, &["birth", "dob"]) {
        return (
            "{ transformer = \"date_of_birth\", shift_days = 180 }".into(),
            by_name("a date of birth"),
        );
    }
    if n == "sex" || n == "gender" {
        return (q("sex"), by_name("sex"));
    }
    if has(&n, &["email", "e_mail", "mail_address"]) {
        return (q("email"), by_name("an e-mail address"));
    }
    if has(&n, &["phone", "mobile", "fax", "tel"]) {
        return (q("phone"), by_name("a phone number"));
    }
    if has(&n, &["postcode", "postal_code", "zip"]) {
        return (
            "{ transformer = \"address\", part = \"postcode\" }".into(),
            by_name("a postcode"),
        );
    }
    if n == "city" || n == "town" {
        return (
            "{ transformer = \"address\", part = \"city\" }".into(),
            by_name("a town"),
        );
    }
    if has(&n, &["address", "street"]) {
        return (
            "{ transformer = \"address\", part = \"line\" }".into(),
            by_name("an address"),
        );
    }
    if has(
        &n,
        &["ssn", "national_id", "passport", "insurance_no", "nhs"],
    ) {
        return (
            "{ transformer = \"hmac\", length = 16 }".into(),
            by_name("an identifier of a person"),
        );
    }
    if has(
        &n,
        &[
            "note",
            "comment",
            "remark",
            "description",
            "old_value",
            "new_value",
        ],
    ) {
        return (
            "{ transformer = \"free_text\", mode = \"lorem\" }".into(),
            by_name("free text that may mention people"),
        );
    }
    if let Some(s) = sample {
        let s = s.trim();
        if email_re().is_match(s) {
            return (
                q("email"),
                "sampled values look like e-mail addresses".into(),
            );
        }
        if phone_re().is_match(s)
            && s.chars().filter(|c| c.is_ascii_digit()).count() >= 7
            && !date_re().is_match(s)
        {
            return (q("phone"), "sampled values look like phone numbers".into());
        }
        if s.len() > 40 && s.contains(' ') && (t.contains("text") || t.contains("char")) {
            return (
                "{ transformer = \"free_text\", mode = \"lorem\" }".into(),
                "sampled values are free text".into(),
            );
        }
    }
    (
        q("keep"),
        "no PII pattern found in name or values: confirm".into(),
    )
}

/// A whole policy for a catalog; `sample(table_index, column_index)` gives one sampled value.
pub fn suggest_policy(cat: &Catalog, sample: &dyn Fn(usize, usize) -> Option<String>) -> String {
    let mut out = String::from(
        "# Masking policy suggested by `valet policy suggest`. Review every line: the clone\n\
         # refuses to run until every column is classified, and a wrong \"keep\" leaks PII.\n\
         version = 1\n\n",
    );
    for (ti, t) in cat.tables.iter().enumerate() {
        if t.partition_root.is_some() {
            continue;
        }
        let key = policy_table_key(&t.schema, &t.name, &cat.default_schema);
        let qkey = if key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        {
            key
        } else {
            format!("\"{}\"", key.replace('\\', "\\\\").replace('"', "\\\""))
        };
        out.push_str(&format!("[tables.{qkey}]\n"));
        let pk = t.columns.iter().find(|c| c.name == "id");
        let person = t.columns.iter().any(|c| {
            let n = c.name.to_lowercase();
            has(
                &n,
                &["first_name", "last_name", "email", "birth", "full_name"],
            )
        });
        let subject_col = t
            .columns
            .iter()
            .find(|c| {
                c.name.ends_with("volunteer_id")
                    || c.name.ends_with("subject_id")
                    || c.name.ends_with("person_id")
            })
            .or(if person { pk } else { None });
        if let Some(s) = subject_col {
            out.push_str(&format!("subject = \"{}\"\n", s.name));
        }
        out.push_str(&format!("[tables.{qkey}.columns]\n"));
        for (ci, c) in t.columns.iter().enumerate() {
            if c.generated {
                out.push_str(&format!(
                    "# {} is generated by the database: recomputed, not copied\n",
                    c.name
                ));
                continue;
            }
            let sample = sample(ti, ci);
            let (spec, why) = suggest_for_column(&c.name, &c.data_type, sample.as_deref());
            let name = if c
                .name
                .chars()
                .all(|x| x.is_ascii_alphanumeric() || x == '_' || x == '-')
            {
                c.name.clone()
            } else {
                format!("\"{}\"", c.name.replace('\\', "\\\\").replace('"', "\\\""))
            };
            out.push_str(&format!("{name} = {spec}  # {why}\n"));
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_samples_drive_suggestions() {
        assert_eq!(
            suggest_for_column("first_name", "text", None).0,
            "\"first_name\""
        );
        assert_eq!(
            suggest_for_column("contact", "text", Some("a.b@c.org")).0,
            "\"email\""
        );
        assert_eq!(
            suggest_for_column("volunteer_id", "bigint", None).0,
            "\"keep\""
        );
        assert!(suggest_for_column("date_of_birth", "date", None)
            .0
            .contains("date_of_birth"));
    }
}
