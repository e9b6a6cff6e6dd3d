//! The operator's tools as a library: the local runner (`soapp serve`) is started in-process by the
//! end-to-end tests exactly as the command starts it.

pub mod doctor;
pub mod local;
