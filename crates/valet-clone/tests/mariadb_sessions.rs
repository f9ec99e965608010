//! The MariaDB engine ends every connection it opens with a goodbye (`COM_QUIT`), on error
//! paths too: a connection that is just dropped is counted and logged by the server as
//! aborted — on a production source, once per worker of every failed clone.
//!
//! A test binary of its own: `Aborted_clients` is server-wide, so no other test may run
//! beside this one.

use std::time::Duration;

use mysql_async::prelude::*;
use mysql_async::Conn;
use valet_clone::{clone_database, CloneError, CloneOptions, Policy};
use valet_testkit::TestDb;

const POLICY: &str = r#"version = 1
[tables.people.columns]
id = "keep"
name = "full_name"
"#;

async fn conn(url: &str) -> Conn {
    Conn::new(mysql_async::Opts::from_url(url).unwrap())
        .await
        .expect("connect")
}

/// The server's count of connections that ended without a goodbye.
async fn aborted_clients(url: &str) -> u64 {
    let mut c = conn(url).await;
    let row: Option<(String, String)> = c
        .query_first("SHOW GLOBAL STATUS LIKE 'Aborted_clients'")
        .await
        .expect("status");
    c.disconnect().await.expect("disconnect");
    row.expect("Aborted_clients").1.parse().expect("a count")
}

#[tokio::test]
async fn failed_clones_say_goodbye_to_the_source() {
    let Some(src) = TestDb::mariadb("msess").await else {
        return;
    };
    let dst = src.sibling("msessd").await;
    let mut c = conn(&src.url).await;
    c.query_drop(
        "CREATE TABLE people (id INT PRIMARY KEY, name VARCHAR(50));
         INSERT INTO people VALUES (1, 'Anna Kowalczyk'), (2, 'Olivia Nakamura')",
    )
    .await
    .expect("source table");
    c.disconnect().await.expect("disconnect");
    let mut o = CloneOptions::new(
        src.url.clone(),
        "mysql://root@127.0.0.1:1/nowhere",
        Policy::from_toml_str(POLICY, "people.toml").unwrap(),
    );
    o.jobs = 2;

    // Connections other tests dropped may still be being counted: wait for a steady count.
    let mut before = aborted_clients(&src.url).await;
    loop {
        tokio::time::sleep(Duration::from_millis(200)).await;
        let now = aborted_clients(&src.url).await;
        if now == before {
            break;
        }
        before = now;
    }
    // Fails after the source workers have opened their snapshot: the target is unreachable.
    let e = clone_database(&o).await.unwrap_err();
    assert!(
        matches!(e, CloneError::Connect { side: "target", .. }),
        "{e}"
    );
    // Fails likewise: the target already holds a complete clone.
    o.to = dst.url.clone();
    clone_database(&o).await.expect("first clone");
    let e = clone_database(&o).await.unwrap_err();
    assert!(matches!(e, CloneError::TargetExists(_)), "{e}");
    // Goodbyes of dropped connections are sent by tasks of this runtime.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(aborted_clients(&src.url).await, before);
}
