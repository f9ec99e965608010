//! `policy suggest` against schemas with known answers: no bare `keep` on a column that holds
//! personal data, `review` where it has no evidence (and the clone refuses until each is
//! decided), and recall and precision over the personal-data columns, printed.
//!
//! `cargo test -p valet-clone --test suggest -- --nocapture` prints the figures.

mod adversarial;

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
            // `"schema"."table"` and `schema.table` name the same table.
            out.insert(format!("{}.{c}", t.replace('"', "")), name);
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

/// The policy with every `review` decided as `null`.
fn resolve(text: &str) -> String {
    text.lines()
        .map(|l| {
            if !l.contains("transformer = \"review\"") {
                return l.to_string();
            }
            let col = l.split(" = ").next().unwrap().trim();
            format!("{col} = \"null\"")
        })
        .collect::<Vec<_>>()
        .join("\n")
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
    // Resolved (each review decided: here, masked with `null`), it clones.
    let resolved = resolve(&text);
    o.policy = Policy::from_toml_str(&resolved, "resolved.toml").expect("resolved parses");
    match clone_database(&o).await {
        Ok(r) => assert!(r.check_only),
        Err(e) => panic!("{e}\n{resolved}"),
    }
}

/// A subset of Sakila (MySQL's sample database, BSD licence) with generated people: actors,
/// customers and staff with names, e-mail addresses, logins, password hashes and photos;
/// addresses; and reference data (cities, countries, languages, categories, films).
const SAKILA: &[&str] = &[
    "CREATE TABLE country (country_id SMALLINT PRIMARY KEY, country VARCHAR(50) NOT NULL, last_update TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP)",
    "CREATE TABLE city (city_id SMALLINT PRIMARY KEY, city VARCHAR(50) NOT NULL, country_id SMALLINT NOT NULL, last_update TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP)",
    "CREATE TABLE address (address_id SMALLINT PRIMARY KEY, address VARCHAR(50) NOT NULL, address2 VARCHAR(50), district VARCHAR(20) NOT NULL, city_id SMALLINT NOT NULL, postal_code VARCHAR(10), phone VARCHAR(20) NOT NULL, last_update TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP)",
    "CREATE TABLE language (language_id TINYINT PRIMARY KEY, name CHAR(20) NOT NULL, last_update TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP)",
    "CREATE TABLE category (category_id TINYINT PRIMARY KEY, name VARCHAR(25) NOT NULL, last_update TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP)",
    "CREATE TABLE actor (actor_id SMALLINT PRIMARY KEY, first_name VARCHAR(45) NOT NULL, last_name VARCHAR(45) NOT NULL, last_update TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP)",
    "CREATE TABLE film (film_id SMALLINT PRIMARY KEY, title VARCHAR(128) NOT NULL, description TEXT, release_year YEAR, language_id TINYINT NOT NULL, rental_rate DECIMAL(4,2) NOT NULL, length SMALLINT, rating ENUM('G','PG','PG-13','R','NC-17') DEFAULT 'G', special_features SET('Trailers','Commentaries','Deleted Scenes','Behind the Scenes'), last_update TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP)",
    "CREATE TABLE film_category (film_id SMALLINT NOT NULL, category_id TINYINT NOT NULL, last_update TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP, PRIMARY KEY (film_id, category_id))",
    "CREATE TABLE staff (staff_id TINYINT PRIMARY KEY, first_name VARCHAR(45) NOT NULL, last_name VARCHAR(45) NOT NULL, address_id SMALLINT NOT NULL, picture BLOB, email VARCHAR(50), store_id TINYINT NOT NULL, active BOOLEAN NOT NULL DEFAULT TRUE, username VARCHAR(16) NOT NULL, password VARCHAR(40), last_update TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP)",
    "CREATE TABLE customer (customer_id SMALLINT PRIMARY KEY, store_id TINYINT NOT NULL, first_name VARCHAR(45) NOT NULL, last_name VARCHAR(45) NOT NULL, email VARCHAR(50), address_id SMALLINT NOT NULL, active BOOLEAN NOT NULL DEFAULT TRUE, create_date DATETIME NOT NULL, last_update TIMESTAMP DEFAULT CURRENT_TIMESTAMP)",
    "CREATE TABLE payment (payment_id SMALLINT PRIMARY KEY, customer_id SMALLINT NOT NULL, staff_id TINYINT NOT NULL, amount DECIMAL(5,2) NOT NULL, payment_date DATETIME NOT NULL, last_update TIMESTAMP DEFAULT CURRENT_TIMESTAMP)",
    "INSERT INTO country SELECT seq, ELT(1 + seq % 6, 'Poland', 'Germany', 'France', 'Spain', 'Italy', 'Sweden'), NOW() FROM seq_1_to_6",
    "INSERT INTO city SELECT seq, ELT(1 + seq % 8, 'Gdansk', 'Bremen', 'Lyon', 'Sevilla', 'Torino', 'Malmo', 'Utrecht', 'Porto'), 1 + seq % 6, NOW() FROM seq_1_to_40",
    "INSERT INTO address SELECT seq, CONCAT(seq, ' ', ELT(1 + seq % 4, 'Lindenweg', 'Rue Haute', 'Via Roma', 'Calle Mayor')), NULL, ELT(1 + seq % 3, 'North', 'Centre', 'South'), 1 + seq % 40, LPAD(seq * 37 % 99999, 5, '0'), CONCAT('+48 ', LPAD(seq * 7919 % 1000000000, 9, '0')), NOW() FROM seq_1_to_300",
    "INSERT INTO language SELECT seq, ELT(seq, 'English', 'Italian', 'Japanese', 'Mandarin', 'French', 'German'), NOW() FROM seq_1_to_6",
    "INSERT INTO category SELECT seq, ELT(seq, 'Action', 'Animation', 'Children', 'Classics', 'Comedy', 'Documentary', 'Drama', 'Family'), NOW() FROM seq_1_to_8",
    "INSERT INTO actor SELECT seq, ELT(1 + seq % 7, 'PENELOPE', 'NICK', 'ED', 'JENNIFER', 'JOHNNY', 'BETTE', 'GRACE'), CONCAT(ELT(1 + seq % 5, 'GUINESS', 'WAHLBERG', 'CHASE', 'DAVIS', 'LOLLOBRIGIDA'), seq), NOW() FROM seq_1_to_200",
    "INSERT INTO film SELECT seq, CONCAT(ELT(1 + seq % 4, 'ACADEMY', 'AFRICAN', 'AGENT', 'AIRPORT'), ' ', ELT(1 + seq % 3, 'DINOSAUR', 'EGG', 'TRUMAN')), 'A Epic Drama of a Feminist And a Mad Scientist who must Battle a Teacher in The Canadian Rockies', 2006, 1 + seq % 6, 0.99 + seq % 3, 80 + seq % 90, ELT(1 + seq % 5, 'G','PG','PG-13','R','NC-17'), 'Trailers', NOW() FROM seq_1_to_400",
    "INSERT INTO film_category SELECT seq, 1 + seq % 8, NOW() FROM seq_1_to_400",
    "INSERT INTO staff SELECT seq, ELT(seq, 'Mike', 'Jon', 'Dagmar'), ELT(seq, 'Hillyer', 'Stephens', 'Lindqvist'), seq, X'89504E470D0A1A0A0000', CONCAT(ELT(seq, 'Mike', 'Jon', 'Dagmar'), '.', ELT(seq, 'Hillyer', 'Stephens', 'Lindqvist'), '@sakilastaff.com'), seq, TRUE, ELT(seq, 'Mike', 'Jon', 'Dagmar'), SHA1(seq), NOW() FROM seq_1_to_3",
    "INSERT INTO customer SELECT seq, 1 + seq % 2, ELT(1 + seq % 6, 'MARY', 'PATRICIA', 'LINDA', 'BARBARA', 'ELIZABETH', 'JENNIFER'), CONCAT(ELT(1 + seq % 5, 'SMITH', 'JOHNSON', 'WILLIAMS', 'JONES', 'BROWN'), seq), CONCAT('customer', seq, '@sakilacustomer.org'), seq, TRUE, '2006-02-14 22:04:36', NOW() FROM seq_1_to_300",
    "INSERT INTO payment SELECT seq, 1 + seq % 300, 1 + seq % 3, 0.99 + seq % 5, '2005-05-25 11:30:37', NOW() FROM seq_1_to_2000",
];

