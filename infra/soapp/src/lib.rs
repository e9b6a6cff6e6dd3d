//! The operator's tools as a library: the local runner (`soapp serve`) is started in-process by the
//! end-to-end tests exactly as the command starts it.

pub mod doctor;
pub mod local;
pub mod smoke;
pub mod usage;

/// An error and its sources on one line, for an operator.
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}
