//! CronJobs.

use k8s_openapi::api::batch::v1::{CronJob, CronJobSpec, CronJobStatus};

use super::common::{self, bool_value, push_if_set, push_time};
use super::entity::{self, EntityDef};
use super::{KindDef, Read};
use crate::metric::semconv::Entity;
use crate::metric::{Family, KindOptions, Samples, SemconvMetric};

pub static CRONJOBS: KindDef<CronJob> = KindDef {
    resource: "cronjobs",
    identity_labels: &["namespace", "cronjob"],
    identity: common::namespace_name,
    read: Read::Objects,
    entity_events: Some(EntityDef {
        entity_type: "k8s.cronjob",
        describe: describe_entity,
    }),
    entity: Some(Entity {
        identity: &["k8s.namespace.name", "k8s.cronjob.name"],
        uid: Some("k8s.cronjob.uid"),
    }),
    families: &[
        Family::experimental(
            "kube_cronjob_annotations",
            "Kubernetes annotations converted to Prometheus labels.",
            common::annotations,
        ),
        Family::stable(
            "kube_cronjob_labels",
            "Kubernetes labels converted to Prometheus labels.",
            common::labels,
        ),
        Family::stable("kube_cronjob_info", "Info about cronjob.", info),
        Family::stable(
            "kube_cronjob_created",
            "Unix creation timestamp",
            common::created,
        ),
        Family::stable(
            "kube_cronjob_status_active",
            "Active holds pointers to currently running jobs.",
            |c, _, s| {
                let active = status(c).and_then(|st| st.active.as_ref());
                s.push(active.map_or(0, Vec::len) as f64);
            },
        )
        .semconv(&[SemconvMetric::updown(
            "k8s.cronjob.job.active",
            "{job}",
            "The number of actively running jobs for a cronjob.",
        )]),
        Family::stable(
            "kube_cronjob_status_last_schedule_time",
            "LastScheduleTime keeps information of when was the last time the job was successfully scheduled.",
            |c, _, s| push_time(s, status(c).and_then(|st| st.last_schedule_time.as_ref())),
        ),
        Family::stable(
            "kube_cronjob_status_last_successful_time",
            "LastSuccessfulTime keeps information of when was the last time the job was completed successfully.",
            |c, _, s| push_time(s, status(c).and_then(|st| st.last_successful_time.as_ref())),
        ),
        Family::stable(
            "kube_cronjob_spec_suspend",
            "Suspend flag tells the controller to suspend subsequent executions.",
            |c, _, s| s.push(bool_value(suspended(c))),
        ),
        Family::stable(
            "kube_cronjob_spec_starting_deadline_seconds",
            "Deadline in seconds for starting the job if it misses scheduled time for any reason.",
            |c, _, s| push_if_set(s, spec(c).and_then(|sp| sp.starting_deadline_seconds)),
        ),
        Family::stable(
            "kube_cronjob_next_schedule_time",
            "Next time the cronjob should be scheduled. The time after lastScheduleTime, or after the cron job's creation time if it's never been scheduled. Use this to determine if the job is delayed.",
            next_schedule_time,
        ),
        Family::experimental(
            "kube_cronjob_schedule_invalid",
            "Emitted with value 1 for cronjobs whose schedule, in its configured timezone, cannot be parsed.",
            |c, _, s| {
                if schedule(c).is_none() {
                    s.push(1.0);
                }
            },
        ),
        Family::stable(
            "kube_cronjob_metadata_resource_version",
            "Resource version representing a specific version of the cronjob.",
            common::resource_version,
        ),
        Family::experimental(
            "kube_cronjob_spec_successful_job_history_limit",
            "Successful job history limit tells the controller how many completed jobs should be preserved.",
            |c, _, s| push_if_set(s, spec(c).and_then(|sp| sp.successful_jobs_history_limit)),
        ),
        Family::experimental(
            "kube_cronjob_spec_failed_job_history_limit",
            "Failed job history limit tells the controller how many failed jobs should be preserved.",
            |c, _, s| push_if_set(s, spec(c).and_then(|sp| sp.failed_jobs_history_limit)),
        ),
    ],
};

