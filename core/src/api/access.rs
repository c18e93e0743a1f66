//! Who may be answered: the 503 while the shards open, the client-certificate allow-lists
//! (`tls.write_allowed_sans`, `tls.read_allowed_sans`) checked once for every request, and
//! the read filters (`tls.read_filters`) a client identity is confined to.

use bytes::Bytes;
use http::{Request, Response};

use super::params::Params;
use super::{datadog, graphite, grpc, influx, newrelic, opentsdb_put, otlp, read_filters, write, zabbix};
use super::{endpoint_label, Api, ApiError};

impl Api {
    /// While the shards are still opening, 503 (`Retry-After: 5`; gRPC: UNAVAILABLE) for
    /// everything but the few paths that read no shard (`startup::served_while_starting`).
    pub(super) fn refuse_while_starting(&self, path: &str, grpc: bool) -> Option<Response<Bytes>> {
        if self.startup.is_ready() || (!grpc && crate::startup::served_while_starting(path)) {
            return None;
        }
        let mut error = ApiError::unavailable("Metricstor is starting: its shards are replaying their write-ahead logs; see /api/v1/status/walreplay");
        error.headers.push((http::header::RETRY_AFTER, "5".to_string()));
        let refused = if grpc { grpc::refusal(error) } else { error.into_response() };
        self.metrics.count_request(if grpc { "grpc" } else { endpoint_label(path) }, refused.status().as_u16());
        Some(refused)
    }

    /// The read filters of `request`'s client identity (`tls.read_filters`); none when it has
    /// none.
    pub(crate) fn confinement(&self, request: &Request<Bytes>) -> read_filters::ReadFilters {
        self.identity_filters.for_peer(request.extensions().get::<net::PeerInfo>())
    }

    /// The parameters of a request for the text of every client's queries (active and top
    /// queries): a 403 for a client confined by `tls.read_filters` (as the configuration), a
    /// 400 for URL read filters (the answer cannot be confined to them).
    pub(super) fn refuse_other_clients_queries(&self, request: &Request<Bytes>, endpoint: &str) -> Result<Params, ApiError> {
        if !self.confinement(request).is_empty() {
            return Err(ApiError::forbidden(format!("{endpoint} shows what every client may see: not available to a client confined by tls.read_filters")));
        }
        let p = self.params(request)?;
        read_filters::ReadFilters::from_params(&p)?.refuse_unless_empty(endpoint)?;
        Ok(p)
    }

    /// With client-certificate allow-lists configured, only listed identities may write or read.
    /// The one check for every request, whole-body or streamed (`peer` is the request's
    /// `net::PeerInfo` extension).
    pub(crate) fn authorize(&self, peer: Option<&net::PeerInfo>, path: &str) -> Result<(), ApiError> {
        let writes = write::is_remote_write_path(path)
            || otlp::is_otlp_metrics_path(path)
            || influx::is_write_path(path)
            || opentsdb_put::is_put_path(path)
            || datadog::is_datadog_path(path)
            || newrelic::is_newrelic_path(path)
            || zabbix::is_zabbix_path(path)
            || graphite::is_graphite_write_path(path)
            || path.starts_with("/api/v1/import")
            || path.starts_with("/api/v1/admin/")
            || path.starts_with("/internal/")
            || path.starts_with("/snapshot/")
            || path == "/-/reload"
            || path == "/-/quit";
        let (action, allowed) = if writes || path == "/metricstor.v1.Query/Write" || path == grpc::OTLP_EXPORT {
            ("write", &self.config.tls.write_allowed_sans)
        } else if path.starts_with("/api/v1/")
            || ["/metrics", "/federate", "/targets", "/config", "/rules", "/alerts", "/flags"].contains(&path)
            || graphite::is_graphite_path(path)
            || path.starts_with("/metricstor.v1.")
        {
            ("read", &self.config.tls.read_allowed_sans)
        } else {
            return Ok(());
        };
        if allowed.is_empty() {
            return Ok(());
        }
        let identity = peer.and_then(|p| p.identity.as_ref());
        let permitted = identity.is_some_and(|id| {
            id.sans.iter().any(|san| allowed.contains(san)) || id.common_name.as_ref().is_some_and(|cn| allowed.contains(cn))
        });
        if permitted {
            return Ok(());
        }
        self.metrics.count_denied(action);
        let who = identity.map(|id| format!("SANs {:?}, CN {:?}", id.sans, id.common_name)).unwrap_or_else(|| "no client certificate".into());
        let peer_addr = peer.map(|p| p.addr.to_string()).unwrap_or_default();
        tracing::warn!(peer = %peer_addr, action, identity = %who, "request refused: client identity not allowed");
        Err(ApiError::forbidden(format!("client certificate identity ({who}) is not allowed to {action}")))
    }
}
