//! The benchmark at a small size, as a smoke test that it runs end to end and prints its
//! figures (the figures themselves are not judged here: see BENCHMARKS.md).

use std::process::Command;

fn run(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_kso-bench"))
        .args(args)
        .output()
        .expect("kso-bench runs");
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "kso-bench {args:?} failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// The value column of the row whose figure starts with `figure`.
fn row<'a>(table: &'a str, figure: &str) -> &'a str {
    table
        .lines()
        .find(|l| l.starts_with(&format!("| {figure}")))
        .and_then(|l| l.split('|').nth(2))
        .map(str::trim)
        .unwrap_or_else(|| panic!("no row {figure:?} in:\n{table}"))
}

#[test]
fn collect_prints_its_figures() {
    let table = run(&[
        "collect",
        "--nodes",
        "5",
        "--pods-per-node",
        "4",
        "--repeat",
        "2",
    ]);
    let series: u64 = row(&table, "series").parse().expect("a series count");
    assert!(
        series > 1000,
        "{series} series for 20 pods and their owners"
    );
    assert!(row(&table, "SDK CPU / ours").ends_with('×'));
}

#[test]
fn e2e_prints_its_figures() {
    let table = run(&[
        "e2e",
        "--nodes",
        "5",
        "--pods-per-node",
        "4",
        "--scrapes",
        "2",
        "--phase",
        "2s",
        "--churn-rate",
        "100",
    ]);
    assert!(row(&table, "start → /readyz").ends_with(" s"));
    let series: u64 = row(&table, "series").parse().expect("a series count");
    assert!(series > 1000);
    assert!(row(&table, "event → scrape latency").ends_with(" ms"));
    for name in ["first", "second"] {
        assert!(
            row(
                &table,
                &format!("OTLP export cycle to a local gRPC receiver, {name}")
            )
            .contains(" s (")
        );
        let otlp: Vec<f64> = row(
            &table,
            &format!("OTLP {name} cycle: requests / points / bytes / largest"),
        )
        .split(|c: char| !c.is_ascii_digit() && c != '.')
        .filter_map(|n| n.parse().ok())
        .collect();
        let [requests, points, mib, largest, limit] = otlp[..] else {
            panic!("OTLP figures {otlp:?}");
        };
        assert!(requests > 0.0 && largest <= limit, "{otlp:?}");
        assert!(mib * 1024.0 * 1024.0 >= largest, "{otlp:?}");
        // Every series of the scrape, and the exporter's own metrics beside them.
        assert!(
            points >= series as f64,
            "{points} points for {series} series"
        );
    }
}

/// The ratio column of the row whose setup starts with `setup`, as a number.
fn ratio(table: &str, setup: &str) -> f64 {
    table
        .lines()
        .find(|l| l.starts_with(&format!("| {setup}")))
        .and_then(|l| l.split('|').nth(4))
        .and_then(|r| r.trim().trim_end_matches('×').parse().ok())
        .unwrap_or_else(|| panic!("no ratio for {setup:?} in:\n{table}"))
}

#[test]
fn traffic_prints_its_table() {
    let table = run(&["traffic", "--nodes", "5", "--pods-per-node", "4"]);
    assert!(table.contains("| setup | instances | bytes pulled (MiB) | ratio to (a) |"));
    assert_eq!(ratio(&table, "(a)"), 1.0);
    let by_type = ratio(&table, "(b)");
    assert!(
        by_type <= 1.05,
        "by resource type pulls {by_type}× (a):\n{table}"
    );
    let hashed = ratio(&table, "(c)");
    assert!(hashed >= 2.5, "hash sharding pulls {hashed}× (a):\n{table}");
    let server_side = ratio(&table, "(d)");
    assert!(
        server_side < 1.6,
        "server-side sharding pulls {server_side}× (a):\n{table}"
    );
    let fallback = ratio(&table, "(e)");
    assert!(
        fallback >= 2.5,
        "server-side sharding's fallback pulls {fallback}× (a):\n{table}"
    );
}

