//! `GET|POST /__sim/tenants`: a page for a person running the app locally, with a button for each
//! lifecycle change and for snapshots, and the outcome of the push in words.
//!
//! Plain server-rendered HTML: every action is a form POSTed to `/__sim/tenants` (field `action`),
//! answered with a page that says what changed and what the app answered, with a link back. No
//! script (the page's Content-Security-Policy allows none).
//!
//! **Forgery.** The rest of `/__sim/` is a JSON API for test code; this page changes tenants from a
//! browser, and a browser also sends form POSTs that *other* sites' pages make it send. So a POST
//! is accepted only with the page's form token (a random value per simulator process, put in a
//! hidden field of every form and readable only by pages of the simulator's own origin), and it is
//! refused if the browser says it came from another origin (`Origin` other than the `Host` it was
//! sent to, or `Sec-Fetch-Site` other than same-origin). The page and its forms answer only when the
//! `Host` is an IP address or `localhost`: a site whose DNS name is made to point at 127.0.0.1 ("DNS
//! rebinding") would otherwise be same-origin with the page and could read the token. There is no
//! cookie, so there is no session to ride on.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;

use super::{CrmVersion, Lifecycle, LifecycleError, PushDelivery, PushOptions, SnapshotId};
use crate::html::page;
use crate::state::{AppState, constant_time_eq};
use crate::util::{Params, clip, html_escape, human_utc};

/// The page's own path, also the target of every form and of the "back" links.
pub(crate) const PAGE_PATH: &str = "/__sim/tenants";

/// The name of the hidden field with the form token.
const TOKEN_FIELD: &str = "form_token";

pub(crate) async fn show(State(st): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    if let Err(why) = check_host(&headers) {
        return outcome_page(StatusCode::FORBIDDEN, "Refused", None, Some(&why));
    }
    page(StatusCode::OK, "Tenants", &render(&st), None)
}

pub(crate) async fn act(
    State(st): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Err(why) = check_host(&headers).and_then(|()| check_origin(&st, &headers)) {
        return outcome_page(StatusCode::FORBIDDEN, "Refused", None, Some(&why));
    }
    let form = Params::parse(&body);
    let token_ok = form
        .get(TOKEN_FIELD)
        .is_some_and(|t| constant_time_eq(t.as_bytes(), st.lifecycle.page_token.as_bytes()));
    if !token_ok {
        return outcome_page(
            StatusCode::FORBIDDEN,
            "Refused",
            None,
            Some(
                "This form did not come from the simulator's tenants page (its form token is missing or wrong). Open the page again and use its buttons.",
            ),
        );
    }
    if let Some(name) = &form.repeated {
        return outcome_page(
            StatusCode::BAD_REQUEST,
            "Not done",
            None,
            Some(&format!("The field {:?} was sent twice.", clip(name, 40))),
        );
    }
    match perform(&st, &form).await {
        Ok((title, effect, push)) => {
            let push_text = push.as_ref().map(PushDelivery::describe);
            let mut body = format!("<p id=\"result\">{}</p>", html_escape(&effect));
            if let Some(p) = &push_text {
                let class = if push.as_ref().is_some_and(PushDelivery::accepted) {
                    "ok"
                } else {
                    "error"
                };
                body.push_str(&format!(
                    "\n<p id=\"push\" class=\"{class}\">{}</p>",
                    html_escape(p)
                ));
            }
            outcome_page(StatusCode::OK, &title, Some(&body), None)
        }
        Err((status, message)) => outcome_page(status, "Not done", None, Some(&message)),
    }
}

/// The `Host` the request was sent to, if it sent one.
fn host(headers: &HeaderMap) -> Option<&str> {
    headers.get(header::HOST).and_then(|h| h.to_str().ok())
}

/// The `Host` must be an IP address or `localhost` (with any port): never a DNS name that could
/// have been pointed at the simulator by someone else.
fn check_host(headers: &HeaderMap) -> Result<(), String> {
    let Some(authority) = host(headers) else {
        return Ok(());
    };
    let name = match authority.strip_prefix('[') {
        // [::1]:port
        Some(v6) => v6.split(']').next().unwrap_or(""),
        None => authority.rsplit_once(':').map_or(authority, |(h, _)| h),
    };
    let local_name =
        name.eq_ignore_ascii_case("localhost") || name.to_ascii_lowercase().ends_with(".localhost");
    if local_name || name.parse::<std::net::IpAddr>().is_ok() {
        Ok(())
    } else {
        Err(format!(
            "The tenants page answers only at an IP address or localhost, not at {}: open it as http://127.0.0.1:PORT/__sim/tenants.",
            clip(authority, 100)
        ))
    }
}

