//! One type for everything that can go wrong in a request, as the person sees it and as the log
//! records it: a status, a reason code (on the page for support, and in the log), a title and a
//! message in plain words, a way onward, and a detail for the log only. Every function's error enum
//! maps into it, so every error page looks and logs the same and none shows internals.

use http::StatusCode;

use crate::{RequestContext, WebResponse, html, pages};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub status: StatusCode,
    /// The reason code, e.g. `state_unknown`.
    pub code: &'static str,
    pub title: String,
    pub message: String,
    /// A link onward (href, label), e.g. "Sign in again".
    pub onward: Option<(String, String)>,
    /// For the log only (a validator's reason, a store error's code); never shown.
    pub detail: String,
}

impl Problem {
    pub fn new(
        status: StatusCode,
        code: &'static str,
        title: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        Self {
            status,
            code,
            title: title.into(),
            message: message.into(),
            onward: Some(("/".into(), "Go to the start page".into())),
            detail: String::new(),
        }
    }

    /// The link onward instead of the start page.
    pub fn onward(mut self, href: impl Into<String>, label: impl Into<String>) -> Self {
        self.onward = Some((href.into(), label.into()));
        self
    }

    /// No link onward (when nothing the person can do helps).
    pub fn no_onward(mut self) -> Self {
        self.onward = None;
        self
    }

    pub fn detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = detail.into();
        self
    }

    pub fn not_found() -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "not_found",
            "Page not found",
            "There is no page at this address.",
        )
    }

    pub fn method_not_allowed() -> Self {
        Self::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            "This request is not valid",
            "This page cannot be used that way.",
        )
    }

    /// The app's own store or queue failed: brief, try again.
    pub fn unavailable(detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            "The app is briefly unavailable",
            "Please try again in a minute.",
        )
        .detail(detail)
    }

    /// A form without our anti-forgery token, or from another site.
    pub fn forbidden_form(reason: &'static str) -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "This request was refused",
            "The form expired or came from another site. Please reload the page and try again.",
        )
        .detail(reason)
    }

    /// The page, and the log line with the reason code (an error for server errors, a warning for
    /// refusals). The detail may carry a value from the request or from SuperOffice (an OAuth
    /// `error`): it is escaped so it cannot forge a line of the text log.
    pub fn respond(&self, ctx: &RequestContext) -> WebResponse {
        let detail = crate::log_text(&self.detail, 200);
        if self.status.is_server_error() {
            tracing::error!(request_id = %ctx.request_id, reason = self.code, detail = %detail, "request failed");
        } else {
            tracing::warn!(request_id = %ctx.request_id, reason = self.code, detail = %detail, "request refused");
        }
        html(
            self.status,
            pages::error(
                &self.title,
                &self.message,
                self.code,
                &ctx.request_id,
                self.onward.as_ref().map(|(h, l)| (h.as_str(), l.as_str())),
            ),
        )
    }
}
