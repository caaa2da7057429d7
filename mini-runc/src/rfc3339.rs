//! Times as RFC 3339 text in UTC (`2026-12-07T07:08:34Z`), the way
//! runc's `state`, Docker's `inspect` and an OCI image's `created` write
//! them, and back. The standard library has no calendar, so the date is
//! counted here: the proleptic Gregorian calendar repeats every 400 years
//! (146097 days), and a year counted from March puts the leap day last,
//! which makes the month lengths a formula (Howard Hinnant's
//! `civil_from_days` and `days_from_civil`).
//!
//! One copy for the runtime (its `state`) and the engine (images,
//! `inspect`). It imports nothing.

/// Days from 1970-01-01 to 0000-03-01, the start of the shifted calendar.
const EPOCH_SHIFT: i64 = 719_468;
/// Days in 400 years.
const ERA: i64 = 146_097;

/// The date `(year, month, day)` of a day counted from 1970-01-01.
pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let shifted = days + EPOCH_SHIFT;
    let era = shifted.div_euclid(ERA);
    let day_of_era = shifted.rem_euclid(ERA);
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_from_march = (5 * day_of_year + 2) / 153;
    let day = (day_of_year - (153 * month_from_march + 2) / 5 + 1) as u32;
    let month = if month_from_march < 10 { month_from_march + 3 } else { month_from_march - 9 };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month as u32, day)
}

/// The day, counted from 1970-01-01, of a date: the inverse of
/// [`civil_from_days`].
pub fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let day_of_year = (153 * (if month > 2 { month - 3 } else { month + 9 }) + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * ERA + day_of_era - EPOCH_SHIFT
}

/// Seconds since the epoch as RFC 3339 in UTC, with nanoseconds when
/// given (`…:34.000000000Z`, as runc and Docker write them) or without.
pub fn format(seconds: i64, nanos: Option<u32>) -> String {
    let (days, rest) = (seconds.div_euclid(86_400), seconds.rem_euclid(86_400));
    let (year, month, day) = civil_from_days(days);
    let (h, m, s) = (rest / 3600, rest % 3600 / 60, rest % 60);
    let fraction = nanos.map(|n| format!(".{n:09}")).unwrap_or_default();
    format!("{year:04}-{month:02}-{day:02}T{h:02}:{m:02}:{s:02}{fraction}Z")
}

/// RFC 3339 (`2024-05-01T12:00:00.123Z`, `…+02:00`) to seconds since the
/// epoch; the fraction is dropped. `None` when it is not such a time.
pub fn parse(text: &str) -> Option<i64> {
    let number = |s: &str| s.parse::<i64>().ok();
    let (date, time) = text.split_once(['T', 't', ' '])?;
    let mut d = date.splitn(3, '-');
    let (y, m, day) = (number(d.next()?)?, number(d.next()?)?, number(d.next()?)?);
    let zone_at = time.find(['Z', 'z', '+', '-']).unwrap_or(time.len());
    let (clock, zone) = time.split_at(zone_at);
    let clock = clock.split('.').next()?;
    let mut c = clock.splitn(3, ':');
    let (h, min, s) = (number(c.next()?)?, number(c.next()?)?, number(c.next()?)?);
    let offset = match zone.as_bytes().first() {
        Some(sign @ (b'+' | b'-')) => {
            let (oh, om) = zone[1..].split_once(':')?;
            let minutes = number(oh)? * 60 + number(om)?;
            if *sign == b'+' { minutes * 60 } else { -minutes * 60 }
        }
        _ => 0,
    };
    Some(days_from_civil(y, m, day) * 86_400 + h * 3600 + min * 60 + s - offset)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        assert_eq!(parse("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(parse("2026-12-07T07:08:34.524142276Z"), Some(1_796_627_314));
        assert_eq!(parse("2026-12-07T09:08:34+02:00"), Some(1_796_627_314));
        assert_eq!(format(1_796_627_314, None), "2026-12-07T07:08:34Z");
        assert_eq!(parse("yesterday"), None);
        for day in [-800_000, -1, 0, 59, 11_016, 20_000, 800_000] {
            let (y, m, d) = civil_from_days(day);
            assert_eq!(days_from_civil(y, m.into(), d.into()), day, "{y}-{m}-{d}");
        }
    }
}