/// `Origin` (sent with every cross-origin POST, and by current browsers with same-origin ones too)
/// must be the origin the form was sent to (`http://` + `Host`, or the simulator's base URL
/// without a `Host`); `Sec-Fetch-Site`, where sent, must not say another site. A request with
/// neither (a test's HTTP client) passes on the form token alone.
fn check_origin(st: &AppState, headers: &HeaderMap) -> Result<(), String> {
    if let Some(origin) = headers.get(header::ORIGIN) {
        let origin = origin.to_str().unwrap_or("");
        let same = match host(headers) {
            Some(h) => {
                origin.eq_ignore_ascii_case(&format!("http://{h}"))
                    || origin.eq_ignore_ascii_case(&format!("https://{h}"))
            }
            None => origin.eq_ignore_ascii_case(&st.base),
        };
        if !same {
            return Err(format!(
                "This form was sent from another origin ({}); only the simulator's own tenants page may change tenants.",
                clip(origin, 100)
            ));
        }
    }
    if let Some(site) = headers.get("sec-fetch-site") {
        let site = site.to_str().unwrap_or("");
        if !(site.eq_ignore_ascii_case("same-origin") || site.eq_ignore_ascii_case("none")) {
            return Err(format!(
                "This form was sent from another site (Sec-Fetch-Site: {}); only the simulator's own tenants page may change tenants.",
                clip(site, 40)
            ));
        }
    }
    Ok(())
}

type Done = (String, String, Option<PushDelivery>);
type Failed = (StatusCode, String);

fn failed(e: &LifecycleError) -> Failed {
    (e.http_status(), format!("{e}."))
}

fn field<'a>(form: &'a Params, name: &str) -> Result<&'a str, Failed> {
    form.get(name).ok_or_else(|| {
        (
            StatusCode::BAD_REQUEST,
            format!("The form has no {name:?}; use the page's buttons."),
        )
    })
}

fn snapshot_field(form: &Params) -> Result<SnapshotId, Failed> {
    field(form, "snapshot")?
        .parse()
        .map_err(|e: String| (StatusCode::BAD_REQUEST, format!("{e}.")))
}

/// Does what the form asks; the page's title, what changed, and the push's outcome.
async fn perform(st: &AppState, form: &Params) -> Result<Done, Failed> {
    let action = field(form, "action")?;
    let ctx = st
        .canonical_ctx(field(form, "ctx")?)
        .map_err(|e| failed(&e))?;
    let ev = match action {
        "snapshot" => {
            let id = st
                .lifecycle
                .snapshots
                .take(st, &ctx, form.get("label"))
                .map_err(|e| failed(&e))?;
            return Ok((
                format!("{ctx}: snapshot {id} taken"),
                format!(
                    "Snapshot {id} of {ctx} holds its WebAPI data as it is now. Restore it from the tenants page (that also sends a BackupRestored push)."
                ),
                None,
            ));
        }
        "forget" => {
            let id = snapshot_field(form)?;
            st.lifecycle
                .snapshots
                .forget(st, &ctx, id)
                .map_err(|e| failed(&e))?;
            return Ok((
                format!("{ctx}: snapshot {id} forgotten"),
                format!("Snapshot {id} of {ctx} is gone; the tenant's data did not change."),
                None,
            ));
        }
        "restore" => Lifecycle::BackupRestored {
            snapshot: snapshot_field(form)?,
        },
        "suspend" => Lifecycle::Suspend,
        "resume" => Lifecycle::Resume,
        "delete" => {
            if form.get("confirm") != Some("yes") {
                return Err((
                    StatusCode::BAD_REQUEST,
                    format!("{ctx} was not deleted: tick \"yes, delete\" to confirm."),
                ));
            }
            Lifecycle::Delete
        }
        "move" => Lifecycle::Move {
            shard: field(form, "shard")?.trim().to_owned(),
        },
        "upgrade" => {
            let to = match (form.get("version_name"), form.get("file_version")) {
                (None, None) => None,
                (Some(name), Some(file)) => Some(CrmVersion::new(name.trim(), file.trim())),
                _ => {
                    return Err((
                        StatusCode::BAD_REQUEST,
                        "Give both the version name and the file version, or neither (for the next build)."
                            .to_owned(),
                    ));
                }
            };
            Lifecycle::Upgrade { to }
        }
        other => {
            return Err((
                StatusCode::BAD_REQUEST,
                format!(
                    "Unknown action {:?}; use the page's buttons.",
                    clip(other, 40)
                ),
            ));
        }
    };
    let push = if form.get("push") == Some("yes") {
        let mut options = PushOptions::new();
        if let Some(c) = form.get("client_id") {
            options = options.to_app(c);
        }
        Some(
            st.run_lifecycle(&ctx, &ev, &options)
                .await
                .map_err(|e| failed(&e))?,
        )
    } else {
        st.apply_lifecycle(&ctx, &ev).map_err(|e| failed(&e))?;
        None
    };
    let (title, effect) = effect_text(st, &ctx, &ev);
    let effect = if push.is_none() {
        format!("{effect} No push was sent.")
    } else {
        effect
    };
    Ok((title, effect, push))
}

