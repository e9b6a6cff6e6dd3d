//! The request log: every request is recorded when it arrives and completed when it is answered.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::SystemTime;

use serde_json::{Value, json};

use crate::routes::Route;
use crate::util::unix_seconds;

/// One request as the simulator saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedRequest {
    /// Increasing sequence number (never reused, also across [`crate::SimulatorHandle::clear_requests`]).
    pub id: u64,
    pub method: String,
    /// The path as sent, without the query.
    pub path: String,
    pub route: Route,
    /// The tenant the request was about, where it can be told (path, system-user body, code or
    /// refresh token in a token request).
    pub tenant: Option<String>,
    /// The HTTP status answered; `None` while the request is in flight, and for ever if it was
    /// never answered (a `Hang` or `Reset` fault, or a client that gave up first).
    pub status: Option<u16>,
    /// The fault applied to this request, e.g. `"status 429"`, `"latency 300ms"`, `"hang"`.
    pub fault: Option<String>,
    /// When the request arrived.
    pub at: SystemTime,
    /// The request arrived while a `Retry-After` the simulator had sent (with a `Status` fault) for
    /// the same scope had not yet elapsed: same route, same tenant, and the fault rule's path filter.
    pub before_retry_after: bool,
}

impl RecordedRequest {
    pub(crate) fn to_json(&self) -> Value {
        let at_ms = self
            .at
            .duration_since(SystemTime::UNIX_EPOCH)
            .map(|d| d.as_millis())
            .unwrap_or(0);
        json!({
            "id": self.id,
            "method": self.method,
            "path": self.path,
            "route": self.route,
            "tenant": self.tenant,
            "status": self.status,
            "fault": self.fault,
            "before_retry_after": self.before_retry_after,
            "at": unix_seconds(self.at),
            "at_ms": u64::try_from(at_ms).unwrap_or(u64::MAX),
        })
    }
}

/// At most this many entries are kept; the oldest are dropped first.
const MAX_ENTRIES: usize = 100_000;

#[derive(Default)]
pub(crate) struct RequestLog {
    inner: Mutex<LogInner>,
}

#[derive(Default)]
struct LogInner {
    next_id: u64,
    entries: VecDeque<RecordedRequest>,
}

impl RequestLog {
    fn lock(&self) -> std::sync::MutexGuard<'_, LogInner> {
        // A poisoned lock only means another thread panicked mid-update of plain data; keep going.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn start(
        &self,
        method: &str,
        path: &str,
        route: Route,
        tenant: Option<String>,
        before_retry_after: bool,
    ) -> u64 {
        let mut inner = self.lock();
        inner.next_id += 1;
        let id = inner.next_id;
        if inner.entries.len() >= MAX_ENTRIES {
            inner.entries.pop_front();
        }
        inner.entries.push_back(RecordedRequest {
            id,
            method: method.to_owned(),
            path: path.to_owned(),
            route,
            tenant,
            status: None,
            fault: None,
            at: SystemTime::now(),
            before_retry_after,
        });
        id
    }

    fn update(&self, id: u64, f: impl FnOnce(&mut RecordedRequest)) {
        let mut inner = self.lock();
        // Entries are in id order; recent ones are at the back.
        if let Some(entry) = inner.entries.iter_mut().rev().find(|e| e.id == id) {
            f(entry);
        }
    }

    pub(crate) fn set_fault(&self, id: u64, fault: String) {
        self.update(id, |e| e.fault = Some(fault));
    }

    pub(crate) fn finish(&self, id: u64, status: u16) {
        self.update(id, |e| e.status = Some(status));
    }

    pub(crate) fn snapshot(&self) -> Vec<RecordedRequest> {
        self.lock().entries.iter().cloned().collect()
    }

    pub(crate) fn count(&self, route: Route) -> usize {
        self.lock()
            .entries
            .iter()
            .filter(|e| e.route == route)
            .count()
    }

    pub(crate) fn clear(&self) {
        self.lock().entries.clear();
    }
}
