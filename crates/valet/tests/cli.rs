//! The binary from the outside: exit codes, one-line errors, nothing written on bad input.

mod binary;

use std::path::Path;
use std::process::{Command, Output};

use binary::{stderr, stdout, valet};

fn one_line_error(o: &Output) -> String {
    assert!(!o.status.success(), "expected failure, got {o:?}");
    let err = stderr(o);
    let lines: Vec<&str> = err.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "one line, got: {err}");
    assert!(lines[0].starts_with("error: "), "{err}");
    lines[0].to_string()
}

#[test]
fn unknown_database_url_scheme_is_one_line_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let o = valet(
        dir.path(),
        &["--database-url", "mongodb://localhost/valet", "migrate"],
    );
    let err = one_line_error(&o);
    assert!(
        err.contains("mongodb://") && err.contains("sqlite://"),
        "{err}"
    );
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        0,
        "nothing written"
    );
}

#[test]
fn malformed_config_file_names_file_line_and_column() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("valet.toml"),
        "listen = \"127.0.0.1:1\"\ndata_dir = \n",
    )
    .unwrap();
    let o = valet(dir.path(), &["migrate"]);
    let err = one_line_error(&o);
    assert!(err.contains("valet.toml:2:"), "{err}");
    let entries: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
    assert_eq!(entries.len(), 1, "only valet.toml is there");

    std::fs::write(dir.path().join("valet.toml"), "listn = \"x\"\n").unwrap();
    let err = one_line_error(&valet(dir.path(), &["migrate"]));
    assert!(err.contains("listn"), "{err}");
}

#[test]
fn duplicate_customer_is_refused_and_nothing_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let ok = valet(
        dir.path(),
        &[
            "customer",
            "add",
            "--name",
            "Acme Research",
            "--zone",
            "Europe/Berlin",
        ],
    );
    assert!(ok.status.success(), "{}", stderr(&ok));
    let dup = valet(
        dir.path(),
        &[
            "customer",
            "add",
            "--name",
            "ACME research",
            "--zone",
            "UTC",
        ],
    );
    let err = one_line_error(&dup);
    assert!(err.contains("already exists"), "{err}");
    let list = valet(dir.path(), &["customer", "list"]);
    assert_eq!(stdout(&list).lines().count(), 1);
    let verify = valet(dir.path(), &["audit", "verify"]);
    assert!(verify.status.success());
    assert!(
        stdout(&verify).contains("OK: 1 audit events"),
        "{}",
        stdout(&verify)
    );
}

#[test]
fn unknown_zone_is_one_line_with_a_hint() {
    let dir = tempfile::tempdir().unwrap();
    let err = one_line_error(&valet(
        dir.path(),
        &["customer", "add", "--name", "Chicago Labs", "--zone", "CST"],
    ));
    assert!(err.contains("America/Chicago"), "{err}");
}

#[test]
fn audit_verify_fails_with_the_first_broken_link_after_tampering() {
    let dir = tempfile::tempdir().unwrap();
    for name in ["One", "Two", "Three"] {
        let o = valet(
            dir.path(),
            &["customer", "add", "--name", name, "--zone", "UTC"],
        );
        assert!(o.status.success(), "{}", stderr(&o));
    }
    let db = dir.path().join("valet-data/valet.db");
    let status = Command::new("sqlite3")
        .arg(&db)
        .arg("UPDATE audit_events SET actor_name = 'mallory' WHERE seq = 2;")
        .status()
        .expect("sqlite3 is installed");
    assert!(status.success());
    let o = valet(dir.path(), &["audit", "verify"]);
    assert!(!o.status.success());
    assert!(stdout(&o).contains("BROKEN at event 2"), "{}", stdout(&o));
}

#[tokio::test]
async fn migrate_and_user_add_work_on_postgres() {
    let Some(db) = valet_testkit::TestDb::postgres("cli").await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let o = valet(dir.path(), &["--database-url", &db.url, "migrate"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stdout(&o).contains("applied migrations [1, 2, 3, 4, 5, 6]"),
        "{}",
        stdout(&o)
    );
    let o = valet(
        dir.path(),
        &[
            "--database-url",
            &db.url,
            "user",
            "add",
            "--username",
            "pm.paula",
            "--role",
            "vendor_pm",
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("password: "));
    let o = valet(
        dir.path(),
        &[
            "--database-url",
            &db.url,
            "user",
            "add",
            "--username",
            "cu",
            "--role",
            "customer_user",
        ],
    );
    let err = one_line_error(&o);
    assert!(err.contains("customer"), "{err}");
    let o = valet(dir.path(), &["--database-url", &db.url, "audit", "verify"]);
    assert!(stdout(&o).contains("OK: 1 audit events"), "{}", stdout(&o));
}

fn clinic_manifests() -> Vec<String> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/clinic/releases");
    // Deliberately in shell-glob order: 24.2.1 before 24.2.
    ["24.1", "24.2.1", "24.2", "24.3"]
        .iter()
        .map(|v| dir.join(format!("{v}.toml")).display().to_string())
        .collect()
}

#[test]
fn release_import_publish_notes_and_lag_from_the_console() {
    let dir = tempfile::tempdir().unwrap();
    let mut args = vec!["release", "import", "--publish"];
    let files = clinic_manifests();
    args.extend(files.iter().map(String::as_str));
    let o = valet(dir.path(), &args);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(stdout(&o).matches("published").count(), 4, "{}", stdout(&o));

    let again = valet(dir.path(), &["release", "import", &files[2]]);
    assert!(!again.status.success());
    assert!(
        stderr(&again).contains("24.2.toml:6: build:"),
        "{}",
        stderr(&again)
    );

    let pdf = dir.path().join("notes.pdf");
    let o = valet(
        dir.path(),
        &[
            "release",
            "notes",
            "--from",
            "24.1",
            "--to",
            "24.3",
            "--format",
            "pdf",
            "-o",
            pdf.to_str().unwrap(),
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(std::fs::read(&pdf).unwrap().starts_with(b"%PDF-"));
    let o = valet(
        dir.path(),
        &[
            "release", "notes", "--from", "24.1", "--to", "24.3", "--format", "csv",
        ],
    );
    let csv = stdout(&o);
    assert_eq!(csv.lines().count(), 1 + 12 + 4 + 12, "{csv}");

    let o = valet(dir.path(), &["release", "search", "APP-3199"]);
    assert!(stdout(&o).contains("24.2.1.1201"), "{}", stdout(&o));
    let o = valet(
        dir.path(),
        &[
            "release", "notes", "--from", "24.1", "--to", "24.3", "--format", "docx",
        ],
    );
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("use md, html, csv, pdf or json"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn clone_with_a_bad_url_is_one_line_and_leaves_no_target() {
    let dir = tempfile::tempdir().unwrap();
    let policy = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/clinic/policy.toml");
    let target = dir.path().join("val.db");
    let o = valet(
        dir.path(),
        &[
            "clone",
            "--from",
            "oracle://prod/clinic",
            "--to",
            &format!("sqlite://{}", target.display()),
            "--policy",
            policy.to_str().unwrap(),
        ],
    );
    let err = one_line_error(&o);
    assert!(err.contains("oracle"), "{err}");
    assert!(!target.exists(), "no target left behind");
}
