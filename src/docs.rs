//! Generated documentation: `docs/metrics.md` and `docs/semconv.md` from the kind tables and
//! `docs/flags.md` from the `--help` text. `tests/docs.rs` fails when the committed files drift from these.

use std::fmt::Write;

use clap::CommandFactory;

use crate::config::Cli;
use crate::kinds::semconv::NOT_REPORTED;
use crate::metric::semconv::Attr;
use crate::metric::{SemconvMetric, Stability};
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
         and in `shared/conformance/ksm_metrics.tsv`. The semconv column names the \
         OpenTelemetry semantic-conventions metrics each family also feeds under \
         `--schema semconv|both` (details in [semconv.md](semconv.md)), or says there is none.\n\n"
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
             | family | type | stability | opt-in | semconv | HELP |\n\
             |---|---|---|---|---|---|\n",
            kind.object_kind(),
            kind.resource_label(),
            identity.join(", ")
        );
        for family in kind.families().into_iter().filter(|f| f.desc.ksm) {
            let kind = family.desc.metric_type.prometheus_name();
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
            let semconv: Vec<String> = family
                .desc
                .semconv
                .iter()
                .map(|m| format!("`{}`", m.name))
                .collect();
            let semconv = if semconv.is_empty() {
                "none".to_string()
            } else {
                semconv.join(", ")
            };
            let _ = writeln!(
                out,
                "| `{}` | {kind} | {stability} | {} | {semconv} | {} |",
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

/// `docs/semconv.md`: per kind, the resource attributes and each family's semconv
/// counterparts, then the model's metrics that are not reported and why.
pub fn semconv_markdown() -> String {
    let mut out = format!(
        "# Semantic conventions\n\n\
         <!-- Generated from src/kinds/ by `{REGENERATE}`; do not edit. -->\n\n\
         With `--schema semconv` (or `schema: semconv` in a pipeline) the series follow the \
         [OpenTelemetry semantic conventions v1.44 for Kubernetes]\
         (https://opentelemetry.io/docs/specs/semconv/resource/k8s/); `--schema both` reports \
         them beside the kube-state-metrics families, for migrations. Both come from the same \
         rows of the kind tables: a family's samples are computed and stored once.\n\n\
         - Instruments: the model's (UpDownCounter, Gauge), with its units; values are doubles.\n\
         - Scope: the resource name (`pods`), with schema URL \
         `https://opentelemetry.io/schemas/1.44.0`.\n\
         - OTLP: one `ResourceMetrics` per object, whose resource holds the object's identifying \
         attributes below after the process resource (`service.name`, `OTEL_RESOURCE_ATTRIBUTES`). \
         Container metrics stay on their pod's resource with `k8s.container.name` as a \
         data-point attribute (a container is not an object we watch).\n\
         - Prometheus `/metrics`: the OpenTelemetry-to-Prometheus compatibility names: dots \
         become underscores, the unit is appended (`By` → `_bytes`, `s` → `_seconds`, `1` → \
         `_ratio` for gauges; `{{…}}` annotations are dropped), counters get `_total`; \
         UpDownCounters are gauges; resource attributes are labels \
         (`k8s_namespace_name`, `k8s_pod_name`, `k8s_pod_uid`, …). Under `both`, semconv \
         names (`k8s_…`) and kube-state-metrics names (`kube_…`) cannot clash.\n\
         - Selection: `--metric-allowlist`/`--metric-denylist` match semconv names too \
         (`k8s.pod.status.phase`); a family is computed when any name it is reported under \
         is enabled. Under `semconv`, kinds without semconv metrics (configmaps, secrets, …) \
         are not watched unless `--resources` names them.\n\
         - Where kube-state-metrics' family says less than the model: \
         `k8s.pod.status.reason` and `k8s.container.status.reason` report the current reason \
         only (value 1), not every reason with 0; quotas per storage class are not mapped.\n\n"
    );
    for kind in all_kinds() {
        let Some(entity) = kind.entity() else {
            continue;
        };
        let resource: Vec<String> = entity
            .identity
            .iter()
            .zip(kind.identity_labels())
            .map(|(attribute, label)| format!("`{attribute}` (`{label}`)"))
            .chain(entity.uid.map(|uid| format!("`{uid}` (metadata.uid)")))
            .collect();
        let _ = write!(
            out,
            "## {}\n\nResource attributes: {}.\n\n\
             | kube-state-metrics family | semconv metric | instrument | unit | samples | attributes |\n\
             |---|---|---|---|---|---|\n",
            kind.resource(),
            resource.join(", ")
        );
        for family in kind.families() {
            let ksm = if family.desc.ksm {
                format!("`{}`", family.desc.name)
            } else {
                format!("none: {}", family.desc.help_line)
            };
            for metric in family.desc.semconv {
                let _ = writeln!(
                    out,
                    "| {ksm} | `{}` | {} | `{}` | {} | {} |",
                    metric.name,
                    metric.instrument.model_name(),
                    metric.unit,
                    selection(metric),
                    attributes(metric)
                );
            }
        }
        out.push('\n');
    }
    let [namespaced, cluster] = crate::meter::CUSTOM_RESOURCE_IDENTITY.map(|a| a.join("`, `"));
    out.push_str(&format!(
        "## Custom resources\n\n\
         Custom Resource State families (`--custom-resource-state-config`) have no semantic \
         conventions, so they keep their names. Under `semconv` each object is a resource: \
         `{namespaced}` (cluster-scoped kinds: `{cluster}`), from the object's metadata \
         (these attributes are ours, after the model's `k8s.<kind>.name`/`.uid` pattern). The \
         points keep the config's labels. The scope is the resource's \
         (`plural.group/version`), with the schema URL. On `/metrics` the resource attributes \
         are labels (`k8s_customresource_name`, …). Under `both`, OTLP carries both scopes, and \
         `/metrics` shows only the kube-state-metrics families (the same names).\n\n"
    ));
    out.push_str(
        "## Not reported\n\nThe model's other Kubernetes metrics, and why.\n\n\
         | semconv metric | why |\n|---|---|\n",
    );
    for (name, reason) in NOT_REPORTED {
        let _ = writeln!(out, "| `{name}` | {reason} |");
    }
    out
}

fn selection(metric: &SemconvMetric) -> String {
    if metric.when.is_empty() {
        return "all".to_string();
    }
    let conditions: Vec<String> = metric
        .when
        .iter()
        .map(|(label, values)| {
            let values: Vec<String> = values.iter().map(|v| format!("`{v}`")).collect();
            format!("`{label}` ∈ {}", values.join(", "))
        })
        .collect();
    conditions.join("; ")
}

fn attributes(metric: &SemconvMetric) -> String {
    let attributes: Vec<String> = metric
        .attributes
        .iter()
        .map(|attr| match *attr {
            Attr::Rename(from, to) => format!("`{to}` ← `{from}`"),
            Attr::Map(from, to, values) => {
                let values: Vec<String> = values.iter().map(|(k, v)| format!("{k}→{v}")).collect();
                format!("`{to}` ← `{from}` ({})", values.join(", "))
            }
            Attr::TrimPrefix(from, to, prefix) => {
                format!("`{to}` ← `{from}` without `{prefix}`")
            }
            Attr::Const(to, value) => format!("`{to}`=`{value}`"),
            Attr::IfSet(from, to, set, unset) => {
                format!("`{to}`=`{set}` if `{from}` is set, else `{unset}`")
            }
        })
        .collect();
    attributes.join(", ")
}
