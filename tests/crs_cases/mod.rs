//! kube-state-metrics' recorded Custom Resource State cases (`../shared/conformance/crs/`,
//! see its README): where they are, and the comparison its README describes — families,
//! HELP/TYPE lines, samples as multisets, values within 1e-9 relative.

// Each test binary compiles this module and uses a part of it.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

pub fn cases_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/conformance/crs")
}

#[derive(Debug, Default, PartialEq)]
pub struct Family {
    pub help: Option<String>,
    pub metric_type: Option<String>,
    pub samples: Vec<(String, f64)>,
}

/// Families by name, samples sorted by series.
pub fn parse(text: &str) -> BTreeMap<String, Family> {
    let mut families: BTreeMap<String, Family> = BTreeMap::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let (name, help) = rest.split_once(' ').unwrap_or((rest, ""));
            families.entry(name.into()).or_default().help = Some(help.into());
        } else if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, metric_type) = rest.split_once(' ').unwrap();
            families.entry(name.into()).or_default().metric_type = Some(metric_type.into());
        } else {
            let (series, value) = line.rsplit_once(' ').unwrap();
            let name = series.split('{').next().unwrap();
            let value: f64 = value
                .parse()
                .unwrap_or_else(|_| panic!("value in {line:?}"));
            families
                .entry(name.into())
                .or_default()
                .samples
                .push((series.into(), value));
        }
    }
    for family in families.values_mut() {
        family.samples.sort_by(|a, b| a.0.cmp(&b.0));
    }
    families
}

pub fn close(a: f64, b: f64) -> bool {
    a == b || (a.is_nan() && b.is_nan()) || (a - b).abs() <= 1e-9 * a.abs().max(b.abs())
}

/// Compares as the README says; panics with every difference.
pub fn compare(case: &str, got: &str, want: &str) {
    let diffs = differences(got, want);
    assert!(diffs.is_empty(), "{case}:\n{}", diffs.join("\n"));
}

/// Every difference between our text and KSM's, as the README compares them.
pub fn differences(got: &str, want: &str) -> Vec<String> {
    let (got, want) = (parse(got), parse(want));
    let mut diffs = Vec::new();
    let names: std::collections::BTreeSet<_> = got.keys().chain(want.keys()).collect();
    for name in names {
        let (g, w) = (got.get(name), want.get(name));
        let (Some(g), Some(w)) = (g, w) else {
            diffs.push(format!("family {name}: ours {g:?}, KSM's {w:?}"));
            continue;
        };
        if g.help != w.help || g.metric_type != w.metric_type {
            diffs.push(format!(
                "family {name}: HELP/TYPE ours {:?}/{:?}, KSM's {:?}/{:?}",
                g.help, g.metric_type, w.help, w.metric_type
            ));
        }
        let same = g.samples.len() == w.samples.len()
            && g.samples
                .iter()
                .zip(&w.samples)
                .all(|(a, b)| a.0 == b.0 && close(a.1, b.1));
        if !same {
            diffs.push(format!(
                "family {name}: samples\n  ours:  {:#?}\n  KSM's: {:#?}",
                g.samples, w.samples
            ));
        }
    }
    diffs
}

pub fn case_dirs() -> Vec<PathBuf> {
    let mut dirs: Vec<_> = fs::read_dir(cases_dir())
        .unwrap_or_else(|e| panic!("{}: {e}", cases_dir().display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    dirs
}

pub fn name(dir: &Path) -> String {
    dir.file_name().unwrap().to_string_lossy().into_owned()
}

/// The case's objects into `emulator`: the CRDs (`00-crd-*`) first, as the README says.
pub fn load(emulator: &kube_emulator::Emulator, dir: &Path) {
    let mut files: Vec<_> = fs::read_dir(dir.join("objects"))
        .expect("objects/")
        .map(|e| e.expect("entry").path())
        .collect();
    files.sort();
    for file in files {
        let text = fs::read_to_string(&file).expect("readable");
        emulator
            .apply_text(&text)
            .unwrap_or_else(|e| panic!("{}: {e}", file.display()));
    }
}
