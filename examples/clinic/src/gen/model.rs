//! The generated records, each a pure function of the seed and its id: the same seed gives
//! the same volunteer number 4711 whatever the counts, engine or release. Fields that only
//! later releases store (phone, device, phase, consents) are drawn always, so an older
//! release sees the same rows minus those columns.

use std::collections::BTreeSet;

use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::clock::{days_from_civil, midnight};
use super::vocab::{self, Country};

const DAY: i64 = 86_400;

/// Which record a random stream belongs to; part of the stream's key.
#[derive(Debug, Clone, Copy)]
#[repr(u64)]
pub enum Stream {
    Staff = 1,
    Study = 2,
    Volunteer = 3,
    Enrolment = 4,
    Audit = 5,
    Events = 6,
    Configuration = 7,
}

/// The random stream of one record: ChaCha8 keyed by (seed, stream, id).
pub fn rng(seed: u64, stream: Stream, id: u64) -> ChaCha8Rng {
    let mut key = [0u8; 32];
    key[..8].copy_from_slice(&seed.to_le_bytes());
    key[8..16].copy_from_slice(&(stream as u64).to_le_bytes());
    key[16..24].copy_from_slice(&id.to_le_bytes());
    key[24..].copy_from_slice(b"clinic01");
    ChaCha8Rng::from_seed(key)
}

/// A member of the clinic's staff.
#[derive(Debug, Clone, PartialEq)]
pub struct Staff {
    pub id: u64,
    pub username: String,
    pub full_name: String,
    pub initials: String,
    pub role: &'static str,
    pub created_at: i64,
}

/// A study run at the clinic.
#[derive(Debug, Clone, PartialEq)]
pub struct Study {
    pub id: u64,
    pub code: String,
    pub title: String,
    pub sponsor: &'static str,
    pub phase: &'static str,
    pub status: &'static str,
    /// Day number (days since 1970-01-01).
    pub started_on: i64,
}

/// A volunteer (study participant).
#[derive(Debug, Clone, PartialEq)]
pub struct Volunteer {
    pub id: u64,
    pub subject_no: String,
    pub first_name: &'static str,
    pub last_name: &'static str,
    pub initials: String,
    /// Day number.
    pub date_of_birth: i64,
    pub sex: &'static str,
    pub email: String,
    pub phone: String,
    pub address_line: String,
    pub postcode: String,
    pub city: &'static str,
    pub country: &'static str,
    pub notes: Option<String>,
    pub created_at: i64,
}

/// A volunteer's participation in a study, with its informed consent.
#[derive(Debug, Clone, PartialEq)]
pub struct Enrolment {
    pub study_id: u64,
    pub enrolled_at: i64,
    pub arm: &'static str,
    pub status: &'static str,
    pub consent_form: String,
    pub consent_signed_at: i64,
    pub consent_witness: String,
    pub consent_withdrawn_at: Option<i64>,
}

/// One audited change of a volunteer's personal data.
#[derive(Debug, Clone, PartialEq)]
pub struct Audit {
    pub changed_at: i64,
    pub changed_by: String,
    pub field: &'static str,
    pub old_value: Option<String>,
    pub new_value: Option<String>,
}

/// One data-collection event, without its time and enrolment.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    pub kind: &'static str,
    pub collected_by_index: usize,
    pub value_num: Option<f64>,
    pub value_text: Option<String>,
    pub device: Option<String>,
}

/// Staff numbers grow with the volunteer panel: 8 to 400.
pub fn staff_count(volunteers: u64) -> u64 {
    (volunteers / 50).clamp(8, 400)
}

/// Studies grow with the volunteer panel: 3 to 2000.
pub fn study_count(volunteers: u64) -> u64 {
    (volunteers / 25).clamp(3, 2000)
}

fn pick<'a, T>(rng: &mut ChaCha8Rng, items: &'a [T]) -> &'a T {
    items.choose(rng).expect("non-empty list")
}

