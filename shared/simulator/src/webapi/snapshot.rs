//! What exists in a tenant's WebAPI, for tests: [`WebApiSnapshot`] (also served as JSON by
//! `GET /__sim/tenants/{ctx}/webapi`), and call counting over the request log.

use std::collections::BTreeMap;
use std::time::Instant;

use serde::Serialize;
use serde_json::Value;

use super::data::{TenantData, UdefEntity, WEBPANEL_LIST_ID};
use crate::record::RecordedRequest;
use crate::routes::Route;
use crate::state::AppState;

/// A tenant's WebAPI state at one moment. Entities are the JSON the WebAPI would answer with.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct WebApiSnapshot {
    pub context_id: String,
    /// User-defined field layouts by entity name (`"Contact"`, `"Person"`, `"Project"`, `"Sale"`,
    /// `"Appointment"`, `"Document"`).
    pub udefs: BTreeMap<String, UdefLayoutSnapshot>,
    /// Every list, built-in ones included, with its items.
    pub lists: Vec<ListSnapshot>,
    /// The `UserGroup`s.
    pub user_groups: Vec<Value>,
    pub web_panels: Vec<WebPanelSnapshot>,
    /// Every stored `Preference` (one per section, key and level).
    pub preferences: Vec<Value>,
    pub webhooks: Vec<WebhookSnapshot>,
    /// Calls of `POST Agents/Configuration/RebuildUdefDeltas` that were answered.
    pub rebuild_udef_deltas_calls: u32,
    /// The `CacheNames` of each answered `POST Agents/Diagnostics/FlushCachesByName`.
    pub flush_caches_by_name: Vec<Vec<String>>,
    /// Requests about this tenant that arrived before a `Retry-After` the simulator had sent
    /// (see [`crate::RecordedRequest::before_retry_after`]).
    pub requests_before_retry_after: usize,
    /// WebAPI requests that arrived for this tenant (answered or not, faults included), by
    /// `"METHOD /v1/path"` with numeric path segments shown as `{id}`.
    pub calls: BTreeMap<String, usize>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct UdefLayoutSnapshot {
    /// The admin (unpublished) version, as `GET {Entity}/UdefLayout` returns it.
    pub admin: Vec<Value>,
    /// The published version, as `GET {Entity}/UdefLayout/Published` returns it.
    pub published: Vec<Value>,
    pub version: i32,
    /// Completed `POST {Entity}/UdefLayout/Publish` calls.
    pub publishes: u32,
    pub publish_running: bool,
}

impl UdefLayoutSnapshot {
    /// An admin-version field by `ProgId`.
    pub fn admin_field(&self, prog_id: &str) -> Option<&Value> {
        self.admin.iter().find(|f| f["ProgId"] == prog_id)
    }

