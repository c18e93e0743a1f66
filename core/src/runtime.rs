//! Thread-per-core runtime: one pinned glommio executor per core; each owns some shards
//! (shard i → executor i mod cores) and accepts on both ports (SO_REUSEPORT). Start-up,
//! readiness and the shutdown sequence (stop accepting → drain → flush shards) live here.

use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::{mpsc, Arc};

use async_channel::{Receiver, Sender};
use glommio::{LocalExecutorBuilder, Placement};
use tsdb::{ShardDb, ShardOptions};

use crate::api::{Api, ExecutorMetrics, ListingCache, QueryStats, RangeCache};
use crate::shard::HistoryGeneration;
use crate::config::{Config, Resolved};
use crate::data_dir;
use crate::metric_names_stats::MetricNamesStats;
use crate::shard::owner::run_shard_owner;
use crate::shard::{ShardRequest, ShardRouter};

/// io_uring registered buffer memory per executor. Kept small: it must be locked memory,
/// and unprivileged users often have only a few MiB of memlock (DESIGN §9 pitfall 3).
pub const IO_MEMORY_BYTES: usize = 2 << 20;
/// Threads per executor that evaluate PromQL (glommio's blocking pool).
pub const QUERY_THREADS_PER_EXECUTOR: usize = 2;

/// What the runtime resolved at start: real ports (port 0 becomes a real port).
#[derive(Clone, Debug)]
pub struct Listening {
    pub http_addr: SocketAddr,
    pub grpc_addr: SocketAddr,
    /// The Graphite and Influx socket listeners' addresses (`socket_ingest`).
    pub sockets: crate::socket_ingest::SocketAddrs,
    /// The receive buffer the kernel granted their UDP sockets, when they are open.
    pub udp_receive_buffer_bytes: Option<usize>,
}

enum Event {
    Bound(Result<Listening, String>),
    ShardsOpened(Result<(), String>),
    Signal(i32),
}

/// Stops the start when another process listens on one of the configured ports
/// (`port_claim`): the HTTP and gRPC ports, and the line protocols' TCP ports with the UDP
/// ones they share unless TLS is on.
fn refuse_ports_in_use(config: &Config, resolved: &Resolved, sockets: &crate::socket_ingest::SocketAddrs) -> Result<(), String> {
    use crate::port_claim::Claim;
    let udp = !config.tls.enabled();
    let mut claims = vec![Claim { addr: resolved.http_addr, key: "server.http_addr", udp: false }, Claim { addr: resolved.grpc_addr, key: "server.grpc_addr", udp: false }];
    for protocol in crate::socket_ingest::Protocol::ALL {
        claims.extend(sockets.get(protocol).map(|addr| Claim { addr, key: protocol.config_key(), udp }));
    }
    crate::port_claim::refuse_ports_in_use(&claims)
}

fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}