/// Personal-data columns of the Sakila subset (everything else is not).
const SAKILA_PII: &[&str] = &[
    "actor.first_name",
    "actor.last_name",
    "address.address",
    "address.address2",
    "address.postal_code",
    "address.phone",
    "staff.first_name",
    "staff.last_name",
    "staff.picture",
    "staff.email",
    "staff.username",
    "staff.password",
    "customer.first_name",
    "customer.last_name",
    "customer.email",
];

/// A PostgreSQL schema in German and Dutch, with camel case, arrays and JSON.
const PRAXIS: &str = r#"
CREATE TABLE "Patienten" ("PatientId" int PRIMARY KEY, "Vorname" text NOT NULL, "Nachname" text NOT NULL,
  "Geburtsdatum" date, "Geschlecht" char(1), "Telefonnummer" text, "eMail" varchar(80), "Versichertennummer" text,
  "Aliase" text[], "Kontakt" jsonb, "Notizen" text, "Foto" bytea, "Erstellt" timestamptz NOT NULL DEFAULT now());
CREATE TABLE "Termine" ("TerminId" int PRIMARY KEY, "PatientId" int REFERENCES "Patienten", "Beginn" timestamptz,
  "Dauer" int, "Raum" text, "Status" text);
CREATE TABLE "Artikel" ("ArtikelId" int PRIMARY KEY, "Bezeichnung" text, "Preis" numeric(8,2));
CREATE TABLE "Bestellung" ("Id" int PRIMARY KEY, "ArtikelId" int REFERENCES "Artikel", "Menge" int, "Tags" text[]);
CREATE TABLE medewerkers (id int PRIMARY KEY, voornaam text, achternaam text, gebruikersnaam text, wachtwoord text,
  bsn text, iban text);
