//! The `array` transformer on PostgreSQL: each element of `text[]` and `varchar(n)[]` arrays
//! (several dimensions, NULL elements) masked by its spec, and the leak scan looking at each
//! element of the target's arrays.

use tokio_postgres::NoTls;
use valet_clone::{clone_database, CloneError, CloneOptions, Policy, RunKey};
use valet_testkit::TestDb;

const SCHEMA: &str = "
CREATE TABLE people (id int PRIMARY KEY, first_name text, nicks text[], pairs varchar(6)[][]);
INSERT INTO people
  SELECT g, 'Zo' || chr(65 + g % 26) || chr(65 + g / 26 % 26),
         ARRAY['Zo' || chr(65 + g % 26) || chr(65 + g / 26 % 26), NULL, 'Mary Jo ' || g],
         ARRAY[ARRAY['Ann', NULL], ARRAY['Bo' || g % 10, 'Cy']]::varchar(6)[][]
  FROM generate_series(1, 600) g;
UPDATE people SET nicks = '{}' WHERE id = 7;
UPDATE people SET nicks = NULL WHERE id = 8;
";

fn policy(nicks: &str) -> String {
    format!(
        r#"
[tables.people]
subject = "id"
[tables.people.columns]
id = "keep"
first_name = "first_name"
nicks = {nicks}
pairs = {{ transformer = "array", element = "full_name" }}
"#
    )
}

fn options(src: &TestDb, dst: &TestDb, policy: &str) -> CloneOptions {
    let mut o = CloneOptions::new(
        src.url.clone(),
        dst.url.clone(),
        Policy::from_toml_str(policy, "arrays.toml").unwrap(),
    );
    o.key = RunKey::from_bytes(b"array test key");
    o.jobs = 2;
    o
}

#[tokio::test]
async fn array_elements_are_masked_in_place_and_scanned() {
    let Some(src) = TestDb::postgres("arr_src").await else {
        return;
    };
    let dst = src.sibling("arr_dst").await;
    let (c, conn) = tokio_postgres::connect(&src.url, NoTls).await.unwrap();
    tokio::spawn(conn);
    c.batch_execute(SCHEMA).await.unwrap();

    // Kept, the arrays hold the first names: the leak scan finds them element by element.
    let e = clone_database(&options(&src, &dst, &policy("\"keep\"")))
        .await
        .unwrap_err();
    match &e {
        CloneError::Leak { summary, .. } => assert!(summary.contains("nicks"), "{e}"),
        other => panic!("expected a leak, got {other}"),
    }

    clone_database(&options(
        &src,
        &dst,
        &policy(r#"{ transformer = "array", element = "first_name" }"#),
    ))
    .await
    .expect("clone");
    let (d, conn) = tokio_postgres::connect(&dst.url, NoTls).await.unwrap();
    tokio::spawn(conn);
    let rows = d
        .query(
            "SELECT id, first_name, nicks, ARRAY(SELECT x::text FROM unnest(pairs) x), array_ndims(pairs), array_length(pairs, 2)
             FROM people ORDER BY id",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(rows.len(), 600);
    for r in rows {
        let id: i32 = r.get(0);
        let first: String = r.get(1);
        let nicks: Option<Vec<Option<String>>> = r.get(2);
        match id {
            7 => assert_eq!(nicks, Some(vec![])),
            8 => assert_eq!(nicks, None),
            _ => {
                let nicks = nicks.unwrap();
                assert_eq!(nicks.len(), 3);
                assert_eq!(
                    nicks[0].as_deref(),
                    Some(first.as_str()),
                    "same subject, same name"
                );
                assert_eq!(nicks[1], None, "NULL elements stay NULL");
                assert!(!nicks[2].as_deref().unwrap().starts_with("Mary"));
            }
        }
        let pairs: Vec<Option<String>> = r.get(3);
        assert_eq!(
            (r.get::<_, i32>(4), r.get::<_, i32>(5)),
            (2, 2),
            "shape kept"
        );
        assert_eq!(pairs[1], None);
        for p in pairs.iter().flatten() {
            assert!(p.chars().count() <= 6, "{p} fits varchar(6)");
            assert!(!["Ann", "Cy"].contains(&p.as_str()));
        }
    }
}
