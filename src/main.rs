//! Wiring only: flags → pipeline → watchers, endpoints and exporters.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use clap::parser::ValueSource;
use clap::{CommandFactory, FromArgMatches};
use kube::config::{KubeConfigOptions, Kubeconfig};
use opentelemetry::metrics::MeterProvider;
use tracing::Instrument;

use kube_state_otel::config::file::{ConfigFile, check_addresses};
use kube_state_otel::config::{Cli, items};
use kube_state_otel::export::otlp::{OtlpConfig, OtlpExporter, OtlpTelemetry};
use kube_state_otel::http::{self, Parts};
use kube_state_otel::leader::{LeaderConfig, Leadership};
use kube_state_otel::meter::Collect;
use kube_state_otel::meter::StreamingMeterProvider;
use kube_state_otel::metric::KindOptions;
use kube_state_otel::pipeline::{Pipeline, PipelineSettings, all_kinds};
use kube_state_otel::telemetry::Telemetry;
use kube_state_otel::watch::{Selectors, Shard, WatchSettings, autoshard};

/// mimalloc, not glibc malloc: see `BENCHMARKS.md` (load and collection at 150,000 pods).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// The instrumentation scope of the exporter's own metrics.
const TELEMETRY_SCOPE: &str = "kube-state-otel";

#[tokio::main]
async fn main() -> ExitCode {
    let matches = Cli::command().get_matches();
    let cli = Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_new(&cli.log_level)
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    let instances = instances(&cli, &matches);
    match run(&cli, instances).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!("{error:#}");
            ExitCode::FAILURE
        }
    }
}

/// One pipeline this process runs: its name in `--config`, its effective flags, and its
/// per-resource selectors.
struct Instance {
    name: Option<String>,
    cli: Cli,
    selectors: BTreeMap<String, Selectors>,
}

/// The flags alone, or one instance per `--config` pipeline (only `--pipeline`'s when given):
/// the flags left at their defaults are filled from the pipeline.
fn instances(cli: &Cli, matches: &clap::ArgMatches) -> Vec<Instance> {
    let Some(path) = cli.config.clone() else {
        return vec![Instance {
            name: None,
            cli: cli.clone(),
            selectors: BTreeMap::new(),
        }];
    };
    let shown = path.display().to_string();
    let pipelines = ConfigFile::read(&path)
        .and_then(|file| file.select(&shown, cli.pipeline.as_deref()))
        .unwrap_or_else(|error| usage_error(error.to_string()));
    let known: Vec<&str> = all_kinds().iter().map(|k| k.resource()).collect();
    let instances: Vec<Instance> = pipelines
        .into_iter()
        .map(|pipeline| {
            let mut effective = cli.clone();
            pipeline.apply(&mut effective, |id| {
                matches!(
                    matches.value_source(id),
                    Some(ValueSource::CommandLine | ValueSource::EnvVariable)
                )
            });
            let selectors = pipeline.selectors();
            if let Some(resource) = selectors.keys().find(|r| !known.contains(&r.as_str())) {
                usage_error(format!(
                    "--config {shown}: selectors.{resource}: unknown resource (known: {})",
                    known.join(",")
                ));
            }
            Instance {
                name: Some(pipeline.name),
                cli: effective,
                selectors,
            }
        })
        .collect();
    let addresses: Vec<(&str, &Cli)> = instances
        .iter()
        .map(|i| (i.name.as_deref().unwrap_or_default(), &i.cli))
        .collect();
    if let Err(error) = check_addresses(&shown, &addresses) {
        usage_error(error.to_string());
    }
    instances
}

