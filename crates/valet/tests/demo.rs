//! `valet demo` end to end: server, worker and the clinic PROD pair come up; Ctrl-C stops
//! everything cleanly.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[tokio::test]
async fn demo_brings_up_server_and_clinic_pair_and_stops_on_ctrl_c() {
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_valet"))
        .current_dir(dir.path())
        .env_remove("VALET_DATABASE_URL")
        .args([
            "demo",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--volunteers",
            "200",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let mut lines = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(180);
    while Instant::now() < deadline {
        match rx.recv_timeout(Duration::from_secs(1)) {
            Ok(l) => {
                let end = l.starts_with("stop: Ctrl-C");
                lines.push(l);
                if end {
                    break;
                }
            }
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
                assert!(
                    child.try_wait().unwrap().is_none(),
                    "demo exited: {lines:?}"
                );
            }
            Err(_) => break,
        }
    }
    let health: Vec<String> = lines
        .iter()
        .filter_map(|l| l.split_whitespace().find(|w| w.ends_with("/health")))
        .map(str::to_string)
        .collect();
    assert_eq!(health.len(), 2, "two clinic instances announced: {lines:?}");
    let password = lines
        .iter()
        .find_map(|l| l.trim().strip_prefix("login     admin / "))
        .expect("credentials printed")
        .to_string();

    let client = reqwest::Client::new();
    for url in &health {
        let r = client.get(url).send().await.unwrap();
        assert_eq!(r.status(), 200, "{url}");
        let body: serde_json::Value = r.json().await.unwrap();
        assert_eq!(body["release"], "24.2.1", "PROD runs the hotfix release");
    }
    let base = format!("http://127.0.0.1:{port}");
    assert_eq!(
        client
            .get(format!("{base}/healthz"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    let envs: Vec<serde_json::Value> = client
        .get(format!("{base}/api/v1/environments"))
        .basic_auth("admin", Some(&password))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let names: Vec<&str> = envs.iter().filter_map(|e| e["name"].as_str()).collect();
    assert_eq!(names, vec!["PROD-MAIN", "PROD-TEST"]);
    for e in &envs {
        let base = e["base_url"]
            .as_str()
            .expect("the running instance's address is recorded");
        assert!(
            health.contains(&format!("{base}/health")),
            "{base} not in {health:?}"
        );
    }

    let lag: Vec<serde_json::Value> = client
        .get(format!("{base}/api/v1/version-lag"))
        .basic_auth("admin", Some(&password))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(lag.len(), 2);
    assert!(lag
        .iter()
        .all(|l| l["releases_behind"] == 1 && l["latest"] == "24.3.0.1300"));

    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGINT,
    )
    .unwrap();
    let status = child.wait().unwrap();
    assert!(status.success(), "clean exit after Ctrl-C: {status}");
    let rest: Vec<String> = rx.try_iter().collect();
    assert!(rest.iter().any(|l| l == "stopped cleanly"), "{rest:?}");
    for url in &health {
        assert!(client.get(url).send().await.is_err(), "{url} still answers");
    }
}
