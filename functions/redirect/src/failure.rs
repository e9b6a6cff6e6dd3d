//! Everything that can go wrong at the redirect URL, as the person sees it and as the log records it.

use domain::store::StoreError;
use http::StatusCode;
use telemetry::metrics::SignInOutcome;
use web::{Denied, Problem};

#[derive(Debug)]
pub enum Failure {
    /// The callback came without a `state`.
    StateMissing,
    /// The `state` is unknown: expired, already used, or never issued.
    StateUnknown,
    /// The sign-in was started in another browser (or its cookie was lost).
    BrowserMismatch,
    /// A parameter came twice.
    ParameterRepeated(&'static str),
    /// `/callback` was reached by `GET` (the flow asks SuperOffice for `form_post`): start again.
    NotFormPost {
        code_in_query: bool,
    },
    /// The callback came without a `code`.
    CodeMissing,
    /// SuperOffice reported an error instead of a code (the user cancelled, or consent was refused).
    SignInRefused {
        error: String,
    },
    /// The token endpoint refused the code (expired, reused, wrong PKCE verifier).
    CodeRejected {
        error: String,
    },
    /// The token endpoint refused our client credentials: an operator must fix the configuration.
    ClientRejected,
    /// The id_token did not validate; `reason` is the validator's code.
    TokenInvalid {
        reason: &'static str,
    },
    /// The id_token has no tenant claim.
    NoTenant,
    /// SuperOffice could not be reached, or its keys could not be loaded.
    SuperOfficeUnavailable {
        cause: &'static str,
    },
    /// Our store failed.
    StoreUnavailable(StoreError),
    /// A secret could not be read: an operator must fix the configuration.
    SecretUnavailable,
    /// The app's key could not seal a value (KMS unavailable or not permitted).
    SealingUnavailable,
    /// A form came without its anti-forgery token, or from another site.
    Forbidden {
        reason: &'static str,
    },
    BadRequest {
        reason: &'static str,
    },
    NotFound,
    MethodNotAllowed,
}

impl Failure {
    pub fn code(&self) -> &'static str {
        match self {
            Failure::StateMissing => "state_missing",
            Failure::StateUnknown => "state_unknown",
            Failure::BrowserMismatch => "browser_mismatch",
            Failure::ParameterRepeated(_) => "parameter_repeated",
            Failure::NotFormPost {
                code_in_query: true,
            } => "code_in_query",
            Failure::NotFormPost {
                code_in_query: false,
            } => "callback_not_form_post",
            Failure::CodeMissing => "code_missing",
            Failure::SignInRefused { .. } => "signin_refused",
            Failure::CodeRejected { .. } => "code_rejected",
            Failure::ClientRejected => "client_rejected",
            Failure::TokenInvalid { .. } => "token_invalid",
            Failure::NoTenant => "no_tenant",
            Failure::SuperOfficeUnavailable { .. } => "superoffice_unavailable",
            Failure::StoreUnavailable(_) => "store_unavailable",
            Failure::SecretUnavailable => "configuration_problem",
            Failure::SealingUnavailable => "sealing_unavailable",
            Failure::Forbidden { .. } => "forbidden",
            Failure::BadRequest { .. } => "bad_request",
            Failure::NotFound => "not_found",
            Failure::MethodNotAllowed => "method_not_allowed",
        }
    }

    /// The sign-in metric's outcome class for a `/callback` that ended here: grouped by what an
    /// operator would do about it (`telemetry::metrics::SignInOutcome`), the exact reason stays
    /// a property of the line.
    pub fn sign_in_outcome(&self) -> SignInOutcome {
        match self {
            Failure::SignInRefused { .. } => SignInOutcome::Cancelled,
            Failure::StateMissing
            | Failure::StateUnknown
            | Failure::BrowserMismatch
            | Failure::ParameterRepeated(_)
            | Failure::NotFormPost { .. }
            | Failure::CodeMissing
            | Failure::CodeRejected { .. }
            | Failure::Forbidden { .. }
            | Failure::BadRequest { .. }
            | Failure::NotFound
            | Failure::MethodNotAllowed => SignInOutcome::Refused,
            Failure::TokenInvalid { .. } | Failure::NoTenant => SignInOutcome::TokenInvalid,
            Failure::SuperOfficeUnavailable { .. }
            | Failure::StoreUnavailable(_)
            | Failure::SealingUnavailable => SignInOutcome::Unavailable,
            Failure::ClientRejected | Failure::SecretUnavailable => SignInOutcome::Misconfigured,
        }
    }

