//! Properties of every transformer: deterministic under key and subject, different under
//! another key, NULL stays NULL, and each keeps the shape its column needs.

use proptest::prelude::*;
use valet_clone::transform::{parse_date, parse_transformer, Cx, Limit, RowMemo, Transformer};
use valet_clone::RunKey;

fn t(spec: &str) -> Transformer {
    let v: toml::Value = if spec.starts_with('{') {
        toml::from_str::<toml::Table>(&format!("x = {spec}")).unwrap()["x"].clone()
    } else {
        toml::Value::String(spec.into())
    };
    parse_transformer(&v).unwrap()
}

fn apply(tr: &Transformer, key: &RunKey, subject: Option<&str>, v: Option<&str>) -> Option<String> {
    let cx = Cx {
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
    };
    tr.apply(v, &cx).unwrap()
}

const ALL: &[&str] = &[
    "null",
    "{ transformer = 'constant', value = 'X' }",
    "marker",
    "first_name",
    "last_name",
    "full_name",
    "initials",
    "{ transformer = 'date_of_birth', shift_days = 90 }",
    "{ transformer = 'date_of_birth', fixed = '1900-01-01' }",
    "sex",
    "email",
    "phone",
    "address",
    "{ transformer = 'address', part = 'postcode' }",
    "{ transformer = 'address', part = 'city' }",
    "free_text",
    "{ transformer = 'free_text', mode = 'redact' }",
    "hmac",
    "{ transformer = 'regex_replace', pattern = '[0-9]', replacement = '#' }",
    "{ transformer = 'json', paths = { '$.a' = 'email' } }",
    "{ transformer = 'array', element = 'email' }",
    "{ transformer = 'switch', on = 'f', cases = { e = 'email' }, default = 'null' }",
];

fn input_for(spec: &str, s: &str, day: u32) -> String {
    if spec.contains("date_of_birth") {
        format!(
            "19{:02}-{:02}-{:02}",
            30 + day % 60,
            1 + day % 12,
            1 + day % 28
        )
    } else if spec.contains("array") {
        format!(
            "{{{{\"{}\",NULL}},{{x,\"{}\"}}}}",
            s.replace(['"', '\\'], ""),
            s.len()
        )
    } else if spec.contains("json") {
        serde_json::json!({ "a": s, "b": 1 }).to_string()
    } else {
        s.to_string()
    }
}

