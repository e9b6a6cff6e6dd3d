//! Preferences: set when missing or different (section and key are the identity); removal deletes
//! the preference by section and key.

use superoffice::api::preferences::{self, PreferenceSpec};
use superoffice::webapi::TenantApi;

use super::{Ensured, Gone, Provision};
use crate::manifest::Preference;
use crate::provisioning::Halt;
use crate::provisioning::plan::Observed;
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

    async fn observe(&self, run: &mut TenantRun<'_, A>) -> Result<Observed, Halt> {
        let current = preferences::get(&run.api, &self.section, &self.key)
            .await
            .map_err(|e| run.halt(e))?;
        Ok(match current {
            None => Observed::Absent,
            Some((level, value)) => Observed::Present {
                id: format!("{}/{}", self.section, self.key),
                as_declared: value == self.value && level == self.level,
            },
        })
    }

    async fn update(&self, run: &mut TenantRun<'_, A>, _id: Option<&str>) -> Result<Ensured, Halt> {
        self.ensure(run).await
    }

    async fn present(
        run: &mut TenantRun<'_, A>,
        identity: &str,
        _id: Option<&str>,
    ) -> Result<bool, Halt> {
        let Some((section, key)) = identity.split_once('/') else {
            return Ok(false);
        };
        Ok(preferences::get(&run.api, section, key)
            .await
            .map_err(|e| run.halt(e))?
            .is_some())
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
