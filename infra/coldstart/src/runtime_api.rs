//! A stand-in for the Lambda Runtime API: one invocation at a time.
//!
//! The runner *arms* one invocation at a time ([`RuntimeApi::arm`]). The first
//! `GET /2018-06-01/runtime/invocation/next` after the arm gets the armed event with the headers
//! `lambda_runtime` requires. A `next` that finds nothing to hand out is held, as Lambda holds a
//! frozen sandbox, until either
//!
//! * a new invocation is armed: it gets that event. A long-lived process ([`crate::warm`]) is
//!   driven this way, one invocation after the other, without ever being disarmed; or
//! * the invocation is *disarmed* ([`RuntimeApi::disarm`]): it gets 410. The cold-start runner kills
//!   the process before it disarms, so nobody is waiting for that answer.
//!
//! The first report of the invocation (`…/{id}/response`, `…/{id}/error`, or
//! `/runtime/init/error`) resolves the [`Armed`] handle with the instant it arrived.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use tokio::sync::{oneshot, watch};

/// How long a `next` call is held at most when nothing is armed and nobody disarms (a safety net:
/// the runner disarms after every cold invocation and after a warm process is stopped).
const HANG_LIMIT: Duration = Duration::from_secs(300);

/// What the function process reported for the armed invocation.
#[derive(Debug)]
pub enum Outcome {
    /// `POST /2018-06-01/runtime/invocation/{id}/response`.
    Response {
        /// When the response POST reached the handler (body read).
        at: Instant,
        /// When the event was handed out by `next`.
        delivered_at: Option<Instant>,
        body: Bytes,
    },
    /// `POST /2018-06-01/runtime/invocation/{id}/error`.
    FunctionError { request_id: String, body: Bytes },
    /// `POST /2018-06-01/runtime/init/error`.
    InitError { body: Bytes },
    /// A response or error for a request id that is not the armed one.
    WrongRequestId { expected: String, found: String },
}

struct Slot {
    request_id: String,
    event: Bytes,
    function_arn: String,
    delivered_at: Option<Instant>,
    report: Option<oneshot::Sender<Outcome>>,
}

struct Shared {
    slot: Mutex<Option<Slot>>,
    /// Bumped by every disarm: held `next` calls return 410 when it changes.
    round: watch::Sender<u64>,
    /// Bumped by every arm: held `next` calls look at the slot again.
    armed: watch::Sender<u64>,
}

impl Shared {
    fn slot(&self) -> MutexGuard<'_, Option<Slot>> {
        // A panicking handler must not take the whole stand-in down with a poisoned lock.
        self.slot.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Resolves the armed invocation with `outcome`, if it is still waiting.
    fn report(&self, outcome: Outcome) {
        let sender = self.slot().as_mut().and_then(|s| s.report.take());
        match sender {
            Some(tx) => {
                let _ = tx.send(outcome);
            }
            None => {
                eprintln!("runtime-api stand-in: report with no invocation waiting: {outcome:?}")
            }
        }
    }
}

/// The running stand-in. Dropping it does not stop the server task; it ends with the tokio runtime.
pub struct RuntimeApi {
    addr: SocketAddr,
    shared: Arc<Shared>,
}

/// One armed invocation: await [`Armed::outcome`] for its first report.
pub struct Armed {
    pub outcome: oneshot::Receiver<Outcome>,
}