/// What the change did, in words (after it was made).
fn effect_text(st: &AppState, ctx: &str, ev: &Lifecycle) -> (String, String) {
    match ev {
        Lifecycle::Upgrade { .. } => {
            let v = st.lifecycle.crm_version();
            let status = st
                .store()
                .tenant(ctx)
                .map(|t| t.status.as_str())
                .unwrap_or("unknown");
            (
                format!("{ctx}: upgraded"),
                format!(
                    "The CRM version is now {} (file version {}), for every tenant; {ctx} stays {status}.",
                    v.version_name, v.file_version
                ),
            )
        }
        Lifecycle::BackupRestored { snapshot } => (
            format!("{ctx}: snapshot {snapshot} restored"),
            format!(
                "{ctx}'s WebAPI data is back as it was in snapshot {snapshot}. New ids go on from the highest ever handed out."
            ),
        ),
        Lifecycle::Suspend => (
            format!("{ctx}: suspended"),
            format!(
                "{ctx} is now Suspended: the tenant state API says so and its WebAPI answers 503."
            ),
        ),
        Lifecycle::Resume => (
            format!("{ctx}: resumed"),
            format!("{ctx} is Running again."),
        ),
        Lifecycle::Delete => (
            format!("{ctx}: deleted"),
            format!(
                "{ctx} is now Deleted: its WebAPI answers 503 and every app's approval was removed, with its tokens and tickets."
            ),
        ),
        Lifecycle::Move { .. } => {
            let host = st.public_endpoint(ctx).unwrap_or_default();
            let api = st
                .store()
                .tenant(ctx)
                .map(|t| format!("{}/api/", st.tenant_root(t)))
                .unwrap_or_default();
            (
                format!("{ctx}: moved"),
                format!(
                    "{ctx} moved to {host}: here its API is now {api}, and the old host answers 421."
                ),
            )
        }
    }
}

const BACK: &str = "<p><a id=\"back\" href=\"/__sim/tenants\">Back to the tenants</a></p>";

/// The answer to a form: `body` (trusted HTML) or `error` (text), and the way back.
fn outcome_page(
    status: StatusCode,
    title: &str,
    body: Option<&str>,
    error: Option<&str>,
) -> Response {
    let mut html = format!("<h1>{}</h1>\n", html_escape(title));
    if let Some(b) = body {
        html.push_str(b);
        html.push('\n');
    }
    if let Some(e) = error {
        html.push_str(&format!(
            "<p class=\"error\" id=\"error\" role=\"alert\">{}</p>\n",
            html_escape(e)
        ));
    }
    html.push_str(BACK);
    page(status, title, &html, None)
}

