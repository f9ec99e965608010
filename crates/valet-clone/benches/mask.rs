//! Masking the clinic `volunteers` table row by row, as the engines do:
//! `cargo bench -p valet-clone --bench mask`.
//!
//! Plans the table with the clinic policy's rules for it, indexes the identifying values of
//! N generated volunteers (the masked values are checked against them, as in a clone), then
//! masks every row and prints nanoseconds per row. Compare figures of one run only
//! (VOLUNTEERS=… changes the size).

use std::time::Instant;

use clinic::gen::model;
use valet_clone::leak::Collector;
use valet_clone::plan::{classify, Catalog, ColumnInfo, TableInfo};
use valet_clone::{Policy, RunKey};

fn main() {
    let volunteers: u64 = std::env::var("VOLUNTEERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200_000);
    let policy_path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../examples/clinic/policy.toml"
    );
    let mut doc: toml::Table = toml::from_str(&std::fs::read_to_string(policy_path).unwrap())
        .expect("the clinic policy is TOML");
    let tables = doc["tables"].as_table_mut().unwrap();
    tables.retain(|name, _| name == "volunteers");
    // The table's columns as the policy lists them.
    let columns: Vec<String> = tables["volunteers"]["columns"]
        .as_table()
        .expect("volunteers columns")
        .keys()
        .cloned()
        .collect();
    let policy = Policy::from_toml_str(&toml::to_string(&doc).unwrap(), "clinic policy")
        .expect("the clinic policy parses");
    let cat = Catalog {
        default_schema: "public".into(),
        tables: vec![TableInfo {
            schema: "public".into(),
            name: "volunteers".into(),
            columns: columns
                .iter()
                .map(|c| ColumnInfo {
                    name: c.to_string(),
                    data_type: "text".into(),
                    generated: false,
                    text_like: true,
                    type_oid: 0,
                    base_type: String::new(),
                })
                .collect(),
            partition_root: None,
            has_rows: true,
            estimated_rows: volunteers,
            int_pk: Some("id".into()),
        }],
    };
    let plan = classify(&policy, &cat).expect("every column is classified");
    let masker = plan.tables[0]
        .masker
        .clone()
        .expect("volunteers are masked");
    let key = RunKey::from_bytes(b"bench key");

    let rows: Vec<Vec<Option<String>>> = (1..=volunteers)
        .map(|id| {
            let v = model::volunteer(1, id, volunteers);
            let text = |c: &str| -> Option<String> {
                Some(match c {
                    "id" => v.id.to_string(),
                    "subject_no" => v.subject_no.clone(),
                    "first_name" => v.first_name.into(),
                    "last_name" => v.last_name.into(),
                    "initials" => v.initials.clone(),
                    "date_of_birth" => "1970-01-01".into(),
                    "sex" => v.sex.into(),
                    "email" => v.email.clone(),
                    "phone" => v.phone.clone(),
                    "address_line" => v.address_line.clone(),
                    "postcode" => v.postcode.clone(),
                    "city" => v.city.into(),
                    "country" => v.country.into(),
                    "notes" => return v.notes.clone(),
                    "created_at" => "2020-01-01 00:00:00".into(),
                    other => panic!("no generated value for volunteers.{other}"),
                })
            };
            masker.inputs.iter().map(|&i| text(&columns[i])).collect()
        })
        .collect();

    let mut c = Collector::default();
    for row in &rows {
        let src: Vec<Option<&str>> = row.iter().map(Option::as_deref).collect();
        masker.collect(&key, &src, &mut c);
    }
    let ix = c.into_index(&policy.leak_scan);

    let mut out = Vec::new();
    let mut bytes = 0usize;
    for pass in ["cold", "warm"] {
        let started = Instant::now();
        for row in &rows {
            let src: Vec<Option<&str>> = row.iter().map(Option::as_deref).collect();
            masker
                .mask(&key, &src, &mut out, Some(&ix))
                .expect("masking succeeds");
            bytes += out.iter().flatten().map(String::len).sum::<usize>();
        }
        println!(
            "mask volunteers ({pass}): {:.0} ns per row ({} masked columns, {volunteers} rows)",
            started.elapsed().as_nanos() as f64 / volunteers as f64,
            masker.masked.len()
        );
    }
    // Keeps the work observable.
    assert!(bytes > 0);
}
