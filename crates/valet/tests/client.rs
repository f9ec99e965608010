//! The workflow commands as API clients, against a real `valet serve` on a random port with
//! its own data directory.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{json, Value};

/// The binary with a clean environment, in `dir`, with `stdin` piped in when given.
fn valet_in(dir: &Path, args: &[&str], envs: &[(&str, &str)], stdin: Option<&str>) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_valet"));
    cmd.current_dir(dir)
        .env_remove("VALET_DATABASE_URL")
        .env_remove("VALET_DATA_DIR")
        .env_remove("VALET_CONFIG")
        .env_remove("VALET_TOKEN")
        .env_remove("VALET_SERVER")
        .envs(envs.iter().copied())
        .args(args)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("run valet");
    if let Some(input) = stdin {
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
    }
    child.wait_with_output().expect("wait for valet")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn ok(o: Output) -> String {
    assert!(o.status.success(), "expected success: {}", stderr(&o));
    stdout(&o)
}

fn one_line_error(o: &Output) -> String {
    assert!(!o.status.success(), "expected failure, got {o:?}");
    assert_eq!(o.status.code(), Some(1), "{o:?}");
    let err = stderr(o);
    let lines: Vec<&str> = err.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "one line, got: {err}");
    assert!(lines[0].starts_with("error: "), "{err}");
    lines[0].to_string()
}

/// The `error:` line of a failed signing command (which says first what it signs).
fn error_line(o: &Output) -> String {
    assert_eq!(o.status.code(), Some(1), "{o:?}");
    let err = stderr(o);
    let lines: Vec<&str> = err.lines().filter(|l| l.starts_with("error: ")).collect();
    assert_eq!(lines.len(), 1, "one error line, got: {err}");
    lines[0].to_string()
}

/// A `valet serve` of its own: a temp directory holding its state, killed when dropped.
struct Server {
    dir: tempfile::TempDir,
    url: String,
    child: Child,
    _log: Arc<Mutex<String>>,
}

