//! Finding or creating each kind of artifact in SuperOffice, by its stable identity.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, SystemTime};

use http::Method;
use serde_json::{Value, json};
use superoffice::Secret;
use superoffice::webapi::{ApiRequest, ApiResponse, TenantAuth, WebApiError};

use super::{Engine, Halt, TenantApi};
use crate::ledger::{EntryState, LedgerEntry};
use crate::manifest::{
    self, Artifact, Button, List, Preference, UserDefinedField, WebPanel, Webhook,
};
use crate::sealing::Sealer;
use crate::store::Items;

/// Time a step needs left before the deadline to be started at all.
const STEP_MARGIN: Duration = Duration::from_secs(5);
/// `ListTableId` of user-defined lists (a list-type field bound to one of our lists).
const USER_LIST_TABLE: i64 = 136;

pub(crate) struct Step<'a, I, S, A> {
    pub engine: &'a Engine<I, S, A>,
    pub ctx: &'a str,
    pub auth: &'a TenantAuth,
    pub deadline: SystemTime,
    pub webhook_secret: Option<Secret>,
    /// Manifest list key → SuperOffice list id, for binding list fields.
    pub list_ids: HashMap<String, i64>,
    /// Read once per run and kept current: fewer calls to SuperOffice.
    pub panels: Option<Vec<Value>>,
    pub user_groups: Option<Vec<Value>>,
}

fn field<'v>(v: &'v Value, name: &str) -> &'v Value {
    v.get(name).unwrap_or(&Value::Null)
}

fn id_of(v: &Value, name: &str) -> Option<i64> {
    field(v, name).as_i64().filter(|id| *id > 0)
}

