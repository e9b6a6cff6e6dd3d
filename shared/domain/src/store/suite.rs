//! One test suite for every storage adapter: the semantics the app relies on, asserted the same way
//! against the embedded database and against DynamoDB (the AWS API emulator in tests).
//!
//! Each case uses its own random partition keys, so the suite can run against a shared table.

use std::sync::Arc;

use serde_json::json;
use superoffice::Secret;

use super::{Item, Items, StoreError};
use crate::signin::{Intent, PendingSignIn, Session, Sessions, SignIns};

const NOW: i64 = 1_800_000_000;

fn unique(prefix: &str) -> String {
    format!(
        "{prefix}#{}",
        superoffice::oidc::random_token().expect("randomness")
    )
}

/// Runs every case; panics with the case name on the first failure.
pub async fn run_all<I: Items>(items: Arc<I>) {
    create_is_conditional(&*items).await;
    expired_items_are_absent_and_replaceable(&*items).await;
    take_hands_an_item_out_once(&*items).await;
    concurrent_takes_yield_exactly_one(items.clone()).await;
    versioned_writes_detect_concurrent_changes(&*items).await;
    put_replaces_and_delete_is_idempotent(&*items).await;
    query_returns_one_partition_in_order_without_expired(&*items).await;
    query_pages_walk_a_partition_and_resume_from_a_cursor(&*items).await;
    partitions_are_listed_by_their_head_item_a_page_at_a_time(&*items).await;
    sign_ins_are_finished_once(items.clone()).await;
    concurrent_callbacks_with_one_state_give_one_winner(items.clone()).await;
    sessions_expire_and_end(items.clone()).await;
}

pub async fn create_is_conditional<I: Items>(items: &I) {
    let pk = unique("T");
    let item = Item::new(&pk, "A", json!({"n": 1}));
    items.put_new(&item, NOW).await.expect("create");
    let again = items
        .put_new(&Item::new(&pk, "A", json!({"n": 2})), NOW)
        .await;
    assert!(
        matches!(again, Err(StoreError::AlreadyExists)),
        "create_is_conditional: {again:?}"
    );
    let got = items.get(&pk, "A", NOW).await.unwrap().expect("stored");
    assert_eq!(
        got.data,
        json!({"n": 1}),
        "create_is_conditional: the first write stays"
    );
    assert_eq!(got.version, 1);
}

pub async fn expired_items_are_absent_and_replaceable<I: Items>(items: &I) {
    let pk = unique("T");
    let item = Item::new(&pk, "A", json!({"n": 1})).expiring_at(NOW + 10);
    items.put_new(&item, NOW).await.unwrap();
    assert!(items.get(&pk, "A", NOW + 9).await.unwrap().is_some());
    assert!(
        items.get(&pk, "A", NOW + 10).await.unwrap().is_none(),
        "expired at its expiry time"
    );
    assert!(
        items.take(&pk, "A", NOW + 11).await.unwrap().is_none(),
        "an expired item cannot be taken"
    );
    items
        .put_new(&Item::new(&pk, "A", json!({"n": 2})), NOW + 11)
        .await
        .expect("an expired item may be replaced by a create");
    assert_eq!(
        items.get(&pk, "A", NOW + 12).await.unwrap().unwrap().data,
        json!({"n": 2})
    );
}

pub async fn take_hands_an_item_out_once<I: Items>(items: &I) {
    let pk = unique("T");
    items
        .put_new(&Item::new(&pk, "A", json!("x")), NOW)
        .await
        .unwrap();
    let first = items.take(&pk, "A", NOW).await.unwrap();
    assert_eq!(first.map(|i| i.data), Some(json!("x")));
    assert!(
        items.take(&pk, "A", NOW).await.unwrap().is_none(),
        "take_once: second take"
    );
    assert!(items.get(&pk, "A", NOW).await.unwrap().is_none());
}

pub async fn concurrent_takes_yield_exactly_one<I: Items>(items: Arc<I>) {
    let pk = unique("T");
    items
        .put_new(&Item::new(&pk, "A", json!("x")), NOW)
        .await
        .unwrap();
    let mut tasks = Vec::new();
    for _ in 0..10 {
        let items = items.clone();
        let pk = pk.clone();
        tasks.push(tokio::spawn(async move { items.take(&pk, "A", NOW).await }));
    }
    let mut winners = 0;
    for t in tasks {
        if t.await.expect("task").expect("take").is_some() {
            winners += 1;
        }
    }
    assert_eq!(winners, 1, "concurrent takes: exactly one winner");
}