fn pick_str(rng: &mut ChaCha8Rng, items: &[&'static str]) -> &'static str {
    items.choose(rng).copied().expect("non-empty list")
}

fn pick_weighted<T: Copy>(rng: &mut ChaCha8Rng, items: &[(T, u32)]) -> T {
    let total: u32 = items.iter().map(|(_, w)| w).sum();
    let mut roll = rng.gen_range(0..total);
    for &(item, w) in items {
        if roll < w {
            return item;
        }
        roll -= w;
    }
    unreachable!("roll is below the total weight")
}

fn between(rng: &mut ChaCha8Rng, from: i64, to: i64) -> i64 {
    if to <= from {
        from
    } else {
        rng.gen_range(from..to)
    }
}

/// Replaces `#` with random digits and `@` with random capital letters.
fn fill_pattern(rng: &mut ChaCha8Rng, pattern: &str) -> String {
    pattern
        .chars()
        .map(|c| match c {
            '#' => char::from(b'0' + rng.gen_range(0..10u8)),
            '@' => char::from(b'A' + rng.gen_range(0..26u8)),
            other => other,
        })
        .collect()
}

/// Lower-case ASCII for e-mail addresses and user names: `Müller` → `mueller`,
/// `Øster` → `oester`, `O'Brien` → `obrien`.
pub fn ascii_slug(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for c in name.chars().flat_map(char::to_lowercase) {
        let mapped: &str = match c {
            'a'..='z' | '0'..='9' => {
                out.push(c);
                continue;
            }
            'ä' | 'æ' => "ae",
            'ö' | 'ø' | 'œ' => "oe",
            'ü' => "ue",
            'ß' => "ss",
            'å' => "aa",
            'á' | 'à' | 'â' | 'ã' | 'ą' | 'ă' | 'ā' => "a",
            'é' | 'è' | 'ê' | 'ë' | 'ę' | 'ě' | 'ē' => "e",
            'í' | 'ì' | 'î' | 'ï' | 'ı' | 'ī' => "i",
            'ó' | 'ò' | 'ô' | 'õ' | 'ő' => "o",
            'ú' | 'ù' | 'û' | 'ů' | 'ű' | 'ū' => "u",
            'ç' | 'ć' | 'č' => "c",
            'ñ' | 'ń' | 'ņ' => "n",
            'ł' | 'ļ' => "l",
            'ś' | 'š' | 'ș' | 'ş' => "s",
            'ź' | 'ż' | 'ž' => "z",
            'ř' => "r",
            'ý' => "y",
            'ğ' | 'ģ' => "g",
            'ț' => "t",
            'ď' => "d",
            'ť' => "t",
            'ķ' => "k",
            'ð' => "d",
            'þ' => "th",
            _ => "",
        };
        out.push_str(mapped);
    }
    out
}

/// Initials as a clinic writes them: first letter of the first name and of the last word
/// of the last name (`Jan de Jong` → `JJ`).
pub fn initials(first: &str, last: &str) -> String {
    let f = first
        .chars()
        .next()
        .into_iter()
        .flat_map(char::to_uppercase);
    let l = last
        .split(' ')
        .next_back()
        .and_then(|w| w.chars().next())
        .into_iter()
        .flat_map(char::to_uppercase);
    f.chain(l).collect()
}

fn first_name(rng: &mut ChaCha8Rng, sex: &str) -> &'static str {
    match sex {
        "F" => pick_str(rng, vocab::FEMALE_FIRST),
        "M" => pick_str(rng, vocab::MALE_FIRST),
        _ => {
            if rng.gen_bool(0.5) {
                pick_str(rng, vocab::FEMALE_FIRST)
            } else {
                pick_str(rng, vocab::MALE_FIRST)
            }
        }
    }
}

fn country(rng: &mut ChaCha8Rng) -> &'static Country {
    let total: u32 = vocab::COUNTRIES.iter().map(|c| c.weight).sum();
    let mut roll = rng.gen_range(0..total);
    for c in vocab::COUNTRIES {
        if roll < c.weight {
            return c;
        }
        roll -= c.weight;
    }
    unreachable!("roll is below the total weight")
}

