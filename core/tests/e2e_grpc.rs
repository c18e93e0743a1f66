//! The gRPC API with tonic as the client (tonic is a test-only dependency; the server side is
//! our own framing over h2): write over the client-streaming `Write`, then query, series,
//! label names/values, health, and the status codes for bad input and unknown methods.

mod support;

use proto::metricstor_v1 as pb;
use proto::remote_write_v1 as v1;
use support::*;
use tonic::codec::ProstCodec;
use tonic::codegen::http::uri::PathAndQuery;

async fn unary<Req, Resp>(channel: &tonic::transport::Channel, path: &'static str, request: Req) -> Result<Resp, tonic::Status>
where
    Req: prost::Message + Send + Sync + 'static,
    Resp: prost::Message + Default + Send + Sync + 'static,
{
    let mut grpc = tonic::client::Grpc::new(channel.clone());
    grpc.ready().await.map_err(|e| tonic::Status::unavailable(e.to_string()))?;
    let codec: ProstCodec<Req, Resp> = ProstCodec::default();
    grpc.unary(tonic::Request::new(request), PathAndQuery::from_static(path), codec).await.map(|r| r.into_inner())
}

#[test]
fn grpc_query_api_over_h2() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&write_config(dir.path(), ""));
    let grpc_addr = server.grpc_addr.clone();
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(async move {
        let channel = tonic::transport::Endpoint::from_shared(format!("http://{grpc_addr}")).unwrap().connect().await.expect("connect");

        // Client-streaming Write with two WriteRequests.
        let requests: Vec<v1::WriteRequest> = (0..2)
            .map(|i| v1::WriteRequest {
                timeseries: vec![v1::TimeSeries {
                    labels: vec![v1::Label { name: "__name__".into(), value: "grpc_metric".into() }, v1::Label { name: "job".into(), value: format!("j{i}") }],
                    samples: vec![v1::Sample { value: 10.0 + i as f64, timestamp: 1_000_000 }],
                    ..Default::default()
                }],
                metadata: vec![],
            })
            .collect();
        let mut grpc = tonic::client::Grpc::new(channel.clone());
        grpc.ready().await.unwrap();
        let codec: ProstCodec<v1::WriteRequest, pb::WriteResponse> = ProstCodec::default();
        let written = grpc
            .client_streaming(tonic::Request::new(tokio_stream_iter(requests)), PathAndQuery::from_static("/metricstor.v1.Query/Write"), codec)
            .await
            .expect("write")
            .into_inner();
        assert_eq!(written.samples_written, 2);

        let response: pb::QueryResponse = unary(&channel, "/metricstor.v1.Query/InstantQuery", pb::InstantQueryRequest { query: "sum(grpc_metric)".into(), time_ms: 1_000_000 })
            .await
            .expect("instant query");
        assert_eq!(response.result_type, "vector");
        assert_eq!(response.series[0].points[0].value, 21.0);

        let response: pb::QueryResponse = unary(
            &channel,
            "/metricstor.v1.Query/RangeQuery",
            pb::RangeQueryRequest { query: "grpc_metric{job=\"j1\"}".into(), start_ms: 1_000_000, end_ms: 1_060_000, step_ms: 30_000 },
        )
        .await
        .expect("range query");
        assert_eq!(response.result_type, "matrix");
        assert_eq!(response.series[0].points.len(), 3);

        let series: pb::SeriesResponse = unary(&channel, "/metricstor.v1.Query/Series", pb::SeriesRequest { matchers: vec!["grpc_metric".into()], ..Default::default() }).await.unwrap();
        assert_eq!(series.series.len(), 2);
        let names: pb::LabelNamesResponse = unary(&channel, "/metricstor.v1.Query/LabelNames", pb::LabelNamesRequest::default()).await.unwrap();
        assert_eq!(names.names, vec!["__name__", "job"]);
        let values: pb::LabelValuesResponse = unary(&channel, "/metricstor.v1.Query/LabelValues", pb::LabelValuesRequest { name: "job".into(), ..Default::default() }).await.unwrap();
        assert_eq!(values.values, vec!["j0", "j1"]);

        let health: pb::HealthCheckResponse = unary(&channel, "/grpc.health.v1.Health/Check", pb::HealthCheckRequest::default()).await.unwrap();
        assert_eq!(health.status, 1, "SERVING");

        let bad = unary::<_, pb::QueryResponse>(&channel, "/metricstor.v1.Query/InstantQuery", pb::InstantQueryRequest { query: "sum(".into(), time_ms: 1 }).await.unwrap_err();
        assert_eq!(bad.code(), tonic::Code::InvalidArgument);
        assert!(bad.message().contains("parse error"), "{}", bad.message());
        let missing = unary::<_, pb::QueryResponse>(&channel, "/metricstor.v1.Query/Nope", pb::InstantQueryRequest::default()).await.unwrap_err();
        assert_eq!(missing.code(), tonic::Code::Unimplemented);
    });
    // Close the client's connection before stopping, so shutdown need not wait for it.
    drop(runtime);
    assert!(server.stop());
}

/// A stream over a Vec, without pulling in tokio-stream.
fn tokio_stream_iter<T: Send + 'static>(items: Vec<T>) -> impl tonic::codegen::tokio_stream::Stream<Item = T> + Send + 'static {
    tonic::codegen::tokio_stream::iter(items)
}