proptest! {
    #[test]
    fn every_transformer_is_deterministic_and_keeps_null(
        s in "[A-Za-z0-9 .@+-]{1,30}", subject in "[0-9]{1,6}", day in 0u32..10_000
    ) {
        let k = RunKey::from_bytes(b"k1");
        for spec in ALL {
            let tr = t(spec);
            let v = input_for(spec, &s, day);
            let a = apply(&tr, &k, Some(&subject), Some(&v));
            let b = apply(&tr, &k, Some(&subject), Some(&v));
            prop_assert_eq!(&a, &b, "{}", spec);
            prop_assert_eq!(apply(&tr, &k, Some(&subject), None), None, "{}", spec);
        }
    }

    #[test]
    fn a_row_memo_changes_no_value(
        s in "[A-Za-z0-9 .@+-]{1,30}", subject in "[0-9]{1,6}", day in 0u32..10_000, attempt in 0u32..3
    ) {
        // Within a row, all transformers share one memo of seeds (as `TableMasker::mask`
        // does); each must give what it gives alone.
        let k = RunKey::from_bytes(b"k1");
        let memo = RowMemo::default();
        for spec in ALL.iter().chain(ALL) {
            let tr = t(spec);
            let v = input_for(spec, &s, day);
            let cx = Cx {
                key: &k,
                subject: Some(&subject),
                names: &[],
                source: &[],
                masked: &[],
                redactions: &[],
                avoid: None,
                attempt,
                memo: Some(&memo),
                logins: None,
            };
            let alone = Cx { memo: None, ..cx };
            prop_assert_eq!(tr.apply(Some(&v), &cx).unwrap(), tr.apply(Some(&v), &alone).unwrap(), "{}", spec);
        }
    }

    #[test]
    fn another_key_gives_other_values(subject in "[0-9]{1,6}", s in "[a-z]{4,12}@[a-z]{3,8}\\.org") {
        let (k1, k2) = (RunKey::from_bytes(b"k1"), RunKey::from_bytes(b"k2"));
        let tr = t("email");
        prop_assert_ne!(apply(&tr, &k1, Some(&subject), Some(&s)), apply(&tr, &k2, Some(&subject), Some(&s)));
        let h = t("hmac");
        prop_assert_ne!(apply(&h, &k1, None, Some(&s)), apply(&h, &k2, None, Some(&s)));
    }

    #[test]
    fn names_depend_on_subject_not_value(subject in "[0-9]{1,6}", a in "[A-Z][a-z]{2,9}", b in "[A-Z][a-z]{2,9}") {
        let k = RunKey::from_bytes(b"k");
        for spec in ["first_name", "last_name", "full_name"] {
            let tr = t(spec);
            let x = apply(&tr, &k, Some(&subject), Some(&a)).unwrap();
            prop_assert_eq!(Some(x.clone()), apply(&tr, &k, Some(&subject), Some(&b)));
            prop_assert_ne!(&x, &a);
        }
        let first = apply(&t("first_name"), &k, Some(&subject), Some(&a)).unwrap();
        let last = apply(&t("last_name"), &k, Some(&subject), Some(&b)).unwrap();
        prop_assert_eq!(apply(&t("full_name"), &k, Some(&subject), Some("x")).unwrap(), format!("{first} {last}"));
        let initials = apply(&t("initials"), &k, Some(&subject), Some("AB")).unwrap();
        prop_assert_eq!(initials, format!("{}{}", &first[..1], &last[..1]));
        let dotted = apply(&t("initials"), &k, Some(&subject), Some("A.B.")).unwrap();
        prop_assert_eq!(dotted, format!("{}.{}.", &first[..1], &last[..1]));
    }

    #[test]
    fn emails_are_unique_per_value_and_invalid_domain(subject in "[0-9]{1,6}", a in "[a-z]{1,10}@x\\.com", b in "[a-z]{1,10}@y\\.com") {
        let k = RunKey::from_bytes(b"k");
        let tr = t("email");
        let x = apply(&tr, &k, Some(&subject), Some(&a)).unwrap();
        let y = apply(&tr, &k, Some(&subject), Some(&b)).unwrap();
        prop_assert_ne!(&x, &y);
        prop_assert!(x.ends_with("@example.invalid"));
        prop_assert_eq!(Some(x), apply(&tr, &k, Some(&subject), Some(&a.to_uppercase())), "case-insensitive");
    }

    #[test]
    fn phone_keeps_format_and_prefix(p in "\\+[1-9][0-9] [0-9]{2,4} [0-9]{3,4}-[0-9]{4}") {
        let k = RunKey::from_bytes(b"k");
        let out = apply(&t("phone"), &k, Some("1"), Some(&p)).unwrap();
        prop_assert_eq!(out.len(), p.len());
        prop_assert_eq!(&out[..3], &p[..3]);
        for (a, b) in out.chars().zip(p.chars()) {
            prop_assert_eq!(a.is_ascii_digit(), b.is_ascii_digit());
            if !b.is_ascii_digit() { prop_assert_eq!(a, b); }
        }
    }

    #[test]
    fn dob_shift_stays_within_bounds(subject in "[0-9]{1,6}", day in 0u32..20_000) {
        let k = RunKey::from_bytes(b"k");
        let v = input_for("date_of_birth", "", day);
        let out = apply(&t("{ transformer = 'date_of_birth', shift_days = 90 }"), &k, Some(&subject), Some(&v)).unwrap();
        let (y, m, d, rest) = parse_date(&out).unwrap();
        let (y0, m0, d0, _) = parse_date(&v).unwrap();
        let diff = valet_clone::transform::days_from_civil(y, m, d) - valet_clone::transform::days_from_civil(y0, m0, d0);
        prop_assert!(diff != 0 && diff.abs() <= 90);
        prop_assert_eq!(rest, "");
    }

    #[test]
    fn free_text_keeps_length_and_layout(s in "[A-Za-z0-9 ,.]{0,80}") {
        let k = RunKey::from_bytes(b"k");
        let out = apply(&t("free_text"), &k, None, Some(&s)).unwrap();
        prop_assert_eq!(out.chars().count(), s.chars().count());
        for (a, b) in out.chars().zip(s.chars()) {
            prop_assert_eq!(a.is_alphabetic(), b.is_alphabetic());
            prop_assert_eq!(a.is_whitespace(), b.is_whitespace());
        }
    }

    #[test]
    fn lorem_replaces_every_digit_in_its_place(s in "[A-Za-z ]{0,10}[0-9][0-9 +()/.-]{0,20}[A-Za-z ]{0,10}") {
        let k = RunKey::from_bytes(b"k");
        let out = apply(&t("free_text"), &k, Some("3"), Some(&s)).unwrap();
        prop_assert_eq!(out.chars().count(), s.chars().count());
        for (a, b) in out.chars().zip(s.chars()) {
            prop_assert_eq!(a.is_ascii_digit(), b.is_ascii_digit(), "{} -> {}", s, out);
            if b.is_ascii_digit() { prop_assert_ne!(a, b, "{} -> {}", s, out); }
            if !b.is_alphanumeric() { prop_assert_eq!(a, b); }
        }
        let kept = apply(&t("{ transformer = 'free_text', keep_digits = true }"), &k, Some("3"), Some(&s)).unwrap();
        for (a, b) in kept.chars().zip(s.chars()) {
            if b.is_ascii_digit() { prop_assert_eq!(a, b); }
        }
    }

    #[test]
    fn emails_fit_their_column_stay_valid_and_distinct(
        subject in "[0-9]{1,6}", a in "[a-z]{1,10}@x\\.com", b in "[a-z]{1,10}@y\\.com", max in 28usize..70
    ) {
        let k = RunKey::from_bytes(b"k");
        let tr = t("email").fitted_to(&format!("varchar({max})")).unwrap();
        let addr = regex::Regex::new(r"^[a-z0-9]+(\.[a-z0-9]+)*@example\.invalid$").unwrap();
        let x = apply(&tr, &k, Some(&subject), Some(&a)).unwrap();
        let y = apply(&tr, &k, Some(&subject), Some(&b)).unwrap();
        prop_assert!(x.len() <= max && y.len() <= max, "{} {} {}", x, y, max);
        prop_assert!(addr.is_match(&x), "{}", x);
        prop_assert_ne!(&x, &y);
        let unlimited = apply(&t("email"), &k, Some(&subject), Some(&a)).unwrap();
        if unlimited.len() <= max {
            prop_assert_eq!(x, unlimited, "an address that fits is left whole");
        }
    }

    #[test]
    fn cut_values_fit_characters_and_bytes(s in "\\PC{0,40}", n in 1usize..20) {
        let mut c = s.clone();
        let chars = Limit::of(&format!("character varying({n})")).unwrap();
        chars.cut(&mut c);
        prop_assert!(c.chars().count() <= n && s.starts_with(&c));
        let mut b = s.clone();
        let bytes = Limit::of(&format!("varbinary({n})")).unwrap();
        bytes.cut(&mut b);
        prop_assert!(b.len() <= n && s.starts_with(&b));
    }

    #[test]
    fn sex_shuffle_keeps_the_vocabulary(subject in "[0-9]{1,6}", v in prop::sample::select(vec!["F", "M", "female", "Male"])) {
        let k = RunKey::from_bytes(b"k");
        let out = apply(&t("sex"), &k, Some(&subject), Some(v)).unwrap();
        let allowed: &[&str] = match v { "F" | "M" => &["F", "M"], "female" => &["female", "male"], _ => &["Female", "Male"] };
        prop_assert!(allowed.contains(&out.as_str()), "{} -> {}", v, out);
    }

    #[test]
    fn hmac_is_fixed_length_hex(s in ".{0,40}") {
        let k = RunKey::from_bytes(b"k");
        let out = apply(&t("{ transformer = 'hmac', length = 24 }"), &k, Some("9"), Some(&s)).unwrap();
        prop_assert_eq!(out.len(), 24);
        prop_assert!(out.chars().all(|c| c.is_ascii_hexdigit()));
        prop_assert_eq!(Some(out), apply(&t("{ transformer = 'hmac', length = 24 }"), &k, Some("other subject"), Some(&s)), "hmac ignores the subject so it joins");
    }

    #[test]
    fn postcode_and_regex_keep_shape(pc in "[A-Z]{1,2}[0-9]{1,2} [0-9][A-Z]{2}") {
        let k = RunKey::from_bytes(b"k");
        let out = apply(&t("{ transformer = 'address', part = 'postcode' }"), &k, Some("1"), Some(&pc)).unwrap();
        prop_assert_eq!(out.len(), pc.len());
        for (a, b) in out.chars().zip(pc.chars()) {
            prop_assert_eq!(a.is_ascii_digit(), b.is_ascii_digit());
            prop_assert_eq!(a.is_ascii_uppercase(), b.is_ascii_uppercase());
        }
        let r = apply(&t("{ transformer = 'regex_replace', pattern = '[0-9]', replacement = '#' }"), &k, None, Some(&pc)).unwrap();
        prop_assert!(!r.chars().any(|c| c.is_ascii_digit()));
    }
}