fn address(rng: &mut ChaCha8Rng, c: &Country) -> String {
    let street = pick_str(rng, c.streets);
    let number = rng.gen_range(1..180u32);
    let suffix = if rng.gen_bool(0.1) { "a" } else { "" };
    if c.number_first {
        format!("{number}{suffix} {street}")
    } else {
        format!("{street} {number}{suffix}")
    }
}

/// The clinic's staff; user names and initials are unique (a clash gets a digit).
pub fn staff(seed: u64, count: u64) -> Vec<Staff> {
    let mut usernames = BTreeSet::new();
    let mut codes = BTreeSet::new();
    let mut out = Vec::with_capacity(count as usize);
    for id in 1..=count {
        let mut rng = rng(seed, Stream::Staff, id);
        let sex = if rng.gen_bool(0.6) { "F" } else { "M" };
        let first = first_name(&mut rng, sex);
        let last = pick_str(&mut rng, vocab::LAST);
        let role = pick_weighted(
            &mut rng,
            &[
                ("nurse", 50),
                ("lab", 20),
                ("physician", 15),
                ("coordinator", 15),
            ],
        );
        let created_at = between(&mut rng, midnight(2018, 1, 1), midnight(2023, 12, 1));
        let base = format!("{}.{}", &ascii_slug(first)[..1], ascii_slug(last));
        let username = unique(&mut usernames, base);
        let code = unique(&mut codes, initials(first, last));
        out.push(Staff {
            id,
            username,
            full_name: format!("{first} {last}"),
            initials: code,
            role,
            created_at,
        });
    }
    out
}

/// `base`, or `base2`, `base3`… if taken. Compared case- and accent-folded, as MariaDB's
/// `utf8mb4_unicode_ci` unique indexes compare (`ÁD` clashes with `AD`).
fn unique(taken: &mut BTreeSet<String>, base: String) -> String {
    let mut candidate = base.clone();
    let mut n = 2;
    while taken.contains(&ascii_slug(&candidate)) {
        candidate = format!("{base}{n}");
        n += 1;
    }
    taken.insert(ascii_slug(&candidate));
    candidate
}

/// Study number `id`.
pub fn study(seed: u64, id: u64) -> Study {
    let mut rng = rng(seed, Stream::Study, id);
    let started_on = between(
        &mut rng,
        days_from_civil(2022, 6, 1),
        days_from_civil(2023, 11, 1),
    );
    let year = super::clock::civil_from_days(started_on).0;
    let phase = pick_weighted(&mut rng, vocab::PHASES);
    let compound = format!(
        "{}{}",
        pick(&mut rng, vocab::COMPOUND_HEADS),
        pick(&mut rng, vocab::COMPOUND_TAILS)
    );
    let title = pick(&mut rng, vocab::STUDY_TITLES)
        .replace("{c}", &compound)
        .replace("{p}", phase);
    let sponsor = pick_str(&mut rng, vocab::SPONSORS);
    let status = pick_weighted(
        &mut rng,
        &[
            ("recruiting", 30),
            ("active", 40),
            ("on_hold", 5),
            ("completed", 25),
        ],
    );
    Study {
        id,
        code: format!("CRP-{year}-{id:03}"),
        title,
        sponsor,
        phase,
        status,
        started_on,
    }
}