INSERT INTO "Patienten"
  SELECT g, (ARRAY['Lukas','Lena','Jonas','Mia','Finn','Hannah'])[1 + g % 6], 'Brandt' || g,
         date '1940-01-01' + (g * 97 % 25000), (ARRAY['w','m'])[1 + g % 2], '+49 30 ' || lpad((g * 7919 % 10000000)::text, 7, '0'),
         'p' || g || '@praxis.example.de', 'A' || lpad((g * 31 % 1000000000)::text, 9, '0'),
         ARRAY['Luki' || g, NULL], jsonb_build_object('email', 'k' || g || '@web.example.de', 'telefon', '030 555 ' || g, 'stufe', 2),
         'Rückruf bei Frau Brandt' || g || ' unter 030 555 ' || g, '\x89504e470d0a1a0a'::bytea, now()
  FROM generate_series(1, 200) g;
INSERT INTO "Termine" SELECT g, 1 + g % 200, now() - g * interval '1 day', 30, 'R' || (g % 4), (ARRAY['offen','erledigt'])[1 + g % 2]
  FROM generate_series(1, 500) g;
INSERT INTO "Artikel" SELECT g, 'Artikel ' || g, g * 1.5 FROM generate_series(1, 20) g;
INSERT INTO "Bestellung" SELECT g, 1 + g % 20, g % 7, ARRAY['eilig'] FROM generate_series(1, 100) g;
INSERT INTO medewerkers VALUES
  (1, 'Daan', 'de Vries', 'd.devries', '$2b$12$KIXQJ8e4y1Zk0Cw0dQ5mE.Wj8h9R2lS1fP0dYt3bXc6vN7uA9sB2e', '111222333', 'NL91ABNA0417164300'),
  (2, 'Sanne', 'Bakker', 's.bakker', '$2b$12$KIXQJ8e4y1Zk0Cw0dQ5mE.Wj8h9R2lS1fP0dYt3bXc6vN7uA9sB2f', '123456782', 'NL02ABNA0123456789');