#[test]
fn ha_prints_its_figures_and_never_two_pushers() {
    let table = run(&[
        "ha",
        "--replicas",
        "2",
        "--duration",
        "30s",
        "--every",
        "8s",
        "--interval",
        "1s",
        "--lease",
        "3s",
        "--nodes",
        "2",
        "--pods-per-node",
        "2",
    ]);
    let events: u64 = row(&table, "events").parse().expect("a count");
    assert!(events >= 2, "{table}");
    let failovers: u64 = row(&table, "failovers").parse().expect("a count");
    assert!(failovers >= 1, "{table}");
    assert_eq!(row(&table, "intervals with two pushers"), "0", "{table}");
    let per_minute: f64 = row(&table, "Lease API requests per minute")
        .parse()
        .expect("a rate");
    assert!(per_minute > 0.0, "{table}");
}

/// The fault schedule scaled down (the full run is in RELIABILITY.md): the long-running
/// instance must end equal to a fresh one (the benchmark fails otherwise), and each kind of
/// fault must have left its trace in the self-telemetry.
#[test]
fn faults_end_equal_to_a_fresh_instance_and_show_in_telemetry() {
    let table = run(&[
        "faults",
        "--events",
        "150",
        "--every",
        "50ms",
        "--nodes",
        "3",
        "--pods-per-node",
        "4",
        "--bulk",
        "100",
        "--burst-rate",
        "1000",
        "--burst-for",
        "2s",
        "--page-size",
        "5",
        "--settle",
        "60s",
    ]);
    assert_eq!(row(&table, "lost / stale / wrong"), "0 / 0 / 0", "{table}");
    for figure in [
        "failed lists",
        "failed watches",
        "relists",
        "Retry-After retries",
    ] {
        let n: f64 = row(&table, figure).parse().expect("a count");
        assert!(n > 0.0, "{figure}: {table}");
    }
    for class in ["Restart", "Silence", "BulkDelete", "Burst", "SlowLists"] {
        let n: u64 = row(&table, class).parse().expect("a count");
        assert!(n >= 1, "{class}: {table}");
    }
}

#[test]
fn otlp_down_prints_its_figures_and_pushes_resume() {
    let table = run(&[
        "otlp-down",
        "--nodes",
        "2",
        "--pods-per-node",
        "2",
        "--down",
        "3s",
        "--interval",
        "1s",
        "--scrape-every",
        "500ms",
    ]);
    assert!(
        row(&table, "RSS peak, receiver down").ends_with("× up)"),
        "{table}"
    );
    assert!(row(&table, "scrape median / max, receiver down").ends_with(" s"));
    row(&table, "receiver back → first push")
        .trim_end_matches(" s")
        .parse::<f64>()
        .expect("seconds");
}

#[test]
fn scrapes_prints_its_figures() {
    let table = run(&[
        "scrapes",
        "--nodes",
        "5",
        "--pods-per-node",
        "4",
        "--scrapes",
        "6",
        "--slow-readers",
        "1",
        "--max-concurrent-scrapes",
        "2",
        "--write-timeout",
        "2s",
    ]);
    assert_eq!(row(&table, "slow readers admitted"), "1 of 1", "{table}");
    let counts: Vec<usize> = row(&table, "full scrapes served / refused / failed")
        .split(" / ")
        .map(|n| n.parse().expect("a count"))
        .collect();
    assert_eq!(counts.iter().sum::<usize>(), 6, "{table}");
    assert!(counts[0] >= 1 && counts[2] == 0, "{table}");
    assert!(row(&table, "peak RSS").ends_with("× steady)"), "{table}");
    let rejected: f64 = row(&table, "kube_state_otel_scrapes_rejected_total")
        .parse()
        .expect("a count");
    assert_eq!(rejected as usize, counts[1], "{table}");
}
