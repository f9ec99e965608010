//! When data is collected: a weekly pattern in the clinic's local time (Europe/Berlin) —
//! busy weekday mornings, lighter afternoons, almost nothing at night, a light Saturday and
//! a very quiet Sunday — over 26 weeks from Monday 2024-01-01. The generator stores UTC.

use anyhow::Context;
use jiff::civil::Weekday;
use jiff::tz::TimeZone;
use jiff::Timestamp;
use rand::Rng;
use rand_chacha::ChaCha8Rng;

use super::clock;

/// The clinic's time zone; the weekly pattern is in its local time.
pub const ZONE: &str = "Europe/Berlin";

/// First instant of the event window (Monday 2024-01-01 00:00 UTC).
pub const WINDOW_START: i64 = clock::midnight(2024, 1, 1);

/// Length of the event window in weeks.
pub const WINDOW_WEEKS: i64 = 26;

/// One hour of the window with the number of events collected in it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Slot {
    /// Start of the hour, seconds since the epoch (UTC).
    pub start: i64,
    pub events: u64,
}

/// Relative activity of a weekday hour (local time): the morning visit block 07–11 peaks.
const WEEKDAY_HOURS: [f64; 24] = [
    0.2, 0.2, 0.2, 0.2, 0.2, 0.2, // 00–05 overnight in-house vitals only
    3.0, // 06 first pre-dose checks
    20.0, 20.0, 20.0, 20.0, // 07–10 dosing and sampling block
    14.0, 8.0, // 11–12
    9.0, 9.0, 9.0, // 13–15 afternoon follow-ups
    6.0, 4.0, // 16–17
    2.0, 2.0, 1.0, 1.0, // 18–21
    0.4, 0.4, // 22–23
];

/// Public holidays in Berlin inside the window; the clinic runs them like a Sunday.
const HOLIDAYS: [(i32, u32, u32); 7] = [
    (2024, 1, 1),
    (2024, 3, 8),
    (2024, 3, 29),
    (2024, 4, 1),
    (2024, 5, 1),
    (2024, 5, 9),
    (2024, 5, 20),
];

/// Relative activity at a local weekday and hour; holidays count as Sundays.
pub fn weight(weekday: Weekday, hour: usize, holiday: bool) -> f64 {
    let base = WEEKDAY_HOURS[hour];
    if holiday {
        return base * 0.05;
    }
    match weekday {
        Weekday::Saturday => base * 0.25,
        Weekday::Sunday => base * 0.05,
        _ => base,
    }
}

/// Splits `events` over the hours of the window, proportionally to [`weight`] with ±20 %
/// noise per hour. The counts add up to `events` exactly.
pub fn slots(events: u64, rng: &mut ChaCha8Rng) -> anyhow::Result<Vec<Slot>> {
    let zone = TimeZone::get(ZONE).with_context(|| {
        format!("time zone {ZONE} not found; install the tz database (e.g. the tzdata package)")
    })?;
    let hours = WINDOW_WEEKS * 7 * 24;
    let holidays: Vec<i64> = HOLIDAYS
        .iter()
        .map(|&(y, m, d)| clock::days_from_civil(y, m, d))
        .collect();
    let mut weights = Vec::with_capacity(hours as usize);
    for h in 0..hours {
        let start = WINDOW_START + h * 3600;
        let local = Timestamp::from_second(start)?.to_zoned(zone.clone());
        let local_day = clock::days_from_civil(
            i32::from(local.year()),
            local.month() as u32,
            local.day() as u32,
        );
        let w = weight(
            local.weekday(),
            local.hour() as usize,
            holidays.contains(&local_day),
        );
        weights.push(w * rng.gen_range(0.8..1.2));
    }
    let total: f64 = weights.iter().sum();
    let mut slots = Vec::with_capacity(weights.len());
    let mut fractions = Vec::with_capacity(weights.len());
    let mut assigned = 0u64;
    for (i, w) in weights.iter().enumerate() {
        let exact = events as f64 * w / total;
        let whole = exact.floor() as u64;
        assigned += whole;
        fractions.push((exact - whole as f64, i));
        slots.push(Slot {
            start: WINDOW_START + i as i64 * 3600,
            events: whole,
        });
    }
    // Largest remainders get the events that flooring left over; ties go to the earlier hour.
    fractions.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
    let left = events.saturating_sub(assigned) as usize;
    for &(_, i) in fractions.iter().cycle().take(left) {
        slots[i].events += 1;
    }
    Ok(slots)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn slot_counts_add_up_exactly() {
        for events in [0, 1, 7, 4367, 4368, 4369, 200_000] {
            let mut rng = ChaCha8Rng::seed_from_u64(3);
            let slots = slots(events, &mut rng).unwrap();
            assert_eq!(slots.len() as i64, WINDOW_WEEKS * 7 * 24);
            assert_eq!(slots.iter().map(|s| s.events).sum::<u64>(), events);
        }
    }

    #[test]
    fn weekday_mornings_dominate_nights_and_sundays() {
        let morning = weight(Weekday::Tuesday, 8, false);
        assert!(morning >= 50.0 * weight(Weekday::Tuesday, 2, false));
        assert!(morning >= 10.0 * weight(Weekday::Sunday, 8, false));
        assert!(weight(Weekday::Saturday, 9, false) > weight(Weekday::Sunday, 9, false));
        assert_eq!(
            weight(Weekday::Monday, 9, true),
            weight(Weekday::Sunday, 9, false)
        );
    }

    #[test]
    fn slots_follow_berlin_time_across_daylight_saving() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let slots = slots(1_000_000, &mut rng).unwrap();
        let at = |y, m, d, utc_hour: i64| {
            let start = clock::midnight(y, m, d) + utc_hour * 3600;
            slots.iter().find(|s| s.start == start).unwrap().events
        };
        // Winter (UTC+1): 08:00 UTC is 09:00 local, a peak hour; 05:00 UTC is 06:00 local.
        assert!(at(2024, 1, 9, 8) > 3 * at(2024, 1, 9, 5));
        // Summer (UTC+2): 05:00 UTC is 07:00 local, already the peak.
        assert!(at(2024, 6, 11, 5) > 3 * at(2024, 6, 11, 4));
        assert!(at(2024, 6, 11, 5) > 3 * at(2024, 1, 9, 5));
    }
}