#[test]
fn lorem_masks_numbers_written_in_notes() {
    let k = RunKey::from_bytes(b"k");
    let note = "Call 06-1234 5678 re MRN ٤٥٦ (born 1961)";
    let out = apply(&t("free_text"), &k, None, Some(note)).unwrap();
    assert_eq!(out.chars().count(), note.chars().count());
    assert!(!out.contains("1234") && !out.contains("5678") && !out.contains("1961"));
    assert!(
        !out.contains('٤'),
        "digits of other scripts are replaced: {out}"
    );
    let e = parse_transformer(
        &toml::from_str::<toml::Table>(
            "x = { transformer = 'free_text', mode = 'redact', keep_digits = true }",
        )
        .unwrap()["x"],
    )
    .unwrap_err();
    assert!(e.contains("keep_digits"), "{e}");
}

#[test]
fn values_that_cannot_fit_are_refused_with_the_fix() {
    let e = t("email").fitted_to("varchar(27)").unwrap_err();
    assert!(
        e.contains("at least 28") && e.contains("widen the column"),
        "{e}"
    );
    assert!(t("{ transformer = 'email', domain = 'x.io' }")
        .fitted_to("varchar(17)")
        .is_ok());
    let e = t("hmac").fitted_to("char(7)").unwrap_err();
    assert!(e.contains("at least 8"), "{e}");
    assert!(matches!(
        t("hmac").fitted_to("char(10)").unwrap(),
        Transformer::Hmac { length: 10 }
    ));
    let e = t("marker").fitted_to("varchar(3)").unwrap_err();
    assert!(e.contains("shorter `value`"), "{e}");
    assert!(t("full_name").fitted_to("text").is_ok());
    assert_eq!(Limit::of("text[]"), None);
    assert_eq!(Limit::of("character varying(40)[]"), None);
}

