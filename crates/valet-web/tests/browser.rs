//! The UI in a real browser: Debian's chromium driven by playwright-core (`tests/browser/ui.js`).
//! Needs `npm ci` in `tests/browser` and `/usr/bin/chromium`; `.ci/run` provides both. Outside
//! CI a missing piece skips the test loudly; in CI it fails.

mod helpers;

use std::path::PathBuf;
use std::process::Command;

use helpers::spawn_app;

fn missing(what: &str) {
    if valet_testkit::in_ci() {
        panic!("browser test cannot run in CI: {what}");
    }
    eprintln!("\n!!!!!!!! SKIPPED: browser test: {what}\n");
}

#[tokio::test]
async fn validation_lead_walks_environments_releases_and_notes_in_chromium() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/browser");
    if !dir.join("node_modules/playwright-core").exists() {
        return missing("run `npm ci` in crates/valet-web/tests/browser");
    }
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    if !PathBuf::from(&chromium).exists() {
        return missing("install Debian's chromium (apt-get install chromium)");
    }
    let app = spawn_app().await;
    let releases = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../examples/clinic/releases");
    for v in ["24.1", "24.2", "24.2.1", "24.3"] {
        let r = app
            .client
            .post(app.url(&format!("/api/v1/releases?file={v}.toml")))
            .bearer_auth(&app.admin_token)
            .body(std::fs::read_to_string(releases.join(format!("{v}.toml"))).unwrap())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201);
        let build = r.json::<serde_json::Value>().await.unwrap()["build"]
            .as_str()
            .unwrap()
            .to_string();
        let r = app
            .client
            .post(app.url(&format!("/api/v1/releases/{build}/publish")))
            .bearer_auth(&app.admin_token)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
    }
    let out = tempfile::tempdir().unwrap();
    let base = app.base.clone();
    let result = tokio::task::spawn_blocking({
        let out = out.path().to_path_buf();
        move || {
            Command::new("node")
                .arg(dir.join("ui.js"))
                .args([&base, "alpha.user", "a long test password"])
                .arg(&out)
                .arg("Beta")
                .env("CHROMIUM", &chromium)
                .output()
                .expect("node is installed")
        }
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&result.stdout);
    let stderr = String::from_utf8_lossy(&result.stderr);
    assert!(result.status.success(), "{stdout}\n{stderr}");
    assert!(
        stdout.contains("ok: no other tenant is visible"),
        "{stdout}"
    );
    for shot in ["releases.png", "environments.png", "notes.png", "notes.pdf"] {
        let len = std::fs::metadata(out.path().join(shot))
            .map(|m| m.len())
            .unwrap_or(0);
        assert!(len > 1000, "{shot} was written ({len} bytes)");
    }
}
