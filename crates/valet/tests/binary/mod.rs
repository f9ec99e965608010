//! Running the `valet` binary from a test, with none of the caller's valet settings.
#![allow(dead_code)]

use std::path::Path;
use std::process::{Command, Output};

/// `valet ARGS` in `dir`, without `VALET_DATABASE_URL`, `VALET_DATA_DIR` or `VALET_CONFIG`.
pub fn valet(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_valet"))
        .current_dir(dir)
        .env_remove("VALET_DATABASE_URL")
        .env_remove("VALET_DATA_DIR")
        .env_remove("VALET_CONFIG")
        .args(args)
        .output()
        .expect("run valet")
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}