/// Everything one executor needs; all `Send`, moved into the executor thread.
struct ExecutorPlan {
    index: usize,
    cores: usize,
    http_addr: SocketAddr,
    grpc_addr: SocketAddr,
    config: Arc<Config>,
    senders: Vec<Sender<ShardRequest>>,
    owned: Vec<(usize, Receiver<ShardRequest>)>,
    shutdown: Receiver<()>,
    stop_shards_rx: Receiver<()>,
    stop_shards_tx: Sender<()>,
    metrics: Arc<ExecutorMetrics>,
    all_metrics: Arc<Vec<Arc<ExecutorMetrics>>>,
    /// `otlp.delta_to_cumulative`'s state, one for every executor.
    otlp_delta_to_cumulative: Option<Arc<crate::ingest::otlp::delta_to_cumulative::DeltaToCumulative>>,
    tls_reload: Arc<std::sync::atomic::AtomicU64>,
    /// Shared by every executor's router, shard owners and range-query cache.
    history: Arc<HistoryGeneration>,
    /// `relabel_configs` and `stream_aggregation`'s state in force (replaced by a reload),
    /// shared by every executor's router.
    write_rules: Arc<crate::write_rules::WriteRules>,
    /// `tls.read_filters`, shared by every executor's API.
    identity_filters: Arc<crate::api::read_filters::IdentityFilters>,
    /// `server.cors_origin`, read.
    cors_origins: crate::api::cors::CorsOrigins,
    /// `scrape.config_file`'s jobs (replaced by a reload), and the state of every executor's
    /// targets.
    scrape: Arc<crate::scrape::SharedConfig>,
    scrape_targets: Arc<crate::scrape::status::Registry>,
    /// The rule groups' state (`/api/v1/rules`) and where their alerts go, shared by every
    /// executor (executor 0 evaluates and sends).
    rules_status: Arc<crate::rules::status::RulesStatus>,
    notifier: Arc<crate::rules::notifier::Notifier>,
    /// The server's range-query result cache (shared by every executor).
    range_cache: Arc<RangeCache>,
    /// The running and recently finished queries (shared by every executor).
    query_stats: Arc<QueryStats>,
    /// How often queries read each metric name (shared by every executor's router), when
    /// `server.track_metric_names_stats` is on.
    name_stats: Option<Arc<MetricNamesStats>>,
    /// `global.query_log_file`'s log (shared by every executor).
    query_log: Arc<crate::api::QueryLog>,
    /// Every query's timings by part, for `/metrics` (shared by every executor).
    query_timings: Arc<crate::api::QueryTimings>,
    /// `queries.active` (shared by every executor; none when it could not be made).
    active_queries: Option<Arc<crate::api::active_queries_file::ActiveQueriesFile>>,
    notifications: Arc<crate::notifications::Notifications>,
    startup: Arc<crate::startup::Startup>,
    events: mpsc::Sender<Event>,
    started_at_ms: i64,
    /// This executor's members of the two listening addresses' connection balances.
    http_balance: net::Balance,
    grpc_balance: net::Balance,
    /// Where the Graphite, Influx and OpenTSDB socket listeners bind, and this executor's members of
    /// their TCP connection balances.
    sockets: crate::socket_ingest::SocketAddrs,
    socket_balances: [Option<net::Balance>; crate::socket_ingest::Protocol::COUNT],
}

/// Each executor's share of `server.max_concurrent_queries` (rounded up): its query slots.
fn query_slots_per_executor(config: &Config, cores: usize) -> usize {
    config.server.max_concurrent_queries.div_ceil(cores.max(1))
}