/// Volunteer number `id` of a panel of `total`; ids follow registration time.
pub fn volunteer(seed: u64, id: u64, total: u64) -> Volunteer {
    let mut rng = rng(seed, Stream::Volunteer, id);
    let sex = pick_weighted(&mut rng, &[("F", 48), ("M", 48), ("X", 4)]);
    let first = first_name(&mut rng, sex);
    let last = pick_str(&mut rng, vocab::LAST);
    let date_of_birth = between(
        &mut rng,
        days_from_civil(1959, 1, 1),
        days_from_civil(2005, 12, 31),
    );
    let domain = pick(&mut rng, &["example.com", "example.net", "example.org"]);
    let email = format!("{}.{}{id}@{domain}", ascii_slug(first), ascii_slug(last));
    let c = country(&mut rng);
    let city = pick_str(&mut rng, c.cities);
    let postcode = fill_pattern(&mut rng, c.postcode);
    let address_line = address(&mut rng, c);
    let phone = fill_pattern(&mut rng, c.phone);
    let (start, end) = (midnight(2021, 1, 1), midnight(2023, 10, 1));
    let step = (end - start) / total.max(1) as i64;
    let created_at = start + (id as i64 - 1) * step + between(&mut rng, 0, step.max(1));
    let notes = if rng.gen_bool(0.35) {
        let other = format!(
            "{} {}",
            first_name(&mut rng, "X"),
            pick(&mut rng, vocab::LAST)
        );
        let other_country = country(&mut rng);
        let other_city = pick_str(&mut rng, other_country.cities);
        Some(
            pick(&mut rng, vocab::NOTES)
                .replace("{first}", first)
                .replace("{last}", last)
                .replace("{phone}", &phone)
                .replace("{email}", &email)
                .replace("{other}", &other)
                .replace("{city}", other_city),
        )
    } else {
        None
    };
    Volunteer {
        id,
        subject_no: format!("V{id:06}"),
        first_name: first,
        last_name: last,
        initials: initials(first, last),
        date_of_birth,
        sex,
        email,
        phone,
        address_line,
        postcode,
        city,
        country: c.code,
        notes,
        created_at,
    }
}

/// The studies volunteer `v` joined (one to three, distinct), with consents.
pub fn enrolments(seed: u64, v: &Volunteer, studies: &[Study], staff: &[Staff]) -> Vec<Enrolment> {
    let mut rng = rng(seed, Stream::Enrolment, v.id);
    let wanted = pick_weighted(&mut rng, &[(1usize, 60), (2, 30), (3, 10)]).min(studies.len());
    let mut chosen: Vec<&Study> = Vec::with_capacity(wanted);
    while chosen.len() < wanted {
        let s = pick(&mut rng, studies);
        if !chosen.iter().any(|c| c.id == s.id) {
            chosen.push(s);
        }
    }
    chosen.sort_by_key(|s| s.id);
    let last_day = midnight(2023, 12, 29);
    chosen
        .into_iter()
        .map(|s| {
            let from = (s.started_on * DAY).max(v.created_at) + DAY;
            let enrolled_at = between(&mut rng, from.min(last_day), last_day);
            let arm = pick_str(&mut rng, &["A", "B", "placebo"]);
            let status = pick_weighted(
                &mut rng,
                &[
                    ("enrolled", 70),
                    ("completed", 15),
                    ("withdrawn", 10),
                    ("screening", 5),
                ],
            );
            let consent_form = format!("v{}.{}", rng.gen_range(1..4), rng.gen_range(0..3));
            let consent_signed_at = enrolled_at - rng.gen_range(3600..7 * DAY);
            let consent_witness = pick(&mut rng, staff).username.clone();
            let withdrawn = enrolled_at + rng.gen_range(5 * DAY..60 * DAY);
            Enrolment {
                study_id: s.id,
                enrolled_at,
                arm,
                status,
                consent_form,
                consent_signed_at,
                consent_witness,
                consent_withdrawn_at: (status == "withdrawn").then_some(withdrawn),
            }
        })
        .collect()
}