impl<I: Items, S: Sealer, A: TenantApi> Step<'_, I, S, A> {
    pub async fn run_all(
        &mut self,
        artifacts: &[Artifact],
        entries: &HashMap<String, LedgerEntry>,
    ) -> Result<(), Halt> {
        let done = |a: &Artifact| {
            entries
                .get(&a.key())
                .filter(|e| e.state == EntryState::Created)
        };
        // Fields wait for their entity's publish before they count as created.
        let mut unpublished: BTreeMap<String, Vec<(u32, &UserDefinedField, &Artifact)>> =
            BTreeMap::new();
        let mut panels_changed = false;
        for (i, artifact) in artifacts.iter().enumerate() {
            let seq = i as u32;
            if let Some(entry) = done(artifact) {
                if let Artifact::List(l) = artifact
                    && let Some(id) = entry
                        .superoffice_id
                        .as_deref()
                        .and_then(|id| id.parse().ok())
                {
                    self.list_ids.insert(l.key.clone(), id);
                }
                continue;
            }
            if !matches!(artifact, Artifact::UserDefinedField(_)) {
                self.publish_pending(&mut unpublished).await?;
            }
            self.check_time()?;
            self.engine.intent(self.ctx, seq, artifact).await?;
            let id = match artifact {
                Artifact::List(l) => {
                    let id = self.ensure_list(l).await?;
                    self.list_ids.insert(l.key.clone(), id);
                    id.to_string()
                }
                Artifact::UserDefinedField(f) => {
                    self.ensure_field_in_admin_layout(f).await?;
                    unpublished
                        .entry(f.entity.clone())
                        .or_default()
                        .push((seq, f, artifact));
                    continue;
                }
                Artifact::WebPanel(p) => {
                    panels_changed = true;
                    self.ensure_web_panel(p).await?.to_string()
                }
                Artifact::Button(b) => {
                    panels_changed = true;
                    self.ensure_button(b).await?
                }
                Artifact::Preference(p) => self.ensure_preference(p).await?,
                Artifact::Webhook(w) => self.ensure_webhook(w).await?.to_string(),
            };
            self.engine.record(self.ctx, seq, artifact, id).await?;
        }
        self.publish_pending(&mut unpublished).await?;
        if panels_changed {
            // Otherwise SuperOffice's UI shows new panels only after `?flush`.
            self.call(
                ApiRequest::new(Method::POST, "Agents/Diagnostics/FlushCachesByName")
                    .json(json!({"CacheNames": ["ExtAppCache"]})),
            )
            .await?;
        }
        Ok(())
    }

    fn check_time(&self) -> Result<(), Halt> {
        let now = self.engine.clock.now();
        if now + STEP_MARGIN > self.deadline {
            return Err(Halt::Wait {
                until: now,
                reason: "continuing",
                detail: "the run used its time; the next one continues".into(),
            });
        }
        Ok(())
    }

    /// One WebAPI call for this tenant within the run's time, its error as the client gave it.
    async fn try_call(&self, request: &ApiRequest) -> Result<ApiResponse, WebApiError> {
        self.engine
            .api
            .call(self.auth, request, Some(self.deadline))
            .await
    }

    fn halt(&self, e: WebApiError) -> Halt {
        Halt::from_api(e, self.engine.clock.now())
    }

    async fn call(&self, request: ApiRequest) -> Result<ApiResponse, Halt> {
        self.try_call(&request).await.map_err(|e| self.halt(e))
    }

    /// A call whose 404 means "absent".
    async fn find(&self, request: ApiRequest) -> Result<Option<Value>, Halt> {
        match self.try_call(&request).await {
            Ok(r) => Ok(Some(json_body(&r)?)),
            Err(WebApiError::NotFound) => Ok(None),
            Err(e) => Err(self.halt(e)),
        }
    }

    async fn call_json(&self, request: ApiRequest) -> Result<Value, Halt> {
        json_body(&self.call(request).await?)
    }

    // --- lists ------------------------------------------------------------------------------

    async fn ensure_list(&self, list: &List) -> Result<i64, Halt> {
        let all = self.call_json(ApiRequest::get("List")).await?;
        let existing = all.as_array().into_iter().flatten().find(|l| {
            field(l, "Name").as_str() == Some(list.name.as_str())
                && field(l, "Deleted") != &json!(true)
        });
        let id = match existing.and_then(|l| id_of(l, "Id")) {
            Some(id) => id,
            None => {
                let created = self
                    .call_json(ApiRequest::new(Method::POST, "List").json(json!({
                        "Name": list.name,
                        "Tooltip": list.tooltip,
                        "UseGroupsAndHeadings": false,
                    })))
                    .await?;
                id_of(&created, "Id").ok_or_else(|| bad_answer("the created list has no Id"))?
            }
        };
        let items = self
            .call_json(ApiRequest::get(format!("List/{id}/Items")))
            .await?;
        let present: Vec<&str> = items
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|i| field(i, "Name").as_str())
            .collect();
        for (rank, item) in list.items.iter().enumerate() {
            let name = manifest::multi_language(item);
            if present.contains(&name.as_str()) {
                continue;
            }
            self.call(
                ApiRequest::new(Method::POST, format!("List/{id}/Items")).json(json!({
                    "Name": name,
                    "Tooltip": "",
                    "Deleted": false,
                    "Rank": rank + 1,
                })),
            )
            .await?;
        }
        Ok(id)
    }

    // --- user-defined fields ----------------------------------------------------------------

    async fn ensure_field_in_admin_layout(&self, f: &UserDefinedField) -> Result<(), Halt> {
        let path = format!("{}/UdefLayout/{}", f.entity, f.prog_id);
        if self.find(ApiRequest::get(path)).await?.is_some() {
            return Ok(());
        }
        let mut info = self
            .call_json(
                ApiRequest::new(Method::POST, format!("{}/UdefLayout", f.entity))
                    .query("udefFieldType", &f.field_type),
            )
            .await?;
        let obj = info
            .as_object_mut()
            .ok_or_else(|| bad_answer("the default field is not an object"))?;
        obj.insert("ProgId".into(), json!(f.prog_id));
        obj.insert("FieldLabel".into(), json!(f.label));
        obj.insert(
            "ShortLabel".into(),
            json!(if f.short_label.is_empty() {
                &f.label
            } else {
                &f.short_label
            }),
        );
        obj.insert("Tooltip".into(), json!(f.tooltip));
        obj.insert("IsMandatory".into(), json!(f.mandatory));
        if let Some(n) = f.text_length {
            obj.insert("TextLength".into(), json!(n));
        }
        if let Some(key) = &f.list {
            let list_id = self.list_ids.get(key).copied().ok_or_else(|| {
                Halt::Stop(format!(
                    "the list {key} of field {} does not exist",
                    f.prog_id
                ))
            })?;
            obj.insert("ListTableId".into(), json!(USER_LIST_TABLE));
            obj.insert("UDListDefinitionId".into(), json!(list_id));
        }
        self.call(
            ApiRequest::new(Method::PUT, format!("{}/UdefLayout", f.entity)).json(json!([info])),
        )
        .await?;
        Ok(())
    }

    /// Publishes every entity with fields waiting, then records those fields with their published
    /// ids. Publishing is SuperOffice's documented flow: wait until no publish runs, publish,
    /// rebuild the UI deltas.
    async fn publish_pending(
        &mut self,
        pending: &mut BTreeMap<String, Vec<(u32, &UserDefinedField, &Artifact)>>,
    ) -> Result<(), Halt> {
        while let Some((entity, fields)) = pending.pop_first() {
            self.publish(&entity).await?;
            let layout = self
                .call_json(ApiRequest::get(format!("{entity}/UdefLayout/Published")))
                .await?;
            for (seq, f, artifact) in fields {
                let published = layout
                    .as_array()
                    .into_iter()
                    .flatten()
                    .find(|p| field(p, "ProgId").as_str() == Some(f.prog_id.as_str()))
                    .ok_or_else(|| {
                        bad_answer("a published field is missing from the published layout")
                    })?;
                let id = id_of(published, "UDefFieldId")
                    .map(|i| i.to_string())
                    .unwrap_or_default();
                // ProgId is the identity (ids change at every publish); the id is for reference.
                self.engine
                    .record(
                        self.ctx,
                        seq,
                        artifact,
                        format!("{};UDefFieldId={id}", f.prog_id),
                    )
                    .await?;
            }
        }
        Ok(())
    }

    async fn publish(&self, entity: &str) -> Result<(), Halt> {
        for attempt in 0..10u32 {
            self.check_time()?;
            let running = self
                .call_json(ApiRequest::get(format!("{entity}/UdefLayout/Publish")))
                .await?;
            if running == json!(false) {
                match self
                    .try_call(&ApiRequest::new(
                        Method::POST,
                        format!("{entity}/UdefLayout/Publish"),
                    ))
                    .await
                {
                    Ok(_) => {
                        self.call(ApiRequest::new(
                            Method::POST,
                            "Agents/Configuration/RebuildUdefDeltas",
                        ))
                        .await?;
                        return Ok(());
                    }
                    // Someone else's publish started in between: wait for it like below.
                    Err(WebApiError::Conflict) => {}
                    Err(e) => return Err(self.halt(e)),
                }
            }
            let wait = Duration::from_secs(1 << attempt.min(4));
            if self.engine.clock.now() + wait + STEP_MARGIN > self.deadline {
                break;
            }
            self.engine.clock.sleep(wait).await;
        }
        Err(Halt::Wait {
            until: self.engine.clock.now() + Duration::from_secs(30),
            reason: "publishing",
            detail: format!("another publish of {entity} fields is running"),
        })
    }

    // --- web panels and buttons -------------------------------------------------------------

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.engine.base_url.trim_end_matches('/'))
    }

    /// Our app's panel with this ProgId, if it exists. The tenant's panels are read once per run
    /// (every panel, so one left without an owner by an older install is found too).
    async fn find_panel(&mut self, prog_id: &str) -> Result<Option<i64>, Halt> {
        if self.panels.is_none() {
            let all = self
                .call_json(ApiRequest::get("List/WebPanel/Items"))
                .await?;
            self.panels = Some(all.as_array().cloned().unwrap_or_default());
        }
        Ok(self
            .panels
            .iter()
            .flatten()
            .find(|p| {
                field(p, "ProgId").as_str() == Some(prog_id) && field(p, "Deleted") != &json!(true)
            })
            .and_then(|p| id_of(p, "WebPanelId")))
    }

    async fn create_panel(&mut self, body: Value, prog_id: &str) -> Result<i64, Halt> {
        if let Some(id) = self.find_panel(prog_id).await? {
            return Ok(id);
        }
        let created = self
            .call_json(ApiRequest::new(Method::POST, "List/WebPanel/Items").json(body))
            .await?;
        let id = id_of(&created, "WebPanelId")
            .ok_or_else(|| bad_answer("the created panel has no WebPanelId"))?;
        if let Some(panels) = &mut self.panels {
            panels.push(created);
        }
        self.show_to_all_groups(id).await?;
        Ok(id)
    }

    /// Certification: web panels are visible to every user group (the groups are read once per run).
    async fn show_to_all_groups(&mut self, panel: i64) -> Result<(), Halt> {
        if self.user_groups.is_none() {
            let groups = self
                .call_json(ApiRequest::get("List/UserGroup/Items"))
                .await?;
            self.user_groups = Some(groups.as_array().cloned().unwrap_or_default());
        }
        let selected: Vec<Value> = self
            .user_groups
            .iter()
            .flatten()
            .filter_map(|g| id_of(g, "Id"))
            .map(|id| json!({"Id": id, "Selected": true}))
            .collect();
        self.call(
            ApiRequest::new(
                Method::PUT,
                format!("List/WebPanel/Items/{panel}/UserGroups"),
            )
            .json(Value::Array(selected)),
        )
        .await?;
        Ok(())
    }

    fn panel_body(
        &self,
        prog_id: &str,
        name: &str,
        tooltip: &str,
        visible_in: &str,
        url: String,
        window: &str,
    ) -> Value {
        json!({
            "Name": name,
            "Tooltip": tooltip,
            "ProgId": prog_id,
            "Url": url,
            "VisibleIn": visible_in,
            "UrlEncoding": "None",
            "WindowName": window,
            "OnCentral": true,
            "OnSalesMarketingWeb": true,
            "OnSalesMarketingPocket": false,
            "OnSatellite": false,
            "OnTravel": false,
            "Rank": 100,
            "Deleted": false,
            "AlwaysReloadOnShow": false,
        })
    }

    async fn ensure_web_panel(&mut self, p: &WebPanel) -> Result<i64, Halt> {
        let body = self.panel_body(
            &p.prog_id,
            &p.name,
            &p.tooltip,
            &p.visible_in,
            self.url(&p.path),
            &window_name(&p.prog_id),
        );
        self.create_panel(body, &p.prog_id).await
    }

    /// A navigator button as SuperOffice's own samples build it: a browser panel holding our page,
    /// and a button that opens it (`soprotocol:browser.{window}`).
    async fn ensure_button(&mut self, b: &Button) -> Result<String, Halt> {
        let window = window_name(&b.prog_id);
        let browser_prog_id = format!("{}.Browser", b.prog_id);
        let browser = self
            .create_panel(
                self.panel_body(
                    &browser_prog_id,
                    &b.name,
                    &b.tooltip,
                    "BrowserPanel",
                    self.url(&b.path),
                    &window,
                ),
                &browser_prog_id,
            )
            .await?;
        let button = self
            .create_panel(
                self.panel_body(
                    &b.prog_id,
                    &b.name,
                    &b.tooltip,
                    "NavigatorButton",
                    format!("soprotocol:browser.{window}"),
                    &window,
                ),
                &b.prog_id,
            )
            .await?;
        Ok(format!("{browser},{button}"))
    }

    // --- preferences ------------------------------------------------------------------------

    async fn ensure_preference(&self, p: &Preference) -> Result<String, Halt> {
        let path = format!("Preference/{}/{}", p.section, p.key);
        let current = self.find(ApiRequest::get(path.clone())).await?;
        let already = current.as_ref().is_some_and(|c| {
            field(c, "RawValue").as_str() == Some(p.value.as_str())
                && field(c, "Level").as_str() == Some(p.level.as_str())
        });
        if !already {
            self.call(ApiRequest::new(Method::PUT, path).json(json!({
                "Level": p.level,
                "RawValue": p.value,
                "Specification": {"Section": p.section, "Key": p.key},
            })))
            .await?;
        }
        Ok(format!("{}/{}", p.section, p.key))
    }

    // --- webhooks ---------------------------------------------------------------------------

    async fn ensure_webhook(&self, w: &Webhook) -> Result<i64, Halt> {
        let existing = self
            .call_json(ApiRequest::get("Webhook").query("nameFilter", &w.name))
            .await?;
        if let Some(id) = existing
            .as_array()
            .into_iter()
            .flatten()
            .find(|h| field(h, "Name").as_str() == Some(w.name.as_str()))
            .and_then(|h| id_of(h, "WebhookId"))
        {
            return Ok(id);
        }
        let secret = self
            .webhook_secret
            .as_ref()
            .ok_or_else(|| Halt::Stop("no webhook secret".into()))?;
        let target = format!("{}/{}", self.url(&w.path), self.ctx);
        let created = match self
            .try_call(&ApiRequest::new(Method::POST, "Webhook").json(json!({
                "Name": w.name,
                "Events": w.events,
                "TargetUrl": target,
                "Secret": secret.expose(),
                "State": "Active",
                "Type": "webhook",
            })))
            .await
        {
            Ok(r) => json_body(&r)?,
            // SuperOffice tests the target at save time; a refusal means it could not reach us.
            Err(WebApiError::Rejected {
                status: 400,
                message,
            }) => {
                return Err(Halt::Stop(format!(
                    "SuperOffice could not register the webhook: {message} (it must reach {target})"
                )));
            }
            Err(e) => return Err(self.halt(e)),
        };
        id_of(&created, "WebhookId")
            .ok_or_else(|| bad_answer("the created webhook has no WebhookId"))
    }
}

fn window_name(prog_id: &str) -> String {
    prog_id
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect()
}

fn json_body(r: &ApiResponse) -> Result<Value, Halt> {
    if r.body.is_empty() {
        return Ok(Value::Null);
    }
    serde_json::from_slice(&r.body).map_err(|e| bad_answer(&format!("an answer is not JSON: {e}")))
}

fn bad_answer(what: &str) -> Halt {
    Halt::Stop(format!(
        "SuperOffice gave an answer the app does not understand: {what}"
    ))
}
