//! Build ergonomics: the exporter alone and the whole workspace resolve every dependency they
//! share with the same features, so `cargo run` after `cargo build --workspace` rebuilds
//! nothing (BENCHMARKS.md, "Building"). A member that turns on more features of a shared crate
//! (directly, or through a dependency of its own) fails this test.

use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;

/// `package version` → its feature sets (one for the target, one for build scripts and
/// proc macros where both use it), as `cargo tree` resolves them for the normal and build
/// dependencies (what `cargo build` compiles) of `packages`.
fn resolved(packages: &[&str]) -> BTreeMap<String, BTreeSet<String>> {
    let output = Command::new(env!("CARGO"))
        .args(["tree", "--locked", "--offline", "-e", "no-dev"])
        .args(["--prefix", "none", "--format", "{p}|{f}"])
        .args(packages)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("cargo runs");
    assert!(
        output.status.success(),
        "cargo tree {packages:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let mut packages: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let text = String::from_utf8(output.stdout).expect("UTF-8");
    for (package, features) in text.lines().filter_map(|line| line.split_once('|')) {
        // `(*)` marks a package shown before; a member's path is not part of its identity.
        let package: Vec<&str> = package.split_whitespace().take(2).collect();
        packages
            .entry(package.join(" "))
            .or_default()
            .insert(features.trim_end_matches(" (*)").to_string());
    }
    packages
}

#[test]
fn the_workspace_builds_shared_dependencies_as_the_exporter_alone() {
    let exporter = resolved(&["-p", "kube-state-otel"]);
    let workspace = resolved(&["--workspace"]);
    assert!(
        exporter.len() > 100 && workspace.len() >= exporter.len(),
        "{} and {} packages",
        exporter.len(),
        workspace.len()
    );
    let differing: Vec<String> = exporter
        .iter()
        .filter_map(|(package, features)| {
            let other = workspace.get(package)?;
            (other != features).then(|| format!("{package}: {features:?} vs {other:?}"))
        })
        .collect();
    assert!(
        differing.is_empty(),
        "the workspace turns on features the exporter alone does not (cargo run would rebuild \
         them and all that depends on them):\n{}",
        differing.join("\n")
    );
}
