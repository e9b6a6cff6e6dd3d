//! Serving a handler behind API Gateway: `lambda_http` events become plain `http` requests with
//! Lambda's request id, and plain responses go back as text or binary bodies. Every request gets
//! its metric line here ([`crate::requests`]), by API Gateway's route key.

use std::sync::Arc;

use bytes::Bytes;
use lambda_http::request::RequestContext as ApiContext;
use lambda_http::{Body, Request, RequestExt, Response};
use web::{Handler, RequestContext};

/// The route key of a request that arrived without one (not through an HTTP API route).
pub const UNKNOWN_ROUTE: &str = "unknown";

/// Serves `handler` until the Lambda runtime stops the process.
pub async fn serve_http<H: Handler>(handler: Arc<H>) -> Result<(), lambda_http::Error> {
    lambda_http::run(lambda_http::service_fn(move |req: Request| {
        let handler = handler.clone();
        async move {
            let ctx = RequestContext {
                request_id: req
                    .lambda_context_ref()
                    .map_or_else(web::new_request_id, |c| c.request_id.clone()),
            };
            let route = route_key(&req);
            let (parts, body) = req.into_parts();
            let bytes = match body {
                Body::Empty => Bytes::new(),
                Body::Text(t) => Bytes::from(t),
                Body::Binary(b) => Bytes::from(b),
                _ => Bytes::new(),
            };
            let response = crate::requests::measured(
                &*handler,
                http::Request::from_parts(parts, bytes),
                ctx,
                &route,
            )
            .await;
            let (parts, body) = response.into_parts();
            let body = if body.is_empty() {
                Body::Empty
            } else {
                match String::from_utf8(body.to_vec()) {
                    Ok(text) => Body::Text(text),
                    Err(e) => Body::Binary(e.into_bytes()),
                }
            };
            Ok::<_, std::convert::Infallible>(Response::from_parts(parts, body))
        }
    }))
    .await
}

/// API Gateway's route key (`POST /callback`): a template from the API's definition, never a
/// raw path.
pub fn route_key(req: &Request) -> String {
    match req.request_context_ref() {
        Some(ApiContext::ApiGatewayV2(c)) => c.route_key.clone(),
        _ => None,
    }
    .filter(|k| !k.is_empty())
    .unwrap_or_else(|| UNKNOWN_ROUTE.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> Request {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../infra/events/");
        let text = std::fs::read_to_string(format!("{path}{name}")).unwrap();
        lambda_http::request::from_str(&text).unwrap()
    }

    #[test]
    fn the_route_is_api_gateways_route_key_never_the_path() {
        assert_eq!(route_key(&fixture("post-callback.json")), "POST /callback");
        assert_eq!(
            route_key(&fixture("post-webhook.json")),
            "POST /webhooks/superoffice/{tenant}"
        );
        assert_eq!(route_key(&Request::default()), UNKNOWN_ROUTE);
    }
}