/// A form posting `action` for `ctx`, with the token; `fields` and `button` are trusted HTML.
fn form(token: &str, ctx: &str, action: &str, fields: &str, button: &str) -> String {
    format!(
        "<form method=\"post\" action=\"{PAGE_PATH}\">\
         <input type=\"hidden\" name=\"{TOKEN_FIELD}\" value=\"{token}\">\
         <input type=\"hidden\" name=\"ctx\" value=\"{ctx}\">\
         <input type=\"hidden\" name=\"action\" value=\"{action}\">\
         {fields}{button}</form>",
        token = html_escape(token),
        ctx = html_escape(ctx),
    )
}

fn button(id: &str, label: &str) -> String {
    format!(
        "<button type=\"submit\" id=\"{}\">{}</button>",
        html_escape(id),
        html_escape(label)
    )
}

/// The "send the push" checkbox (ticked) and, when several apps have a URL, the app to push to.
fn push_fields(apps_with_url: &[(String, String)]) -> String {
    let mut html = String::from(
        "<label><input type=\"checkbox\" name=\"push\" value=\"yes\" checked> send the push</label> ",
    );
    if apps_with_url.len() > 1 {
        html.push_str("<label>to <select name=\"client_id\">");
        for (client_id, name) in apps_with_url {
            html.push_str(&format!(
                "<option value=\"{}\">{}</option>",
                html_escape(client_id),
                html_escape(name)
            ));
        }
        html.push_str("</select></label> ");
    }
    html
}

