//! Wiring only: flags → pipeline → watchers, endpoints and exporters.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use clap::parser::ValueSource;
use clap::{CommandFactory, FromArgMatches};
use kube::config::{KubeConfigOptions, Kubeconfig};
use opentelemetry::metrics::MeterProvider;
use tracing::Instrument;

use kube_state_otel::config::Cli;
use kube_state_otel::config::instance::{Instance, instances};
use kube_state_otel::config::reload::{PIPELINES_CONFIG, Running, watch_config_file};
use kube_state_otel::demo::receiver::DemoReceiver;
use kube_state_otel::export::otlp::{EntityConfig, EntityPush, EntitySource, OtlpConfig, OtlpPush};
use kube_state_otel::http::{self, Parts};
use kube_state_otel::leader::{LeaderConfig, Leadership};
use kube_state_otel::meter::Collect;
use kube_state_otel::meter::StreamingMeterProvider;
use kube_state_otel::pipeline::Pipeline;
use kube_state_otel::telemetry::Telemetry;
use kube_state_otel::watch::{Shard, autoshard};

/// mimalloc, not glibc malloc: see `BENCHMARKS.md` (load and collection at 150,000 pods).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// The instrumentation scope of the exporter's own metrics.
const TELEMETRY_SCOPE: &str = "kube-state-otel";

#[tokio::main]
async fn main() -> ExitCode {
    let matches = Cli::command().get_matches();
    let mut cli = Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_new(&cli.log_level)
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    let explicit = explicit_flags(&matches);
    let demo_receiver = match demo_otlp(&mut cli).await {
        Ok(receiver) => receiver,
        Err(error) => {
            tracing::error!("{error:#}");
            return ExitCode::FAILURE;
        }
    };
    let instances = instances(&cli, |id| explicit.contains(id))
        .unwrap_or_else(|error| usage_error(error.to_string()));
    match run(&cli, explicit, instances, demo_receiver.is_some()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!("{error:#}");
            ExitCode::FAILURE
        }
    }
}

/// Time between pushes to the demo's receiver, unless an interval is given: the first line
/// shows up soon.
const DEMO_OTLP_INTERVAL: std::time::Duration = std::time::Duration::from_secs(10);

/// With `--demo` and no OTLP endpoint (flag or environment), the push goes to a built-in
/// receiver that prints a line per push, with the protocol configured (gRPC by default).
/// Not an explicit flag: a `--config` pipeline's own endpoint wins over it.
async fn demo_otlp(cli: &mut Cli) -> anyhow::Result<Option<DemoReceiver>> {
    if !cli.demo || cli.otlp_endpoint_configured() {
        return Ok(None);
    }
    let receiver = DemoReceiver::start().await?;
    // An invalid OTLP environment is reported when the pipelines' settings are read.
    let protocol = OtlpConfig::from_env(cli.otlp_overrides())
        .map(|config| config.protocol)
        .unwrap_or_default();
    cli.otlp_endpoint = Some(receiver.endpoint(protocol));
    if std::env::var_os("OTEL_METRIC_EXPORT_INTERVAL").is_none() {
        cli.otlp_interval.get_or_insert(DEMO_OTLP_INTERVAL);
    }
    Ok(Some(receiver))
}

/// The clap ids of the flags given on the command line or by environment (they win over the
/// `--config` file, at start and on every reload).
fn explicit_flags(matches: &clap::ArgMatches) -> BTreeSet<String> {
    Cli::command()
        .get_arguments()
        .map(|arg| arg.get_id().to_string())
        .filter(|id| {
            matches!(
                matches.value_source(id),
                Some(ValueSource::CommandLine | ValueSource::EnvVariable)
            )
        })
        .collect()
}

/// A bad flag is a usage error: exit code 2 with the flag named, as clap does.
fn usage_error(message: String) -> ! {
    Cli::command()
        .error(clap::error::ErrorKind::InvalidValue, message)
        .exit()
}