impl Server {
    /// A data directory set up with the console commands (`prepare`), then served.
    fn start(prepare: impl FnOnce(&Path)) -> Server {
        let dir = tempfile::tempdir().unwrap();
        prepare(dir.path());
        let mut child = Command::new(env!("CARGO_BIN_EXE_valet"))
            .current_dir(dir.path())
            .env_remove("VALET_DATABASE_URL")
            .env_remove("VALET_DATA_DIR")
            .env_remove("VALET_CONFIG")
            .env("NO_COLOR", "1")
            .env("VALET_LOG", "info")
            .args(["serve", "--listen", "127.0.0.1:0"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start valet serve");
        let log = Arc::new(Mutex::new(String::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        let stderr = child.stderr.take().unwrap();
        let sink = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(at) = line.find("listening on http://") {
                    let url: String = line[at + "listening on ".len()..]
                        .chars()
                        .take_while(|c| c.is_ascii_alphanumeric() || ".:/".contains(*c))
                        .collect();
                    let _ = tx.send(url);
                }
                sink.lock().unwrap().push_str(&line);
                sink.lock().unwrap().push('\n');
            }
        });
        let url = match rx.recv_timeout(Duration::from_secs(60)) {
            Ok(u) => u,
            Err(_) => {
                let _ = child.kill();
                panic!("valet serve did not start: {}", log.lock().unwrap());
            }
        };
        Server {
            dir,
            url,
            child,
            _log: log,
        }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    /// A workflow command as the holder of `token`.
    fn client(&self, token: &str, args: &[&str], stdin: Option<&str>) -> Output {
        valet_in(
            self.path(),
            args,
            &[("VALET_SERVER", &self.url), ("VALET_TOKEN", token)],
            stdin,
        )
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Adds a user with a known password and returns an API token for them.
fn user_with_token(dir: &Path, username: &str, role: &str, customer: Option<&str>) -> String {
    let mut args = vec![
        "user",
        "add",
        "--username",
        username,
        "--role",
        role,
        "--password-stdin",
    ];
    if let Some(c) = customer {
        args.extend(["--customer", c]);
    }
    ok(valet_in(dir, &args, &[], Some(&password_of(username))));
    ok(valet_in(
        dir,
        &["user", "token", "--username", username],
        &[],
        None,
    ))
    .trim()
    .to_string()
}

fn password_of(username: &str) -> String {
    format!("correct horse {username} battery\n")
}

fn entries(dir: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect()
}

#[test]
fn missing_token_says_how_to_get_one_and_opens_no_database() {
    let dir = tempfile::tempdir().unwrap();
    for args in [
        &["request", "list"][..],
        &["request", "show", "VAL-1"],
        &["finding", "list", "VAL-1"],
        &["run", "wait", "VAL-1"],
        &["doc", "list", "VAL-1"],
    ] {
        let err = one_line_error(&valet_in(dir.path(), args, &[], None));
        assert!(err.contains("no API token"), "{err}");
        assert!(
            err.contains("--token") && err.contains("VALET_TOKEN"),
            "{err}"
        );
        assert!(err.contains("valet user token --username"), "{err}");
    }
    assert!(entries(dir.path()).is_empty(), "no data directory made");
}

#[test]
fn unreachable_server_is_a_clear_error() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let dir = tempfile::tempdir().unwrap();
    let server = format!("http://127.0.0.1:{port}");
    let err = one_line_error(&valet_in(
        dir.path(),
        &["request", "list", "--server", &server, "--token", "valet_x"],
        &[],
        None,
    ));
    assert!(
        err.contains(&format!("cannot reach valet at {server}")),
        "{err}"
    );
    assert!(err.contains("VALET_SERVER"), "{err}");
    assert!(entries(dir.path()).is_empty(), "no data directory made");
}

#[test]
fn server_flag_must_be_a_url() {
    let dir = tempfile::tempdir().unwrap();
    let err = one_line_error(&valet_in(
        dir.path(),
        &["request", "list", "--server", "localhost:8080"],
        &[("VALET_TOKEN", "valet_x")],
        None,
    ));
    assert!(err.contains("http://"), "{err}");
}

#[test]
fn wrong_token_gets_the_servers_401_and_a_hint() {
    let server = Server::start(|dir| {
        ok(valet_in(
            dir,
            &["customer", "add", "--name", "Acme", "--zone", "UTC"],
            &[],
            None,
        ));
        user_with_token(dir, "carla", "customer_admin", Some("Acme"));
    });
    let err = one_line_error(&server.client("valet_not_a_real_token", &["request", "list"], None));
    assert!(err.contains("the server refused the token"), "{err}");
    assert!(err.contains("valet user token --username"), "{err}");
    let err = one_line_error(&server.client(
        "valet_not_a_real_token",
        &["request", "show", "VAL-1", "--json"],
        None,
    ));
    assert!(err.contains("refused the token"), "{err}");
}

fn clinic_manifests() -> Vec<String> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/clinic/releases");
    ["24.1", "24.2", "24.2.1", "24.3"]
        .iter()
        .map(|v| dir.join(format!("{v}.toml")).display().to_string())
        .collect()
}

#[tokio::test]
async fn customer_files_pm_approves_and_a_finding_is_resolved_over_the_api() {
    let mut tokens = Default::default();
    let mut customer_id = String::new();
    let server = Server::start(|dir| {
        let out = ok(valet_in(
            dir,
            &[
                "customer",
                "add",
                "--name",
                "Acme Research",
                "--zone",
                "Europe/Berlin",
            ],
            &[],
            None,
        ));
        customer_id = out.trim().rsplit(' ').next().unwrap().to_string();
        let mut args = vec!["release", "import", "--publish"];
        let files = clinic_manifests();
        args.extend(files.iter().map(String::as_str));
        ok(valet_in(dir, &args, &[], None));
        ok(valet_in(
            dir,
            &[
                "customer",
                "add",
                "--name",
                "Beta Labs",
                "--zone",
                "America/Chicago",
            ],
            &[],
            None,
        ));
        tokens = (
            user_with_token(dir, "root", "admin", None),
            user_with_token(dir, "carla", "customer_admin", Some("Acme Research")),
            user_with_token(dir, "paula", "vendor_pm", None),
            user_with_token(dir, "bert", "customer_admin", Some("Beta Labs")),
        );
    });
    let (admin, carla, paula, bert) = tokens;

    let pair: Value = reqwest::Client::new()
        .post(format!("{}/api/v1/environments", server.url))
        .bearer_auth(&admin)
        .json(
            &json!({ "customer_id": customer_id, "tier": "PROD", "label": "PROD",
                       "build": "24.2.0.1187" }),
        )
        .send()
        .await
        .unwrap()
        .error_for_status()
        .unwrap()
        .json()
        .await
        .unwrap();
    let pair_id = pair["pair_id"].as_str().unwrap().to_string();

    let today = jiff::Zoned::now().date();
    let begin = today.checked_add(jiff::Span::new().days(1)).unwrap();
    let end = today.checked_add(jiff::Span::new().days(60)).unwrap();
    let idp = server.path().join("idp.xml");
    std::fs::write(&idp, "<EntityDescriptor entityID=\"https://idp.acme\"/>").unwrap();
    let key = ok(server.client(
        &carla,
        &[
            "request",
            "val",
            "--pair",
            &pair_id,
            "--build",
            "24.3",
            "--begin",
            &begin.to_string(),
            "--end",
            &end.to_string(),
            "--sso-metadata",
            idp.to_str().unwrap(),
            "--purpose",
            "24.3 cycle",
        ],
        None,
    ));
    let key = key.trim().to_string();
    assert!(key.starts_with("VAL-"), "the key alone: {key:?}");

    // A bad date comes back as a field error, one line per field.
    let bad = server.client(
        &carla,
        &[
            "request",
            "val",
            "--pair",
            &pair_id,
            "--build",
            "24.3",
            "--begin",
            "tomorrow",
            "--end",
            "2020-01-01",
        ],
        None,
    );
    assert!(!bad.status.success());
    assert!(stderr(&bad).contains("  begin: "), "{}", stderr(&bad));

    ok(server.client(
        &paula,
        &["request", "approve", &key, "--password-stdin"],
        Some(&password_of("paula")),
    ));
    let wrong = server.client(
        &paula,
        &[
            "request",
            "sign",
            &key,
            "--meaning",
            "reviewed",
            "--password-stdin",
        ],
        Some("not my password\n"),
    );
    assert!(!wrong.status.success(), "a wrong password never signs");

    ok(server.client(
        &carla,
        &[
            "request",
            "comment",
            &key,
            "--body",
            "Thanks, starting Monday",
        ],
        None,
    ));
    let finding = ok(server.client(
        &carla,
        &[
            "finding",
            "add",
            &key,
            "--title",
            "Dashboard totals off",
            "--severity",
            "major",
            "--area",
            "configuration_item",
            "--steps",
            "Open the enrolment dashboard; totals differ from PROD",
        ],
        None,
    ));
    let finding = finding.trim().to_string();
    assert!(finding.starts_with("F-"), "{finding:?}");
    ok(server.client(
        &paula,
        &[
            "finding",
            "resolve",
            &finding,
            "--text",
            "Report definition fixed",
        ],
        None,
    ));

    let shown: Value = serde_json::from_str(&ok(server.client(
        &carla,
        &["request", "show", &key, "--json"],
        None,
    )))
    .unwrap();
    assert_eq!(shown["request"]["key"], json!(key));
    assert_eq!(shown["request"]["details"]["sso_required"], json!(true));
    assert_eq!(shown["signatures"][0]["meaning"], json!("approved"));
    assert_eq!(
        shown["signatures"][0]["changed_after_signing"],
        json!(false)
    );
    assert_eq!(
        shown["comments"][0]["body"],
        json!("Thanks, starting Monday")
    );
    assert_eq!(shown["findings"][0]["state"], json!("resolved"));

    let human = ok(server.client(&carla, &["request", "show", &key], None));
    assert!(
        human.contains("Signatures") && human.contains("approved"),
        "{human}"
    );
    assert!(human.contains("Dashboard totals off"), "{human}");
    let listed = ok(server.client(&carla, &["request", "list", "--kind", "val"], None));
    assert!(listed.contains(&key), "{listed}");

    let err = one_line_error(&server.client(&carla, &["request", "show", "VAL-999"], None));
    assert!(err.contains("not found (or not yours to see)"), "{err}");

    // Another tenant's request, run, finding and documents are not found from the CLI.
    let finding = shown["findings"][0]["key"].as_str().unwrap().to_string();
    for args in [
        vec!["request", "show", key.as_str()],
        vec!["request", "show", key.as_str(), "--json"],
        vec!["run", "show", key.as_str()],
        vec!["finding", "list", key.as_str()],
        vec!["finding", "show", finding.as_str()],
        vec!["doc", "list", key.as_str()],
        vec!["request", "comment", key.as_str(), "--body", "hello"],
    ] {
        let out = server.client(&bert, &args, None);
        assert!(
            !out.status.success(),
            "{args:?} succeeded for another tenant"
        );
        let err = one_line_error(&out);
        assert!(
            err.contains("not found (or not yours to see)"),
            "{args:?}: {err}"
        );
        assert!(
            !err.contains("Acme"),
            "{args:?} names the other tenant: {err}"
        );
    }
    let listed = ok(server.client(&bert, &["request", "list", "--json"], None));
    assert!(!listed.contains(&key), "{listed}");
}

/// The first `weekday` at least `days` days from today (UTC).
fn weekday_after(days: i64, weekday: jiff::civil::Weekday) -> jiff::civil::Date {
    let mut d = jiff::Timestamp::now()
        .to_zoned(jiff::tz::TimeZone::UTC)
        .date()
        .checked_add(jiff::Span::new().days(days))
        .unwrap();
    while d.weekday() != weekday {
        d = d.tomorrow().unwrap();
    }
    d
}

/// The line of an `.ics` that starts with `name:`.
fn ics_line<'a>(ics: &'a str, name: &str) -> Option<&'a str> {
    ics.lines()
        .map(|l| l.trim_end_matches('\r'))
        .find(|l| l.starts_with(&format!("{name}:")))
}