fn spec(c: &CronJob) -> Option<&CronJobSpec> {
    c.spec.as_ref()
}

fn status(c: &CronJob) -> Option<&CronJobStatus> {
    c.status.as_ref()
}

fn suspended(c: &CronJob) -> bool {
    spec(c).and_then(|sp| sp.suspend).unwrap_or(false)
}

fn info(c: &CronJob, _: &KindOptions, samples: &mut Samples) {
    let spec = spec(c);
    let schedule = spec.map_or("", |sp| sp.schedule.as_str());
    let policy = spec.and_then(|sp| sp.concurrency_policy.as_deref());
    let zone = spec.and_then(|sp| sp.time_zone.as_deref());
    samples.push_labeled(
        &[
            ("schedule", schedule),
            ("concurrency_policy", policy.unwrap_or_default()),
            ("timezone", zone.unwrap_or("local")),
        ],
        1.0,
    );
}

/// The schedule in its time zone, as kube-state-metrics parses it: `spec.timeZone` becomes a
/// `CRON_TZ=` prefix. `None` when the schedule or the zone is invalid.
fn schedule(c: &CronJob) -> Option<cron::Schedule> {
    let spec = spec(c);
    let schedule = spec.map_or("", |sp| sp.schedule.as_str());
    match spec.and_then(|sp| sp.time_zone.as_deref()) {
        Some(zone) => cron::Schedule::parse(&format!("CRON_TZ={zone} {schedule}")),
        None => cron::Schedule::parse(schedule),
    }
}

/// Unix seconds of Go's zero `time.Time`, which kube-state-metrics reports when a schedule
/// has no run within the next five years.
const GO_ZERO_TIME: f64 = -62135596800.0;

/// The first run after the last scheduled one (or after creation); nothing while suspended,
/// for an invalid schedule, or with neither time known.
fn next_schedule_time(c: &CronJob, _: &KindOptions, samples: &mut Samples) {
    if suspended(c) {
        return;
    }
    let last = status(c).and_then(|st| st.last_schedule_time.as_ref());
    let Some(from) = last.or(c.metadata.creation_timestamp.as_ref()) else {
        return;
    };
    if let Some(schedule) = schedule(c) {
        let next = schedule.next(from.0);
        samples.push(next.map_or(GO_ZERO_TIME, |t| t.as_second() as f64));
    }
}

/// The receiver's cronjob entity: the generic one, the schedule and the concurrency policy.
fn describe_entity(
    c: &CronJob,
    options: &crate::metric::KindOptions,
    samples: &mut crate::metric::Samples,
) {
    if let Some(mut attributes) = entity::generic(c, "CronJob", options) {
        let spec = c.spec.as_ref();
        attributes.set("schedule", spec.map_or("", |s| s.schedule.as_str()));
        attributes.set(
            "concurrency_policy",
            spec.and_then(|s| s.concurrency_policy.as_deref())
                .unwrap_or_default(),
        );
        attributes.push(samples, entity::OBJECT);
    }
}

/// Cron schedules as kube-state-metrics reads them: the standard five-field parser of
/// robfig/cron (names, `?`, `@hourly`-style descriptors, `@every`, `CRON_TZ=`/`TZ=`) with
/// go-cron's stricter rule that a step must be smaller than its range, and robfig's search
/// for the next run (day of month OR day of week when both are restricted; five years at most).
mod cron {
    use std::path::Path;

    use k8s_openapi::jiff::civil::DateTime;
    use k8s_openapi::jiff::tz::TimeZone;
    use k8s_openapi::jiff::{Timestamp, ToSpan};

    use crate::config::go_duration;

    /// Marks a field written as `*` or `?`: day of month and day of week then combine with AND.
    const STAR: u64 = 1 << 63;