"#;

const PRAXIS_PII: &[&str] = &[
    "Patienten.Vorname",
    "Patienten.Nachname",
    "Patienten.Geburtsdatum",
    "Patienten.Geschlecht",
    "Patienten.Telefonnummer",
    "Patienten.eMail",
    "Patienten.Versichertennummer",
    "Patienten.Aliase",
    "Patienten.Kontakt",
    "Patienten.Notizen",
    "Patienten.Foto",
    "medewerkers.voornaam",
    "medewerkers.achternaam",
    "medewerkers.gebruikersnaam",
    "medewerkers.wachtwoord",
    "medewerkers.bsn",
    "medewerkers.iban",
];

/// Truth from a list of personal-data columns: every other suggested column is not.
fn truth_of(pii: &[&str], suggested: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    suggested
        .keys()
        .map(|k| {
            let bare = k.replace('"', "");
            let v = if pii.contains(&bare.as_str()) {
                "mask"
            } else {
                "keep"
            };
            (k.clone(), v.to_string())
        })
        .collect()
}

fn report(schema: &str, s: &Score) -> (usize, usize, usize, usize) {
    println!(
        "{schema}: {} personal-data columns; masked {}, reviewed {}; {} masked columns; kept: \
         {:?}; masked but not personal: {:?}",
        s.pii, s.masked_pii, s.review_pii, s.masked, s.kept_pii, s.false_masked
    );
    (s.pii, s.masked_pii + s.review_pii, s.masked, s.masked_pii)
}

#[tokio::test]
async fn sakila_on_mariadb_and_a_german_schema_on_postgres() {
    let (Some(maria), Some(pg)) = (
        TestDb::mariadb("suggest_sakila").await,
        TestDb::postgres("suggest_praxis").await,
    ) else {
        return;
    };
    {
        use mysql_async::prelude::*;
        let mut c = mysql_async::Conn::new(mysql_async::Opts::from_url(&maria.url).unwrap())
            .await
            .unwrap();
        for q in SAKILA {
            c.query_drop(*q)
                .await
                .unwrap_or_else(|e| panic!("{q}: {e}"));
        }
        c.disconnect().await.unwrap();
    }
    {
        let (c, conn) = tokio_postgres::connect(&pg.url, tokio_postgres::NoTls)
            .await
            .unwrap();
        tokio::spawn(conn);
        c.batch_execute(PRAXIS).await.unwrap();
    }
    let mut totals = (0, 0, 0, 0);
    for (db, name, pii) in [(&maria, "sakila", SAKILA_PII), (&pg, "praxis", PRAXIS_PII)] {
        let text = suggest_policy(&db.url).await.expect("suggest");
        if std::env::var_os("SHOW_POLICY").is_some() {
            println!("{text}");
        }
        let got = specs(&text);
        let s = score(&truth_of(pii, &got), &got);
        let r = report(name, &s);
        totals = (
            totals.0 + r.0,
            totals.1 + r.1,
            totals.2 + r.2,
            totals.3 + r.3,
        );
        assert!(s.kept_pii.is_empty(), "bare keep on personal data:\n{text}");
        if name == "sakila" {
            for line in [
                "name = \"keep\"  # reference data: category has 8 rows",
                "name = \"keep\"  # reference data: language has 6 rows",
                "city = \"keep\"  # reference data: city has 40 rows",
                "[tables.customer]\nsubject = \"customer_id\"",
                "[tables.payment]\nsubject = \"customer_id\"",
            ] {
                assert!(text.contains(line), "missing {line}:\n{text}");
            }
        } else {
            for line in [
                "\"$.email\" = \"email\"",
                "Aliase = { transformer = \"array\", element = \"first_name\" }",
                "wachtwoord = \"null\"",
                "[tables.Patienten]\nsubject = \"PatientId\"",
                "[tables.Termine]\nsubject = \"PatientId\"",
            ] {
                assert!(text.contains(line), "missing {line}:\n{text}");
            }
        }
        let policy = Policy::from_toml_str(&text, "suggested.toml").expect("the suggestion parses");
        // It clones (checked: masked and leak-scanned, not written) once reviews are decided.
        let mut o = CloneOptions::new(db.url.clone(), db.url.clone() + "_never", policy);
        o.check = true;
        if text.contains("transformer = \"review\"") {
            assert!(matches!(
                clone_database(&o).await,
                Err(CloneError::Review { .. })
            ));
        }
        o.policy = Policy::from_toml_str(&resolve(&text), "resolved.toml").unwrap();
        if let Err(e) = clone_database(&o).await {
            panic!("{name}: {e}\n{text}");
        }
    }
    let (pii, found, masked, right) = totals;
    println!(
        "sakila + praxis: recall {:.1} % ({found} of {pii} personal-data columns masked or \
         reviewed), precision {:.1} % ({right} of {masked} masked columns are personal data)",
        found as f64 * 100.0 / pii as f64,
        right as f64 * 100.0 / masked.max(1) as f64
    );
    assert!(found * 100 >= pii * 95);
    assert!(right * 100 >= masked * 90);
}

