//! `valet engineer …`: vendor engineers' weekly hours (in their own zone) and their leave and
//! on-call periods, which scheduling checks a slot against.

use std::process::ExitCode;

use clap::Subcommand;
use jiff::tz::TimeZone;
use serde_json::{json, Value};

use super::api::{parse, Api};
use super::view::{self, Engineer, Exception};

#[derive(Debug, Subcommand)]
pub enum EngineerCommand {
    /// Vendor engineers with their hours and exceptions.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Record an engineer's weekly working hours in their zone (the engineer, or a PM).
    Hours {
        username: String,
        /// IANA zone the hours are in, e.g. Europe/Berlin.
        #[arg(long)]
        zone: String,
        /// e.g. `Mon-Fri 08:00-18:00` or `Mon-Thu 07:00-15:00; Fri 07:00-12:00`.
        #[arg(long)]
        hours: String,
    },
    /// Record leave: the engineer cannot be booked in it.
    Leave(ExceptionArgs),
    /// Record on-call time: the engineer is available in it even outside their hours.
    OnCall(ExceptionArgs),
}

#[derive(Debug, Clone, clap::Args)]
pub struct ExceptionArgs {
    pub username: String,
    /// First day (YYYY-MM-DD, from midnight UTC) or an RFC 3339 instant.
    #[arg(long)]
    pub start: String,
    /// End, exclusive: a date (midnight UTC) or an RFC 3339 instant.
    #[arg(long)]
    pub end: String,
    #[arg(long)]
    pub note: Option<String>,
}

/// The body of `POST /engineers/{name}/exceptions`.
pub fn exception_body(kind: &str, a: &ExceptionArgs) -> Value {
    json!({
        "kind": kind,
        "start": a.start,
        "end": a.end,
        "note": a.note.as_deref().unwrap_or(""),
    })
}

async fn add_exception(api: &Api, kind: &str, a: ExceptionArgs) -> anyhow::Result<()> {
    let text = api
        .post(
            &["engineers", &a.username, "exceptions"],
            &exception_body(kind, &a),
        )
        .await?;
    let x: Exception = parse(&text)?;
    let tz = TimeZone::system();
    println!(
        "{}: {} {} → {} (id {})",
        a.username,
        x.kind,
        view::time(x.start, &tz),
        view::time(x.end, &tz),
        x.id
    );
    Ok(())
}

pub async fn run(api: &Api, cmd: EngineerCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        EngineerCommand::List { json } => {
            let text = api.get(&["engineers"], &[]).await?;
            if json {
                super::print_raw(&text);
            } else {
                let list: Vec<Engineer> = parse(&text)?;
                if list.is_empty() {
                    eprintln!(
                        "no vendor engineers; add one with `valet user add --role vendor_engineer`"
                    );
                }
                let tz = TimeZone::system();
                let mut out = String::new();
                for e in &list {
                    view::engineer(&mut out, e, &tz);
                }
                print!("{out}");
            }
        }
        EngineerCommand::Hours {
            username,
            zone,
            hours,
        } => {
            let text = api
                .put(
                    &["engineers", &username, "hours"],
                    &json!({ "zone": zone, "hours": hours }),
                )
                .await?;
            let v: Value = parse(&text)?;
            println!(
                "{}: {} ({})",
                v["username"].as_str().unwrap_or(&username),
                v["hours"].as_str().unwrap_or_default(),
                v["zone"].as_str().unwrap_or_default()
            );
        }
        EngineerCommand::Leave(a) => add_exception(api, "leave", a).await?,
        EngineerCommand::OnCall(a) => add_exception(api, "on_call", a).await?,
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exception_flags_map_to_the_api_fields() {
        let a = ExceptionArgs {
            username: "eddie".into(),
            start: "2027-02-01".into(),
            end: "2027-02-08".into(),
            note: None,
        };
        assert_eq!(
            exception_body("on_call", &a),
            json!({"kind": "on_call", "start": "2027-02-01", "end": "2027-02-08", "note": ""})
        );
    }
}