fn pipeline_settings(cli: &Cli, selectors: BTreeMap<String, Selectors>) -> PipelineSettings {
    let known: Vec<&str> = all_kinds().iter().map(|k| k.resource()).collect();
    for (flag, lists) in [
        ("--metric-labels-allowlist", &cli.metric_labels_allowlist),
        (
            "--metric-annotations-allowlist",
            &cli.metric_annotations_allowlist,
        ),
    ] {
        if let Some(resource) = lists.unknown_resource(&known) {
            usage_error(format!(
                "{flag}: resource {resource} does not exist. Available resources: {}",
                known.join(",")
            ));
        }
    }
    let options: HashMap<String, KindOptions> = known
        .iter()
        .map(|&resource| {
            let options = KindOptions {
                allow_labels: cli.metric_labels_allowlist.for_resource(resource),
                allow_annotations: cli.metric_annotations_allowlist.for_resource(resource),
                ..KindOptions::default()
            };
            (resource.to_string(), options)
        })
        .collect();
    if autoshard_target(cli).is_none()
        && [&cli.pod, &cli.pod_namespace]
            .iter()
            .any(|v| v.as_deref().is_some_and(|v| !v.is_empty()))
    {
        usage_error("--pod and --pod-namespace: automated sharding needs both".to_string());
    }
    if cli.shard >= cli.total_shards {
        usage_error(format!(
            "--shard: {} is not below --total-shards {}",
            cli.shard, cli.total_shards
        ));
    }
    PipelineSettings {
        resources: items(&cli.resources),
        opt_in: items(&cli.metric_opt_in_list),
        metric_allowlist: items(&cli.metric_allowlist),
        metric_denylist: items(&cli.metric_denylist),
        options,
        schema: cli.schema,
        custom: None,
        custom_only: cli.custom_resource_state_only,
        watch: WatchSettings {
            page_size: Some(cli.list_page_size),
            namespaces: items(&cli.namespaces),
            namespaces_denylist: items(&cli.namespaces_denylist),
            selectors,
            shard: Shard {
                ordinal: cli.shard,
                total: cli.total_shards,
                mode: cli.shard_mode,
            },
            // An empty NODE_NAME (downward API not wired) means no node filter.
            node: cli.node.clone().filter(|n| !n.is_empty()),
            unscheduled_pods: cli.track_unscheduled_pods,
            watch_timeout_seconds: cli
                .watch_timeout
                .map(|t| u32::try_from(t.as_secs()).unwrap_or(u32::MAX)),
            ..WatchSettings::default()
        },
    }
}

/// `(namespace, pod)` for automated sharding: both --pod and --pod-namespace non-empty.
fn autoshard_target(cli: &Cli) -> Option<(&str, &str)> {
    let namespace = cli.pod_namespace.as_deref().filter(|v| !v.is_empty())?;
    let pod = cli.pod.as_deref().filter(|v| !v.is_empty())?;
    Some((namespace, pod))
}

/// A bad flag is a usage error: exit code 2 with the flag named, as clap does.
fn usage_error(message: String) -> ! {
    Cli::command()
        .error(clap::error::ErrorKind::InvalidValue, message)
        .exit()
}

/// The endpoint servers of every pipeline, until one fails or the process is interrupted.
async fn run(cli: &Cli, instances: Vec<Instance>) -> anyhow::Result<()> {
    // Every pipeline's settings are checked before anything connects.
    let mut prepared: Vec<(Instance, Pipeline, Arc<Telemetry>, Option<OtlpConfig>)> = Vec::new();
    for instance in instances {
        let otlp = otlp_config(&instance.cli);
        let telemetry = Telemetry::new();
        let mut settings = pipeline_settings(&instance.cli, instance.selectors.clone());
        settings.custom = custom_resource_config(&instance.cli, &telemetry)?;
        if let Some(path) = &instance.cli.config
            && let Ok(text) = std::fs::read(path)
        {
            telemetry.config_read("config", &path.display().to_string(), Some(&text));
        }
        match Pipeline::new(settings, telemetry.clone()) {
            Ok(pipeline) => prepared.push((instance, pipeline, telemetry, otlp)),
            Err(error) => usage_error(error.to_string()),
        }
    }
    // Checked before anything connects, as the pipelines' settings.
    let web = cli
        .tls_config
        .as_deref()
        .map(|path| http::web_config::WebConfig::open(path, cli.auth_filter))
        .transpose()
        .context("--tls-config")?;
    let (kube_config, _demo) = if cli.demo {
        let demo = kube_state_otel::demo::start(
            cli.demo_nodes,
            cli.demo_pods_per_node,
            &cli.demo_k8s_version,
        )
        .await?;
        (demo.kube_config()?, Some(demo))
    } else {
        (kube_config(cli).await?, None)
    };
    let security = http::Security {
        web,
        auth: auth_filter(cli, &kube_config)?,
    };
    let mut servers = Vec::new();
    let mut otlp_pushes = Vec::new();
    let mut elections = Vec::new();
    for (instance, pipeline, telemetry, otlp) in prepared {
        let span = match &instance.name {
            Some(name) => tracing::info_span!("pipeline", name = name.as_str()),
            None => tracing::Span::none(),
        };
        let started = start_pipeline(
            &instance,
            pipeline,
            telemetry,
            otlp,
            kube_config.clone(),
            &security,
        )
        .instrument(span.clone())
        .await?;
        otlp_pushes.push(started.otlp);
        elections.push(started.election);
        servers.extend(
            started
                .servers
                .into_iter()
                .map(|server| Box::pin(server.instrument(span.clone()))),
        );
    }
    if cli.demo {
        let tls = security
            .web
            .as_ref()
            .is_some_and(|w| w.current().tls.is_some());
        let scheme = if tls { "https" } else { "http" };
        println!(
            "kube-state-otel demo: curl {scheme}://127.0.0.1:{}/metrics",
            cli.port
        );
    }
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .context("listening for SIGTERM")?;
    let result = tokio::select! {
        (r, _, _) = futures::future::select_all(servers) => r,
        _ = tokio::signal::ctrl_c() => {
            tracing::info!("interrupted, exiting");
            Ok(())
        }
        _ = terminate.recv() => {
            tracing::info!("SIGTERM, exiting");
            Ok(())
        }
    };
    // Pushes stop first (an in-flight request is abandoned), then each lease held is released
    // so a follower takes over at once instead of after the lease expires.
    drop(otlp_pushes);
    futures::future::join_all(
        elections
            .into_iter()
            .map(|(leadership, client)| async move { leadership.release(client).await }),
    )
    .await;
    result
}

