//! Typed WebAPI calls for what an app provisions into a tenant: lists and their items, user-defined
//! fields with the publish flow, web panels and buttons, preferences, webhooks.
//!
//! Each module spells out SuperOffice's REST paths and JSON bodies for one kind of artifact, with a
//! find, a create and a delete, so nothing outside this crate builds a path or a body. The paths
//! are the ones in SuperOffice's Swagger definitions (checked by this crate's tests against the
//! vendored subset) and, where the Swagger is silent, the documented samples named in each module.
//!
//! A call goes through [`Tenant`], which binds the tenant's WebAPI client to who we act as and by
//! when we must be done; its errors are the client's [`WebApiError`], which says what to do next
//! ([`WebApiError::remedy`]).

use std::time::SystemTime;

use http::Method;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::webapi::{ApiRequest, ApiResponse, TenantApi, TenantAuth, WebApiError};

pub mod lists;
pub mod preferences;
pub mod udef;
pub mod webhooks;
pub mod webpanels;

/// One tenant's WebAPI for one piece of work: the client, who we act as, and the deadline every
/// call must meet.
pub struct Tenant<'a, A> {
    api: &'a A,
    auth: &'a TenantAuth,
    deadline: Option<SystemTime>,
}

/// What a delete found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Removed {
    Deleted,
    /// It was not there (deleted by hand, or by an earlier run): gone all the same.
    AlreadyGone,
}

impl<'a, A: TenantApi> Tenant<'a, A> {
    pub fn new(api: &'a A, auth: &'a TenantAuth, deadline: Option<SystemTime>) -> Self {
        Self {
            api,
            auth,
            deadline,
        }
    }

    pub fn auth(&self) -> &TenantAuth {
        self.auth
    }

    /// One call, its answer as it came.
    pub async fn send(&self, request: &ApiRequest) -> Result<ApiResponse, WebApiError> {
        self.api.call(self.auth, request, self.deadline).await
    }

    /// One call whose answer is JSON of type `T` (an empty answer reads as JSON `null`).
    pub async fn json<T: DeserializeOwned>(&self, request: &ApiRequest) -> Result<T, WebApiError> {
        parse(&self.send(request).await?)
    }

    /// One call whose 404 means "there is none".
    pub async fn find<T: DeserializeOwned>(
        &self,
        request: &ApiRequest,
    ) -> Result<Option<T>, WebApiError> {
        match self.send(request).await {
            Ok(r) => parse(&r).map(Some),
            Err(WebApiError::NotFound) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// A delete whose 404 means "already gone".
    pub async fn delete(&self, request: &ApiRequest) -> Result<Removed, WebApiError> {
        match self.send(request).await {
            Ok(_) => Ok(Removed::Deleted),
            Err(WebApiError::NotFound) => Ok(Removed::AlreadyGone),
            Err(e) => Err(e),
        }
    }
}

fn parse<T: DeserializeOwned>(r: &ApiResponse) -> Result<T, WebApiError> {
    let body: &[u8] = if r.body.is_empty() { b"null" } else { &r.body };
    serde_json::from_slice(body).map_err(|e| WebApiError::InvalidResponse(e.to_string()))
}

/// One path segment, percent-encoded: a list name or ProgId may hold spaces, `/`, `?` or `#`, which
/// must not change the path.
fn segment(s: &str) -> String {
    const SEGMENT: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
        .remove(b'-')
        .remove(b'.')
        .remove(b'_')
        .remove(b'~');
    percent_encoding::utf8_percent_encode(s, SEGMENT).to_string()
}

fn post(path: impl Into<String>) -> ApiRequest {
    ApiRequest::new(Method::POST, path)
}

fn put(path: impl Into<String>) -> ApiRequest {
    ApiRequest::new(Method::PUT, path)
}

fn delete(path: impl Into<String>) -> ApiRequest {
    ApiRequest::new(Method::DELETE, path)
}

/// A positive integer id in a JSON object, if present (SuperOffice uses 0 for "none").
fn id_of(v: &Value, name: &str) -> Option<i64> {
    v.get(name).and_then(Value::as_i64).filter(|id| *id > 0)
}