    pub fn status(&self) -> StatusCode {
        match self {
            Failure::StateMissing
            | Failure::StateUnknown
            | Failure::BrowserMismatch
            | Failure::ParameterRepeated(_)
            | Failure::NotFormPost { .. }
            | Failure::CodeMissing
            | Failure::CodeRejected { .. }
            | Failure::BadRequest { .. } => StatusCode::BAD_REQUEST,
            Failure::TokenInvalid { .. } | Failure::NoTenant => StatusCode::UNAUTHORIZED,
            Failure::SignInRefused { .. } | Failure::Forbidden { .. } => StatusCode::FORBIDDEN,
            Failure::ClientRejected | Failure::SecretUnavailable => {
                StatusCode::INTERNAL_SERVER_ERROR
            }
            Failure::SuperOfficeUnavailable { .. }
            | Failure::StoreUnavailable(_)
            | Failure::SealingUnavailable => StatusCode::SERVICE_UNAVAILABLE,
            Failure::NotFound => StatusCode::NOT_FOUND,
            Failure::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
        }
    }

    /// Title and advice in plain words; never internals.
    fn words(&self) -> (&'static str, &'static str) {
        match self {
            Failure::StateMissing | Failure::CodeMissing | Failure::ParameterRepeated(_) => (
                "This sign-in link is incomplete",
                "The answer from SuperOffice did not arrive complete. Please start the sign-in again.",
            ),
            Failure::NotFormPost { .. } => (
                "This sign-in answer came the wrong way",
                "The answer from SuperOffice must be posted by your browser, not opened as a link. Please start the sign-in again.",
            ),
            Failure::StateUnknown => (
                "This sign-in has expired",
                "A sign-in must be finished within 10 minutes and can be used only once. Please start again.",
            ),
            Failure::BrowserMismatch => (
                "This sign-in was started elsewhere",
                "The sign-in was started in another browser or window. Please start it again here.",
            ),
            Failure::SignInRefused { .. } => (
                "Sign-in was cancelled",
                "SuperOffice did not sign you in: the sign-in was cancelled or access was not approved.",
            ),
            Failure::CodeRejected { .. } => (
                "Sign-in could not be completed",
                "SuperOffice did not accept the sign-in answer (it may have expired). Please start again.",
            ),
            Failure::TokenInvalid { .. } | Failure::NoTenant => (
                "Sign-in could not be verified",
                "The sign-in from SuperOffice could not be verified, so you are not signed in. Please start again.",
            ),
            Failure::ClientRejected | Failure::SecretUnavailable => (
                "The app is not set up correctly",
                "The app could not identify itself to SuperOffice. This is a problem on our side; please contact the app's support with the reference below.",
            ),
            Failure::SuperOfficeUnavailable { .. } => (
                "SuperOffice cannot be reached right now",
                "SuperOffice did not answer in time. This is usually brief; please try again in a minute.",
            ),
            Failure::StoreUnavailable(_) | Failure::SealingUnavailable => (
                "The app is briefly unavailable",
                "We could not save your sign-in. Please try again in a minute.",
            ),
            Failure::Forbidden { .. } => (
                "This request was refused",
                "The form expired or came from another site. Please reload the page and try again.",
            ),
            Failure::BadRequest { .. } => (
                "This request is not valid",
                "The link you followed is not one this app understands.",
            ),
            Failure::NotFound => ("Page not found", "There is no page at this address."),
            Failure::MethodNotAllowed => (
                "This request is not valid",
                "This page cannot be used that way.",
            ),
        }
    }

    fn retry(&self) -> Option<(&'static str, &'static str)> {
        match self {
            Failure::NotFound | Failure::MethodNotAllowed | Failure::BadRequest { .. } => {
                Some(("/", "Go to the start page"))
            }
            Failure::ClientRejected | Failure::SecretUnavailable => None,
            _ => Some(("/login", "Sign in again")),
        }
    }

    /// The page and the log line, with the reason code.
    pub fn problem(&self) -> Problem {
        let detail: String = match self {
            Failure::TokenInvalid { reason } => (*reason).into(),
            Failure::SuperOfficeUnavailable { cause } => (*cause).into(),
            Failure::SignInRefused { error } | Failure::CodeRejected { error } => error.clone(),
            Failure::ParameterRepeated(name) => (*name).into(),
            Failure::StoreUnavailable(e) => e.code().into(),
            Failure::Forbidden { reason } | Failure::BadRequest { reason } => (*reason).into(),
            _ => String::new(),
        };
        let (title, message) = self.words();
        let problem = Problem::new(self.status(), self.code(), title, message).detail(detail);
        match self.retry() {
            Some((href, label)) => problem.onward(href, label),
            None => problem.no_onward(),
        }
    }
}

impl From<Denied> for Failure {
    fn from(d: Denied) -> Self {
        match d {
            Denied::Forbidden(reason) => Failure::Forbidden { reason },
            Denied::Unavailable(e) => Failure::StoreUnavailable(e),
            // Signing out needs no session and no administrator: these do not reach here.
            Denied::SignIn | Denied::SignInAgain | Denied::NotAdministrator(_) => {
                Failure::Forbidden {
                    reason: "not_signed_in",
                }
            }
        }
    }
}