/// A running pipeline: its endpoint servers, its OTLP push (stopped when dropped), and its
/// leader election with the client to release its lease.
struct Started {
    servers: Vec<futures::future::BoxFuture<'static, anyhow::Result<()>>>,
    otlp: Option<OtlpExporter>,
    election: (Leadership, kube::Client),
}

/// Watchers, stores, meters and exporters of one pipeline, with a client of its own so its
/// list/watch calls are counted in its own telemetry.
async fn start_pipeline(
    instance: &Instance,
    mut pipeline: Pipeline,
    telemetry: Arc<Telemetry>,
    otlp: Option<OtlpConfig>,
    mut kube_config: kube::Config,
    security: &http::Security,
) -> anyhow::Result<Started> {
    let cli = &instance.cli;
    // Replaced by the Retry-After layer (client-go's rules, counted).
    kube_config.default_retry = false;
    let client = kube::client::ClientBuilder::try_from(kube_config)
        .context("building the Kubernetes client")?
        .with_layer(&pipeline.shard_selector_layer())
        .with_layer(&pipeline.retry_after_layer())
        .with_layer(&pipeline.api_call_layer())
        .build();
    let mut shard = Shard {
        ordinal: cli.shard,
        total: cli.total_shards,
        mode: cli.shard_mode,
    };
    if let Some((namespace, pod)) = autoshard_target(cli) {
        let (statefulset, detected) = autoshard::detect(&client, namespace, pod)
            .await
            .context("automated sharding")?;
        tracing::info!(
            statefulset,
            shard = detected.ordinal,
            total_shards = detected.total,
            "automated sharding: shard {} of {} from {namespace}/{pod}",
            detected.ordinal,
            detected.total
        );
        shard = Shard {
            mode: shard.mode,
            ..detected
        };
        pipeline.set_shard(shard);
    }
    telemetry.set_shard(u64::from(shard.ordinal), u64::from(shard.total));
    let leadership = if cli.leader_election {
        let split = (shard.total > 1).then_some((shard.ordinal, shard.total));
        let config = LeaderConfig::from_cli(
            cli,
            instance.name.as_deref(),
            split,
            client.default_namespace(),
        );
        if let Err(error) = config.validate() {
            usage_error(error.to_string());
        }
        tracing::info!(
            lease = config.lease_name,
            namespace = config.namespace,
            identity = config.identity,
            "leader election: following until this replica holds the lease"
        );
        let leadership = Leadership::elect(client.clone(), config);
        telemetry.set_leadership(leadership.clone());
        leadership
    } else {
        Leadership::always()
    };
    let pipeline = Arc::new(pipeline);
    // Discovery starts the watchers of the kinds the API server serves, for the process's life.
    pipeline.watch_served(client.clone(), cli.discovery_interval);
    // The inline config wins, and is not reloaded.
    let custom_file = cli
        .custom_resource_state_config_file
        .clone()
        .filter(|_| cli.custom_resource_state_config.is_none());
    pipeline.watch_custom(client.clone(), custom_file);

    let telemetry_provider = StreamingMeterProvider::new();
    let telemetry_meter = telemetry_provider.meter(TELEMETRY_SCOPE);
    telemetry.set_security(security.clone());
    telemetry.register(&telemetry_meter);
    let otlp = otlp
        .map(|config| start_otlp(config, &pipeline, &telemetry_meter, leadership.clone()))
        .transpose()?;
    let telemetry_parts: Parts =
        Arc::new(move || telemetry_provider.registry().parts(TELEMETRY_SCOPE));
    let telemetry_addr = SocketAddr::new(cli.telemetry_host, cli.telemetry_port);
    let timeouts = http::Timeouts {
        read_header: cli.server_read_header_timeout,
        read: cli.server_read_timeout,
        write: cli.server_write_timeout,
        idle: cli.server_idle_timeout,
    };
    let telemetry_router = http::telemetry_router(telemetry_parts);
    let telemetry_server =
        http::serve(telemetry_addr, telemetry_router, timeouts, security.clone());
    let metrics_addr = SocketAddr::new(cli.host, cli.port);
    let router = http::metrics_router(
        pipeline,
        telemetry,
        leadership.clone(),
        cli.metrics_leader_only,
        cli.max_concurrent_scrapes,
    );
    let metrics_server = http::serve(metrics_addr, router, timeouts, security.clone());
    let scheme = match &security.web {
        Some(web) if web.current().tls.is_some() => "https",
        _ => "http",
    };
    tracing::info!(
        "serving metrics on {scheme}://{metrics_addr}/metrics, telemetry on {scheme}://{telemetry_addr}/metrics"
    );
    Ok(Started {
        servers: vec![
            Box::pin(async move {
                metrics_server
                    .await
                    .with_context(|| format!("serving {metrics_addr}"))
            }),
            Box::pin(async move {
                telemetry_server
                    .await
                    .with_context(|| format!("serving {telemetry_addr}"))
            }),
        ],
        otlp,
        election: (leadership, client),
    })
}

