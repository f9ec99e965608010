//! `policy suggest` against schemas with known answers: no bare `keep` on a column that holds
//! personal data, `review` where it has no evidence (and the clone refuses until each is
//! decided), and recall and precision over the personal-data columns, printed.
//!
//! `cargo test -p valet-clone --test suggest -- --nocapture` prints the figures.

use std::collections::BTreeMap;

use clinic::gen::{generate, GenOptions};
use valet_clone::{clone_database, suggest_policy, CloneError, CloneOptions, Policy};
use valet_testkit::TestDb;

/// Column → spec (as TOML text) of a policy file, `table.column` keyed.
fn specs(policy: &str) -> BTreeMap<String, String> {
    let doc: toml::Table = toml::from_str(policy).expect("policy is TOML");
    let mut out = BTreeMap::new();
    for (t, v) in doc["tables"].as_table().unwrap() {
        let Some(cols) = v.get("columns").and_then(|c| c.as_table()) else {
            continue;
        };
        for (c, spec) in cols {
            let name = match spec {
                toml::Value::String(s) => s.clone(),
                toml::Value::Table(t) => t["transformer"].as_str().unwrap().to_string(),
                _ => unreachable!(),
            };
            out.insert(format!("{t}.{c}"), name);
        }
    }
    out
}

/// Recall and precision of the suggested masking over the truth's personal-data columns (a
/// column is personal when the truth does not keep it).
struct Score {
    pii: usize,
    masked_pii: usize,
    review_pii: usize,
    masked: usize,
    kept_pii: Vec<String>,
    false_masked: Vec<String>,
}

fn score(truth: &BTreeMap<String, String>, suggested: &BTreeMap<String, String>) -> Score {
    let mut s = Score {
        pii: 0,
        masked_pii: 0,
        review_pii: 0,
        masked: 0,
        kept_pii: Vec::new(),
        false_masked: Vec::new(),
    };
    for (col, got) in suggested {
        let Some(want) = truth.get(col) else { continue };
        let pii = want != "keep";
        let masks = got != "keep" && got != "review";
        s.pii += usize::from(pii);
        s.masked += usize::from(masks);
        if pii && masks {
            s.masked_pii += 1;
        }
        if pii && got == "review" {
            s.review_pii += 1;
        }
        if pii && got == "keep" {
            s.kept_pii.push(col.clone());
        }
        if !pii && masks {
            s.false_masked.push(format!("{col} ({got})"));
        }
    }
    s
}

#[tokio::test]
async fn clinic_suggestion_keeps_no_personal_data_and_reviews_the_unknown() {
    let src = TestDb::sqlite("suggest_clinic");
    generate(
        &src.url,
        &GenOptions {
            volunteers: 300,
            events: 2000,
            seed: 11,
            release: None,
        },
    )
    .await
    .unwrap();
    let text = suggest_policy(&src.url).await.expect("suggest");
    if std::env::var_os("SHOW_POLICY").is_some() {
        println!("{text}");
    }
    let truth_text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../examples/clinic/policy.toml"
    ))
    .unwrap();
    let truth = specs(&truth_text);
    let got = specs(&text);
    let s = score(&truth, &got);
    let recall = (s.masked_pii + s.review_pii) as f64 / s.pii as f64;
    let masked_recall = s.masked_pii as f64 / s.pii as f64;
    let precision = s.masked_pii as f64 / s.masked.max(1) as f64;
    println!(
        "clinic: {} personal-data columns; masked {} and reviewed {} (recall {:.1} %, {:.1} % \
         masked without review); precision {:.1} % ({} masked columns); kept: {:?}; masked \
         but not personal: {:?}",
        s.pii,
        s.masked_pii,
        s.review_pii,
        recall * 100.0,
        masked_recall * 100.0,
        precision * 100.0,
        s.masked,
        s.kept_pii,
        s.false_masked
    );
    assert!(s.kept_pii.is_empty(), "bare keep on personal data:\n{text}");
    assert!(recall >= 0.95, "{text}");

    // The clone refuses while any column says "review", listing each with its reason.
    let policy = Policy::from_toml_str(&text, "suggested.toml").expect("the suggestion parses");
    let dst = TestDb::sqlite("suggest_never");
    let mut o = CloneOptions::new(src.url.clone(), dst.url.clone(), policy);
    o.check = true;
    let reviews = got.values().filter(|v| *v == "review").count();
    if reviews > 0 {
        match clone_database(&o).await {
            Err(CloneError::Review { count, list }) => {
                assert_eq!(count, reviews, "{list}");
                assert!(list.contains("suggested.toml:"), "{list}");
            }
            other => panic!("expected a refusal, got {:?}", other.map(|_| ())),
        }
    }
    // Resolved (each review decided as the clinic's own policy does), it clones.
    let resolved: String = text
        .lines()
        .map(|l| {
            if !l.contains("transformer = \"review\"") {
                return l.to_string();
            }
            let col = l.split(" = ").next().unwrap().trim();
            format!("{col} = \"null\"")
        })
        .collect::<Vec<_>>()
        .join("\n");
    o.policy = Policy::from_toml_str(&resolved, "resolved.toml").expect("resolved parses");
    match clone_database(&o).await {
        Ok(r) => assert!(r.check_only),
        Err(e) => panic!("{e}\n{resolved}"),
    }
}
