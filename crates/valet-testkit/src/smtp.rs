//! A real SMTP server for tests: Python's `aiosmtpd` (installed by `scripts/setup`) on
//! loopback, recording every message it receives.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The SMTP server: records each message as one JSON line (envelope, headers, decoded
/// bodies, whether the client authenticated). AUTH is offered without TLS (loopback only)
/// and optional, so one server serves anonymous and authenticated clients.
const SMTP_SERVER_PY: &str = r#"
import email, json, sys, time
from email import policy
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

port, out, user, password = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]

class Recorder:
    async def handle_DATA(self, server, session, envelope):
        msg = email.message_from_bytes(envelope.content, policy=policy.default)
        text = msg.get_body(("plain",))
        html = msg.get_body(("html",))
        record = {
            "mail_from": envelope.mail_from,
            "rcpt_tos": envelope.rcpt_tos,
            "from": str(msg["From"]),
            "to": str(msg["To"]),
            "subject": str(msg["Subject"]),
            "text": text.get_content() if text is not None else None,
            "html": html.get_content() if html is not None and html is not text else None,
            "authenticated": bool(session.authenticated),
        }
        with open(out, "a") as f:
            f.write(json.dumps(record) + "\n")
        return "250 OK"

def authenticator(server, session, envelope, mechanism, auth_data):
    ok = (isinstance(auth_data, LoginPassword)
          and auth_data.login == user.encode() and auth_data.password == password.encode())
    return AuthResult(success=ok, handled=False)

controller = Controller(Recorder(), hostname="127.0.0.1", port=port,
                        authenticator=authenticator, auth_require_tls=False)
controller.start()
print("ready", flush=True)
while True:
    time.sleep(3600)
"#;

pub const SMTP_USER: &str = "mailer";
pub const SMTP_PASSWORD: &str = "s3cret-p@ss";

/// A running SMTP server; killed when dropped.
pub struct SmtpServer {
    child: Child,
    pub port: u16,
    messages: PathBuf,
    _dir: tempfile::TempDir,
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl SmtpServer {
    /// Starts the server on a free loopback port, or returns `None` after a loud notice when
    /// python3 or aiosmtpd is missing (a failure with `CI=true`).
    pub fn start() -> Option<SmtpServer> {
        let probe = Command::new("python3")
            .args(["-c", "import aiosmtpd"])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .output();
        let missing = match probe {
            Err(e) => Some(format!("python3 cannot be run ({e})")),
            Ok(o) if !o.status.success() => Some(format!(
                "python3 has no aiosmtpd ({})",
                String::from_utf8_lossy(&o.stderr)
                    .lines()
                    .last()
                    .unwrap_or("")
            )),
            Ok(_) => None,
        };
        if let Some(why) = missing {
            crate::skipped(
                &format!("SMTP test server unavailable: {why}"),
                "Run scripts/setup (pip install aiosmtpd)",
            );
            return None;
        }
        let dir = tempfile::tempdir().expect("temporary directory");
        let script = dir.path().join("smtp_server.py");
        std::fs::write(&script, SMTP_SERVER_PY).expect("write server script");
        let messages = dir.path().join("messages.jsonl");
        let port = free_port();
        let child = Command::new("python3")
            .arg(&script)
            .arg(port.to_string())
            .arg(&messages)
            .args([SMTP_USER, SMTP_PASSWORD])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start python3");
        let mut server = SmtpServer {
            child,
            port,
            messages,
            _dir: dir,
        };
        server.wait_until_accepting();
        Some(server)
    }

    fn wait_until_accepting(&mut self) {
        let addr = SocketAddr::from(([127, 0, 0, 1], self.port));
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
                return;
            }
            if let Some(status) = self.child.try_wait().expect("poll SMTP server") {
                let mut stderr = String::new();
                if let Some(mut e) = self.child.stderr.take() {
                    let _ = std::io::Read::read_to_string(&mut e, &mut stderr);
                }
                panic!("SMTP test server exited with {status}: {stderr}");
            }
            assert!(
                Instant::now() < deadline,
                "SMTP test server not accepting on {addr} after 20 s"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The server's URL for valet (`VALET_SMTP_URL`), sending as `Valet <valet@example.com>`.
    pub fn url(&self) -> String {
        format!(
            "smtp://127.0.0.1:{}?from=Valet%20%3Cvalet@example.com%3E",
            self.port
        )
    }

    /// Every message received so far, in order.
    pub fn received(&self) -> Vec<serde_json::Value> {
        let text = std::fs::read_to_string(&self.messages).unwrap_or_default();
        text.lines()
            .map(|l| serde_json::from_str(l).expect("JSON line from the SMTP server"))
            .collect()
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("bind a free port")
        .port()
}