/// The Custom Resource State config, inline or from its file (the inline one wins, as in
/// kube-state-metrics); an invalid one stops the start.
fn custom_resource_config(
    cli: &Cli,
    telemetry: &Telemetry,
) -> anyhow::Result<Option<Arc<kube_state_otel::crs::CrsConfig>>> {
    let text = match (
        &cli.custom_resource_state_config,
        &cli.custom_resource_state_config_file,
    ) {
        (Some(inline), _) => inline.clone(),
        (None, Some(path)) => std::fs::read_to_string(path).with_context(|| {
            format!(
                "reading --custom-resource-state-config-file {}",
                path.display()
            )
        })?,
        (None, None) => return Ok(None),
    };
    let config = kube_state_otel::crs::CrsConfig::parse(&text)
        .context("Error reading Custom resource configuration file")?;
    if let (None, Some(path)) = (
        &cli.custom_resource_state_config,
        &cli.custom_resource_state_config_file,
    ) {
        let name = path.display().to_string();
        telemetry.config_read(
            kube_state_otel::pipeline::CUSTOM_CONFIG,
            &name,
            Some(text.as_bytes()),
        );
    }
    Ok(Some(Arc::new(config)))
}

/// `--auth-filter`'s reviews, on a client of their own (shared by every server).
fn auth_filter(
    cli: &Cli,
    kube_config: &kube::Config,
) -> anyhow::Result<Option<Arc<http::auth_filter::AuthFilter>>> {
    if !cli.auth_filter {
        return Ok(None);
    }
    let client = kube::Client::try_from(kube_config.clone())
        .context("building the Kubernetes client of --auth-filter")?;
    Ok(Some(http::auth_filter::AuthFilter::new(client)))
}

/// The OTLP settings, when an endpoint is configured by flag or environment; read before
/// connecting anywhere, so that a bad setting (a missing certificate file) is a usage error.
fn otlp_config(cli: &Cli) -> Option<OtlpConfig> {
    let from_env = [
        "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT",
        "OTEL_EXPORTER_OTLP_ENDPOINT",
    ]
    .iter()
    .any(|name| std::env::var_os(name).is_some_and(|v| !v.is_empty()));
    if cli.otlp_endpoint.is_none() && !from_env {
        return None;
    }
    match OtlpConfig::from_env(cli.otlp_overrides()) {
        Ok(config) => Some(config),
        Err(error) => usage_error(error.to_string()),
    }
}

/// The OTLP push of the pipeline's collections.
fn start_otlp(
    config: OtlpConfig,
    pipeline: &Arc<Pipeline>,
    telemetry_meter: &opentelemetry::metrics::Meter,
    leadership: Leadership,
) -> anyhow::Result<OtlpExporter> {
    let otlp_telemetry = Arc::new(OtlpTelemetry::default());
    otlp_telemetry.register(telemetry_meter);
    tracing::info!(
        endpoint = config.endpoint,
        protocol = %config.protocol,
        interval = ?config.interval,
        "pushing OTLP"
    );
    let pipeline = pipeline.clone();
    let collect: Collect = Arc::new(move |sink| pipeline.collect(sink));
    OtlpExporter::spawn(config, collect, otlp_telemetry, leadership)
        .context("starting the OTLP push")
}

/// `--kubeconfig`/`KUBECONFIG` when given, else the usual inference (in-cluster, ~/.kube/config).
async fn kube_config(cli: &Cli) -> anyhow::Result<kube::Config> {
    match &cli.kubeconfig {
        Some(path) => {
            let kubeconfig = Kubeconfig::read_from(path)
                .with_context(|| format!("reading kubeconfig {}", path.display()))?;
            kube::Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
                .await
                .with_context(|| format!("using kubeconfig {}", path.display()))
        }
        None => kube::Config::infer()
            .await
            .context("no kubeconfig given and none could be inferred"),
    }
}
