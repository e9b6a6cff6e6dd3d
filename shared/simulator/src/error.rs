/// Why the simulator could not start.
#[derive(Debug, thiserror::Error)]
pub enum SimulatorError {
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: std::net::SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("invalid signing key: {0}")]
    SigningKey(String),
    #[error("invalid system-user public key for app {client_id:?}: {reason}")]
    SystemUserKey { client_id: String, reason: String },
    #[error("invalid simulator configuration: {0}")]
    Config(String),
    /// The state file ([`crate::SimulatorConfig::state_file`]) cannot be loaded; the inner error
    /// says what to do.
    #[error(transparent)]
    StateFile(#[from] crate::persist::StateFileError),
}