    /// A published field by `ProgId`.
    pub fn published_field(&self, prog_id: &str) -> Option<&Value> {
        self.published.iter().find(|f| f["ProgId"] == prog_id)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct ListSnapshot {
    /// The `ListEntity`.
    pub list: Value,
    pub built_in: bool,
    /// Its `ListItemEntity`s, deleted ones included.
    pub items: Vec<Value>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct WebPanelSnapshot {
    /// The `WebPanelEntity`.
    pub panel: Value,
    /// The client id of the app that created it (`None` if the request carried no `SO-AppToken`).
    pub owner_client_id: Option<String>,
    /// The user-group ids it is visible for; `None` = never set, i.e. all groups.
    pub visible_for_user_groups: Option<Vec<i32>>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct WebhookSnapshot {
    /// The `Webhook`, secret included.
    pub webhook: Value,
    /// The client id of the app whose credentials created it.
    pub created_by_client_id: String,
}

impl WebApiSnapshot {
    /// The layout of `entity` (ignoring case).
    pub fn udef(&self, entity: &str) -> Option<&UdefLayoutSnapshot> {
        self.udefs
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(entity))
            .map(|(_, v)| v)
    }

    /// A list by `Name` (ignoring case).
    pub fn list(&self, name: &str) -> Option<&ListSnapshot> {
        self.lists.iter().find(|l| {
            l.list["Name"]
                .as_str()
                .is_some_and(|n| n.eq_ignore_ascii_case(name))
        })
    }

    /// A web panel by `ProgId` (a panel not marked deleted first).
    pub fn web_panel(&self, prog_id: &str) -> Option<&WebPanelSnapshot> {
        let mut found: Vec<&WebPanelSnapshot> = self
            .web_panels
            .iter()
            .filter(|p| p.panel["ProgId"] == prog_id)
            .collect();
        found.sort_by_key(|p| p.panel["Deleted"] == true);
        found.first().copied()
    }

    /// The web panels created by `client_id` (deleted ones included).
    pub fn web_panels_owned_by(&self, client_id: &str) -> Vec<&WebPanelSnapshot> {
        self.web_panels
            .iter()
            .filter(|p| p.owner_client_id.as_deref() == Some(client_id))
            .collect()
    }

    /// The stored preferences of (section, key), at every level (names ignoring case).
    pub fn preferences_for(&self, section: &str, key: &str) -> Vec<&Value> {
        let eq = |v: &Value, s: &str| v.as_str().is_some_and(|x| x.eq_ignore_ascii_case(s));
        self.preferences
            .iter()
            .filter(|p| {
                eq(&p["Specification"]["Section"], section) && eq(&p["Specification"]["Key"], key)
            })
            .collect()
    }

    /// Webhooks by `Name` (ignoring case).
    pub fn webhooks_named(&self, name: &str) -> Vec<&WebhookSnapshot> {
        self.webhooks
            .iter()
            .filter(|w| {
                w.webhook["Name"]
                    .as_str()
                    .is_some_and(|n| n.eq_ignore_ascii_case(name))
            })
            .collect()
    }
}

fn to_value<T: Serialize>(v: &T) -> Value {
    serde_json::to_value(v).unwrap_or(Value::Null)
}

fn build(ctx: &str, t: &TenantData, log: &[RecordedRequest]) -> WebApiSnapshot {
    let now = Instant::now();
    let udefs = UdefEntity::ALL
        .into_iter()
        .map(|e| {
            let l = t.udef(e);
            (
                e.as_str().to_owned(),
                UdefLayoutSnapshot {
                    admin: l.admin.iter().map(to_value).collect(),
                    published: l.published.iter().map(to_value).collect(),
                    version: l.version,
                    publishes: l.publishes,
                    publish_running: l.publish_running(now),
                },
            )
        })
        .collect();
    let lists = (0..t.lists.len())
        .map(|i| ListSnapshot {
            list: to_value(&t.list_entity(i)),
            built_in: t.lists[i].built_in,
            items: t.list_items(i).iter().map(to_value).collect(),
        })
        .collect();
    let web_panels = t
        .web_panels
        .iter()
        .map(|p| WebPanelSnapshot {
            panel: to_value(&p.entity),
            owner_client_id: p.owner.clone(),
            visible_for_user_groups: t
                .visibility
                .get(&(WEBPANEL_LIST_ID, p.entity.web_panel_id))
                .cloned(),
        })
        .collect();
    let webhooks = t
        .webhooks
        .iter()
        .map(|w| WebhookSnapshot {
            webhook: to_value(&w.entity),
            created_by_client_id: w.created_by_client_id.clone(),
        })
        .collect();
    let mine: Vec<&RecordedRequest> = log
        .iter()
        .filter(|r| {
            r.tenant
                .as_deref()
                .is_some_and(|x| x.eq_ignore_ascii_case(ctx))
        })
        .collect();
    let mut calls = BTreeMap::new();
    for r in mine.iter().filter(|r| r.route == Route::WebApi) {
        let path: Vec<String> = api_rest(&r.path)
            .split('/')
            .map(|s| {
                if !s.is_empty() && s.chars().all(|c| c.is_ascii_digit() || c == '-') {
                    "{id}".to_owned()
                } else {
                    s.to_owned()
                }
            })
            .collect();
        *calls
            .entry(format!("{} {}", r.method, path.join("/")))
            .or_insert(0) += 1;
    }
    WebApiSnapshot {
        context_id: ctx.to_owned(),
        udefs,
        lists,
        user_groups: t.user_groups.iter().map(to_value).collect(),
        web_panels,
        preferences: t.preferences.iter().map(to_value).collect(),
        webhooks,
        rebuild_udef_deltas_calls: t.rebuild_udef_deltas_calls,
        flush_caches_by_name: t.flush_caches_by_name.clone(),
        requests_before_retry_after: mine.iter().filter(|r| r.before_retry_after).count(),
        calls,
    }
}

/// Whether `path`'s segments contain `needle`'s segments as a contiguous run, ignoring ASCII case:
/// `UdefLayout/Publish` is in `/v1/Contact/UdefLayout/Publish` but not in `…/UdefLayout/Published`.
fn has_segments(path: &str, needle: &str) -> bool {
    let want: Vec<&str> = needle.split('/').filter(|s| !s.is_empty()).collect();
    if want.is_empty() {
        return true;
    }
    let have: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    have.windows(want.len())
        .any(|w| w.iter().zip(&want).all(|(a, b)| a.eq_ignore_ascii_case(b)))
}

/// `/sod2/Cust1/api/v1/List/3` → `/v1/List/3` (the part after `/{shard}/{ctx}/api`).
fn api_rest(path: &str) -> &str {
    let mut rest = path;
    for _ in 0..3 {
        let trimmed = rest.strip_prefix('/').unwrap_or(rest);
        rest = match trimmed.find('/') {
            Some(i) => &trimmed[i..],
            None => "",
        };
    }
    rest
}

impl AppState {
    /// The snapshot of a tenant; `None` for an unknown tenant.
    pub(crate) fn webapi_snapshot(&self, ctx: &str) -> Option<WebApiSnapshot> {
        let ctx = self.store().tenant(ctx)?.cfg.context_id.clone();
        let log = self.log.snapshot();
        self.webapi.read(&ctx, |t| build(&ctx, t, &log))
    }

    /// WebAPI requests about `ctx` whose path after `/api` contains the segments of `family` in a
    /// row (ignoring ASCII case). `family` may start with a method and a space
    /// (`"POST UdefLayout/Publish"`).
    pub(crate) fn webapi_calls(&self, ctx: &str, family: &str) -> usize {
        let (method, needle) = match family.split_once(' ') {
            Some((m, rest)) if !m.is_empty() && m.chars().all(|c| c.is_ascii_alphabetic()) => {
                (Some(m), rest.trim())
            }
            _ => (None, family.trim()),
        };
        self.log
            .snapshot()
            .iter()
            .filter(|r| r.route == Route::WebApi)
            .filter(|r| {
                r.tenant
                    .as_deref()
                    .is_some_and(|x| x.eq_ignore_ascii_case(ctx))
            })
            .filter(|r| method.is_none_or(|m| r.method.eq_ignore_ascii_case(m)))
            .filter(|r| has_segments(api_rest(&r.path), needle))
            .count()
    }

    /// Logged requests about `ctx` flagged `before_retry_after`.
    pub(crate) fn requests_before_retry_after(&self, ctx: &str) -> usize {
        self.log
            .snapshot()
            .iter()
            .filter(|r| r.before_retry_after)
            .filter(|r| {
                r.tenant
                    .as_deref()
                    .is_some_and(|x| x.eq_ignore_ascii_case(ctx))
            })
            .count()
    }
}

#[cfg(test)]
mod tests {
    use super::{api_rest, has_segments};

    #[test]
    fn families_match_whole_segments() {
        assert!(has_segments(
            "/v1/Contact/UdefLayout/Publish",
            "UdefLayout/Publish"
        ));
        assert!(has_segments(
            "/v1/Contact/UdefLayout/Publish",
            "contact/udeflayout"
        ));
        assert!(!has_segments(
            "/v1/Contact/UdefLayout/Published",
            "UdefLayout/Publish"
        ));
        assert!(has_segments("/v1/List/3/Items", "List"));
        assert!(has_segments("/v1/List", ""));
    }

    #[test]
    fn rest_of_a_webapi_path() {
        assert_eq!(api_rest("/sod2/Cust1/api/v1/List/3"), "/v1/List/3");
        assert_eq!(api_rest("/sod2/Cust1/api"), "");
        assert_eq!(api_rest("/sod2/Cust1/api/"), "/");
    }
}
