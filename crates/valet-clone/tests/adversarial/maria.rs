//! The adversarial MariaDB schema (non-ASCII and mixed-case names, generated columns, enums,
//! JSON, blobs, BIT, a partitioned table, a sequence, a view, a function, a trigger), its data
//! and its policy: shared by the engine's tests and `policy suggest`'s recall and precision.

use mysql_async::prelude::*;
use mysql_async::Conn;

pub const SCHEMA: &[&str] = &[
    "CREATE TABLE `Volunteer Ünï` (
       id BIGINT AUTO_INCREMENT PRIMARY KEY,
       first_name VARCHAR(100) NOT NULL, last_name VARCHAR(100) NOT NULL, initials CHAR(2),
       date_of_birth DATE, sex ENUM('F','M','X'), email VARCHAR(200) UNIQUE, phone VARCHAR(40),
       notes TEXT, prefs JSON, photo BLOB, score DECIMAL(10,3),
       created_at TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6), bits BIT(3),
       full_name VARCHAR(201) AS (CONCAT(first_name, ' ', last_name)) PERSISTENT,
       KEY idx_last (last_name)) ENGINE=InnoDB",
    "CREATE TABLE `MixedCase` (`Volunteer Id` BIGINT, `Note Ü` TEXT, amount DOUBLE,
       CONSTRAINT fk_mc FOREIGN KEY (`Volunteer Id`) REFERENCES `Volunteer Ünï`(id),
       CONSTRAINT chk_amount CHECK (amount >= 0)) ENGINE=InnoDB",
    "CREATE TABLE events (id BIGINT AUTO_INCREMENT PRIMARY KEY, volunteer_id BIGINT,
       collected_at DATETIME(3), value_text VARCHAR(50), KEY (volunteer_id))
       ENGINE=InnoDB PARTITION BY HASH(id) PARTITIONS 3",
    "CREATE TABLE audit (id INT AUTO_INCREMENT PRIMARY KEY, volunteer_id BIGINT, field VARCHAR(30),
       old_value TEXT, new_value TEXT, FOREIGN KEY (volunteer_id) REFERENCES `Volunteer Ünï`(id)) ENGINE=InnoDB",
    "CREATE SEQUENCE ticket_seq START WITH 100",
    "CREATE VIEW v_names AS SELECT id, first_name FROM `Volunteer Ünï`",
    "CREATE FUNCTION twice(x INT) RETURNS INT DETERMINISTIC RETURN x * 2",
    "CREATE TRIGGER trg_audit AFTER UPDATE ON `Volunteer Ünï` FOR EACH ROW
       INSERT INTO audit(volunteer_id, field, old_value, new_value) VALUES (OLD.id, 'email', OLD.email, NEW.email)",
];

pub const POLICY: &str = r#"
[tables."Volunteer Ünï"]
subject = "id"
[tables."Volunteer Ünï".columns]
id = "keep"
first_name = "first_name"
last_name = "last_name"
initials = { transformer = "initials", from = ["first_name", "last_name"] }
date_of_birth = { transformer = "date_of_birth", shift_days = 60 }
sex = "sex"
email = "email"
phone = "phone"
notes = { transformer = "free_text", mode = "redact" }
prefs = { transformer = "json", paths = { "$.contact.email" = "email", "$.nick" = "first_name" } }
photo = "null"
score = "keep"
created_at = "keep"
bits = "keep"

[tables.MixedCase]
subject = "Volunteer Id"
[tables.MixedCase.columns]
"Volunteer Id" = "keep"
"Note Ü" = "free_text"
amount = "keep"

[tables.events.columns]
id = "keep"
volunteer_id = "keep"
collected_at = "keep"
value_text = "keep"

[tables.audit]
subject = "volunteer_id"
[tables.audit.columns]
id = "keep"
volunteer_id = "keep"
field = "keep"
old_value = { transformer = "switch", on = "field", cases = { email = "email" }, default = "null" }
new_value = { transformer = "switch", on = "field", cases = { email = "email" }, default = "null" }
"#;

pub async fn conn(url: &str) -> Conn {
    Conn::new(mysql_async::Opts::from_url(url).unwrap())
        .await
        .expect("connect")
}

pub async fn populate(url: &str, n: u32) {
    let mut c = conn(url).await;
    for s in SCHEMA {
        c.query_drop(*s)
            .await
            .unwrap_or_else(|e| panic!("{s}: {e}"));
    }
    c.query_drop(format!(
        "INSERT INTO `Volunteer Ünï` (first_name, last_name, initials, date_of_birth, sex, email, phone, notes, prefs, photo, score, bits)
         SELECT f, l, CONCAT(LEFT(f, 1), LEFT(l, 1)), DATE_ADD('1950-01-01', INTERVAL (seq * 37 % 15000) DAY),
                IF(seq % 2 = 0, 'F', 'M'), LOWER(CONCAT(f, '.', l, '@mail.example.com')), CONCAT('+44 20 7946 ', LPAD(seq, 4, '0')),
                CONCAT(f, ' ', l, ' prefers morning visits.'),
                JSON_OBJECT('contact', JSON_OBJECT('email', LOWER(CONCAT(f, '.', l, '@mail.example.com'))), 'nick', f, 'n', seq),
                X'00FF10', seq / 7, b'101'
         FROM (SELECT seq, ELT(1 + seq % 5, 'Anna', 'Jürgen', 'Olivia', 'Mohammed', 'Siobhán') AS f,
                      CONCAT(ELT(1 + seq % 5, 'Kowalczyk', 'Nakamura', 'O''Neill', 'Fitzgerald', 'Abernathy'), seq) AS l
               FROM seq_1_to_{n}) s"
    ))
    .await
    .expect("volunteers");
    for q in [
        "INSERT INTO MixedCase SELECT id, CONCAT('Ünï note ', id), id * 1.5 FROM `Volunteer Ünï`".to_string(),
        "INSERT INTO events (volunteer_id, collected_at, value_text) SELECT 1 + seq % 20, '2024-06-01 10:00:00.123', 'normal' FROM seq_1_to_3000".to_string(),
        "UPDATE `Volunteer Ünï` SET email = CONCAT('new.', email) WHERE id <= 5".to_string(),
        "SELECT NEXTVAL(ticket_seq)".to_string(),
        "ANALYZE TABLE `Volunteer Ünï`, events".to_string(),
    ] {
        c.query_drop(&q).await.unwrap_or_else(|e| panic!("{q}: {e}"));
    }
    c.disconnect().await.unwrap();
}
