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