/// The audited changes to volunteer `v`'s personal data (none for most volunteers).
pub fn audits(seed: u64, v: &Volunteer, staff: &[Staff]) -> Vec<Audit> {
    let mut rng = rng(seed, Stream::Audit, v.id);
    if !rng.gen_bool(0.2) {
        return Vec::new();
    }
    let n = rng.gen_range(1..=2);
    let mut changed_at = v.created_at;
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        changed_at = between(&mut rng, changed_at + DAY, midnight(2024, 6, 30));
        let changed_by = pick(&mut rng, staff).username.clone();
        let field = pick_str(
            &mut rng,
            &["email", "phone", "address_line", "last_name", "notes"],
        );
        let (old_value, new_value) = match field {
            "email" => {
                let domain = pick(&mut rng, &["example.com", "example.net", "example.org"]);
                let old = format!(
                    "{}{}@{domain}",
                    ascii_slug(v.first_name),
                    rng.gen_range(1..99)
                );
                (Some(old), Some(v.email.clone()))
            }
            "phone" => {
                let c = vocab::COUNTRIES
                    .iter()
                    .find(|c| c.code == v.country)
                    .expect("volunteer country is in the list");
                (Some(fill_pattern(&mut rng, c.phone)), Some(v.phone.clone()))
            }
            "address_line" => {
                let c = country(&mut rng);
                (Some(address(&mut rng, c)), Some(v.address_line.clone()))
            }
            "last_name" => {
                let old = pick(&mut rng, vocab::LAST).to_string();
                (Some(old), Some(v.last_name.to_string()))
            }
            _ => (None, v.notes.clone().or_else(|| Some(String::new()))),
        };
        out.push(Audit {
            changed_at,
            changed_by,
            field,
            old_value,
            new_value,
        });
    }
    out
}

/// A saved report (customer configuration; its owner is a staff username, no other
/// personal data).
#[derive(Debug, Clone, PartialEq)]
pub struct ReportDefinition {
    pub id: u64,
    pub name: &'static str,
    pub owner: String,
    /// JSON text.
    pub definition: &'static str,
    pub updated_at: i64,
}

/// A dashboard (customer configuration): a grid of report widgets.
#[derive(Debug, Clone, PartialEq)]
pub struct DashboardDefinition {
    pub id: u64,
    pub name: &'static str,
    /// JSON text naming the reports shown.
    pub layout: String,
    pub updated_at: i64,
}

