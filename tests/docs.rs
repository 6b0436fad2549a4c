//! The generated docs (`docs/metrics.md`, `docs/flags.md`) match the code; regenerate them with
//! `UPDATE_DOCS=1 cargo test --test docs`.

use std::path::Path;

use kube_state_otel::docs::{REGENERATE, flags_markdown, metrics_markdown, semconv_markdown};

#[test]
fn generated_docs_match_the_code() {
    let update = std::env::var_os("UPDATE_DOCS").is_some();
    for (file, text) in [
        ("docs/metrics.md", metrics_markdown()),
        ("docs/flags.md", flags_markdown()),
        ("docs/semconv.md", semconv_markdown()),
    ] {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(file);
        if update {
            std::fs::create_dir_all(path.parent().expect("docs/")).expect("docs/ created");
            std::fs::write(&path, &text).expect("doc written");
            continue;
        }
        let committed = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            committed == text,
            "{file} is out of date with the code: run `{REGENERATE}`"
        );
    }
}

#[test]
fn metrics_doc_covers_every_family() {
    let doc = metrics_markdown();
    for kind in kube_state_otel::pipeline::all_kinds() {
        assert!(doc.contains(&format!("\n## {}\n", kind.resource())));
        for family in kind.families() {
            let row = format!("| `{}` |", family.desc.name);
            assert_eq!(doc.contains(&row), family.desc.ksm, "{row}");
        }
    }
}

#[test]
fn semconv_doc_maps_every_semconv_metric() {
    let doc = semconv_markdown();
    for kind in kube_state_otel::pipeline::all_kinds() {
        for metric in kind.families().iter().flat_map(|f| f.desc.semconv) {
            assert!(
                doc.contains(&format!("| `{}` |", metric.name)),
                "{}",
                metric.name
            );
        }
    }
    for (name, _) in kube_state_otel::kinds::semconv::NOT_REPORTED {
        assert!(doc.contains(&format!("| `{name}` |")), "{name}");
    }
}
