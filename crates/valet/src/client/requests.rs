//! `valet request …`: file a VAL, read, comment, approve, sign, and move a request along.

use std::process::ExitCode;

use anyhow::Context;
use clap::Subcommand;
use jiff::tz::TimeZone;
use serde_json::{json, Value};
use valet_core::signature::Meaning;
use valet_core::upgrade::UpgradeRequestInput;
use valet_core::val::ValRequestInput;
use valet_core::{RequestKind, RequestState};

use super::api::{parse, Api};
use super::view::{self, RequestView};

#[derive(Debug, Subcommand)]
pub enum RequestCommand {
    /// File a VAL request; prints the new key alone (e.g. `VAL-3`).
    Val(ValArgs),
    /// File a PROD upgrade request with proposed slots; prints the new key alone on standard
    /// output (e.g. `UPG-1`) and the slots as the server read them, with every warning, on
    /// standard error.
    Upgrade(UpgradeArgs),
    /// List the requests you may see.
    List {
        #[arg(long)]
        state: Option<RequestState>,
        /// val, upgrade, hotfix or val_extension.
        #[arg(long)]
        kind: Option<RequestKind>,
        /// Print the API's JSON as is.
        #[arg(long)]
        json: bool,
    },
    /// Show a request: fields, state, signatures, runs, findings, documents, comments.
    Show {
        key: String,
        #[arg(long)]
        json: bool,
    },
    /// Comment on a request.
    Comment {
        key: String,
        #[arg(long)]
        body: String,
    },
    /// Approve a request (PM; e-signed `approved`: asks for your password).
    Approve {
        key: String,
        #[arg(long)]
        comment: Option<String>,
        /// Read the password from the first line of standard input.
        #[arg(long)]
        password_stdin: bool,
    },
    /// Sign a request with a meaning (`validated` is the sign-off); asks for your password.
    Sign {
        key: String,
        /// approved, validated, reviewed, responsibility, accepted or declined.
        #[arg(long)]
        meaning: Meaning,
        #[arg(long)]
        reason: Option<String>,
        /// Read the password from the first line of standard input.
        #[arg(long)]
        password_stdin: bool,
    },
    /// Reject a request (PM).
    Reject {
        key: String,
        #[arg(long)]
        reason: String,
    },
    /// Cancel a request.
    Cancel {
        key: String,
        #[arg(long)]
        reason: String,
    },
    /// Close a VAL early (its pair is torn down).
    Close {
        key: String,
        #[arg(long)]
        reason: String,
    },
    /// Retry a request whose run failed (a new run is queued).
    Retry { key: String },
    /// Ask to extend a VAL (`--end`, `--reason`), or approve the pending extension (`--approve`).
    Extend {
        key: String,
        /// New last day of validation, YYYY-MM-DD.
        #[arg(long, required_unless_present = "approve", conflicts_with = "approve")]
        end: Option<String>,
        #[arg(long, required_unless_present = "approve", conflicts_with = "approve")]
        reason: Option<String>,
        /// Approve the pending extension (PM).
        #[arg(long)]
        approve: bool,
    },
}

/// `valet request val`'s flags.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct ValArgs {
    /// The PROD pair to clone: its pair id (as /api/v1/environments shows it), or customer
    /// and tier, e.g. `Acme Clinical Research/PROD`.
    #[arg(long)]
    pub pair: String,
    /// Target build or version (`24.3` or `24.3.0.1300`).
    #[arg(long)]
    pub build: String,
    /// First day of validation, YYYY-MM-DD.
    #[arg(long)]
    pub begin: String,
    /// Last day of validation, YYYY-MM-DD.
    #[arg(long)]
    pub end: String,
    /// The IdP's SAML metadata: an https:// URL, or a file holding the XML. Makes SSO required.
    #[arg(long, value_name = "FILE_OR_URL")]
    pub sso_metadata: Option<String>,
    /// Lab test environment details (endpoint, contact).
    #[arg(long)]
    pub lab: Option<String>,
    #[arg(long)]
    pub purpose: Option<String>,
    /// Refresh this VAL pair: carry its configuration over into the fresh clone.
    #[arg(long, value_name = "VAL-PAIR")]
    pub refresh: Option<String>,
}

