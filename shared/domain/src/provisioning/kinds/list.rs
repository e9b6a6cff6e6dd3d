//! Lists: found by name (the identity) with one targeted call, created with the manifest's items in
//! the multi-language form; items missing from an existing list are added. A built-in list with the
//! same name is never taken over. Removal deletes the list by the id the app recorded, so a built-in
//! list or another app's list is never touched.
//!
//! An update adds the items a new manifest declares; items a new manifest no longer declares stay
//! in the list: customers' records may hold them, and deleting an item would empty those fields.

use superoffice::api::lists;
use superoffice::webapi::TenantApi;

use super::{Ensured, Gone, Provision, recorded_id};
use crate::manifest::{self, List};
use crate::provisioning::Halt;
use crate::provisioning::plan::Observed;
use crate::provisioning::run::TenantRun;

impl<A: TenantApi> Provision<A> for List {
    async fn ensure(&self, run: &mut TenantRun<'_, A>) -> Result<Ensured, Halt> {
        let t = &run.api;
        let id = match lists::find_by_name(t, &self.name)
            .await
            .map_err(|e| run.halt(e))?
        {
            Some(l) if !l.is_user_defined() => {
                return Err(Halt::Stop(format!(
                    "SuperOffice has a built-in list named \"{}\"; the app never changes built-in lists. The app's list needs another name (its manifest).",
                    self.name
                )));
            }
            Some(l) => l.id,
            None => lists::create(t, &self.name, &self.tooltip)
                .await
                .map_err(|e| run.halt(e))?,
        };
        let present = lists::items(t, id).await.map_err(|e| run.halt(e))?;
        for (rank, item) in self.items.iter().enumerate() {
            let name = manifest::multi_language(item);
            if present.iter().any(|p| p.name == name) {
                continue;
            }
            lists::add_item(t, id, &name, rank + 1)
                .await
                .map_err(|e| run.halt(e))?;
        }
        run.list_ids.insert(self.key.clone(), id);
        Ok(Ensured::Exists(id.to_string()))
    }

    async fn observe(&self, run: &mut TenantRun<'_, A>) -> Result<Observed, Halt> {
        let found = lists::find_by_name(&run.api, &self.name)
            .await
            .map_err(|e| run.halt(e))?
            .filter(|l| l.is_user_defined());
        let Some(list) = found else {
            return Ok(Observed::Absent);
        };
        let present = lists::items(&run.api, list.id)
            .await
            .map_err(|e| run.halt(e))?;
        let as_declared = self.items.iter().all(|item| {
            let name = manifest::multi_language(item);
            present.iter().any(|p| p.name == name)
        });
        run.list_ids.insert(self.key.clone(), list.id);
        Ok(Observed::Present {
            id: list.id.to_string(),
            as_declared,
        })
    }

    async fn update(&self, run: &mut TenantRun<'_, A>, _id: Option<&str>) -> Result<Ensured, Halt> {
        self.ensure(run).await
    }

    async fn present(
        run: &mut TenantRun<'_, A>,
        identity: &str,
        id: Option<&str>,
    ) -> Result<bool, Halt> {
        let found = lists::find_by_name(&run.api, identity)
            .await
            .map_err(|e| run.halt(e))?
            .filter(|l| l.is_user_defined());
        // Another list of that name (made by a person after ours was removed) is not ours.
        Ok(found.is_some_and(|l| recorded_id(id).is_none_or(|recorded| recorded == l.id)))
    }

    async fn remove(
        run: &mut TenantRun<'_, A>,
        identity: &str,
        id: Option<&str>,
    ) -> Result<Gone, Halt> {
        let id = match recorded_id(id) {
            Some(id) => Some(id),
            // An intent: the list may exist under its name (never a built-in one).
            None => lists::find_by_name(&run.api, identity)
                .await
                .map_err(|e| run.halt(e))?
                .filter(|l| l.is_user_defined())
                .map(|l| l.id),
        };
        if let Some(id) = id {
            lists::remove(&run.api, id).await.map_err(|e| run.halt(e))?;
        }
        Ok(Gone::Now)
    }
}
