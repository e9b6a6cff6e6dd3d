//! User-defined fields: found by ProgId with targeted calls (the published field, else the admin
//! layout's), created in the admin layout, and counted as created only once published (SuperOffice
//! renumbers fields at every publish, so the ledger keeps the ProgId as the identity and the published
//! id for reference). An entity is published only when a field of ours is waiting for it: publishing
//! is the heaviest operation on SuperOffice's side, and a re-run or resume that finds every field
//! published publishes nothing. An update changes the labels, tooltip, mandatory flag and text
//! length in the admin layout and publishes; a field's type cannot change in place (a new type is a
//! new field, with a new ProgId). Removal deletes the field by ProgId and leaves the entity to be
//! published.

use std::time::Duration;

use superoffice::api::udef::{self, FieldSpec};
use superoffice::webapi::TenantApi;
use superoffice::webapi::WebApiError;

use super::{Ensured, Gone, Provision};
use crate::manifest::UserDefinedField;
use crate::provisioning::Halt;
use crate::provisioning::plan::Observed;
use crate::provisioning::run::{STEP_MARGIN, TenantRun};

impl<A: TenantApi> Provision<A> for UserDefinedField {
    async fn ensure(&self, run: &mut TenantRun<'_, A>) -> Result<Ensured, Halt> {
        if let Some(published) = udef::find_published(&run.api, &self.entity, &self.prog_id)
            .await
            .map_err(|e| run.halt(e))?
        {
            return Ok(Ensured::Exists(recorded(
                &self.prog_id,
                published.udef_field_id,
            )));
        }
        let existing = udef::find_in_admin_layout(&run.api, &self.entity, &self.prog_id)
            .await
            .map_err(|e| run.halt(e))?;
        if existing.is_none() {
            let list = self.list_id(run)?;
            udef::create(&run.api, &self.entity, &self.field_type, &self.spec(list))
                .await
                .map_err(|e| run.halt(e))?;
        }
        Ok(Ensured::AwaitsPublish {
            entity: self.entity.clone(),
        })
    }

    async fn observe(&self, run: &mut TenantRun<'_, A>) -> Result<Observed, Halt> {
        // A field only in the admin layout is not in the CRM yet: absent, and a create finds it
        // there and publishes it.
        Ok(
            match udef::find_published(&run.api, &self.entity, &self.prog_id)
                .await
                .map_err(|e| run.halt(e))?
            {
                None => Observed::Absent,
                Some(f) => Observed::Present {
                    id: recorded(&self.prog_id, f.udef_field_id),
                    as_declared: f.matches(&self.spec(None)),
                },
            },
        )
    }

    async fn update(&self, run: &mut TenantRun<'_, A>, _id: Option<&str>) -> Result<Ensured, Halt> {
        let list = self.list_id(run).ok().flatten();
        let changed = udef::update(&run.api, &self.entity, &self.spec(list))
            .await
            .map_err(|e| run.halt(e))?;
        if !changed {
            // Not in the admin layout (removed by hand, or by a restore): made again.
            return self.ensure(run).await;
        }
        Ok(Ensured::AwaitsPublish {
            entity: self.entity.clone(),
        })
    }

    async fn present(
        run: &mut TenantRun<'_, A>,
        identity: &str,
        _id: Option<&str>,
    ) -> Result<bool, Halt> {
        let Some((entity, prog_id)) = identity.split_once(':') else {
            return Ok(false);
        };
        if udef::find_published(&run.api, entity, prog_id)
            .await
            .map_err(|e| run.halt(e))?
            .is_some()
        {
            return Ok(true);
        }
        Ok(udef::find_in_admin_layout(&run.api, entity, prog_id)
            .await
            .map_err(|e| run.halt(e))?
            .is_some())
    }

    async fn remove(
        run: &mut TenantRun<'_, A>,
        identity: &str,
        _id: Option<&str>,
    ) -> Result<Gone, Halt> {
        let Some((entity, prog_id)) = identity.split_once(':') else {
            return Err(Halt::Stop(format!(
                "The app's record of a field is not readable ({identity}). The app's support has the details."
            )));
        };
        udef::remove(&run.api, entity, prog_id)
            .await
            .map_err(|e| run.halt(e))?;
        Ok(Gone::AfterPublish {
            entity: entity.to_owned(),
        })
    }
}

impl UserDefinedField {
    fn spec(&self, list: Option<i64>) -> FieldSpec<'_> {
        FieldSpec {
            prog_id: &self.prog_id,
            label: &self.label,
            short_label: &self.short_label,
            tooltip: &self.tooltip,
            mandatory: self.mandatory,
            text_length: self.text_length,
            list,
        }
    }

    /// The SuperOffice id of the list a list-type field shows (made earlier in the run).
    fn list_id<A: TenantApi>(&self, run: &TenantRun<'_, A>) -> Result<Option<i64>, Halt> {
        match &self.list {
            Some(key) => run.list_ids.get(key).copied().map(Some).ok_or_else(|| {
                Halt::Stop(format!(
                    "the list {key} of field {} does not exist",
                    self.prog_id
                ))
            }),
            None => Ok(None),
        }
    }
}

/// Publishes the entity's fields by SuperOffice's documented flow: wait until no publish runs,
/// publish, rebuild the UI deltas. Waits for someone else's publish in place while the run has
/// time, then hands the wait to the queue.
pub(crate) async fn publish<A: TenantApi>(
    run: &TenantRun<'_, A>,
    entity: &str,
) -> Result<(), Halt> {
    for attempt in 0..10u32 {
        run.check_time()?;
        let running = udef::is_publishing(&run.api, entity)
            .await
            .map_err(|e| run.halt(e))?;
        if !running {
            match udef::publish(&run.api, entity).await {
                Ok(()) => {
                    udef::rebuild_deltas(&run.api)
                        .await
                        .map_err(|e| run.halt(e))?;
                    return Ok(());
                }
                // Someone else's publish started in between: wait for it like below.
                Err(WebApiError::Conflict) => {}
                Err(e) => return Err(run.halt(e)),
            }
        }
        let wait = Duration::from_secs(1 << attempt.min(4));
        if run.clock.now() + wait + STEP_MARGIN > run.deadline {
            break;
        }
        run.clock.sleep(wait).await;
    }
    Err(Halt::Wait {
        until: run.clock.now() + Duration::from_secs(30),
        reason: "publishing",
        detail: format!("another publish of {entity} fields is running"),
    })
}

/// What the ledger records for a published field: the ProgId (its identity) and, for reference,
/// the id it has until the next publish.
pub(crate) fn recorded(prog_id: &str, udef_field_id: i64) -> String {
    format!("{prog_id};UDefFieldId={udef_field_id}")
}

/// The published id of a field just published (one targeted call per field).
pub(crate) async fn published_id<A: TenantApi>(
    run: &TenantRun<'_, A>,
    entity: &str,
    prog_id: &str,
) -> Result<i64, Halt> {
    udef::find_published(&run.api, entity, prog_id)
        .await
        .map_err(|e| run.halt(e))?
        .map(|f| f.udef_field_id)
        .ok_or_else(|| {
            super::super::bad_answer("a published field is missing from the published layout")
        })
}