pub async fn versioned_writes_detect_concurrent_changes<I: Items>(items: &I) {
    let pk = unique("T");
    let mut item = Item::new(&pk, "A", json!({"n": 0}));
    items
        .put_versioned(&item)
        .await
        .expect("version 0 = absent");
    let stored = items.get(&pk, "A", NOW).await.unwrap().unwrap();
    assert_eq!(stored.version, 1);
    item.version = 0;
    item.data = json!({"n": "stale"});
    assert!(
        matches!(items.put_versioned(&item).await, Err(StoreError::Conflict)),
        "a stale version is refused"
    );
    let mut next = stored.clone();
    next.data = json!({"n": 1});
    items
        .put_versioned(&next)
        .await
        .expect("the current version");
    let after = items.get(&pk, "A", NOW).await.unwrap().unwrap();
    assert_eq!((after.version, after.data), (2, json!({"n": 1})));
}

pub async fn put_replaces_and_delete_is_idempotent<I: Items>(items: &I) {
    let pk = unique("T");
    items.put(&Item::new(&pk, "A", json!(1))).await.unwrap();
    items.put(&Item::new(&pk, "A", json!(2))).await.unwrap();
    assert_eq!(
        items.get(&pk, "A", NOW).await.unwrap().unwrap().data,
        json!(2)
    );
    items.delete(&pk, "A").await.unwrap();
    items
        .delete(&pk, "A")
        .await
        .expect("deleting an absent item is fine");
    assert!(items.get(&pk, "A", NOW).await.unwrap().is_none());
}

pub async fn query_returns_one_partition_in_order_without_expired<I: Items>(items: &I) {
    let pk = unique("T");
    let other = unique("T");
    for sk in ["ART#03", "ART#01", "ART#02", "META"] {
        items.put(&Item::new(&pk, sk, json!(sk))).await.unwrap();
    }
    items
        .put(&Item::new(&pk, "ART#04", json!("gone")).expiring_at(NOW - 1))
        .await
        .unwrap();
    items
        .put(&Item::new(&other, "ART#00", json!("other")))
        .await
        .unwrap();
    let found = items.query(&pk, "ART#", NOW).await.unwrap();
    let sks: Vec<_> = found.iter().map(|i| i.sk.as_str()).collect();
    assert_eq!(sks, ["ART#01", "ART#02", "ART#03"]);
    assert_eq!(items.query(&pk, "", NOW).await.unwrap().len(), 4);
}

pub async fn query_pages_walk_a_partition_and_resume_from_a_cursor<I: Items>(items: &I) {
    let pk = unique("T");
    for n in 1..=7 {
        items
            .put(&Item::new(&pk, format!("ROW#{n:02}"), json!(n)))
            .await
            .unwrap();
    }
    items
        .put(&Item::new(&pk, "ROW#04", json!("gone")).expiring_at(NOW - 1))
        .await
        .unwrap();
    items
        .put(&Item::new(&pk, "SIDE", json!("x")))
        .await
        .unwrap();
    // A walk in pages of 2 sees every live row once, in order, and nothing outside the prefix.
    let mut seen = Vec::new();
    let mut after: Option<String> = None;
    let mut pages = 0;
    loop {
        let page = items
            .query_page(&pk, "ROW#", after.as_deref(), 2, NOW)
            .await
            .expect("query_page");
        assert!(page.entries.len() <= 2, "a page holds at most its limit");
        seen.extend(page.entries.iter().map(|i| i.data.clone()));
        pages += 1;
        assert!(pages <= 10, "query_page never ends");
        match page.next {
            Some(next) => after = Some(next),
            None => break,
        }
    }
    assert_eq!(
        seen,
        [json!(1), json!(2), json!(3), json!(5), json!(6), json!(7)],
        "query pages: every live row once, in sort-key order"
    );
    // A walk resumed from a cursor (as in another process) starts right after it.
    let resumed = items
        .query_page(&pk, "ROW#", Some("ROW#05"), 10, NOW)
        .await
        .unwrap();
    assert_eq!(
        resumed
            .entries
            .iter()
            .map(|i| i.sk.as_str())
            .collect::<Vec<_>>(),
        ["ROW#06", "ROW#07"]
    );
    assert_eq!(resumed.next, None, "the last page says so");
    let empty = items
        .query_page(&unique("T"), "", None, 10, NOW)
        .await
        .unwrap();
    assert_eq!((empty.entries.len(), empty.next), (0, None));
}