/// Runs the server until SIGINT/SIGTERM; returns after every acknowledged write is flushed.
pub fn run(config: Config, resolved: Resolved) -> Result<(), String> {
    crate::io_uring_probe::check_io_uring()?;
    let cpus = crate::thread_priority::process_cpus();
    let cores = if config.server.cores == 0 { cpus.len() } else { config.server.cores };
    if cores > cpus.len() {
        return Err(format!("invalid value for server.cores: {cores} but this process may use only {} CPUs", cpus.len()));
    }
    let sockets = crate::socket_ingest::SocketAddrs { graphite: resolved.graphite_addr, influx: resolved.influx_addr, opentsdb: resolved.opentsdb_addr };
    refuse_ports_in_use(&config, &resolved, &sockets)?;
    // Held until this function returns, after the shards' last flush.
    let _data_dir_lock = data_dir::lock(&config.storage.data_dir).map_err(|e| e.to_string())?;
    let shards = data_dir::open_or_create(&config.storage.data_dir, if config.storage.shards == 0 { cores } else { config.storage.shards })
        .map_err(|e| e.to_string())?;
    if config.storage.shards != 0 && config.storage.shards != shards {
        tracing::warn!(configured = config.storage.shards, recorded = shards, "storage.shards differs from the data directory's recorded count; using the recorded count");
    }
    let config = Arc::new(config);
    let (senders, receivers): (Vec<_>, Vec<_>) = (0..shards).map(|_| async_channel::bounded(config.server.shard_queue_depth)).unzip();
    let mut owned: Vec<Vec<(usize, Receiver<ShardRequest>)>> = (0..cores).map(|_| Vec::new()).collect();
    for (shard, rx) in receivers.into_iter().enumerate() {
        owned[shard % cores].push((shard, rx));
    }
    let (shutdown_tx, shutdown_rx) = async_channel::bounded::<()>(1);
    let (stop_shards_tx, stop_shards_rx) = async_channel::bounded::<()>(1);
    let metrics: Vec<Arc<ExecutorMetrics>> = (0..cores).map(|_| Arc::new(ExecutorMetrics::default())).collect();
    let all_metrics = Arc::new(metrics.clone());
    let otlp_delta_to_cumulative = config.otlp.delta_to_cumulative_limits().map(|limits| Arc::new(crate::ingest::otlp::delta_to_cumulative::DeltaToCumulative::new(limits)));
    let (events_tx, events) = mpsc::channel::<Event>();
    let started_at_ms = now_ms();

    let signals_tx = events_tx.clone();
    let tls_reload = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let history = Arc::new(HistoryGeneration::default());
    let range_cache = Arc::new(RangeCache::new(config.server.query_cache_mb.saturating_mul(1 << 20)));
    let query_stats = Arc::new(QueryStats::new(crate::api::LAST_QUERIES_COUNT));
    let name_stats_path = config.storage.data_dir.join(crate::metric_names_stats::FILE_NAME);
    let name_stats = config.server.track_metric_names_stats.then(|| {
        let (stats, warning) = MetricNamesStats::load(&name_stats_path, (started_at_ms / 1000) as u64);
        if let Some(warning) = warning {
            tracing::warn!("{warning}");
        }
        Arc::new(stats)
    });
    // Written every SAVE_EVERY while they change, so a crash loses at most that much.
    let name_stats_saver = match &name_stats {
        Some(stats) => Some(crate::metric_names_stats::Saver::start(stats.clone(), name_stats_path, crate::metric_names_stats::SAVE_EVERY)?),
        None => None,
    };
    // Every query slot of every executor has a slot in the file.
    let active_queries = match crate::api::active_queries_file::ActiveQueriesFile::open(&config.storage.data_dir, query_slots_per_executor(&config, cores) * cores.max(1)) {
        Ok((file, unfinished)) => {
            if let Some(queries) = unfinished {
                tracing::warn!(%queries, "these queries did not finish in the last run (queries.active)");
            }
            Some(Arc::new(file))
        }
        Err(error) => {
            tracing::warn!(%error, "cannot make queries.active in the data directory; running queries are not recorded there");
            None
        }
    };
    let query_log = Arc::new(crate::api::QueryLog::default());
    let query_timings = Arc::new(crate::api::QueryTimings::default());
    let scrape_targets = Arc::new(crate::scrape::status::Registry::default());
    let rules_status = Arc::new(crate::rules::status::RulesStatus::default());
    let notifier = Arc::new(crate::rules::notifier::Notifier::new(Default::default(), Default::default()));
    let notifications = Arc::new(crate::notifications::Notifications::new(config.server.max_notification_subscribers));
    notifications.add(crate::notifications::STARTING_UP);
    let startup = Arc::new(crate::startup::Startup::default());
    let resolv_conf = config.scrape.resolv_conf.clone().unwrap_or_else(|| std::path::PathBuf::from(crate::scrape::dns::SYSTEM_RESOLV_CONF));
    let scrape = Arc::new(crate::scrape::SharedConfig::new(resolved.scrape.clone(), config.scrape.config_file.clone(), config.storage.ingest_rules().label_limits, resolv_conf));
    notifier.discover_from(scrape.asked());
    let reload_source = resolved.config_file.clone().map(|path| crate::write_rules::ReloadSource { path, started_with: config.clone(), limits: config.storage.ingest_rules().label_limits });
    let write_rules = Arc::new(crate::write_rules::WriteRules::new(resolved.relabeler.clone(), resolved.stream_aggr.clone(), reload_source));
    let mut signals = signal_hook::iterator::Signals::new([signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM, signal_hook::consts::SIGHUP])
        .map_err(|e| format!("cannot install signal handlers: {e}"))?;
    let signals_handle = signals.handle();
    std::thread::Builder::new()
        .name("signals".into())
        .spawn(move || {
            for signal in signals.forever() {
                if signals_tx.send(Event::Signal(signal)).is_err() {
                    break;
                }
            }
        })
        .map_err(|e| format!("cannot start the signal thread: {e}"))?;

    let mut handles = Vec::with_capacity(cores);
    let mut listening = Listening { http_addr: resolved.http_addr, grpc_addr: resolved.grpc_addr, sockets, udp_receive_buffer_bytes: None };
    let mut owned = owned.into_iter();
    let balances = net::Balance::group(cores).into_iter().zip(net::Balance::group(cores));
    let mut socket_balances = crate::socket_ingest::Protocol::ALL.map(|_| net::Balance::group(cores).into_iter());
    let mut failure: Option<String> = None;
    let mut opened = 0;
    for (index, (http_balance, grpc_balance)) in balances.enumerate() {
        let plan = ExecutorPlan {
            index,
            cores,
            http_addr: listening.http_addr,
            grpc_addr: listening.grpc_addr,
            config: config.clone(),
            senders: senders.clone(),
            owned: owned.next().unwrap_or_default(),
            shutdown: shutdown_rx.clone(),
            stop_shards_rx: stop_shards_rx.clone(),
            stop_shards_tx: stop_shards_tx.clone(),
            metrics: metrics[index].clone(),
            all_metrics: all_metrics.clone(),
            otlp_delta_to_cumulative: otlp_delta_to_cumulative.clone(),
            tls_reload: tls_reload.clone(),
            history: history.clone(),
            write_rules: write_rules.clone(),
            identity_filters: resolved.identity_filters.clone(),
            cors_origins: resolved.cors_origins.clone(),
            scrape: scrape.clone(),
            scrape_targets: scrape_targets.clone(),
            rules_status: rules_status.clone(),
            notifier: notifier.clone(),
            range_cache: range_cache.clone(),
            query_stats: query_stats.clone(),
            name_stats: name_stats.clone(),
            query_log: query_log.clone(),
            query_timings: query_timings.clone(),
            active_queries: active_queries.clone(),
            notifications: notifications.clone(),
            startup: startup.clone(),
            events: events_tx.clone(),
            started_at_ms,
            http_balance,
            grpc_balance,
            sockets: listening.sockets,
            socket_balances: std::array::from_fn(|protocol| socket_balances[protocol].next()),
        };
        let builder = LocalExecutorBuilder::new(Placement::Fixed(cpus[index]))
            .name(&format!("metricstor-{index}"))
            .io_memory(IO_MEMORY_BYTES)
            // PromQL evaluation runs here (see api::query): unpinned threads the kernel
            // schedules, so a long query never stalls this executor's I/O loop.
            .blocking_thread_pool_placement(glommio::PoolPlacement::Unbound(QUERY_THREADS_PER_EXECUTOR));
        match builder.spawn(move || run_executor(plan)) {
            Ok(handle) => handles.push(handle),
            Err(e) => {
                failure = Some(format!("cannot start executor {index}: {e}"));
                break;
            }
        }
        // Executor 0 resolves port 0 to a real port; the others bind that same port.
        match next_bound(&events, &mut opened) {
            Ok(bound) => listening = bound,
            Err(e) => {
                failure = Some(e);
                break;
            }
        }
    }
    drop(senders);
    drop(stop_shards_rx);
    drop(stop_shards_tx);
    drop(events_tx);
    while failure.is_none() && opened < handles.len() {
        match events.recv() {
            Ok(Event::ShardsOpened(Ok(()))) => opened += 1,
            Ok(Event::ShardsOpened(Err(e))) | Ok(Event::Bound(Err(e))) => failure = Some(e),
            Ok(Event::Bound(Ok(_))) => {}
            Ok(Event::Signal(_)) => failure = Some("interrupted during start-up".into()),
            Err(_) => failure = Some("executors exited during start-up".into()),
        }
    }
    if failure.is_none() {
        startup.set_ready();
        notifications.delete(crate::notifications::STARTING_UP);
        tracing::info!(cores, shards, data_dir = %config.storage.data_dir.display(), "metricstor {} started", env!("CARGO_PKG_VERSION"));
        let scheme = if config.tls.enabled() { "https" } else { "http" };
        let mtls = if config.tls.require_client_cert { " with client certificates required" } else { "" };
        tracing::info!(addr = %listening.http_addr, "listening for HTTP/1.1 and HTTP/2{mtls} (Prometheus API, remote_write) on {scheme}://{}", listening.http_addr);
        tracing::info!(addr = %listening.grpc_addr, "listening for gRPC{mtls} on {} (metricstor.v1.Query, grpc.health.v1; the HTTP API too)", listening.grpc_addr);
        crate::socket_ingest::log_listening(&listening.sockets, config.tls.enabled(), mtls, config.server.udp_receive_buffer_bytes, listening.udp_receive_buffer_bytes);
        // `scrape.config_check_interval_seconds`: the configuration's files are compared
        // with those in force this often, between events.
        let check_every = (config.scrape.config_check_interval_seconds > 0).then(|| std::time::Duration::from_secs(config.scrape.config_check_interval_seconds));
        let mut next_check = check_every.and_then(|every| std::time::Instant::now().checked_add(every));
        loop {
            let event = match next_check {
                Some(at) => match events.recv_timeout(at.saturating_duration_since(std::time::Instant::now())) {
                    Err(mpsc::RecvTimeoutError::Timeout) => {
                        next_check = check_every.and_then(|every| std::time::Instant::now().checked_add(every));
                        if scrape.files_changed() {
                            tracing::info!("scrape configuration files changed; reloading");
                            let _ = crate::scrape::log_reload(&scrape, &notifications, "config_check_interval_seconds");
                        }
                        if write_rules.file_changed() {
                            tracing::info!("configuration file changed; reloading relabel_configs and stream_aggregation");
                            let _ = crate::write_rules::log_reload(&write_rules, &notifications, "config_check_interval_seconds");
                        }
                        continue;
                    }
                    Err(mpsc::RecvTimeoutError::Disconnected) => Err(mpsc::RecvError),
                    Ok(event) => Ok(event),
                },
                None => events.recv(),
            };
            match event {
                Ok(Event::Signal(signal_hook::consts::SIGHUP)) => {
                    tls_reload.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    tracing::info!("SIGHUP: TLS files will be reloaded for new connections");
                    // Logged either way; a mistake keeps the jobs and rules in force.
                    let _ = crate::scrape::log_reload(&scrape, &notifications, "SIGHUP");
                    let _ = crate::write_rules::log_reload(&write_rules, &notifications, "SIGHUP");
                }
                Ok(Event::Signal(signal)) => {
                    tracing::info!(signal, "shutting down: no new connections, finishing requests, flushing shards");
                    // Followers of /api/v1/notifications/live hear of it; their streams end.
                    notifications.shut_down();
                    break;
                }
                Ok(_) => {}
                Err(_) => break,
            }
        }
    }
    drop(shutdown_tx);
    signals_handle.close();
    let mut clean = true;
    for handle in handles {
        if let Err(e) = handle.join() {
            tracing::error!(error = %e, "executor failed");
            clean = false;
        }
    }
    if let Some(saver) = name_stats_saver {
        saver.stop();
    }
    match failure {
        Some(e) => Err(e),
        None if clean => {
            tracing::info!("shutdown complete");
            Ok(())
        }
        None => Err("an executor failed during shutdown; see the log above".into()),
    }
}

