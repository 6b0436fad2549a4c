//! Generated documentation: `docs/metrics.md` from the kind tables and `docs/flags.md` from the
//! `--help` text. `tests/docs.rs` fails when the committed files drift from these.

use std::fmt::Write;

use clap::CommandFactory;

use crate::config::Cli;
use crate::metric::{MetricType, Stability};
use crate::pipeline::{OPTIONAL_RESOURCES, all_kinds};

/// How to regenerate the files.
pub const REGENERATE: &str = "UPDATE_DOCS=1 cargo test --test docs";

/// `docs/metrics.md`: every kind's families, from the tables.
pub fn metrics_markdown() -> String {
    let mut out = format!(
        "# Metrics\n\n\
         <!-- Generated from src/kinds/ by `{REGENERATE}`; do not edit. -->\n\n\
         Every metric family `/metrics` can serve, by resource (the names `--resources` takes), \
         with the type, stability and HELP text kube-state-metrics v2.20 gives it. Families \
         marked opt-in are off unless `--metric-opt-in-list` names them; \
         `--metric-allowlist`/`--metric-denylist` select among the rest. Each family's own \
         labels (after the identity labels) are listed in kube-state-metrics' documentation \
         and in `shared/conformance/ksm_metrics.tsv`.\n\n"
    );
    let kinds = all_kinds();
    for kind in &kinds {
        let _ = writeln!(out, "- [{0}](#{0})", kind.resource());
    }
    for kind in kinds {
        let resource = kind.resource();
        let enabled = if OPTIONAL_RESOURCES.contains(&resource) {
            "no: optional, enable it with `--resources`"
        } else {
            "yes"
        };
        let scope = if kind.namespaced() {
            "namespaced (`--namespaces` and `--namespaces-denylist` apply)"
        } else {
            "cluster"
        };
        let identity: Vec<String> = kind
            .identity_labels()
            .iter()
            .map(|l| format!("`{l}`"))
            .collect();
        let _ = write!(
            out,
            "\n## {resource}\n\n\
             - Object: `{}` (`resource=\"{}\"` in the self-telemetry)\n\
             - Enabled by default: {enabled}\n\
             - Scope: {scope}\n\
             - Identity labels, first on every sample: {}\n\n\
             | family | type | stability | opt-in | HELP |\n\
             |---|---|---|---|---|\n",
            kind.object_kind(),
            kind.resource_label(),
            identity.join(", ")
        );
        for family in kind.families() {
            let kind = match family.desc.metric_type {
                MetricType::Gauge => "gauge",
                MetricType::Counter => "counter",
            };
            let (stability, help) = match family.stability {
                Stability::Stable => (
                    "stable",
                    family
                        .desc
                        .help_line
                        .strip_prefix("[STABLE] ")
                        .unwrap_or(&family.desc.help_line),
                ),
                Stability::Experimental => ("experimental", family.desc.help_line.as_str()),
            };
            let _ = writeln!(
                out,
                "| `{}` | {kind} | {stability} | {} | {} |",
                family.desc.name,
                if family.opt_in { "yes" } else { "" },
                help.replace('|', "\\|")
            );
        }
    }
    out
}

/// `docs/flags.md`: the `--help` text (environment values hidden, so it does not depend on
/// the machine that generates it).
pub fn flags_markdown() -> String {
    let help = Cli::command()
        .mut_args(|arg| arg.hide_env_values(true))
        .render_long_help()
        .to_string();
    // clap indents blank lines; trailing spaces are noise in a committed file.
    let help: Vec<&str> = help.lines().map(str::trim_end).collect();
    format!(
        "# Flags\n\n\
         <!-- Generated from src/config.rs by `{REGENERATE}`; do not edit. -->\n\n\
         `kube-state-otel --help`:\n\n```text\n{}\n```\n",
        help.join("\n").trim_end()
    )
}