pub async fn partitions_are_listed_by_their_head_item_a_page_at_a_time<I: Items>(items: &I) {
    // A kind of partition of our own: `{prefix}{n}` with its head item under `HEAD`.
    let prefix = format!("{}#", unique("KIND"));
    for n in ["a", "b", "c", "d", "e"] {
        let pk = format!("{prefix}{n}");
        items.put(&Item::new(&pk, "HEAD", json!(n))).await.unwrap();
        items.put(&Item::new(&pk, "ROW#1", json!(n))).await.unwrap();
    }
    // A partition without a head item, one whose head has expired, another kind: not listed.
    items
        .put(&Item::new(format!("{prefix}f"), "ROW#1", json!("f")))
        .await
        .unwrap();
    items
        .put(&Item::new(format!("{prefix}g"), "HEAD", json!("g")).expiring_at(NOW - 1))
        .await
        .unwrap();
    items
        .put(&Item::new(unique("OTHER"), "HEAD", json!("other")))
        .await
        .unwrap();
    let mut seen = Vec::new();
    let mut after: Option<String> = None;
    for _ in 0..10 {
        let page = items
            .partitions(&prefix, "HEAD", after.as_deref(), 2, NOW)
            .await
            .expect("partitions");
        assert!(page.entries.len() <= 2, "a page holds at most its limit");
        seen.extend(page.entries);
        match page.next {
            Some(next) => after = Some(next),
            None => break,
        }
    }
    let expected: Vec<String> = ["a", "b", "c", "d", "e"]
        .iter()
        .map(|n| format!("{prefix}{n}"))
        .collect();
    assert_eq!(
        seen, expected,
        "partitions: each once, in key order, only those with a live head item"
    );
    let rest = items
        .partitions(&prefix, "HEAD", Some(&expected[2]), 10, NOW)
        .await
        .unwrap();
    assert_eq!(
        rest.entries,
        expected[3..].to_vec(),
        "resumed after a cursor"
    );
}

fn pending(browser: &str) -> PendingSignIn {
    PendingSignIn {
        nonce: "nonce-1".into(),
        code_verifier: Secret::new("verifier-1"),
        browser_binding: browser.into(),
        return_to: "/".into(),
        intent: Intent::Install,
        created_at: NOW,
        expires_at: NOW + 600,
    }
}

pub async fn sign_ins_are_finished_once<I: Items>(items: Arc<I>) {
    let sign_ins = SignIns::new(items);
    let state = unique("state");
    sign_ins.start(&state, &pending("b1"), NOW).await.unwrap();
    assert!(
        sign_ins.start(&state, &pending("b2"), NOW).await.is_err(),
        "a state is never reused"
    );
    let got = sign_ins
        .finish(&state, NOW + 5)
        .await
        .unwrap()
        .expect("pending");
    assert_eq!(got, pending("b1"));
    assert!(
        sign_ins.finish(&state, NOW + 6).await.unwrap().is_none(),
        "finished once"
    );
    let late = unique("state");
    sign_ins.start(&late, &pending("b1"), NOW).await.unwrap();
    assert!(
        sign_ins.finish(&late, NOW + 601).await.unwrap().is_none(),
        "expired after 10 minutes"
    );
}

pub async fn concurrent_callbacks_with_one_state_give_one_winner<I: Items>(items: Arc<I>) {
    let sign_ins = SignIns::new(items);
    let state = unique("state");
    sign_ins.start(&state, &pending("b"), NOW).await.unwrap();
    let (a, b) = tokio::join!(sign_ins.finish(&state, NOW), sign_ins.finish(&state, NOW));
    let winners = [a.unwrap(), b.unwrap()]
        .iter()
        .filter(|p| p.is_some())
        .count();
    assert_eq!(winners, 1);
}

pub async fn sessions_expire_and_end<I: Items>(items: Arc<I>) {
    let sessions = Sessions::new(items);
    let id = unique("sid");
    let session = Session {
        subject: "ada@demo.example".into(),
        email: Some("ada@demo.example".into()),
        tenant: superoffice::TenantId::parse("Cust12345").expect("a tenant id"),
        company: Some("Demo Company AS".into()),
        associate_id: Some("5".into()),
        is_administrator: true,
        intent: Intent::SignIn,
        csrf_token: Secret::new("csrf"),
        created_at: NOW,
        expires_at: NOW + 3600,
    };
    sessions.create(&id, &session, NOW).await.unwrap();
    assert_eq!(
        sessions.find(&id, NOW + 10).await.unwrap(),
        Some(session.clone())
    );
    assert_eq!(
        sessions.find(&id, NOW + 3600).await.unwrap(),
        None,
        "expired"
    );
    assert_eq!(sessions.find("another id", NOW).await.unwrap(), None);
    sessions.end(&id, &session.tenant).await.unwrap();
    assert_eq!(sessions.find(&id, NOW + 10).await.unwrap(), None, "ended");
}