/// Waits for the next executor's bound addresses, counting shard-open reports on the way.
fn next_bound(events: &mpsc::Receiver<Event>, opened: &mut usize) -> Result<Listening, String> {
    loop {
        match events.recv() {
            Ok(Event::Bound(result)) => return result,
            Ok(Event::ShardsOpened(Ok(()))) => *opened += 1,
            Ok(Event::ShardsOpened(Err(e))) => return Err(e),
            Ok(Event::Signal(_)) => return Err("interrupted during start-up".into()),
            Err(_) => return Err("executors exited during start-up".into()),
        }
    }
}

async fn run_executor(plan: ExecutorPlan) {
    let ExecutorPlan { index, cores, config, events, .. } = plan;
    let _ = crate::thread_priority::request_short_slice_for_executor();
    let bind = |addr: SocketAddr, what: &str| {
        glommio::net::TcpListener::bind(addr).map_err(|e| format!("cannot listen on {addr} ({what}): {e}"))
    };
    let listeners = bind(plan.http_addr, "server.http_addr").and_then(|h| Ok((h, bind(plan.grpc_addr, "server.grpc_addr")?)));
    let (http_listener, grpc_listener) = match listeners {
        Ok(pair) => pair,
        Err(e) => {
            let _ = events.send(Event::Bound(Err(e)));
            return;
        }
    };
    // UDP cannot be authenticated: with TLS only the TCP listeners open (socket_ingest).
    let udp_buffer = (!config.tls.enabled()).then_some(config.server.udp_receive_buffer_bytes);
    let (socket_listeners, sockets, udp_receive_buffer_bytes) = match crate::socket_ingest::bind(&plan.sockets, udp_buffer) {
        Ok(bound) => bound,
        Err(e) => {
            let _ = events.send(Event::Bound(Err(e)));
            return;
        }
    };
    let bound = (|| Ok::<_, std::io::Error>(Listening { http_addr: http_listener.local_addr()?, grpc_addr: grpc_listener.local_addr()?, sockets, udp_receive_buffer_bytes }))();
    match bound {
        Ok(listening) => {
            let _ = events.send(Event::Bound(Ok(listening)));
        }
        Err(e) => {
            let _ = events.send(Event::Bound(Err(format!("cannot read the bound address: {e}"))));
            return;
        }
    }

    let api = Rc::new(Api {
        router: ShardRouter::new(plan.senders, plan.history.clone()).with_write_rules(plan.write_rules.clone()).with_name_stats(plan.name_stats.clone()),
        config: config.clone(),
        engine: promql::Engine::new(promql::EngineOptions {
            lookback_delta_ms: config.server.lookback_delta_ms(),
            max_samples: config.server.max_samples_per_query,
            delayed_name_removal: config.server.promql_delayed_name_removal,
            // Start times stored with samples are what PromQL reads them from.
            use_start_timestamps: config.storage.start_timestamp_storage,
            type_and_unit_labels: config.storage.type_and_unit_labels,
            ..promql::EngineOptions::default()
        }),
        metrics: plan.metrics,
        all_metrics: plan.all_metrics,
        started_at_ms: plan.started_at_ms,
        query_slots: std::rc::Rc::new(glommio::sync::Semaphore::new(query_slots_per_executor(&config, cores) as u64)),
        active_queries: plan.active_queries.clone(),
        range_cache: plan.range_cache.clone(),
        query_stats: plan.query_stats.clone(),
        query_log: plan.query_log.clone(),
        query_timings: plan.query_timings.clone(),
        listing_cache: ListingCache::default(),
        identity_filters: plan.identity_filters.clone(),
        cors_origins: plan.cors_origins.clone(),
        scrape_targets: plan.scrape_targets.clone(),
        rules: plan.rules_status.clone(),
        notifier: plan.notifier.clone(),
        scrape_config: plan.scrape.clone(),
        notifications: plan.notifications.clone(),
        startup: plan.startup.clone(),
        otlp_delta_to_cumulative: plan.otlp_delta_to_cumulative.clone(),
    });
    let limits = server_limits(&config);
    // Files were validated at start-up; a failure here (files changed since) fails the
    // start rather than serving without TLS.
    let tls = match config.tls.settings().map(net::ReloadingConfig::new).transpose() {
        Ok(tls) => tls.map(|t| Rc::new(t.with_trigger(plan.tls_reload.clone()))),
        Err(error) => {
            let _ = events.send(Event::ShardsOpened(Err(format!("cannot load TLS files: {error}"))));
            return;
        }
    };
    let handler: Rc<dyn net::Handler> = api.clone();
    let transport = api.metrics.transport.clone();
    let (http_balance, grpc_balance) = (Some(plan.http_balance), Some(plan.grpc_balance));
    // Serving starts before the shards open: until every executor's are, requests that
    // need them get 503 (`Api::refuse_while_starting`) instead of waiting on the replay.
    let http = glommio::spawn_local(net::accept_loop(http_listener, handler.clone(), limits.clone(), plan.shutdown.clone(), tls.clone(), transport.clone(), http_balance));
    let grpc = glommio::spawn_local(net::accept_loop(grpc_listener, handler.clone(), limits.clone(), plan.shutdown.clone(), tls.clone(), transport.clone(), grpc_balance));

    let mut owners = Vec::new();
    let shard_options = ShardOptions {
        wal_segment_bytes: config.storage.wal_segment_size_mb << 20,
        fsync_on_commit: config.storage.wal_fsync,
        wal_compression: config.storage.wal_compression,
        block_duration_ms: config.storage.block_duration_ms(),
        retention_ms: config.storage.retention_ms(),
        retention_bytes: config.storage.retention_bytes().div_ceil(api.router.shard_count().max(1) as u64),
        retention_disk_fraction: config.storage.retention_percentage / 100.0 / api.router.shard_count().max(1) as f64,
        page_cache_bytes: config.storage.page_cache_mb << 20,
        max_head_samples: config.storage.max_head_samples,
        max_series: config.storage.max_series.div_ceil(api.router.shard_count().max(1) as u64),
        max_hourly_series: config.storage.max_hourly_series.div_ceil(api.router.shard_count().max(1) as u64),
        max_daily_series: config.storage.max_daily_series.div_ceil(api.router.shard_count().max(1) as u64),
        max_exemplars: config.storage.max_exemplars.div_ceil(api.router.shard_count().max(1) as u64),
        replay_progress: Some(plan.startup.replay.clone()),
        start_timestamp_zero_ingestion: config.storage.start_timestamp_zero_ingestion,
        start_timestamp_storage: config.storage.start_timestamp_storage,
        bound_by_clock: true,
        ..ShardOptions::default()
    };
    for (shard, requests) in plan.owned {
        let dir = data_dir::shard_dir(&config.storage.data_dir, shard);
        let mut shard_options = shard_options.clone();
        if config.storage.delayed_compaction {
            shard_options.head_cut_delay_ms = tsdb::shard::random_head_cut_delay_ms(shard_options.block_duration_ms);
            tracing::info!(shard, delay_seconds = shard_options.head_cut_delay_ms / 1000, "delayed compaction: head cuts wait this long past due");
        }
        match ShardDb::open(&dir, shard_options).await {
            Ok(db) => {
                let stop = plan.stop_shards_rx.clone();
                owners.push(glommio::spawn_local(run_shard_owner(shard, db, requests, stop, plan.history.clone())));
            }
            Err(e) => {
                let _ = events.send(Event::ShardsOpened(Err(format!("cannot open shard {shard} in {}: {e}", dir.display()))));
                return;
            }
        }
    }
    drop(plan.stop_shards_rx);
    let _ = events.send(Event::ShardsOpened(Ok(())));
    tracing::debug!(executor = index, cores, shards = owners.len(), "executor ready");

    // HTTP on the OpenTSDB port counts with the HTTP ports' requests and errors.
    let scrapes = crate::scrape::serve(api.clone(), plan.scrape.clone(), plan.scrape_targets.clone(), index, cores, plan.shutdown.clone());
    let rules = crate::rules::serve(api.clone(), plan.scrape.clone(), plan.rules_status.clone(), plan.notifier.clone(), (index, cores), plan.shutdown.clone());
    let max_age = if index == 0 { config.storage.snapshots_max_age_seconds } else { 0 };
    let snapshot_expiry = crate::api::expire_old_snapshots(config.storage.data_dir.clone(), max_age, plan.shutdown.clone());
    let stream_aggr = crate::stream_aggr::flusher::serve(api.clone(), index, plan.shutdown.clone());
    let sockets = crate::socket_ingest::serve(socket_listeners, api.clone(), tls, (limits, transport), plan.shutdown, plan.socket_balances);
    let background = futures_lite::future::zip(futures_lite::future::zip(snapshot_expiry, stream_aggr), futures_lite::future::zip(scrapes, rules));
    futures_lite::future::zip(futures_lite::future::zip(http, grpc), futures_lite::future::zip(sockets, background)).await;
    drop(handler);
    drop(api);
    // This executor has stopped serving; shards stop once every executor has.
    drop(plan.stop_shards_tx);
    for owner in owners {
        owner.await;
    }
}

fn server_limits(config: &Config) -> net::ServerLimits {
    let s = &config.server;
    net::ServerLimits {
        head_bytes_max: s.max_header_bytes,
        body_bytes_max: s.max_body_bytes,
        header_read_timeout_ms: s.header_read_timeout_seconds * 1000,
        body_read_timeout_ms: s.body_read_timeout_seconds * 1000,
        idle_timeout_ms: s.idle_timeout_seconds * 1000,
        connections_max: s.max_connections_per_core,
        shutdown_drain_ms: s.shutdown_drain_seconds * 1000,
        h2_concurrent_streams_max: s.max_concurrent_streams,
    }
}