fn render(st: &AppState) -> String {
    let token = &st.lifecycle.page_token;
    let version = st.lifecycle.crm_version();
    let urls = st.lifecycle.urls();
    let app_name = |client_id: &str| {
        st.app(client_id)
            .map_or_else(|| client_id.to_owned(), |a| a.reg.name.clone())
    };
    let apps_with_url: Vec<(String, String)> =
        urls.iter().map(|(c, _)| (c.clone(), app_name(c))).collect();

    let mut html = String::from("<h1>Simulated tenants</h1>\n");
    html.push_str(&format!(
        "<p id=\"crm-version\">CRM version: {} (file version {}).</p>\n",
        html_escape(&version.version_name),
        html_escape(&version.file_version)
    ));
    html.push_str("<p>State-change URLs (where lifecycle pushes go):</p>\n<ul id=\"apps\">\n");
    for app in &st.apps {
        let url = st.lifecycle.url(&app.reg.client_id).map_or_else(
            || "none registered: its pushes cannot be sent".to_owned(),
            |u| u.to_string(),
        );
        html.push_str(&format!(
            "<li>{} ({}): {}</li>\n",
            html_escape(&app.reg.name),
            html_escape(&app.reg.client_id),
            html_escape(&url)
        ));
    }
    html.push_str("</ul>\n<p class=\"note\">Each change is made to the simulated tenant, then (with \"send the push\") POSTed to the app's state-change URL, signed, as SuperOffice does. Snapshots keep a copy of a tenant's WebAPI data (fields, lists, web panels, preferences, webhooks) to restore.</p>\n");

    let tenants: Vec<(String, String, String, Vec<String>)> = {
        let store = st.store();
        store
            .tenants
            .iter()
            .map(|t| {
                let approved = st
                    .apps
                    .iter()
                    .filter(|a| store.has_consent(&t.cfg.context_id, &a.reg.client_id))
                    .map(|a| a.reg.name.clone())
                    .collect();
                (
                    t.cfg.context_id.clone(),
                    t.cfg.company_name.clone(),
                    t.status.as_str().to_owned(),
                    approved,
                )
            })
            .collect()
    };
    for (ctx, company, status, approved) in tenants {
        let host = st.public_endpoint(&ctx).unwrap_or_default();
        let api = st
            .store()
            .tenant(&ctx)
            .map(|t| format!("{}/api/", st.tenant_root(t)))
            .unwrap_or_default();
        let c = html_escape(&ctx);
        html.push_str(&format!(
            "<section id=\"tenant-{c}\">\n<h2>{c} – {}</h2>\n",
            html_escape(&company)
        ));
        html.push_str(&format!(
            "<p>State: <strong id=\"state-{c}\">{}</strong>. Host: <span id=\"host-{c}\">{}</span> (here {}). Approved apps: {}.</p>\n",
            html_escape(&status),
            html_escape(&host),
            html_escape(&api),
            if approved.is_empty() {
                "none".to_owned()
            } else {
                html_escape(&approved.join(", "))
            }
        ));

        html.push_str("<h3>Lifecycle</h3>\n");
        let push = push_fields(&apps_with_url);
        let row = |action: &str, fields: &str, label: &str| {
            format!(
                "<div class=\"choice\">{}</div>\n",
                form(
                    token,
                    &ctx,
                    action,
                    &format!("{fields}{push}"),
                    &button(&format!("{action}-{ctx}"), label)
                )
            )
        };
        html.push_str(&row("suspend", "", "Suspend"));
        html.push_str(&row("resume", "", "Resume"));
        html.push_str(&row(
            "move",
            "<label>to shard <input type=\"text\" name=\"shard\" required pattern=\"[A-Za-z0-9.\\-]+\" size=\"10\"></label> ",
            "Move",
        ));
        html.push_str(&row(
            "upgrade",
            &format!(
                "<label>version name <input type=\"text\" name=\"version_name\" size=\"28\" placeholder=\"{}\"></label> \
                 <label>file version <input type=\"text\" name=\"file_version\" size=\"12\" placeholder=\"{}\"></label> ",
                html_escape(&version.next().version_name),
                html_escape(&version.next().file_version)
            ),
            "Upgrade",
        ));
        html.push_str(&row(
            "delete",
            "<label><input type=\"checkbox\" name=\"confirm\" value=\"yes\" required> yes, delete</label> ",
            "Delete",
        ));

        html.push_str("<h3>Snapshots</h3>\n");
        html.push_str(&form(
            token,
            &ctx,
            "snapshot",
            "<label>label <input type=\"text\" name=\"label\" size=\"24\"></label> ",
            &button(&format!("snapshot-{ctx}"), "Take a snapshot"),
        ));
        html.push('\n');
        let snapshots = st.lifecycle.snapshots.list(&ctx);
        if snapshots.is_empty() {
            html.push_str("<p class=\"note\">No snapshots yet.</p>\n");
        } else {
            html.push_str(&format!(
                "<table id=\"snapshots-{c}\">\n<tr><th>#</th><th>Taken</th><th>Label</th><th>Holds</th><th></th></tr>\n"
            ));
            for s in snapshots {
                let id = s.snapshot.to_string();
                let id_field = format!(
                    "<input type=\"hidden\" name=\"snapshot\" value=\"{}\">",
                    html_escape(&id)
                );
                html.push_str(&format!(
                    "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}{}</td></tr>\n",
                    html_escape(&id),
                    html_escape(&human_utc(s.taken_at)),
                    html_escape(s.label.as_deref().unwrap_or("")),
                    html_escape(&s.contents.to_string()),
                    form(
                        token,
                        &ctx,
                        "restore",
                        &format!("{id_field}{push}"),
                        &button(&format!("restore-{ctx}-{id}"), "Restore")
                    ),
                    form(
                        token,
                        &ctx,
                        "forget",
                        &id_field,
                        &button(&format!("forget-{ctx}-{id}"), "Forget")
                    ),
                ));
            }
            html.push_str("</table>\n");
        }
        html.push_str("</section>\n");
    }
    html
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_host(host: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::HOST, host.parse().unwrap());
        h
    }

    #[test]
    fn only_addresses_and_localhost_are_hosts_of_the_page() {
        for ok in [
            "127.0.0.1:8080",
            "127.0.0.1",
            "[::1]:9000",
            "localhost:3000",
            "LOCALHOST",
            "app.localhost:1",
            "192.168.1.20:8080",
        ] {
            assert_eq!(check_host(&with_host(ok)), Ok(()), "{ok}");
        }
        for bad in ["evil.example:8080", "evil.example", "127.0.0.1.nip.io:80"] {
            assert!(check_host(&with_host(bad)).is_err(), "{bad}");
        }
        assert_eq!(check_host(&HeaderMap::new()), Ok(()));
    }

    #[test]
    fn forms_escape_what_they_carry() {
        let f = form("t\"k", "C<1>", "move", "", "<button>x</button>");
        assert!(f.contains("value=\"t&quot;k\""), "{f}");
        assert!(f.contains("value=\"C&lt;1&gt;\""), "{f}");
        assert!(f.contains("action=\"/__sim/tenants\""), "{f}");
    }
}