impl RuntimeApi {
    /// Binds 127.0.0.1 on a free port and serves in a background task.
    pub async fn start() -> std::io::Result<Self> {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await?;
        let addr = listener.local_addr()?;
        let (round, _) = watch::channel(0);
        let (armed, _) = watch::channel(0);
        let shared = Arc::new(Shared {
            slot: Mutex::new(None),
            round,
            armed,
        });
        let app = Router::new()
            .route("/2018-06-01/runtime/invocation/next", get(next))
            .route(
                "/2018-06-01/runtime/invocation/{id}/response",
                post(response),
            )
            .route("/2018-06-01/runtime/invocation/{id}/error", post(error))
            .route("/2018-06-01/runtime/init/error", post(init_error))
            .fallback(unknown)
            .with_state(shared.clone());
        tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, app).await {
                eprintln!("runtime-api stand-in stopped: {e}");
            }
        });
        Ok(Self { addr, shared })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The value for `AWS_LAMBDA_RUNTIME_API` (`127.0.0.1:PORT`).
    pub fn endpoint(&self) -> String {
        self.addr.to_string()
    }

    /// Makes `event` the answer to the next `next` call, or to a `next` call being held right now.
    /// Replaces any invocation still armed.
    pub fn arm(&self, request_id: &str, function_arn: &str, event: Bytes) -> Armed {
        let (tx, rx) = oneshot::channel();
        *self.shared.slot() = Some(Slot {
            request_id: request_id.to_owned(),
            event,
            function_arn: function_arn.to_owned(),
            delivered_at: None,
            report: Some(tx),
        });
        self.shared.armed.send_modify(|a| *a += 1);
        Armed { outcome: rx }
    }

    /// Forgets the armed invocation and releases every held `next` call.
    pub fn disarm(&self) {
        *self.shared.slot() = None;
        self.shared.round.send_modify(|r| *r += 1);
    }
}

async fn next(State(shared): State<Arc<Shared>>) -> Response {
    // Subscribed before the slot is looked at, so an arm or disarm in between is never missed.
    let mut round = shared.round.subscribe();
    let mut armed = shared.armed.subscribe();
    let give_up = tokio::time::Instant::now() + HANG_LIMIT;
    let (request_id, arn, event) = loop {
        // A disarm wins over a new arm: a held call from before the disarm belongs to a process
        // that has been killed, and must not take the next process's event.
        if round.has_changed().unwrap_or(true) {
            return (StatusCode::GONE, "no further invocations").into_response();
        }
        let delivery = {
            let mut slot = shared.slot();
            match slot.as_mut() {
                Some(s) if s.delivered_at.is_none() => {
                    s.delivered_at = Some(Instant::now());
                    Some((
                        s.request_id.clone(),
                        s.function_arn.clone(),
                        s.event.clone(),
                    ))
                }
                _ => None,
            }
        };
        if let Some(delivery) = delivery {
            break delivery;
        }
        // Nothing to hand out: the function has answered and polls again. Hold it like Lambda does
        // (the process is frozen there) until the runner arms the next invocation or disarms.
        tokio::select! {
            _ = round.changed() => {}
            _ = armed.changed() => {}
            _ = tokio::time::sleep_until(give_up) => {
                return (StatusCode::GONE, "no further invocations").into_response();
            }
        }
    };
    let deadline_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .saturating_add(Duration::from_secs(900))
        .as_millis();
    let mut response = event.into_response();
    let headers = response.headers_mut();
    let mut put = |name: &'static str, value: String| {
        if let Ok(v) = HeaderValue::from_str(&value) {
            headers.insert(name, v);
        }
    };
    put("content-type", "application/json".into());
    put("lambda-runtime-aws-request-id", request_id);
    put("lambda-runtime-deadline-ms", deadline_ms.to_string());
    put("lambda-runtime-invoked-function-arn", arn);
    put(
        "lambda-runtime-trace-id",
        "Root=1-00000000-000000000000000000000000;Parent=0000000000000000;Sampled=0".into(),
    );
    response
}

async fn response(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
    body: Bytes,
) -> StatusCode {
    let at = Instant::now();
    let (expected, delivered_at) = match shared.slot().as_ref() {
        Some(s) => (s.request_id.clone(), s.delivered_at),
        None => (String::new(), None),
    };
    shared.report(if id == expected {
        Outcome::Response {
            at,
            delivered_at,
            body,
        }
    } else {
        Outcome::WrongRequestId {
            expected,
            found: id,
        }
    });
    StatusCode::ACCEPTED
}

async fn error(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
    body: Bytes,
) -> StatusCode {
    shared.report(Outcome::FunctionError {
        request_id: id,
        body,
    });
    StatusCode::ACCEPTED
}

async fn init_error(State(shared): State<Arc<Shared>>, body: Bytes) -> StatusCode {
    shared.report(Outcome::InitError { body });
    StatusCode::ACCEPTED
}

async fn unknown(uri: axum::http::Uri) -> StatusCode {
    eprintln!("runtime-api stand-in: unexpected request to {uri}");
    StatusCode::NOT_FOUND
}
