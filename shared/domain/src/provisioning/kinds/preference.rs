//! Preferences: set when missing or different (section and key are the identity); removal deletes
//! the preference by section and key.

use superoffice::api::preferences::{self, PreferenceSpec};
use superoffice::webapi::TenantApi;

use super::{Ensured, Gone, Provision};
use crate::manifest::Preference;
use crate::provisioning::Halt;
use crate::provisioning::run::TenantRun;

impl<A: TenantApi> Provision<A> for Preference {
    async fn ensure(&self, run: &mut TenantRun<'_, A>) -> Result<Ensured, Halt> {
        let current = preferences::get(&run.api, &self.section, &self.key)
            .await
            .map_err(|e| run.halt(e))?;
        let already = current
            .as_ref()
            .is_some_and(|(level, value)| *value == self.value && *level == self.level);
        if !already {
            preferences::set(
                &run.api,
                &PreferenceSpec {
                    section: &self.section,
                    key: &self.key,
                    level: &self.level,
                    value: &self.value,
                },
            )
            .await
            .map_err(|e| run.halt(e))?;
        }
        Ok(Ensured::Exists(format!("{}/{}", self.section, self.key)))
    }

    async fn remove(
        run: &mut TenantRun<'_, A>,
        identity: &str,
        _id: Option<&str>,
    ) -> Result<Gone, Halt> {
        let Some((section, key)) = identity.split_once('/') else {
            return Err(Halt::Stop(format!(
                "The app's record of a preference is not readable ({identity}). The app's support has the details."
            )));
        };
        preferences::remove(&run.api, section, key)
            .await
            .map_err(|e| run.halt(e))?;
        Ok(Gone::Now)
    }
}