/// The adversarial schemas of the engine's own tests (written to break a clone, not to be
/// guessed: a domain-typed e-mail, `text[]`, `jsonb`, `json`, `bytea`, generated columns,
/// non-ASCII quoted names), with their test policies as the truth.
#[tokio::test]
async fn adversarial_schemas_on_postgres_and_mariadb() {
    let (Some(pg), Some(maria)) = (
        TestDb::postgres("suggest_adv_pg").await,
        TestDb::mariadb("suggest_adv_my").await,
    ) else {
        return;
    };
    adversarial::pg::populate(&pg.url, 300).await;
    adversarial::maria::populate(&maria.url, 300).await;
    let mut totals = (0, 0, 0, 0);
    for (db, name, truth_text) in [
        (&pg, "adversarial postgres", adversarial::pg::POLICY),
        (&maria, "adversarial mariadb", adversarial::maria::POLICY),
    ] {
        let text = suggest_policy(&db.url).await.expect("suggest");
        if std::env::var_os("SHOW_POLICY").is_some() {
            println!("{text}");
        }
        let got = specs(&text);
        let truth = specs(truth_text);
        let unmatched: Vec<&String> = truth.keys().filter(|k| !got.contains_key(*k)).collect();
        assert!(
            unmatched.is_empty(),
            "{name}: truth columns the suggestion does not name: {unmatched:?}\n{text}"
        );
        let s = score(&truth, &got);
        let r = report(name, &s);
        totals = (
            totals.0 + r.0,
            totals.1 + r.1,
            totals.2 + r.2,
            totals.3 + r.3,
        );
        assert!(s.kept_pii.is_empty(), "bare keep on personal data:\n{text}");
        let mut o = CloneOptions::new(
            db.url.clone(),
            db.url.clone() + "_never",
            Policy::from_toml_str(&resolve(&text), "resolved.toml").unwrap(),
        );
        o.check = true;
        if let Err(e) = clone_database(&o).await {
            panic!("{name}: {e}\n{text}");
        }
    }
    let (pii, found, masked, right) = totals;
    println!(
        "adversarial: recall {:.1} % ({found} of {pii} personal-data columns masked or \
         reviewed), precision {:.1} % ({right} of {masked} masked columns are personal data)",
        found as f64 * 100.0 / pii as f64,
        right as f64 * 100.0 / masked.max(1) as f64
    );
    assert!(found * 100 >= pii * 95);
}
