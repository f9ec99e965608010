//! Adversarial schemas shared by several test crates (each uses a part of them).
#![allow(dead_code)]

pub mod maria;
pub mod pg;
