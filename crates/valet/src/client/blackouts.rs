//! `valet blackout …`: a customer's blackout periods (e.g. a study start) and the vendor's
//! change freezes; no upgrade is booked in one unless a PM overrides it.

use std::process::ExitCode;

use clap::Subcommand;
use jiff::tz::TimeZone;
use serde_json::{json, Value};

use super::api::{parse, Api};
use super::view::{self, Blackout};

#[derive(Debug, Subcommand)]
pub enum BlackoutCommand {
    /// Add a customer's blackout period, or (PM, `--freeze`) a vendor-wide freeze; prints its
    /// id alone.
    Add {
        /// The customer (name or id); a customer's admin may leave it out.
        #[arg(long, conflicts_with = "freeze")]
        customer: Option<String>,
        /// A vendor-wide change freeze (vendor PM).
        #[arg(long)]
        freeze: bool,
        /// Start: a date (YYYY-MM-DD, midnight UTC) or an RFC 3339 instant.
        #[arg(long)]
        start: String,
        /// End, exclusive: a date (midnight UTC) or an RFC 3339 instant.
        #[arg(long)]
        end: String,
        #[arg(long)]
        reason: String,
    },
    /// Blackouts and freezes you may see.
    List {
        /// Only this customer's (name or id) and the freezes.
        #[arg(long)]
        customer: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Remove a blackout or freeze by its id.
    Remove { id: String },
}

/// The body of `POST /blackouts`.
pub fn add_body(
    customer: Option<&str>,
    freeze: bool,
    start: &str,
    end: &str,
    reason: &str,
) -> Value {
    json!({ "customer": customer, "freeze": freeze, "start": start, "end": end, "reason": reason })
}

pub async fn run(api: &Api, cmd: BlackoutCommand) -> anyhow::Result<ExitCode> {
    let tz = TimeZone::system();
    match cmd {
        BlackoutCommand::Add {
            customer,
            freeze,
            start,
            end,
            reason,
        } => {
            let text = api
                .post(
                    &["blackouts"],
                    &add_body(customer.as_deref(), freeze, &start, &end, &reason),
                )
                .await?;
            let b: Blackout = parse(&text)?;
            println!("{}", b.id);
            eprintln!("added {}", view::blackout_line(&b, &tz));
        }
        BlackoutCommand::List { customer, json } => {
            let q: Vec<(&str, &str)> = customer
                .as_deref()
                .map(|c| ("customer", c))
                .into_iter()
                .collect();
            let text = api.get(&["blackouts"], &q).await?;
            if json {
                super::print_raw(&text);
            } else {
                let list: Vec<Blackout> = parse(&text)?;
                if list.is_empty() {
                    eprintln!("no blackouts or freezes");
                }
                for b in &list {
                    println!("{}", view::blackout_line(b, &tz));
                }
            }
        }
        BlackoutCommand::Remove { id } => {
            api.delete(&["blackouts", &id]).await?;
            println!("removed {id}");
        }
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn add_flags_map_to_the_api_fields() {
        assert_eq!(
            add_body(None, true, "2027-12-20", "2028-01-03", "year-end freeze"),
            json!({"customer": null, "freeze": true, "start": "2027-12-20",
                   "end": "2028-01-03", "reason": "year-end freeze"})
        );
    }
}
