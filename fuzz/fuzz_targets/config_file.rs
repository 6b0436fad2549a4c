//! The `--config` pipeline file: parsed, its pipelines selected, applied over the flags'
//! defaults, their addresses checked, and their OTLP settings resolved, as the binary starts.
//!
//! Input: the file's text.
//!
//! Checks: an error names the file; `--pipeline NAME` picks exactly that pipeline and all of
//! them run without it, unless two share a name; a flag given on the command line wins over
//! the file; two pipelines (or one pipeline's two endpoints) on one address are refused and
//! nothing else is; OTLP settings either resolve to a valid endpoint or are an error.
#![no_main]

use std::collections::BTreeSet;

use clap::Parser;
use kube_state_otel::config::Cli;
use kube_state_otel::config::file::{ConfigFile, check_addresses};
use kube_state_otel::export::otlp::OtlpConfig;
use libfuzzer_sys::fuzz_target;

const PATH: &str = "fuzz.yaml";

fuzz_target!(|text: &str| {
    let file = match ConfigFile::parse(PATH, text) {
        Ok(file) => file,
        Err(error) => {
            let message = error.to_string();
            assert!(message.starts_with("--config fuzz.yaml: "), "{message}");
            return;
        }
    };
    let names: Vec<&str> = file.pipelines.iter().map(|p| p.name.as_str()).collect();
    let unique = names.iter().collect::<BTreeSet<_>>().len() == names.len();
    let first = file.clone().select(PATH, Some(names[0]));
    match first {
        Ok(chosen) => {
            assert!(unique);
            assert_eq!(chosen.len(), 1);
            assert_eq!(chosen[0].name, names[0]);
        }
        Err(error) => assert!(!unique, "{error}"),
    }
    let pipelines = match file.clone().select(PATH, None) {
        Ok(pipelines) => pipelines,
        Err(error) => {
            assert!(!unique, "{error}");
            return;
        }
    };
    assert!(unique);
    assert_eq!(pipelines.len(), names.len());

    let defaults = Cli::try_parse_from(["kube-state-otel"]).expect("the defaults parse");
    let mut instances = Vec::new();
    for pipeline in &pipelines {
        // Every flag given: only the headers change (the file's are merged under them).
        let mut given = defaults.clone();
        pipeline.apply(&mut given, |_| true);
        given.otlp_headers.clone_from(&defaults.otlp_headers);
        assert_eq!(
            format!("{given:?}"),
            format!("{defaults:?}"),
            "a flag lost to the file"
        );

        let mut cli = defaults.clone();
        pipeline.apply(&mut cli, |_| false);
        let selectors = pipeline.selectors();
        assert!(selectors.keys().eq(pipeline.selectors.keys()));
        if cli.otlp_endpoint.is_some() {
            let mut overrides = cli.otlp_overrides();
            // The fuzzer must not read (or block on) whatever files the input names.
            overrides.certificate = None;
            overrides.client_certificate = None;
            overrides.client_key = None;
            if let Ok(config) = OtlpConfig::resolve(overrides, |_| None) {
                let endpoint: http::Uri =
                    config.endpoint.parse().expect("a resolved endpoint parses");
                assert!(endpoint.authority().is_some(), "{}", config.endpoint);
            }
        }
        instances.push((pipeline.name.as_str(), cli));
    }
    let addresses: Vec<_> = instances
        .iter()
        .flat_map(|(_, cli)| {
            [
                (cli.host, cli.port),
                (cli.telemetry_host, cli.telemetry_port),
            ]
        })
        .collect();
    let distinct = addresses.iter().collect::<BTreeSet<_>>().len() == addresses.len();
    let instances: Vec<_> = instances.iter().map(|(name, cli)| (*name, cli)).collect();
    assert_eq!(check_addresses(PATH, &instances).is_ok(), distinct);
});
