//! `valet user …` and `valet customer …`: administration from the server's console. The
//! actor is the operating-system user running the command, recorded as such in the audit.

use std::io::Read;

use anyhow::{bail, Context};
use clap::Subcommand;
use rand::distributions::{Alphanumeric, DistString};
use valet_core::{Actor, Role};
use valet_store::users::{self, NewUser};
use valet_store::{customers, Store};

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Add a user; prints a generated password unless --password-stdin is given.
    Add {
        #[arg(long)]
        username: String,
        /// customer_user, customer_admin, vendor_pm, vendor_engineer or admin.
        #[arg(long)]
        role: Role,
        /// The customer (name or id) of a customer_user / customer_admin.
        #[arg(long)]
        customer: Option<String>,
        #[arg(long)]
        display_name: Option<String>,
        #[arg(long)]
        email: Option<String>,
        /// Read the password from standard input instead of generating one.
        #[arg(long)]
        password_stdin: bool,
    },
    /// Issue an API token for a user (shown once).
    Token {
        #[arg(long)]
        username: String,
        #[arg(long, default_value = "cli")]
        name: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum CustomerCommand {
    /// Add a customer (tenant) with its IANA time zone.
    Add {
        #[arg(long)]
        name: String,
        /// IANA zone, e.g. Europe/Berlin.
        #[arg(long)]
        zone: String,
    },
    /// List customers.
    List,
}

/// The person at the console.
pub fn console_actor() -> Actor {
    let user = std::env::var("USER").unwrap_or_else(|_| "unknown".into());
    Actor {
        user_id: format!("console:{user}"),
        username: format!("{user} (console)"),
        role: Role::Admin,
        customer_id: None,
    }
}

pub fn generate_password() -> String {
    Alphanumeric.sample_string(&mut rand::rngs::OsRng, 20)
}

pub async fn resolve_customer(
    store: &Store,
    actor: &Actor,
    name_or_id: &str,
) -> anyhow::Result<String> {
    if let Ok(c) = customers::get(store, actor, name_or_id).await {
        return Ok(c.id);
    }
    match customers::find_by_name(store, actor, name_or_id).await? {
        Some(c) => Ok(c.id),
        None => bail!("no customer named `{name_or_id}`; see `valet customer list`"),
    }
}

pub async fn user(store: &Store, cmd: UserCommand) -> anyhow::Result<()> {
    let actor = console_actor();
    match cmd {
        UserCommand::Add {
            username,
            role,
            customer,
            display_name,
            email,
            password_stdin,
        } => {
            let customer_id = match customer {
                Some(c) => Some(resolve_customer(store, &actor, &c).await?),
                None => None,
            };
            let (password, generated) = if password_stdin {
                let mut s = String::new();
                std::io::stdin()
                    .read_to_string(&mut s)
                    .context("reading the password from standard input")?;
                (s.trim_end_matches(['\n', '\r']).to_string(), false)
            } else {
                (generate_password(), true)
            };
            let user = users::create(
                store,
                &actor,
                NewUser {
                    display_name: display_name.unwrap_or_else(|| username.clone()),
                    username,
                    email,
                    role,
                    customer_id,
                    password: password.clone(),
                },
            )
            .await?;
            println!(
                "added user {} ({}) id {}",
                user.username, user.role, user.id
            );
            if generated {
                println!("password: {password}");
            }
        }
        UserCommand::Token { username, name } => {
            let user = users::find_by_username(store, &username)
                .await?
                .with_context(|| format!("no user named `{username}`"))?;
            let (_, secret) = users::create_token(store, &actor, &user.id, &name).await?;
            println!("{secret}");
        }
    }
    Ok(())
}

pub async fn customer(store: &Store, cmd: CustomerCommand) -> anyhow::Result<()> {
    let actor = console_actor();
    match cmd {
        CustomerCommand::Add { name, zone } => {
            let c = customers::create(store, &actor, &name, &zone).await?;
            println!("added customer {} ({}) id {}", c.name, c.zone, c.id);
        }
        CustomerCommand::List => {
            for c in customers::list(store, &actor).await? {
                println!("{}\t{}\t{}", c.id, c.name, c.zone);
            }
        }
    }
    Ok(())
}
