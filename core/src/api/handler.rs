//! The API as `net`'s `Handler`: a request refused while the shards open or before its body
//! by the allow-lists, a gRPC call handed to `grpc`, any other routed (`Api::route`), counted
//! per endpoint and gzipped when asked, with CORS headers on the API's answers; imports read
//! with their body streamed.

use std::rc::Rc;

use bytes::Bytes;
use http::{Method, Request, Response};

use super::{compress, csv, grpc, line_import, vm_native};
use super::{api_path, endpoint_label, streamed_import_format, Api, ApiError, ImportFormat, ImportSetup};

impl net::Handler for Api {
    fn handle(self: Rc<Self>, request: Request<Bytes>) -> net::ResponseFuture {
        Box::pin(async move {
            let path = api_path(request.uri().path()).to_string();
            let endpoint = endpoint_label(&path);
            if let Some(refused) = self.refuse_while_starting(&path, grpc::is_grpc(&request)) {
                return refused;
            }
            if grpc::is_grpc(&request) {
                let response = grpc::handle(&self, &request).await;
                self.metrics.count_request("grpc", response.status().as_u16());
                return response;
            }
            let response = match self.route(&request, &path).await {
                Ok(response) => response,
                Err(error) => error.into_response(),
            };
            self.metrics.count_request(endpoint, response.status().as_u16());
            let gzip = self.config.server.compress_responses && compress::accepts_gzip(request.headers());
            let mut response = compress::gzip_if_accepted(gzip, response).await;
            if path.starts_with(super::cors::API_PATHS) {
                self.cors_origins.apply(request.headers(), response.headers_mut());
            }
            response
        })
    }

    /// Imports take their body streamed: migration files are far larger than
    /// `server.max_body_bytes`, which bounds every other body. PUT as well as POST, as
    /// VictoriaMetrics takes them (`curl -T file URL` sends a PUT).
    fn wants_streamed_body(&self, request: &http::request::Parts) -> bool {
        (request.method == Method::POST || request.method == Method::PUT) && streamed_import_format(api_path(request.uri.path())).is_some()
    }

    /// A client that may not use the path (client-certificate allow-lists) gets its 403
    /// before it uploads the body (an import may be gigabytes): over HTTP/1.1 when it waits
    /// for `100 Continue`, over HTTP/2 always. HTTP/2 asks for gRPC calls too: those are
    /// refused as gRPC (`grpc-status` PERMISSION_DENIED), as `grpc::handle` would.
    fn refuse_before_body(&self, request: &http::request::Parts, peer: &net::PeerInfo) -> Option<Response<Bytes>> {
        let path = api_path(request.uri.path());
        if let Some(refused) = self.refuse_while_starting(path, grpc::has_grpc_content_type(&request.headers)) {
            return Some(refused);
        }
        let denied = self.authorize(Some(peer), path).err()?;
        if grpc::has_grpc_content_type(&request.headers) {
            let refused = grpc::refusal(denied);
            self.metrics.count_request("grpc", refused.status().as_u16());
            return Some(refused);
        }
        let refused = denied.into_response();
        self.metrics.count_request(endpoint_label(path), refused.status().as_u16());
        Some(refused)
    }

    fn handle_streamed(self: Rc<Self>, request: Request<net::RequestBody>) -> net::ResponseFuture {
        Box::pin(async move {
            let path = api_path(request.uri().path()).to_string();
            if let Some(refused) = self.refuse_while_starting(&path, false) {
                return refused;
            }
            let result = match (self.authorize(request.extensions().get::<net::PeerInfo>(), &path), streamed_import_format(&path)) {
                (Err(error), _) => Err(error),
                (Ok(()), Some(format)) => match self.import_setup(&request) {
                    Ok(ImportSetup { decoder, extra_labels, params }) => match format {
                        ImportFormat::VmNative => vm_native::handle_import_native(&self, request.into_body(), decoder, extra_labels).await,
                        ImportFormat::Csv => csv::handle_import(&self, request.into_body(), &params, decoder, extra_labels).await,
                        ImportFormat::PrometheusText if super::pushgateway::is_push_path(&path) && super::pushgateway::is_protobuf(request.headers()) => {
                            match super::pushgateway::protobuf_as_text(request.into_body(), decoder, self.config.server.max_body_bytes).await {
                                Ok(text) => line_import::handle_import(&self, text, true, None, extra_labels, &params).await,
                                Err(error) => Err(error),
                            }
                        }
                        ImportFormat::JsonLines | ImportFormat::PrometheusText => {
                            let text = format == ImportFormat::PrometheusText;
                            line_import::handle_import(&self, request.into_body(), text, decoder, extra_labels, &params).await
                        }
                    },
                    Err(error) => Err(error),
                },
                (Ok(()), None) => Err(ApiError::not_found(&path)),
            };
            let mut response = result.unwrap_or_else(ApiError::into_response);
            // A Pushgateway answers its pushes 200 (client libraries' push helpers expect it).
            if response.status() == http::StatusCode::NO_CONTENT && super::pushgateway::is_push_path(&path) {
                *response.status_mut() = http::StatusCode::OK;
            }
            self.metrics.count_request(endpoint_label(&path), response.status().as_u16());
            response
        })
    }
}
