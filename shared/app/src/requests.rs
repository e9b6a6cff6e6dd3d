//! One metric line per HTTP request, for every HTTP function: where they are served in Lambda
//! ([`crate::lambda::serve_http`]) and in the local runner (`soapp serve`), so no handler has to
//! remember it.
//!
//! The route is a template, never the raw path: in Lambda it is API Gateway's route key (`POST
//! /webhooks/superoffice/{tenant}`), which only names the template's routes (API Gateway answers
//! any other path itself); locally, [`local_route`] builds the same key.

use std::time::Instant;

use web::{Handler, RequestContext, WebRequest, WebResponse};

/// Handles `req` and writes its metric line (`Requests`, `Latency`, by `route`).
pub async fn measured<H: Handler>(
    handler: &H,
    req: WebRequest,
    ctx: RequestContext,
    route: &str,
) -> WebResponse {
    if !::telemetry::sink::enabled() {
        return handler.handle(req, ctx).await;
    }
    let request_id = ctx.request_id.clone();
    let started = Instant::now();
    let response = handler.handle(req, ctx).await;
    ::telemetry::metrics::http_request(
        route,
        response.status().as_u16(),
        started.elapsed(),
        &request_id,
    );
    response
}

/// The route key API Gateway would give a request the local runner routed to a function: the
/// method and the path, with the webhook path's tenant as `{tenant}`. Call it only for paths a
/// function serves (a fixed set), so the key stays bounded.
pub fn local_route(method: &http::Method, path: &str) -> String {
    const WEBHOOKS: &str = "/webhooks/superoffice/";
    if path.starts_with(WEBHOOKS) {
        format!("{method} {WEBHOOKS}{{tenant}}")
    } else {
        format!("{method} {path}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_routes_are_api_gateway_route_keys() {
        assert_eq!(
            local_route(&http::Method::POST, "/webhooks/superoffice/Cust12345"),
            "POST /webhooks/superoffice/{tenant}"
        );
        assert_eq!(local_route(&http::Method::HEAD, "/manage"), "HEAD /manage");
    }
}
