//! Security-token validation for SuperOffice id_tokens and system-user tokens.
//!
//! Validation is strict and in a fixed order, cheapest checks first, so hostile input is refused
//! before it costs anything (see `reliability/CATALOGUE.md` of the design notes for the cases):
//!
//! 1. [`compact`]: a size cap, exactly three segments, base64url characters only: before any decoding.
//! 2. [`strict_json`]: UTF-8 without BOM, no duplicate keys at any depth, bounded nesting.
//! 3. The header policy: `alg` exactly `RS256`; no `crit`; no `jku`, `x5u`, `jwk` or `x5c` (keys and key
//!    URLs inside a token are never trusted, and we refuse the token rather than ignore them, so an
//!    operator sees why); `typ` absent or `JWT`.
//! 4. The key is found by exact `kid` lookup in the pinned key set; one RSA verification.
//! 5. Only then is the payload decoded and the claims checked ([`claims`]).
//!
//! The cryptography is aws-lc-rs (the backend jsonwebtoken uses) called directly: keys are parsed
//! once, and the claim checks jsonwebtoken lacks (`iat` window, `crit`, duplicate keys, string-typed
//! times, SuperOffice claim hosts) are ours anyway. jsonwebtoken signs the simulator's tokens and
//! the test tokens.

pub mod claims;
pub mod compact;
mod reason;
pub mod state_change;
pub mod strict_json;
mod validate;
mod validator;

pub use claims::{IdToken, SO_CLAIM_PREFIX, SuperOfficeClaims, SystemUserToken};
pub use reason::Reason;
pub use state_change::{
    StateChangeRules, StateChangeToken, StateChangeValidator, validate_state_change_token,
};
pub use validate::{
    DEFAULT_LEEWAY, DEFAULT_MAX_AGE, DEFAULT_MAX_TOKEN_BYTES, IdTokenRules, SystemUserRules,
    validate_id_token, validate_system_user_token,
};
pub use validator::{IdTokenValidator, TokenError};

/// Shape, header policy and RS256 signature of `token` against `keys` (steps 1 to 4), returning
/// the payload: the start-up self-test ([`crate::self_test`]) runs the production path on a known
/// answer.
pub(crate) fn verify_signature_for_self_test(
    token: &str,
    keys: &crate::keys::KeySet,
) -> Result<Vec<u8>, Reason> {
    validate::verify_signature(token, keys, DEFAULT_MAX_TOKEN_BYTES)
}