    pub enum Schedule {
        Fields(Fields),
        /// `@every <duration>`: a fixed delay, in whole seconds.
        Every(i64),
    }

    /// One bit per allowed value of each field.
    pub struct Fields {
        minute: u64,
        hour: u64,
        dom: u64,
        month: u64,
        dow: u64,
        zone: TimeZone,
    }

    struct Bounds {
        min: u64,
        max: u64,
        /// Names of `min`, `min + 1`, … (lowercase).
        names: &'static [&'static str],
    }

    impl Bounds {
        const fn new(min: u64, max: u64, names: &'static [&'static str]) -> Bounds {
            Bounds { min, max, names }
        }
    }

    const MINUTES: Bounds = Bounds::new(0, 59, &[]);
    const HOURS: Bounds = Bounds::new(0, 23, &[]);
    const DAYS_OF_MONTH: Bounds = Bounds::new(1, 31, &[]);
    const MONTHS: Bounds = Bounds::new(
        1,
        12,
        &[
            "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
        ],
    );
    const DAYS_OF_WEEK: Bounds =
        Bounds::new(0, 6, &["sun", "mon", "tue", "wed", "thu", "fri", "sat"]);

    impl Schedule {
        pub fn parse(spec: &str) -> Option<Schedule> {
            if spec.is_empty() || spec.len() > 1024 {
                return None;
            }
            let (zone, spec) = if spec.starts_with("TZ=") || spec.starts_with("CRON_TZ=") {
                let (prefix, rest) = spec.split_once(' ')?;
                let (_, name) = prefix.split_once('=')?;
                let rest = rest.trim();
                if rest.is_empty() {
                    return None;
                }
                (zone(name)?, rest)
            } else {
                (local_zone(), spec)
            };
            if spec.starts_with('@') {
                return descriptor(spec, zone);
            }
            let fields: Vec<&str> = spec.split_whitespace().collect();
            let [minute, hour, dom, month, dow] = fields[..] else {
                return None;
            };
            Some(Schedule::Fields(Fields {
                minute: field(minute, &MINUTES)?,
                hour: field(hour, &HOURS)?,
                dom: field(dom, &DAYS_OF_MONTH)?,
                month: field(month, &MONTHS)?,
                dow: field(dow, &DAYS_OF_WEEK)?,
                zone,
            }))
        }

        /// The first run strictly after `after`; `None` when there is none within five years.
        pub fn next(&self, after: Timestamp) -> Option<Timestamp> {
            match self {
                Schedule::Fields(fields) => fields.next(after),
                Schedule::Every(delay) => {
                    Timestamp::from_second(after.as_second().checked_add(*delay)?).ok()
                }
            }
        }
    }

    /// Go's `time.LoadLocation` for the names go-cron lets through. Like kube-state-metrics,
    /// which embeds no time zone database, zones come from TZif files on the host.
    fn zone(name: &str) -> Option<TimeZone> {
        let allowed = |c: char| c.is_ascii_alphanumeric() || "/_-+:".contains(c);
        if name.is_empty() || name.len() > 64 || !name.chars().all(allowed) {
            return None;
        }
        match name {
            "UTC" => Some(TimeZone::UTC),
            "Local" => Some(local_zone()),
            _ if name.starts_with('/') => None,
            _ => zoneinfo(name),
        }
    }

    /// Where Go looks for zone files, after `$ZONEINFO`.
    const ZONEINFO_DIRS: [&str; 4] = [
        "/usr/share/zoneinfo",
        "/usr/share/lib/zoneinfo",
        "/usr/lib/locale/TZ",
        "/etc/zoneinfo",
    ];

    fn zoneinfo(name: &str) -> Option<TimeZone> {
        let env = std::env::var("ZONEINFO").ok().filter(|dir| !dir.is_empty());
        let dirs = env.iter().map(String::as_str).chain(ZONEINFO_DIRS);
        dirs.map(|dir| Path::new(dir).join(name))
            .find_map(|path| tzif(name, &path))
    }

    fn tzif(name: &str, path: &Path) -> Option<TimeZone> {
        TimeZone::tzif(name, &std::fs::read(path).ok()?).ok()
    }

    /// Go's `time.Local`: `$TZ` (a zone name or a file path, optionally after `:`), else
    /// `/etc/localtime`; UTC when neither loads.
    fn local_zone() -> TimeZone {
        let zone = match std::env::var("TZ") {
            Err(_) => tzif("Local", Path::new("/etc/localtime")),
            Ok(tz) => match tz.strip_prefix(':').unwrap_or(&tz) {
                "" | "UTC" => None,
                path if path.starts_with('/') => tzif(path, Path::new(path)),
                name => zoneinfo(name),
            },
        };
        zone.unwrap_or(TimeZone::UTC)
    }

    fn descriptor(spec: &str, zone: TimeZone) -> Option<Schedule> {
        let all = |b: &Bounds| bits(b.min, b.max, 1) | STAR;
        let (hour, dom, month, dow) = match spec {
            "@yearly" | "@annually" => (1, 1 << 1, 1 << 1, all(&DAYS_OF_WEEK)),
            "@monthly" => (1, 1 << 1, all(&MONTHS), all(&DAYS_OF_WEEK)),
            "@weekly" => (1, all(&DAYS_OF_MONTH), all(&MONTHS), 1),
            "@daily" | "@midnight" => (1, all(&DAYS_OF_MONTH), all(&MONTHS), all(&DAYS_OF_WEEK)),
            "@hourly" => (
                all(&HOURS),
                all(&DAYS_OF_MONTH),
                all(&MONTHS),
                all(&DAYS_OF_WEEK),
            ),
            _ => {
                let delay =
                    i64::try_from(go_duration::parse(spec.strip_prefix("@every ")?)?.as_secs())
                        .ok()?;
                // go-cron refuses intervals under a second.
                return (delay >= 1).then_some(Schedule::Every(delay));
            }
        };
        Some(Schedule::Fields(Fields {
            minute: 1,
            hour,
            dom,
            month,
            dow,
            zone,
        }))
    }

    /// A comma-separated list of ranges; empty items are skipped, as Go's `FieldsFunc` does.
    fn field(field: &str, b: &Bounds) -> Option<u64> {
        field
            .split(',')
            .filter(|r| !r.is_empty())
            .try_fold(0, |acc, r| Some(acc | range(r, b)?))
    }

    /// `*`, `?`, `n`, `n-m`, each optionally `/step` (`n/step` runs to the field's maximum).
    fn range(expr: &str, b: &Bounds) -> Option<u64> {
        let (span, step) = match expr.split_once('/') {
            Some((_, step)) if step.contains('/') => return None,
            Some((span, step)) => (span, Some(number(step)?)),
            None => (expr, None),
        };
        let (low, high) = match span.split_once('-') {
            Some((low, high)) => (low, Some(high)),
            None => (span, None),
        };
        let (start, mut end, mut star) = if low == "*" || low == "?" {
            (b.min, b.max, STAR)
        } else {
            let start = name_or_number(low, b)?;
            let end = match high {
                None => start,
                Some(high) if !high.contains('-') => name_or_number(high, b)?,
                Some(_) => return None,
            };
            (start, end, 0)
        };
        if let Some(step) = step {
            if high.is_none() {
                end = b.max;
            }
            if step > 1 {
                star = 0;
            }
        }
        let step = step.unwrap_or(1);
        let size = (end + 1).checked_sub(start)?;
        let valid = start >= b.min && end <= b.max && size > 0 && step > 0;
        // go-cron (kube-state-metrics ≥ 2.19) rejects steps that cannot repeat, e.g. `*/60`.
        if !valid || (step > 1 && step >= size) {
            return None;
        }
        Some(bits(start, end, step) | star)
    }

    fn bits(start: u64, end: u64, step: u64) -> u64 {
        (start..=end)
            .step_by(step as usize)
            .fold(0, |acc, v| acc | 1 << v)
    }

    fn name_or_number(expr: &str, b: &Bounds) -> Option<u64> {
        match b.names.iter().position(|n| n.eq_ignore_ascii_case(expr)) {
            Some(index) => Some(b.min + index as u64),
            None => number(expr),
        }
    }

    /// Go's `strconv.Atoi`, refusing negative numbers.
    fn number(expr: &str) -> Option<u64> {
        u64::try_from(expr.parse::<i64>().ok()?).ok()
    }

    impl Fields {
        fn day_matches(&self, dt: DateTime) -> bool {
            let dom = self.dom & 1 << dt.day() != 0;
            let dow = self.dow & 1 << dt.weekday().to_sunday_zero_offset() != 0;
            if (self.dom | self.dow) & STAR != 0 {
                dom && dow
            } else {
                dom || dow
            }
        }

        /// robfig/cron's `SpecSchedule.Next`: advance month, day, hour, minute and second in
        /// the schedule's zone until all match, starting over whenever a field wraps.
        fn next(&self, after: Timestamp) -> Option<Timestamp> {
            let civil = |t: Timestamp| self.zone.to_datetime(t);
            let zoned = |dt: DateTime| self.zone.to_ambiguous_timestamp(dt).compatible().ok();
            let has = |bits: u64, value: i8| bits & 1 << value != 0;
            let mut t = Timestamp::from_second(after.as_second().checked_add(1)?).ok()?;
            let mut added = false;
            let year_limit = civil(t).year() + 5;
            'wrap: loop {
                let mut dt = civil(t);
                if dt.year() > year_limit {
                    return None;
                }
                while !has(self.month, dt.month()) {
                    if !added {
                        added = true;
                        dt = civil(zoned(dt.date().first_of_month().at(0, 0, 0, 0))?);
                    }
                    t = zoned(dt.checked_add(1.month()).ok()?)?;
                    dt = civil(t);
                    if dt.month() == 1 {
                        continue 'wrap;
                    }
                }
                while !self.day_matches(dt) {
                    if !added {
                        added = true;
                        dt = civil(zoned(dt.date().at(0, 0, 0, 0))?);
                    }
                    t = zoned(dt.checked_add(1.day()).ok()?)?;
                    dt = civil(t);
                    // Midnight may not exist (DST): go back to the start of that day.
                    if dt.hour() != 0 {
                        let shift = if dt.hour() > 12 {
                            24 - dt.hour()
                        } else {
                            -dt.hour()
                        };
                        t = t.checked_add(i64::from(shift).hours()).ok()?;
                        dt = civil(t);
                    }
                    if dt.day() == 1 {
                        continue 'wrap;
                    }
                }
                while !has(self.hour, dt.hour()) {
                    if !added {
                        added = true;
                        t = zoned(dt.date().at(dt.hour(), 0, 0, 0))?;
                    }
                    let previous = civil(t).hour();
                    t = t.checked_add(1.hour()).ok()?;
                    dt = civil(t);
                    // A skipped (DST) hour the schedule wanted runs at once, as ISC cron does.
                    if dt.hour() - previous == 2 && has(self.hour, dt.hour() - 1) {
                        break;
                    }
                    if dt.hour() == 0 {
                        continue 'wrap;
                    }
                }
                while !has(self.minute, dt.minute()) {
                    if !added {
                        added = true;
                        t = Timestamp::from_second(t.as_second().div_euclid(60) * 60).ok()?;
                    }
                    t = t.checked_add(1.minute()).ok()?;
                    dt = civil(t);
                    if dt.minute() == 0 {
                        continue 'wrap;
                    }
                }
                // Standard schedules run at second 0.
                while dt.second() != 0 {
                    added = true;
                    t = t.checked_add(1.second()).ok()?;
                    dt = civil(t);
                    if dt.second() == 0 {
                        continue 'wrap;
                    }
                }
                return Some(t);
            }
        }
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        fn at(s: &str) -> Timestamp {
            s.parse().unwrap()
        }

        fn next(spec: &str, after: &str) -> Option<String> {
            let schedule = Schedule::parse(spec).unwrap_or_else(|| panic!("{spec} is valid"));
            schedule.next(at(after)).map(|t| t.to_string())
        }

        #[test]
        fn next_runs() {
            // 2018-03-11 is a Sunday.
            let sunday = "2018-03-11T04:34:56Z";
            for (spec, after, want) in [
                // The vectors' schedule, in Shanghai (UTC+8): 18:00 there.
                (
                    "CRON_TZ=Asia/Shanghai 0 */6 * * *",
                    sunday,
                    "2018-03-11T10:00:00Z",
                ),
                (
                    "TZ=UTC 25 * * * *",
                    "2018-03-11T11:04:56Z",
                    "2018-03-11T11:25:00Z",
                ),
                (
                    "TZ=UTC 25 * * * *",
                    "2018-03-11T11:25:00Z",
                    "2018-03-11T12:25:00Z",
                ),
                ("TZ=UTC 0 0 * feb-MAR Mon", sunday, "2018-03-12T00:00:00Z"),
                ("TZ=UTC 30 12 ? * ?", sunday, "2018-03-11T12:30:00Z"),
                ("TZ=UTC @hourly", sunday, "2018-03-11T05:00:00Z"),
                ("TZ=UTC @daily", sunday, "2018-03-12T00:00:00Z"),
                ("TZ=UTC @weekly", sunday, "2018-03-18T00:00:00Z"),
                ("TZ=UTC @monthly", sunday, "2018-04-01T00:00:00Z"),
                ("TZ=UTC @yearly", sunday, "2019-01-01T00:00:00Z"),
                ("@every 1h30m", sunday, "2018-03-11T06:04:56Z"),
                ("@every 1.5s", sunday, "2018-03-11T04:34:57Z"),
                // Day of month and day of week both set: the 15th OR a Tuesday.
                ("TZ=UTC 0 0 15 * 2", sunday, "2018-03-13T00:00:00Z"),
                (
                    "TZ=UTC 0 0 15 * 2",
                    "2018-03-13T00:00:00Z",
                    "2018-03-15T00:00:00Z",
                ),
                // 02:30 does not exist on 2024-03-10 in New York: it runs at 03:30 EDT.
                (
                    "CRON_TZ=America/New_York 30 2 * * *",
                    "2024-03-10T05:00:00Z",
                    "2024-03-10T07:30:00Z",
                ),
            ] {
                assert_eq!(
                    next(spec, after).as_deref(),
                    Some(want),
                    "{spec} after {after}"
                );
            }
        }

        #[test]
        fn no_run_within_five_years() {
            assert_eq!(next("TZ=UTC 0 0 30 2 *", "2018-03-11T00:00:00Z"), None);
        }

        #[test]
        fn invalid_schedules() {
            for spec in [
                "",
                "* * * *",
                "* * * * * *",
                "60 * * * *",
                "* 24 * * *",
                "* * 0 * *",
                "* * * 13 *",
                "* * * * 7",
                "*/60 * * * *",
                "*/120 4-22 * * *",
                "0 1 */32,1-7 * 3",
                "30/30 * * * *",
                "*/0 * * * *",
                "5-1 * * * *",
                "1-2-3 * * * *",
                "*/2/3 * * * *",
                "-1 * * * *",
                "x * * * *",
                "@often",
                "@every 500ms",
                "@every -1h",
                "@every 5",
                "CRON_TZ=Invalid/Zone 0 * * * *",
                "CRON_TZ=asia/shanghai 0 * * * *",
                "CRON_TZ= 0 * * * *",
                "CRON_TZ=UTC",
                "CRON_TZ=UTC   ",
            ] {
                assert!(Schedule::parse(spec).is_none(), "{spec:?} is invalid");
            }
        }
    }
}
