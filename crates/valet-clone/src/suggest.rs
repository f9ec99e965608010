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

/// A login built from a name: `a.svoboda`, `amelia_svoboda2`, `svoboda-a`.
fn login_re() -> &'static Regex {
    static R: OnceLock<Regex> = OnceLock::new();
    R.get_or_init(|| Regex::new(r"^\p{L}+([._-]\p{L}+)+\d*$").expect("valid regex"))
}

/// Whether a column name says it holds logins.
fn is_login(n: &str) -> bool {
    matches!(
        n,
        "username" | "user_name" | "login" | "login_name" | "account_name"
    ) || n.ends_with("_username")
        || n.ends_with("_login")
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
    if is_login(&n) {
        return (
            q("username"),
            by_name("a login, usually built from the person's names"),
        );
    }
    if (n.ends_with("_by") || n == "owner" || n.ends_with("_owner"))
        && sample.is_some_and(|s| login_re().is_match(s.trim()))
    {
        return (
            format!("{{ transformer = \"username\", subject = \"{name}\" }}"),
            "sampled values look like logins built from names; make the login the subject of \
             the users' table too, so both mask alike"
                .into(),
        );
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
        // A person's login names the person in other tables too: it is the subject.
        let login = t
            .columns
            .iter()
            .find(|c| person && !c.generated && is_login(&c.name.to_lowercase()));
        let subject_col = t
            .columns
            .iter()
            .find(|c| {
                c.name.ends_with("volunteer_id")
                    || c.name.ends_with("subject_id")
                    || c.name.ends_with("person_id")
            })
            .or(login)
            .or(if person { pk } else { None });
        // The person's name columns, to read the logins' pattern by.
        let name_of = |words: &[&str]| {
            t.columns
                .iter()
                .find(|c| has(&c.name.to_lowercase(), words))
                .map(|c| format!("\"{}\"", c.name))
        };
        let login_from = match (
            name_of(&["first_name", "firstname", "given_name"]),
            name_of(&["last_name", "lastname", "surname", "family_name"]),
            name_of(&["full_name", "fullname", "display_name"]),
        ) {
            (Some(f), Some(l), _) => Some(format!("{f}, {l}")),
            (_, _, Some(n)) => Some(n),
            _ => None,
        };
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
            let (mut spec, why) = suggest_for_column(&c.name, &c.data_type, sample.as_deref());
            if spec == "\"username\"" {
                if let Some(from) = &login_from {
                    spec = format!("{{ transformer = \"username\", from = [{from}] }}");
                }
            }
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

    #[test]
    fn logins_of_people_are_masked_by_username() {
        assert_eq!(
            suggest_for_column("username", "varchar(64)", Some("a.svoboda")).0,
            "\"username\""
        );
        assert_eq!(
            suggest_for_column("changed_by", "varchar(64)", Some("a.svoboda2")).0,
            "{ transformer = \"username\", subject = \"changed_by\" }"
        );
        assert_eq!(
            suggest_for_column("changed_by", "varchar(64)", Some("system")).0,
            "\"keep\""
        );
        let column = |name: &str| crate::plan::ColumnInfo {
            name: name.into(),
            data_type: "varchar(64)".into(),
            generated: false,
            text_like: true,
            type_oid: 0,
            base_type: String::new(),
        };
        let cat = Catalog {
            default_schema: "main".into(),
            tables: vec![crate::plan::TableInfo {
                schema: "main".into(),
                name: "staff".into(),
                columns: vec![column("id"), column("username"), column("full_name")],
                partition_root: None,
                has_rows: true,
                estimated_rows: 1,
                int_pk: None,
            }],
        };
        let policy = suggest_policy(&cat, &|_, _| None);
        assert!(policy.contains("subject = \"username\"\n"), "{policy}");
        assert!(
            policy.contains("username = { transformer = \"username\", from = [\"full_name\"] }"),
            "{policy}"
        );
        crate::Policy::from_toml_str(&policy, "suggested").expect("a valid policy");
    }
}