/// `valet request upgrade`'s flags.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct UpgradeArgs {
    /// The PROD pair to upgrade: its pair id, or customer and tier, e.g.
    /// `Acme Clinical Research/PROD`.
    #[arg(long)]
    pub pair: String,
    /// Target build (default: the build validated and signed off in the pair's latest VAL;
    /// another build needs the PM's override).
    #[arg(long)]
    pub build: Option<String>,
    /// A proposed slot: date, start–end and IANA zone, e.g.
    /// `2027-01-11 09:00-10:00 America/Chicago`. Repeat for several.
    #[arg(long = "slot", required = true, value_name = "SLOT")]
    pub slots: Vec<String>,
    /// The preferred slot, 1-based (default: the first).
    #[arg(long, value_name = "N")]
    pub preferred: Option<usize>,
    /// The downtime you can accept, in minutes.
    #[arg(long, value_name = "M")]
    pub downtime_minutes: u64,
    #[arg(long)]
    pub note: Option<String>,
}

/// The body of `POST /requests/upgrade`.
pub fn upgrade_input(args: &UpgradeArgs) -> UpgradeRequestInput {
    UpgradeRequestInput {
        pair: args.pair.clone(),
        build: args.build.clone(),
        slots: args.slots.clone(),
        preferred: args.preferred,
        downtime_minutes: Some(args.downtime_minutes),
        note: args.note.clone(),
    }
}

/// Whether `--sso-metadata` names a URL (sent as is) rather than a file to read.
fn is_url(s: &str) -> bool {
    let s = s.trim_start();
    s.starts_with("https://") || s.starts_with("http://")
}

/// The body of `POST /requests/val`; `sso_metadata` is the URL or the file's XML.
pub fn val_input(args: &ValArgs, sso_metadata: Option<String>) -> ValRequestInput {
    ValRequestInput {
        pair: args.pair.clone(),
        build: args.build.clone(),
        begin: args.begin.clone(),
        end: args.end.clone(),
        sso_required: sso_metadata.is_some(),
        sso_metadata,
        lab: args.lab.clone(),
        purpose: args.purpose.clone(),
        refresh: args.refresh.clone(),
    }
}

/// Reads `--sso-metadata`: a URL is sent as is, a file's XML is sent as its text.
fn sso_metadata(arg: Option<&str>) -> anyhow::Result<Option<String>> {
    let Some(arg) = arg else { return Ok(None) };
    if is_url(arg) {
        return Ok(Some(arg.trim().to_string()));
    }
    let xml = std::fs::read_to_string(arg).with_context(|| {
        format!(
            "--sso-metadata `{arg}`: cannot read the file; give a file holding the IdP's XML \
             metadata or an https:// URL"
        )
    })?;
    Ok(Some(xml))
}

/// The body of a state change that takes a reason.
pub fn reason_body(reason: &str) -> Value {
    json!({ "reason": reason })
}

/// The body of `POST …/approve`.
pub fn approve_body(password: &str, comment: Option<&str>) -> Value {
    let mut b = json!({ "password": password });
    if let Some(c) = comment {
        b["comment"] = json!(c);
    }
    b
}

/// The body of `POST …/signatures`.
pub fn sign_body(password: &str, meaning: Meaning, reason: Option<&str>) -> Value {
    let mut b = json!({ "password": password, "meaning": meaning });
    if let Some(r) = reason {
        b["reason"] = json!(r);
    }
    b
}

/// The query of `GET /requests`.
pub fn list_query(
    state: Option<RequestState>,
    kind: Option<RequestKind>,
) -> Vec<(&'static str, String)> {
    let mut q = Vec::new();
    if let Some(s) = state {
        q.push(("state", s.to_string()));
    }
    if let Some(k) = kind {
        q.push(("kind", k.to_string()));
    }
    q
}

