//! Leak-scan lookups on clinic-like data: `cargo bench -p valet-clone --bench leak_scan`.
//!
//! Indexes the identifying values of N generated volunteers (names, emails, phones,
//! address lines, notes), then looks up the text columns of generated events (kinds, initials,
//! measurement texts, devices) and masked-looking names, and prints nanoseconds per value.
//! The first figure of each kind is measured with the caches cold, the second warm. Compare
//! figures of one run only (VOLUNTEERS=…, EVENTS=… change the sizes).

use std::time::Instant;

use clinic::gen::model;
use rand::SeedableRng;
use valet_clone::leak::{Collector, Scratch};
use valet_clone::LeakScanSettings;

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    let volunteers = env("VOLUNTEERS", 200_000);
    let events = env("EVENTS", 2_000_000);
    let started = Instant::now();
    let mut c = Collector::default();
    for id in 1..=volunteers {
        let v = model::volunteer(1, id, volunteers);
        // What the clinic policy indexes: the values of identifying transformers (postcode
        // and city are not) and the name pair both ways round.
        let pair = format!("{} {}", v.first_name, v.last_name);
        let reversed = format!("{} {}", v.last_name, v.first_name);
        for (col, value) in [
            (0, v.first_name),
            (1, v.last_name),
            (0, pair.as_str()),
            (0, reversed.as_str()),
            (2, v.email.as_str()),
            (3, v.phone.as_str()),
            (4, v.address_line.as_str()),
            (5, v.notes.as_deref().unwrap_or("")),
        ] {
            if !value.is_empty() {
                c.add(col, value);
            }
        }
    }
    let collected = started.elapsed();
    let frozen = Instant::now();
    let ix = c.into_index(&LeakScanSettings::default());
    println!(
        "index: {} values from {volunteers} volunteers: generated and collected in {:.2} s, \
         frozen in {:.2} s",
        ix.values(),
        collected.as_secs_f64(),
        frozen.elapsed().as_secs_f64()
    );

    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
    let mut texts: Vec<String> = Vec::new();
    let mut short: Vec<String> = Vec::new();
    // The text fields of each event in the order a row holds them, as the clone's scan meets
    // them (the caches see codes and measurement texts interleaved).
    let mut rows: Vec<String> = Vec::new();
    for _ in 0..events {
        let e = model::event(&mut rng, 40);
        let (kind, by) = (e.kind.to_string(), format!("S{:02}", e.collected_by_index));
        rows.extend([kind.clone(), by.clone()]);
        rows.extend(e.value_text.clone());
        rows.extend(e.device.clone());
        short.extend([kind, by]);
        short.extend(e.device);
        texts.extend(e.value_text);
    }
    let mut buf = Scratch::default();
    for (label, values) in [
        ("event texts", &texts),
        ("short codes", &short),
        ("event rows", &rows),
    ] {
        for pass in ["cold", "warm"] {
            let started = Instant::now();
            let mut hits = 0u64;
            for v in values.iter() {
                let h = ix.check(v, &mut buf);
                if h.is_some() && hits < 5 && std::env::var("SHOW").is_ok() {
                    println!("  hit {v:?} {h:?}");
                }
                hits += u64::from(h.is_some());
            }
            let ns = started.elapsed().as_nanos() as f64 / values.len() as f64;
            println!(
                "{label:<12} {pass}: {:>8} values, {ns:6.1} ns/value, {hits} hits",
                values.len()
            );
        }
    }
    // Free text with every word looked up: lorem-like pseudo text of about 200 characters.
    let words = [
        "lorem",
        "ipsum",
        "dolor",
        "sit",
        "amet",
        "consectetur",
        "adipiscing",
        "elit",
        "sed",
        "do",
        "eiusmod",
        "tempor",
        "incididunt",
        "ut",
        "labore",
        "et",
        "dolore",
        "magna",
        "aliqua",
    ];
    let notes: Vec<String> = (0..events / 10)
        .map(|i| {
            (0..30)
                .map(|k| words[(i as usize * 7 + k * 13) % words.len()])
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect();
    let started = Instant::now();
    let hits = notes
        .iter()
        .filter(|v| ix.check(v, &mut buf).is_some())
        .count();
    println!(
        "free text    warm: {:>8} values, {:6.1} ns/value, {hits} hits",
        notes.len(),
        started.elapsed().as_nanos() as f64 / notes.len() as f64
    );
}
