//! The rollout of this release's manifest as deployed: ticked once a minute by the worker
//! function's schedule in AWS and by a task in `soapp serve` (see [`domain::rollout`]).

use domain::rollout::{Rollout, RolloutError, Tick};
use domain::{Deployment, Ports};
use superoffice::clock::unix_seconds;

/// The rollout of the deployment's manifest, at the configured tenants per minute.
pub fn of<P: Ports>(d: &Deployment<P>) -> Rollout<P::Items, P::Queue> {
    // The same base URL the engine fingerprints with (app::worker), so "on this manifest" means
    // what the worker recorded.
    let base = d.config.base_url.as_str().trim_end_matches('/');
    Rollout::new(
        d.items.clone(),
        d.queue.clone(),
        d.manifest.fingerprint(base),
        d.manifest.version_label().to_owned(),
        d.config.rollout_per_minute as usize,
    )
}

/// One tick at the deployment's clock.
pub async fn tick<P: Ports>(d: &Deployment<P>) -> Result<Tick, RolloutError> {
    of(d).tick(unix_seconds(d.clock.now())).await
}