#[test]
fn constant_marker_and_null() {
    let k = RunKey::from_bytes(b"k");
    assert_eq!(
        apply(&t("marker"), &k, None, Some("Ann")),
        Some("DELETED".into())
    );
    assert_eq!(
        apply(
            &t("{ transformer = 'constant', value = '1900-01-01' }"),
            &k,
            None,
            Some("x")
        ),
        Some("1900-01-01".into())
    );
    assert_eq!(apply(&t("null"), &k, None, Some("x")), None);
    assert_eq!(
        apply(
            &t("{ transformer = 'date_of_birth', fixed = '1900-01-01' }"),
            &k,
            Some("1"),
            Some("1971-02-03")
        ),
        Some("1900-01-01".into())
    );
}

#[test]
fn switch_picks_the_case_by_the_other_column() {
    let k = RunKey::from_bytes(b"k");
    let tr = t("{ transformer = 'switch', on = 'f', cases = { e = 'email' }, default = 'null' }");
    let names = ["f".to_string()];
    let apply_with = |f: &str| {
        let source = [Some(f)];
        let cx = Cx {
            key: &k,
            subject: Some("1"),
            names: &names,
            source: &source,
            masked: &[None],
            redactions: &[],
            avoid: None,
            attempt: 0,
            memo: None,
            logins: None,
        };
        tr.apply(Some("a@b.org"), &cx).unwrap()
    };
    assert!(apply_with("e").unwrap().ends_with("@example.invalid"));
    assert_eq!(apply_with("other"), None);
}

#[test]
fn a_masked_value_equal_to_a_real_source_value_is_drawn_again() {
    let k = RunKey::from_bytes(b"k");
    let first = apply(&t("first_name"), &k, Some("7"), Some("Ann")).unwrap();
    let phone = apply(&t("phone"), &k, Some("7"), Some("+44 20 7946 0001")).unwrap();
    let mut c = valet_clone::leak::Collector::default();
    c.add(0, &first);
    c.add(0, &phone);
    let index = c.into_index(&valet_clone::LeakScanSettings::default());
    let with_avoid = |spec: &str, v: &str| {
        let cx = Cx {
            key: &k,
            subject: Some("7"),
            names: &[],
            source: &[],
            masked: &[],
            redactions: &[],
            avoid: Some(&index),
            attempt: 0,
            memo: None,
            logins: None,
        };
        t(spec).apply(Some(v), &cx).unwrap().unwrap()
    };
    let first2 = with_avoid("first_name", "Ann");
    assert_ne!(first2, first);
    assert_eq!(
        first2,
        with_avoid("first_name", "Ann"),
        "still deterministic"
    );
    assert!(with_avoid("full_name", "Ann X").starts_with(&format!("{first2} ")));
    assert_ne!(with_avoid("phone", "+44 20 7946 0001"), phone);
}