/// The clinic's saved reports (4 to 6 of [`vocab::REPORTS`]) and dashboards (2 or 3 of
/// [`vocab::DASHBOARDS`], showing some of those reports), drawn from the seed alone.
pub fn configuration(
    seed: u64,
    staff: &[Staff],
) -> (Vec<ReportDefinition>, Vec<DashboardDefinition>) {
    let mut rng = rng(seed, Stream::Configuration, 0);
    let window = (midnight(2023, 6, 1), midnight(2024, 1, 1));
    let mut reports: Vec<&(&str, &str)> = vocab::REPORTS.iter().collect();
    reports.shuffle(&mut rng);
    reports.truncate(rng.gen_range(4..=6));
    let reports: Vec<ReportDefinition> = reports
        .into_iter()
        .zip(1..)
        .map(|(&(name, definition), id)| ReportDefinition {
            id,
            name,
            owner: pick(&mut rng, staff).username.clone(),
            definition,
            updated_at: between(&mut rng, window.0, window.1),
        })
        .collect();
    let mut dashboards: Vec<&(&str, usize)> = vocab::DASHBOARDS.iter().collect();
    dashboards.shuffle(&mut rng);
    dashboards.truncate(rng.gen_range(2..=3));
    let dashboards = dashboards
        .into_iter()
        .zip(1..)
        .map(|(&(name, widgets), id)| {
            let widgets: Vec<String> = reports
                .choose_multiple(&mut rng, widgets)
                .enumerate()
                .map(|(i, r)| format!(r#"{{"report":"{}","x":{},"y":{}}}"#, r.name, i % 2, i / 2))
                .collect();
            DashboardDefinition {
                id,
                name,
                layout: format!(r#"{{"columns":2,"widgets":[{}]}}"#, widgets.join(",")),
                updated_at: between(&mut rng, window.0, window.1),
            }
        })
        .collect();
    (reports, dashboards)
}

/// Event kinds with their share of all events.
pub const EVENT_KINDS: &[(&str, u32)] = &[
    ("vitals", 35),
    ("ecg", 15),
    ("blood_draw", 15),
    ("dosing", 10),
    ("questionnaire", 20),
    ("adverse_event", 5),
];

/// The next event from the events stream; `collectors` is the number of staff who collect.
pub fn event(rng: &mut ChaCha8Rng, collectors: usize) -> Event {
    let kind = pick_weighted(rng, EVENT_KINDS);
    let collected_by_index = rng.gen_range(0..collectors);
    let (value_num, value_text, device) = match kind {
        "vitals" => {
            let sys = rng.gen_range(100..150u16);
            let dia = rng.gen_range(60..95u16);
            let hr = rng.gen_range(48..100u16);
            let temp = f64::from(rng.gen_range(361..376u16)) / 10.0;
            (
                Some(f64::from(sys)),
                Some(format!("BP {sys}/{dia} mmHg, HR {hr} bpm, T {temp:.1} °C")),
                Some(format!("Welch Allyn Connex #{}", rng.gen_range(1..7))),
            )
        }
        "ecg" => {
            let qtc = rng.gen_range(360..460u16);
            let rhythm = pick_weighted(
                rng,
                &[
                    ("sinus rhythm", 80),
                    ("sinus bradycardia", 12),
                    ("sinus tachycardia", 5),
                    ("incomplete RBBB", 3),
                ],
            );
            (
                Some(f64::from(qtc)),
                Some(format!("{rhythm}, QTcF {qtc} ms")),
                Some(format!("GE MAC 5500 HD #{}", rng.gen_range(1..4))),
            )
        }
        "blood_draw" => {
            let ml = *pick(rng, &[4.0, 6.0, 8.5, 10.0, 12.5]);
            (
                Some(ml),
                Some(format!(
                    "PK sample, tube T{:07}",
                    rng.gen_range(0..10_000_000)
                )),
                Some(format!("Hettich Rotina 380R #{}", rng.gen_range(1..3))),
            )
        }
        "dosing" => {
            let mg = *pick(rng, &[5.0, 10.0, 25.0, 50.0, 100.0, 200.0]);
            let route = pick_str(
                rng,
                &[
                    "oral, fasted",
                    "oral, fed",
                    "s.c. injection, abdomen",
                    "i.v. infusion over 30 min",
                ],
            );
            (Some(mg), Some(route.to_string()), None)
        }
        "questionnaire" => {
            let &(name, max) = pick(rng, vocab::QUESTIONNAIRES);
            let score = rng.gen_range(0..=max);
            (
                Some(f64::from(score)),
                Some(name.to_string()),
                Some(format!("eCOA tablet T{:02}", rng.gen_range(1..13))),
            )
        }
        _ => {
            let ae = pick(rng, vocab::ADVERSE_EVENTS);
            let grade = if rng.gen_bool(0.85) { 1 } else { 2 };
            (None, Some(format!("{ae}, grade {grade}")), None)
        }
    };
    Event {
        kind,
        collected_by_index,
        value_num,
        value_text,
        device,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn configuration_depends_only_on_the_seed_and_is_owned_by_staff() {
        let staff = staff(3, 12);
        let (reports, dashboards) = configuration(3, &staff);
        assert_eq!(
            (reports.clone(), dashboards.clone()),
            configuration(3, &staff)
        );
        assert!((4..=6).contains(&reports.len()) && (2..=3).contains(&dashboards.len()));
        for r in &reports {
            assert!(staff.iter().any(|s| s.username == r.owner), "{}", r.owner);
        }
        let seeds: BTreeSet<Vec<&str>> = (1..20)
            .map(|seed| {
                configuration(seed, &staff)
                    .0
                    .iter()
                    .map(|r| r.name)
                    .collect()
            })
            .collect();
        assert!(seeds.len() > 1, "the seed chooses the reports");
    }

    #[test]
    fn slugs_are_plain_ascii() {
        assert_eq!(ascii_slug("Müller"), "mueller");
        assert_eq!(ascii_slug("Øster"), "oester");
        assert_eq!(ascii_slug("O'Brien"), "obrien");
        assert_eq!(ascii_slug("van den Berg"), "vandenberg");
        assert_eq!(ascii_slug("Zoë"), "zoe");
        for name in vocab::LAST
            .iter()
            .chain(vocab::FEMALE_FIRST)
            .chain(vocab::MALE_FIRST)
        {
            let slug = ascii_slug(name);
            assert!(!slug.is_empty() && slug.is_ascii(), "{name} → {slug}");
        }
    }

    #[test]
    fn initials_skip_name_particles() {
        assert_eq!(initials("Jan", "de Jong"), "JJ");
        assert_eq!(initials("Zoë", "Øster"), "ZØ");
        assert_eq!(initials("Ciarán", "O'Brien"), "CO");
    }

    #[test]
    fn a_volunteer_depends_only_on_seed_and_id() {
        let a = volunteer(7, 42, 100);
        assert_eq!(a, volunteer(7, 42, 100));
        assert_ne!(a, volunteer(8, 42, 100));
        assert_eq!(a.subject_no, "V000042");
        assert!(a
            .email
            .ends_with(&format!("42@{}", a.email.split('@').nth(1).unwrap())));
        assert_eq!(a.first_name, volunteer(7, 42, 5000).first_name);
    }

    #[test]
    fn volunteers_register_in_id_order() {
        let times: Vec<i64> = (1..=500)
            .map(|id| volunteer(1, id, 500).created_at)
            .collect();
        assert!(times.windows(2).all(|w| w[0] <= w[1]));
        assert!(times[0] >= midnight(2021, 1, 1) && times[499] < midnight(2023, 10, 1));
    }

    #[test]
    fn staff_names_and_initials_are_unique() {
        let staff = staff(1, 400);
        let users: BTreeSet<_> = staff.iter().map(|s| &s.username).collect();
        let codes: BTreeSet<_> = staff.iter().map(|s| ascii_slug(&s.initials)).collect();
        assert_eq!(users.len(), 400);
        assert_eq!(codes.len(), 400);
        assert!(staff.iter().all(|s| s.initials.chars().count() <= 8));
    }

    #[test]
    fn enrolments_are_distinct_and_precede_the_event_window() {
        let studies: Vec<Study> = (1..=4).map(|id| study(1, id)).collect();
        let staff = staff(1, 8);
        for id in 1..=300 {
            let v = volunteer(1, id, 300);
            let e = enrolments(1, &v, &studies, &staff);
            assert!((1..=3).contains(&e.len()));
            let ids: BTreeSet<_> = e.iter().map(|e| e.study_id).collect();
            assert_eq!(ids.len(), e.len());
            for e in &e {
                assert!(e.enrolled_at < midnight(2024, 1, 1));
                assert!(e.consent_signed_at < e.enrolled_at);
            }
        }
    }

    #[test]
    fn audit_values_fit_the_24_2_columns() {
        let staff = staff(1, 8);
        let mut seen = 0;
        for id in 1..=2000 {
            let v = volunteer(1, id, 2000);
            for a in audits(1, &v, &staff) {
                seen += 1;
                for value in [&a.old_value, &a.new_value].into_iter().flatten() {
                    assert!(value.chars().count() <= 255, "{value}");
                }
            }
        }
        assert!(
            seen > 200,
            "about a fifth of volunteers have audit rows: {seen}"
        );
    }

    #[test]
    fn study_titles_carry_the_phase_the_24_3_migration_backfills() {
        for id in 1..=50 {
            let s = study(3, id);
            assert!(
                s.title.ends_with(&format!("(Phase {})", s.phase)),
                "{}",
                s.title
            );
        }
    }
}
