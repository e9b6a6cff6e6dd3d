//! The tenants page (`/__sim/tenants`): plain forms for a person running the app locally, each
//! answered with a page that says what happened and links back; forged form posts are refused.

use superoffice_simulator::{CrmVersion, SimulatorHandle, TenantStatus};

use crate::common::*;
use crate::lifecycle_support::*;

const PAGE: &str = "/__sim/tenants";

/// The page's HTML (checked to be a strict, script-free page) and its form token.
async fn open(sim: &SimulatorHandle) -> (String, String) {
    let resp = client().get(url(sim, PAGE)).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert!(
        resp.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let csp = resp.headers()["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("script-src 'none'"), "{csp}");
    let html = resp.text().await.unwrap();
    assert!(!html.contains("<script"), "no script on the page");
    let token = input_value(&html, "form_token").expect("a form token");
    (html, token)
}

/// POSTs a form; the status and the answer page.
async fn submit(sim: &SimulatorHandle, fields: &[(&str, &str)]) -> (u16, String) {
    submit_with(sim, fields, &[]).await
}

async fn submit_with(
    sim: &SimulatorHandle,
    fields: &[(&str, &str)],
    headers: &[(&str, &str)],
) -> (u16, String) {
    let mut req = client().post(url(sim, PAGE)).form(fields);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    let html = resp.text().await.unwrap();
    assert!(
        html.contains("<a id=\"back\" href=\"/__sim/tenants\">"),
        "every answer links back: {html}"
    );
    (status, html)
}

/// The text of the element with this id (tags inside it removed, entities left as they are).
fn text_of(html: &str, id: &str) -> Option<String> {
    let start = html.find(&format!("id=\"{id}\""))?;
    let open_end = html[start..].find('>')? + start + 1;
    let close = html[open_end..].find("</p>")? + open_end;
    Some(html[open_end..close].to_owned())
}

#[tokio::test]
async fn the_page_shows_the_tenants_and_its_buttons_work() {
    let sim = demo().await;
    let (html, token) = open(&sim).await;
    assert!(html.contains("id=\"tenant-Cust12345\""));
    assert!(html.contains("id=\"tenant-Cust67890\""));
    assert!(html.contains("none registered"), "no URL yet");
    for button in [
        "suspend-Cust12345",
        "resume-Cust12345",
        "move-Cust12345",
        "upgrade-Cust12345",
        "delete-Cust12345",
        "snapshot-Cust12345",
    ] {
        assert!(html.contains(&format!("id=\"{button}\"")), "{button}");
    }
    assert_eq!(form_action(&html).as_deref(), Some(PAGE));

    // Without a URL, a change with a push is refused and nothing changes.
    let base = [("form_token", token.as_str()), ("ctx", "Cust12345")];
    let with = |extra: &[(&'static str, &'static str)]| {
        let mut f: Vec<(&str, &str)> = base.to_vec();
        f.extend_from_slice(extra);
        f
    };
    let (status, page) = submit(&sim, &with(&[("action", "suspend"), ("push", "yes")])).await;
    assert_eq!(status, 409, "{page}");
    assert!(
        text_of(&page, "error")
            .unwrap()
            .contains("state-change URL"),
        "{page}"
    );
    assert_eq!(sim.tenant_state("Cust12345"), Some(TenantStatus::Running));
    // Unticked "send the push": the change alone.
    let (status, page) = submit(&sim, &with(&[("action", "suspend")])).await;
    assert_eq!(status, 200, "{page}");
    assert!(
        text_of(&page, "result")
            .unwrap()
            .contains("No push was sent"),
        "{page}"
    );
    assert_eq!(sim.tenant_state("Cust12345"), Some(TenantStatus::Suspended));

    let rx = registered_receiver(&sim).await;
    rx.set_answer("noted");
    let (status, page) = submit(&sim, &with(&[("action", "resume"), ("push", "yes")])).await;
    assert_eq!(status, 200, "{page}");
    assert!(text_of(&page, "result").unwrap().contains("Running again"));
    let push = text_of(&page, "push").unwrap();
    assert!(push.contains("ChangeType 3 (Resume)"), "{push}");
    assert!(push.contains("HTTP 200 OK"), "{push}");
    assert!(push.contains("noted"), "{push}");
    assert_eq!(last_push(&rx)["ChangeType"], 3);
    assert_eq!(sim.tenant_state("Cust12345"), Some(TenantStatus::Running));

    // Snapshot, then restore it from the row the page now shows.
    let (status, page) = submit(
        &sim,
        &with(&[("action", "snapshot"), ("label", "clean <tenant>")]),
    )
    .await;
    assert_eq!(status, 200, "{page}");
    assert!(
        text_of(&page, "result").unwrap().contains("Snapshot 1"),
        "{page}"
    );
    let (html, _) = open(&sim).await;
    assert!(html.contains("id=\"restore-Cust12345-1\""), "{html}");
    assert!(html.contains("clean &lt;tenant&gt;"), "labels are escaped");
    let (status, page) = submit(
        &sim,
        &with(&[("action", "restore"), ("snapshot", "1"), ("push", "yes")]),
    )
    .await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(last_push(&rx)["ChangeType"], 1);

    let (status, page) = submit(
        &sim,
        &with(&[("action", "move"), ("shard", "sod4"), ("push", "yes")]),
    )
    .await;
    assert_eq!(status, 200, "{page}");
    assert!(
        text_of(&page, "result").unwrap().contains("/sod4"),
        "{page}"
    );
    assert_eq!(last_push(&rx)["PublicEndpoint"], "sod4.superoffice.com");
    let (status, page) = submit(
        &sim,
        &with(&[("action", "move"), ("shard", "api"), ("push", "yes")]),
    )
    .await;
    assert_eq!(status, 400, "{page}");

    let (status, page) = submit(
        &sim,
        &with(&[
            ("action", "upgrade"),
            ("version_name", "Release_11.11_2026.06.01-01"),
            ("file_version", "11.11.100.0"),
            ("push", "yes"),
        ]),
    )
    .await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(
        sim.crm_version(),
        CrmVersion::new("Release_11.11_2026.06.01-01", "11.11.100.0")
    );
    let (status, _) = submit(&sim, &with(&[("action", "upgrade"), ("push", "yes")])).await;
    assert_eq!(status, 200, "empty fields: the next build");
    assert_eq!(
        sim.crm_version().version_name,
        "Release_11.11_2026.06.01-02"
    );

    // Delete needs the tick.
    let (status, page) = submit(&sim, &with(&[("action", "delete"), ("push", "yes")])).await;
    assert_eq!(status, 400, "{page}");
    assert!(
        text_of(&page, "error").unwrap().contains("confirm"),
        "{page}"
    );
    assert_eq!(sim.tenant_state("Cust12345"), Some(TenantStatus::Running));
    let (status, page) = submit(
        &sim,
        &with(&[("action", "delete"), ("confirm", "yes"), ("push", "yes")]),
    )
    .await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(sim.tenant_state("Cust12345"), Some(TenantStatus::Deleted));
    assert_eq!(last_push(&rx)["ChangeType"], 4);

    let (status, _) = submit(&sim, &with(&[("action", "forget"), ("snapshot", "1")])).await;
    assert_eq!(status, 200);
    assert!(sim.tenant_snapshots("Cust12345").is_empty());
    let (status, _) = submit(&sim, &with(&[("action", "dance")])).await;
    assert_eq!(status, 400);
    let (status, _) = submit(
        &sim,
        &[
            ("form_token", &token),
            ("ctx", "Cust99999"),
            ("action", "suspend"),
        ],
    )
    .await;
    assert_eq!(status, 404);
    sim.shutdown().await;
}

#[tokio::test]
async fn forged_form_posts_are_refused() {
    let sim = demo().await;
    let (_, token) = open(&sim).await;
    let suspend = |t: &'static str| {
        vec![
            ("form_token", t),
            ("ctx", "Cust12345"),
            ("action", "suspend"),
        ]
    };
    let (status, page) = submit(&sim, &suspend("")).await;
    assert_eq!(status, 403, "{page}");
    assert!(
        text_of(&page, "error").unwrap().contains("form token"),
        "{page}"
    );
    let (status, _) = submit(&sim, &suspend("guessed")).await;
    assert_eq!(status, 403);
    let (status, _) = submit(&sim, &[("ctx", "Cust12345"), ("action", "suspend")]).await;
    assert_eq!(status, 403);

    let fields = [
        ("form_token", token.as_str()),
        ("ctx", "Cust12345"),
        ("action", "suspend"),
    ];
    // Another site's page, even with the token.
    let (status, page) = submit_with(&sim, &fields, &[("Origin", "http://evil.example")]).await;
    assert_eq!(status, 403, "{page}");
    assert!(
        text_of(&page, "error").unwrap().contains("another origin"),
        "{page}"
    );
    let (status, _) = submit_with(&sim, &fields, &[("Sec-Fetch-Site", "cross-site")]).await;
    assert_eq!(status, 403);
    assert_eq!(sim.tenant_state("Cust12345"), Some(TenantStatus::Running));
    // The page itself, as a browser sends it.
    let origin = sim.issuer();
    let (status, page) = submit_with(
        &sim,
        &fields,
        &[
            ("Origin", origin.as_str()),
            ("Sec-Fetch-Site", "same-origin"),
        ],
    )
    .await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(sim.tenant_state("Cust12345"), Some(TenantStatus::Suspended));
    // At localhost (the origin a person may type) the page works the same.
    let port = url::Url::parse(&sim.issuer()).unwrap().port().unwrap();
    let localhost = format!("localhost:{port}");
    let local_origin = format!("http://{localhost}");
    let (status, page) = submit_with(
        &sim,
        &[
            ("form_token", token.as_str()),
            ("ctx", "Cust12345"),
            ("action", "resume"),
        ],
        &[
            ("Host", localhost.as_str()),
            ("Origin", local_origin.as_str()),
        ],
    )
    .await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(sim.tenant_state("Cust12345"), Some(TenantStatus::Running));
    // A DNS name pointed at the simulator gets neither the page (with its token) nor the forms.
    let rebound = format!("rebound.example:{port}");
    let resp = client()
        .get(url(&sim, PAGE))
        .header("Host", rebound.as_str())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 403);
    let html = resp.text().await.unwrap();
    assert!(!html.contains(&token), "no token for a foreign host");
    assert!(
        text_of(&html, "error")
            .unwrap()
            .contains("IP address or localhost")
    );
    let (status, _) = submit_with(
        &sim,
        &fields,
        &[
            ("Host", rebound.as_str()),
            ("Origin", &format!("http://{rebound}")),
        ],
    )
    .await;
    assert_eq!(status, 403);
    assert_eq!(sim.tenant_state("Cust12345"), Some(TenantStatus::Running));
    // Another simulator's token is not this one's.
    let other = demo().await;
    let (_, other_token) = open(&other).await;
    assert_ne!(other_token, token);
    other.shutdown().await;
    sim.shutdown().await;
}