#[tokio::test]
async fn customer_files_an_upgrade_and_the_pm_books_it_with_an_override_from_the_cli() {
    let mut tokens = Default::default();
    let mut customer_id = String::new();
    let mut prod_db = String::new();
    let server = Server::start(|dir| {
        let out = ok(valet_in(
            dir,
            &[
                "customer",
                "add",
                "--name",
                "Acme Research",
                "--zone",
                "Europe/Berlin",
            ],
            &[],
            None,
        ));
        customer_id = out.trim().rsplit(' ').next().unwrap().to_string();
        let mut args = vec!["release", "import", "--publish"];
        let files = clinic_manifests();
        args.extend(files.iter().map(String::as_str));
        ok(valet_in(dir, &args, &[], None));
        prod_db = format!("sqlite://{}", dir.join("prod-main.db").display());
        ok(valet_in(
            dir,
            &[
                "clinic",
                "gen",
                "--db",
                &prod_db,
                "--volunteers",
                "20",
                "--events",
                "400",
                "--seed",
                "7",
                "--release",
                "24.2",
            ],
            &[],
            None,
        ));
        tokens = (
            user_with_token(dir, "root", "admin", None),
            user_with_token(dir, "carla", "customer_admin", Some("Acme Research")),
            user_with_token(dir, "paula", "vendor_pm", None),
            user_with_token(dir, "eddie", "vendor_engineer", None),
        );
    });
    let (admin, carla, paula, eddie) = tokens;

    let pair: Value = reqwest::Client::new()
        .post(format!("{}/api/v1/environments", server.url))
        .bearer_auth(&admin)
        .json(
            &json!({ "customer_id": customer_id, "tier": "PROD", "label": "PROD",
                       "build": "24.2.0.1187", "main": { "database_url": prod_db } }),
        )
        .send()
        .await
        .unwrap()
        .error_for_status()
        .unwrap()
        .json()
        .await
        .unwrap();
    let pair_id = pair["pair_id"].as_str().unwrap().to_string();

    // A slot in the hour Chicago skips (DST gap) is refused, field by field, exit 1.
    let bad = server.client(
        &carla,
        &[
            "request",
            "upgrade",
            "--pair",
            &pair_id,
            "--build",
            "24.3",
            "--slot",
            "2027-03-14 02:30-03:30 America/Chicago",
            "--downtime-minutes",
            "60",
        ],
        None,
    );
    assert_eq!(bad.status.code(), Some(1), "{bad:?}");
    let err = stderr(&bad);
    assert!(err.contains("refused the input"), "{err}");
    assert!(err.contains("  slots[1]: "), "{err}");
    assert!(err.contains("does not exist in America/Chicago"), "{err}");

    // Two slots, both at least three weeks out and within the engineer's default hours
    // (Mon–Fri 08:00–18:00 UTC): one written with an abbreviation, which is warned about, in
    // the clinic's busy morning; the other in its quiet afternoon.
    let tue = weekday_after(28, jiff::civil::Weekday::Tuesday);
    let wed = tue.tomorrow().unwrap();
    let slot1 = format!("{tue} 09:00-10:00 CET");
    let slot2 = format!("{wed} 09:00-10:00 America/Chicago");
    let filed = server.client(
        &carla,
        &[
            "request",
            "upgrade",
            "--pair",
            &pair_id,
            "--build",
            "24.3",
            "--slot",
            &slot1,
            "--slot",
            &slot2,
            "--preferred",
            "2",
            "--downtime-minutes",
            "90",
            "--note",
            "after the monthly close",
        ],
        None,
    );
    let key = ok(filed.clone()).trim().to_string();
    assert!(key.starts_with("UPG-"), "the key alone: {key:?}");
    let said = stderr(&filed);
    for want in [
        "Slots as read:",
        "warning (abbreviation): `CET` read as",
        "Europe/Berlin",
        "America/Chicago",
        "(preferred)",
        "the PM must override `unvalidated_build`",
    ] {
        assert!(said.contains(want), "missing {want:?} in\n{said}");
    }

    // The PM's view: the unvalidated build blocks every slot until overridden.
    let suggest = ok(server.client(
        &paula,
        &["schedule", "suggest", &key, "--engineer", "eddie"],
        None,
    ));
    for want in [
        "customer's zone Europe/Berlin",
        "engineer eddie",
        "BLOCKING   unvalidated_build",
        "Suggested: none",
        "Expected downtime: unknown (90 minutes accepted)",
        "Booking: none yet",
    ] {
        assert!(suggest.contains(want), "missing {want:?} in\n{suggest}");
    }
    let a: Value = serde_json::from_str(&ok(server.client(
        &paula,
        &[
            "schedule",
            "suggest",
            &key,
            "--engineer",
            "eddie",
            "--alternatives",
            "--json",
        ],
        None,
    )))
    .unwrap();
    assert_eq!(a["slots"].as_array().unwrap().len(), 2, "{a}");
    assert_eq!(a["slots"][0]["slot"]["warnings"][0]["code"], "abbreviation");
    assert_eq!(a["slots"][1]["slot"]["preferred"], true);
    assert!(a["histogram"].is_object(), "quiet time from PROD: {a}");
    let score = |i: usize| a["slots"][i]["score"].as_f64().unwrap();
    assert!(score(0) > score(1), "the morning is busier: {a}");
    for s in a["slots"].as_array().unwrap() {
        let kinds: Vec<&str> = s["conflicts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["kind"].as_str().unwrap())
            .collect();
        assert_eq!(kinds, ["unvalidated_build"], "{s}");
    }

    // Without the override the server says why (409); with a wrong password nothing is booked.
    let err = one_line_error(&server.client(
        &paula,
        &[
            "schedule",
            "set",
            &key,
            "--slot",
            "2",
            "--engineer",
            "eddie",
        ],
        None,
    ));
    assert!(err.contains("cannot be booked"), "{err}");
    assert!(err.contains("unvalidated_build"), "{err}");
    let set = [
        "schedule",
        "set",
        &key,
        "--slot",
        "2",
        "--engineer",
        "eddie",
        "--override",
        "unvalidated_build=24.3 agreed with the customer's QA",
        "--password-stdin",
    ];
    let wrong = server.client(&paula, &set, Some("not my password\n"));
    assert!(!wrong.status.success(), "a wrong password never signs");
    let booked = ok(server.client(&paula, &set, Some(&password_of("paula"))));
    for want in [
        format!("{key} scheduled (slot 2): ").as_str(),
        "America/Chicago",
        "engineer ",
        "SEQUENCE 0",
        "override (e-signed): unvalidated_build — 24.3 agreed with the customer's QA",
    ] {
        assert!(booked.contains(want), "missing {want:?} in\n{booked}");
    }

    let shown: Value = serde_json::from_str(&ok(server.client(
        &carla,
        &["request", "show", &key, "--json"],
        None,
    )))
    .unwrap();
    assert_eq!(shown["request"]["state"], "scheduled");
    let uid = format!("{}@valet", shown["request"]["id"].as_str().unwrap());

    // The customer downloads the calendar entry.
    let ics_path = server.path().join("f.ics");
    ok(server.client(
        &carla,
        &["calendar", &key, "--out", ics_path.to_str().unwrap()],
        None,
    ));
    let ics = std::fs::read_to_string(&ics_path).unwrap();
    assert!(ics.starts_with("BEGIN:VCALENDAR"), "{ics}");
    assert_eq!(ics_line(&ics, "UID"), Some(format!("UID:{uid}").as_str()));
    assert_eq!(ics_line(&ics, "SEQUENCE"), Some("SEQUENCE:0"), "{ics}");

    // Rescheduling to the other slot raises SEQUENCE; the UID stays.
    let moved = ok(server.client(
        &paula,
        &[
            "schedule",
            "set",
            &key,
            "--slot",
            "1",
            "--engineer",
            "eddie",
            "--override",
            "unvalidated_build=24.3 agreed with the customer's QA",
            "--comment",
            "the customer prefers Tuesday after all",
            "--password-stdin",
        ],
        Some(&password_of("paula")),
    ));
    assert!(moved.contains("SEQUENCE 1"), "{moved}");
    ok(server.client(
        &carla,
        &["calendar", &key, "--out", ics_path.to_str().unwrap()],
        None,
    ));
    let ics = std::fs::read_to_string(&ics_path).unwrap();
    assert_eq!(ics_line(&ics, "UID"), Some(format!("UID:{uid}").as_str()));
    assert_eq!(ics_line(&ics, "SEQUENCE"), Some("SEQUENCE:1"), "{ics}");
    let on_stdout = ok(server.client(&paula, &["calendar", &key], None));
    assert!(on_stdout.contains(&format!("UID:{uid}")), "{on_stdout}");

    let listed = ok(server.client(&paula, &["schedule", "list"], None));
    assert!(
        listed.contains(&key) && listed.contains("SEQUENCE 1"),
        "{listed}"
    );
    let listed: Value = serde_json::from_str(&ok(server.client(
        &carla,
        &["schedule", "list", "--json"],
        None,
    )))
    .unwrap();
    assert_eq!(listed[0]["request_key"], json!(key), "{listed}");
    assert_eq!(listed[0]["slot_index"], 1);

    // The quiet-time heatmap: CSV of one row per weekday and one column per hour; SVG to a file.
    let csv = ok(server.client(
        &paula,
        &["schedule", "quiet", "--pair", &pair_id, "--format", "csv"],
        None,
    ));
    let rows: Vec<&str> = csv.lines().collect();
    assert_eq!(rows.len(), 8, "{csv}");
    assert!(rows[0].starts_with("weekday,00,01,"), "{csv}");
    assert_eq!(rows[0].split(',').count(), 25, "{csv}");
    let svg_path = server.path().join("quiet.svg");
    ok(server.client(
        &carla,
        &[
            "schedule",
            "quiet",
            "--request",
            &key,
            "--out",
            svg_path.to_str().unwrap(),
        ],
        None,
    ));
    let svg = std::fs::read_to_string(&svg_path).unwrap();
    assert!(svg.contains("<svg"), "{svg}");
    let json_map: Value = serde_json::from_str(&ok(server.client(
        &carla,
        &["schedule", "quiet", "--request", &key, "--json"],
        None,
    )))
    .unwrap();
    assert_eq!(json_map["days"].as_array().unwrap().len(), 7, "{json_map}");

    // Engineers' hours and leave; a customer's blackout shows as a conflict.
    let hours = ok(server.client(
        &eddie,
        &[
            "engineer",
            "hours",
            "eddie",
            "--zone",
            "Europe/Berlin",
            "--hours",
            "Mon-Fri 08:00-18:00",
        ],
        None,
    ));
    assert!(hours.contains("Europe/Berlin"), "{hours}");
    let leave = ok(server.client(
        &paula,
        &[
            "engineer",
            "leave",
            "eddie",
            "--start",
            &tue.to_string(),
            "--end",
            &wed.to_string(),
            "--note",
            "dentist",
        ],
        None,
    ));
    assert!(leave.contains("leave"), "{leave}");
    let engineers = ok(server.client(&paula, &["engineer", "list"], None));
    assert!(
        engineers.contains("eddie") && engineers.contains("Europe/Berlin"),
        "{engineers}"
    );
    assert!(engineers.contains("dentist"), "{engineers}");
    let blackout = ok(server.client(
        &paula,
        &[
            "blackout",
            "add",
            "--customer",
            "Acme Research",
            "--start",
            &wed.to_string(),
            "--end",
            &wed.tomorrow().unwrap().to_string(),
            "--reason",
            "study start",
        ],
        None,
    ))
    .trim()
    .to_string();
    for (who, args) in [
        (&carla, &["blackout", "list"][..]),
        (&paula, &["blackout", "list", "--customer", "Acme Research"]),
    ] {
        let blackouts = ok(server.client(who, args, None));
        assert!(
            blackouts.contains(&blackout) && blackouts.contains("study start"),
            "{args:?}: {blackouts}"
        );
    }
    let a: Value = serde_json::from_str(&ok(server.client(
        &paula,
        &["schedule", "suggest", &key, "--json"],
        None,
    )))
    .unwrap();
    let kinds = |i: usize| -> Vec<String> {
        a["slots"][i]["conflicts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["kind"].as_str().unwrap().to_string())
            .collect()
    };
    assert!(
        kinds(0).contains(&"engineer_unavailable".to_string()),
        "{a}"
    );
    assert!(kinds(1).contains(&"blackout".to_string()), "{a}");
    ok(server.client(&paula, &["blackout", "remove", &blackout], None));
    let blackouts = ok(server.client(&paula, &["blackout", "list", "--json"], None));
    assert!(!blackouts.contains(&blackout), "{blackouts}");

    // A calendar feed: its secret URL works without a token until revoked.
    let feed = ok(server.client(&carla, &["calendar", "feed"], None))
        .trim()
        .to_string();
    assert!(feed.starts_with(&server.url), "{feed}");
    let body = reqwest::get(&feed).await.unwrap().text().await.unwrap();
    assert!(body.contains(&format!("UID:{uid}")), "{body}");
    let revoked = ok(server.client(&carla, &["calendar", "revoke"], None));
    assert!(revoked.contains("revoked 1"), "{revoked}");
    assert_eq!(reqwest::get(&feed).await.unwrap().status(), 404);

    // Another window than the customer's slots; the vendor's freeze; the customer may not
    // book, nor see the engineers.
    let thu = wed.tomorrow().unwrap();
    let window = ok(server.client(
        &paula,
        &[
            "schedule",
            "set",
            &key,
            "--window",
            &format!("{thu} 10:00-11:00 UTC"),
            "--engineer",
            "eddie",
            "--override",
            "unvalidated_build=24.3 agreed with the customer's QA",
            "--password-stdin",
        ],
        Some(&password_of("paula")),
    ));
    assert!(
        window.contains("(another window)") && window.contains("SEQUENCE 2"),
        "{window}"
    );
    ok(server.client(
        &paula,
        &[
            "engineer",
            "on-call",
            "eddie",
            "--start",
            &format!("{thu}T20:00:00Z"),
            "--end",
            &format!("{thu}T23:00:00Z"),
        ],
        None,
    ));
    let freeze = ok(server.client(
        &paula,
        &[
            "blackout",
            "add",
            "--freeze",
            "--start",
            "2027-12-20",
            "--end",
            "2028-01-03",
            "--reason",
            "year-end freeze",
        ],
        None,
    ))
    .trim()
    .to_string();
    let blackouts = ok(server.client(&carla, &["blackout", "list"], None));
    assert!(
        blackouts.contains(&freeze) && blackouts.contains("year-end freeze"),
        "{blackouts}"
    );
    let err = one_line_error(&server.client(
        &carla,
        &[
            "schedule",
            "set",
            &key,
            "--slot",
            "2",
            "--engineer",
            "eddie",
        ],
        None,
    ));
    assert!(err.contains("forbidden"), "{err}");
    let err = one_line_error(&server.client(&carla, &["engineer", "list"], None));
    assert!(err.contains("not found (or not yours to see)"), "{err}");

    // Cancelling the upgrade cancels the calendar entry.
    ok(server.client(
        &carla,
        &[
            "request",
            "cancel",
            &key,
            "--reason",
            "moved to next quarter",
        ],
        None,
    ));
    ok(server.client(
        &carla,
        &["calendar", &key, "--out", ics_path.to_str().unwrap()],
        None,
    ));
    let ics = std::fs::read_to_string(&ics_path).unwrap();
    assert_eq!(ics_line(&ics, "METHOD"), Some("METHOD:CANCEL"), "{ics}");
    assert_eq!(ics_line(&ics, "SEQUENCE"), Some("SEQUENCE:3"), "{ics}");
}

#[tokio::test]
async fn customer_accepts_a_hotfix_from_the_cli_and_no_path_schedules_an_unaccepted_one() {
    let mut tokens = Default::default();
    let mut customer_id = String::new();
    let server = Server::start(|dir| {
        let out = ok(valet_in(
            dir,
            &[
                "customer",
                "add",
                "--name",
                "Acme Research",
                "--zone",
                "Europe/Berlin",
            ],
            &[],
            None,
        ));
        customer_id = out.trim().rsplit(' ').next().unwrap().to_string();
        let mut args = vec!["release", "import"];
        let files = clinic_manifests();
        args.extend(files.iter().map(String::as_str));
        ok(valet_in(dir, &args, &[], None));
        ok(valet_in(
            dir,
            &["release", "publish", "24.2.0.1187"],
            &[],
            None,
        ));
        tokens = (
            user_with_token(dir, "root", "admin", None),
            user_with_token(dir, "carla", "customer_admin", Some("Acme Research")),
            user_with_token(dir, "paula", "vendor_pm", None),
            user_with_token(dir, "eddie", "vendor_engineer", None),
        );
    });
    let (admin, carla, paula, _) = tokens;
    let pair: Value = reqwest::Client::new()
        .post(format!("{}/api/v1/environments", server.url))
        .bearer_auth(&admin)
        .json(
            &json!({ "customer_id": customer_id, "tier": "PROD", "label": "PROD",
                       "build": "24.2.0.1187" }),
        )
        .send()
        .await
        .unwrap()
        .error_for_status()
        .unwrap()
        .json()
        .await
        .unwrap();
    let pair_id = pair["pair_id"].as_str().unwrap().to_string();
    let out = ok(server.client(&carla, &["hotfix", "list"], None));
    assert!(out.contains("no hotfix"), "{out}");

    // The console's publish (the admin path) announces the hotfix.
    let out = ok(valet_in(
        server.path(),
        &["release", "publish", "24.2.1.1201"],
        &[],
        None,
    ));
    assert!(out.contains("1 customer told of the hotfix"), "{out}");
    let out = ok(server.client(&carla, &["hotfix", "list"], None));
    assert!(out.contains("24.2.1.1201 (high severity"), "{out}");
    assert!(out.contains("undecided"), "{out}");
    let list: Value = serde_json::from_str(&ok(server.client(
        &carla,
        &["hotfix", "list", "--json"],
        None,
    )))
    .unwrap();
    assert_eq!(list[0]["pairs"][0]["pair_id"], json!(pair_id));

    let day = weekday_after(10, jiff::civil::Weekday::Wednesday);
    let slot = format!("{day} 13:00-14:00 Europe/Berlin");
    let accept = |pw: &str| {
        server.client(
            &carla,
            &[
                "hotfix",
                "accept",
                "24.2.1.1201",
                "--pair",
                &pair_id,
                "--slot",
                &slot,
                "--downtime-minutes",
                "20",
                "--password-stdin",
            ],
            Some(pw),
        )
    };
    let e = error_line(&accept("wrong password\n"));
    assert!(e.contains("nothing was signed"), "{e}");
    let out = ok(accept(&password_of("carla")));
    assert!(out.starts_with("HFX-1 filed"), "{out}");
    assert!(out.contains("7 days of notice"), "{out}");
    let e = error_line(&accept(&password_of("carla")));
    assert!(e.contains("already accepted"), "{e}");
    let e = error_line(&server.client(
        &carla,
        &[
            "hotfix",
            "decline",
            "24.2.1.1201",
            "--pair",
            &pair_id,
            "--reason",
            "changed our mind",
            "--password-stdin",
        ],
        Some(&password_of("carla")),
    ));
    assert!(e.contains("a decision is final"), "{e}");

    // The PM books HFX-1 like an upgrade.
    let out = ok(server.client(
        &paula,
        &[
            "schedule",
            "set",
            "HFX-1",
            "--slot",
            "1",
            "--engineer",
            "eddie",
        ],
        None,
    ));
    assert!(out.contains("HFX-1") || out.contains("eddie"), "{out}");

    // A hotfix request with no acceptance behind it (written into the database directly) is
    // refused by the CLI's scheduling path.
    let db = format!(
        "sqlite://{}",
        server.path().join("valet-data/valet.db").display()
    );
    sqlx::any::install_default_drivers();
    let mut conn = <sqlx::AnyConnection as sqlx::Connection>::connect(&db)
        .await
        .unwrap();
    sqlx::query(
        "INSERT INTO requests (id, key, kind, customer_id, state, title, details, created_by, \
         created_at, updated_at) SELECT 'crafted', 'HFX-5', 'hotfix', customer_id, \
         'submitted', 'crafted', details, created_by, created_at, updated_at FROM requests \
         WHERE key = 'HFX-1'",
    )
    .execute(&mut conn)
    .await
    .unwrap();
    let e = one_line_error(&server.client(
        &paula,
        &[
            "schedule",
            "set",
            "HFX-5",
            "--slot",
            "1",
            "--engineer",
            "eddie",
        ],
        None,
    ));
    assert!(e.contains("HFX-5: hotfix not accepted"), "{e}");
}