fn done(text: &str, what: &str) -> anyhow::Result<ExitCode> {
    let r: view::Request = parse(text)?;
    println!("{}: {what} (state {})", r.key, r.state);
    Ok(ExitCode::SUCCESS)
}

pub async fn run(api: &Api, cmd: RequestCommand) -> anyhow::Result<ExitCode> {
    let tz = TimeZone::system();
    match cmd {
        RequestCommand::Val(args) => {
            let body = val_input(&args, sso_metadata(args.sso_metadata.as_deref())?);
            let text = api
                .post(&["requests", "val"], &serde_json::to_value(body)?)
                .await?;
            let r: view::Request = parse(&text)?;
            println!("{}", r.key);
        }
        RequestCommand::Upgrade(args) => {
            let text = api
                .post(
                    &["requests", "upgrade"],
                    &serde_json::to_value(upgrade_input(&args))?,
                )
                .await?;
            let r: view::Request = parse(&text)?;
            println!("{}", r.key);
            eprint!("{}", view::upgrade_filed(&r, &tz));
        }
        RequestCommand::List { state, kind, json } => {
            let q = list_query(state, kind);
            let q: Vec<(&str, &str)> = q.iter().map(|(k, v)| (*k, v.as_str())).collect();
            let text = api.get(&["requests"], &q).await?;
            if json {
                super::print_raw(&text);
            } else {
                let list: Vec<view::Request> = parse(&text)?;
                for r in &list {
                    println!("{}", view::request_line(r));
                }
            }
        }
        RequestCommand::Show { key, json } => {
            let text = api.get(&["requests", &key], &[]).await?;
            if json {
                super::print_raw(&text);
            } else {
                let v: RequestView = parse(&text)?;
                print!("{}", view::request(&v, &tz));
            }
        }
        RequestCommand::Comment { key, body } => {
            api.post(&["requests", &key, "comments"], &json!({ "body": body }))
                .await?;
            println!("{key}: comment added");
        }
        RequestCommand::Approve {
            key,
            comment,
            password_stdin,
        } => {
            eprintln!(
                "Signing {key} with the meaning `approved`: {}",
                Meaning::Approved.statement()
            );
            let pw = super::password(password_stdin, "Your password (to sign): ")?;
            let text = api
                .post(
                    &["requests", &key, "approve"],
                    &approve_body(&pw, comment.as_deref()),
                )
                .await?;
            return done(&text, "approved and signed");
        }
        RequestCommand::Sign {
            key,
            meaning,
            reason,
            password_stdin,
        } => {
            eprintln!(
                "Signing {key} with the meaning `{meaning}`: {}",
                meaning.statement()
            );
            let pw = super::password(password_stdin, "Your password (to sign): ")?;
            let text = api
                .post(
                    &["requests", &key, "signatures"],
                    &sign_body(&pw, meaning, reason.as_deref()),
                )
                .await?;
            let s: view::Signature = parse(&text)?;
            println!(
                "{key}: signed `{}` by {} at {}",
                s.meaning,
                s.printed_name,
                if s.signed_at_local.is_empty() {
                    view::time(s.signed_at, &tz)
                } else {
                    s.signed_at_local
                }
            );
        }
        RequestCommand::Reject { key, reason } => {
            let text = api
                .post(&["requests", &key, "reject"], &reason_body(&reason))
                .await?;
            return done(&text, "rejected");
        }
        RequestCommand::Cancel { key, reason } => {
            let text = api
                .post(&["requests", &key, "cancel"], &reason_body(&reason))
                .await?;
            return done(&text, "cancelled");
        }
        RequestCommand::Close { key, reason } => {
            let text = api
                .post(&["requests", &key, "close"], &reason_body(&reason))
                .await?;
            return done(&text, "closing");
        }
        RequestCommand::Retry { key } => {
            let text = api.post(&["requests", &key, "retry"], &json!({})).await?;
            return done(&text, "retrying with a new run");
        }
        RequestCommand::Extend {
            key,
            end,
            reason,
            approve,
        } => {
            if approve {
                let text = api
                    .post(&["requests", &key, "extension", "approve"], &json!({}))
                    .await?;
                return done(&text, "extension approved");
            }
            let body =
                json!({ "end": end.unwrap_or_default(), "reason": reason.unwrap_or_default() });
            let text = api.post(&["requests", &key, "extension"], &body).await?;
            let r: view::Request = parse(&text)?;
            println!(
                "{key}: extension {} filed (state {}); a PM approves it with `valet request extend {key} --approve`",
                r.key, r.state
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args() -> ValArgs {
        ValArgs {
            pair: "PROD-1".into(),
            build: "24.3".into(),
            begin: "2027-01-04".into(),
            end: "2027-03-01".into(),
            purpose: Some("24.3 cycle".into()),
            ..ValArgs::default()
        }
    }

    #[test]
    fn val_flags_map_to_the_api_fields() {
        let body = serde_json::to_value(val_input(&args(), None)).unwrap();
        assert_eq!(
            body,
            json!({
                "pair": "PROD-1", "build": "24.3", "begin": "2027-01-04", "end": "2027-03-01",
                "sso_required": false, "sso_metadata": null, "lab": null,
                "purpose": "24.3 cycle", "refresh": null
            })
        );
    }

    #[test]
    fn upgrade_flags_map_to_the_api_fields() {
        let args = UpgradeArgs {
            pair: "Acme/PROD".into(),
            build: None,
            slots: vec![
                "2027-01-11 09:00-10:00 America/Chicago".into(),
                "2027-01-12 2pm-3pm CST".into(),
            ],
            preferred: Some(2),
            downtime_minutes: 90,
            note: None,
        };
        assert_eq!(
            serde_json::to_value(upgrade_input(&args)).unwrap(),
            json!({
                "pair": "Acme/PROD", "build": null,
                "slots": ["2027-01-11 09:00-10:00 America/Chicago", "2027-01-12 2pm-3pm CST"],
                "preferred": 2, "downtime_minutes": 90, "note": null
            })
        );
    }

    #[test]
    fn sso_metadata_file_is_sent_as_xml_and_makes_sso_required() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("idp.xml");
        std::fs::write(&file, "<EntityDescriptor entityID=\"x\"/>").unwrap();
        let xml = sso_metadata(Some(file.to_str().unwrap())).unwrap();
        let body = val_input(&args(), xml);
        assert!(body.sso_required);
        assert_eq!(
            body.sso_metadata.as_deref(),
            Some("<EntityDescriptor entityID=\"x\"/>")
        );
    }

    #[test]
    fn sso_metadata_url_is_sent_as_is() {
        let url = sso_metadata(Some("https://idp.example/metadata")).unwrap();
        assert_eq!(url.as_deref(), Some("https://idp.example/metadata"));
    }

    #[test]
    fn missing_sso_metadata_file_says_what_to_give() {
        let err = sso_metadata(Some("/nonexistent/idp.xml"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("https:// URL"), "{err}");
    }

    #[test]
    fn signing_bodies_carry_the_password_and_meaning() {
        assert_eq!(
            approve_body("pw", Some("ok")),
            json!({"password": "pw", "comment": "ok"})
        );
        assert_eq!(approve_body("pw", None), json!({"password": "pw"}));
        assert_eq!(
            sign_body("pw", Meaning::Validated, Some("all findings closed")),
            json!({"password": "pw", "meaning": "validated", "reason": "all findings closed"})
        );
    }

    #[test]
    fn list_filters_become_query_parameters() {
        assert_eq!(
            list_query(Some(RequestState::InProgress), Some(RequestKind::Val)),
            vec![
                ("state", "in_progress".to_string()),
                ("kind", "val".to_string())
            ]
        );
        assert!(list_query(None, None).is_empty());
    }
}