/// The endpoint servers of every pipeline, until one fails or the process is interrupted.
async fn run(
    cli: &Cli,
    explicit: BTreeSet<String>,
    instances: Vec<Instance>,
    demo_receiver: bool,
) -> anyhow::Result<()> {
    // Every pipeline's settings are checked before anything connects.
    let mut prepared: Vec<(Instance, Pipeline, Arc<Telemetry>, Exports)> = Vec::new();
    for instance in instances {
        let otlp = instance
            .otlp_config()
            .unwrap_or_else(|error| usage_error(error.to_string()));
        let entities = instance
            .entity_config()
            .unwrap_or_else(|error| usage_error(error.to_string()));
        let telemetry = Telemetry::new();
        let mut settings = instance
            .pipeline_settings()
            .unwrap_or_else(|error| usage_error(error.to_string()));
        settings.custom = custom_resource_config(&instance.cli, &telemetry)?;
        if let Some(path) = &instance.cli.config
            && let Ok(text) = std::fs::read(path)
        {
            telemetry.config_read(PIPELINES_CONFIG, &path.display().to_string(), Some(&text));
        }
        match Pipeline::new(settings, telemetry.clone()) {
            Ok(pipeline) => prepared.push((instance, pipeline, telemetry, (otlp, entities))),
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
    let mut running = Vec::new();
    let mut elections = Vec::new();
    for (instance, pipeline, telemetry, exports) in prepared {
        let span = match &instance.name {
            Some(name) => tracing::info_span!("pipeline", name = name.as_str()),
            None => tracing::Span::none(),
        };
        let started = start_pipeline(
            &instance,
            pipeline,
            telemetry,
            exports,
            kube_config.clone(),
            &security,
        )
        .instrument(span.clone())
        .await?;
        running.push(started.running);
        elections.push(started.election);
        servers.extend(
            started
                .servers
                .into_iter()
                .map(|server| Box::pin(server.instrument(span.clone()))),
        );
    }
    let otlp_pushes: Vec<_> = running.iter().map(|r| r.otlp.clone()).collect();
    let entity_pushes: Vec<_> = running.iter().map(|r| r.entities.clone()).collect();
    if cli.config.is_some() {
        tokio::spawn(watch_config_file(cli.clone(), explicit, running));
    }
    if cli.demo {
        let tls = security
            .web
            .as_ref()
            .is_some_and(|w| w.current().tls.is_some());
        print_demo_banner(cli, if tls { "https" } else { "http" }, demo_receiver);
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
    for push in otlp_pushes {
        push.lock().unwrap_or_else(|p| p.into_inner()).replace(None);
    }
    for push in entity_pushes {
        push.lock().unwrap_or_else(|p| p.into_inner()).replace(None);
    }
    futures::future::join_all(
        elections
            .into_iter()
            .map(|(leadership, client)| async move { leadership.release(client).await }),
    )
    .await;
    result
}

/// A pipeline's pushes: metrics and entity events, when configured.
type Exports = (Option<OtlpConfig>, Option<EntityConfig>);

/// What to look at in the demo, on standard output (the demo's own output, not a log line).
fn print_demo_banner(cli: &Cli, scheme: &str, demo_receiver: bool) {
    let interval = cli.otlp_interval.unwrap_or(DEMO_OTLP_INTERVAL);
    let otlp = if demo_receiver {
        let entities = match cli.entity_events {
            true => "; entity events (OTLP logs): a line per request",
            false => "; --entity-events adds entity events (OTLP logs)",
        };
        format!(
            "pushed every {} to the built-in receiver: one line per push below{entities}",
            humantime::format_duration(interval)
        )
    } else {
        "pushed to the configured endpoint".to_string()
    };
    println!(
        "kube-state-otel demo: an emulated {}-node cluster with objects of every kind, changing every {}\n  \
         metrics (kube-state-metrics' series):  curl {scheme}://127.0.0.1:{port}/metrics\n  \
         sync progress and kinds:               curl {scheme}://127.0.0.1:{port}/readyz\n  \
         the exporter's own telemetry:          curl {scheme}://127.0.0.1:{}/metrics\n  \
         OTLP: {otlp}",
        cli.demo_nodes,
        humantime::format_duration(kube_state_otel::demo::CHURN_PERIOD),
        cli.telemetry_port,
        port = cli.port,
    );
}

/// A running pipeline: its endpoint servers, what a `--config` reload changes, and its leader
/// election with the client to release its lease.
struct Started {
    servers: Vec<futures::future::BoxFuture<'static, anyhow::Result<()>>>,
    running: Running,
    election: (Leadership, kube::Client),
}

/// Watchers, stores, meters and exporters of one pipeline, with a client of its own so its
/// list/watch calls are counted in its own telemetry.
async fn start_pipeline(
    instance: &Instance,
    mut pipeline: Pipeline,
    telemetry: Arc<Telemetry>,
    (otlp, entities): Exports,
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
    if let Some((namespace, pod)) = cli.autoshard_target() {
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
    pipeline.report_sync();
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
    let collect: Collect = {
        let pipeline = pipeline.clone();
        Arc::new(move |sink| pipeline.collect(sink))
    };
    let mut push = OtlpPush::new(collect, leadership.clone(), telemetry_meter.clone());
    if let Some(config) = otlp {
        let exporter = push.start(&config).context("starting the OTLP push")?;
        push.replace(Some((config, exporter)));
    }
    let source: Arc<dyn EntitySource> = pipeline.clone();
    let mut entity_push = EntityPush::new(source, leadership.clone(), telemetry_meter);
    if let Some(config) = entities {
        let exporter = entity_push
            .start(&config)
            .context("starting the entity events push")?;
        entity_push.replace(Some((config, exporter)));
    }
    let running = Running {
        instance: instance.clone(),
        pipeline: pipeline.clone(),
        client: client.clone(),
        telemetry: telemetry.clone(),
        otlp: Arc::new(std::sync::Mutex::new(push)),
        entities: Arc::new(std::sync::Mutex::new(entity_push)),
    };
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
        running,
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
