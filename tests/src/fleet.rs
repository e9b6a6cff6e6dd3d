//! Many simulated tenants with the app installed through the real worker on the in-process queue:
//! what the rollout test and benchmark start from. Each tenant has an administrator and has
//! approved the app; its system token is sealed and recorded as the callback would.

use std::sync::Arc;
use std::time::{Duration, Instant};

use domain::jobs::{Job, JobQueue};
use domain::manifest::Manifest;
use domain::sealing::{self, Sealer};
use domain::tenant::{Consent, InstallStatus, Tenant, Tenants};
use domain::{Deployment, TenantId};
use superoffice_simulator::{
    FaultAction, FaultRule, Route, Simulator, SimulatorConfig, SimulatorHandle, TenantConfig,
    UserConfig,
};

use crate::{CLIENT_ID, CLIENT_SECRET, REDIRECT, app_registration, partner_key_pem};

pub struct Fleet {
    pub sim: SimulatorHandle,
    pub deployment: Deployment<app::local::Local>,
    pub ids: Vec<TenantId>,
    worker: Option<tokio::task::JoinHandle<()>>,
    _dir: tempfile::TempDir,
}

pub fn tenant_name(i: usize) -> String {
    format!("Fleet{i:05}")
}

/// The demo manifest without its webhook (no receiver listens here).
pub fn v1() -> Manifest {
    let mut m = Manifest::demo();
    m.webhooks.clear();
    m.app.version = Some("1".into());
    m
}

/// Release 2 of [`v1`]: a new field, the contact panel on another page, the preference dropped.
pub fn v2() -> Manifest {
    let mut m = v1();
    m.app.version = Some("2".into());
    m.web_panels[0].path = "/panels/home?ctx=<uctx>&user=<usid>".into();
    m.preferences.clear();
    let mut segment = m.user_defined_fields[0].clone();
    segment.prog_id = "DemoPartnerApp.Segment".into();
    segment.field_type = "ShortText".into();
    segment.label = "Segment".into();
    segment.short_label = String::new();
    segment.text_length = Some(40);
    m.user_defined_fields.push(segment);
    m
}

impl Fleet {
    /// `n` tenants in the simulator (answering after `latency`), the app deployed with `manifest`
    /// and `settings` (APP_* variables), its worker serving the queue. Nothing installed yet.
    pub async fn start(
        n: usize,
        manifest: Manifest,
        latency: Duration,
        settings: &[(&str, &str)],
    ) -> Fleet {
        let mut config = SimulatorConfig::demo(app_registration(vec![REDIRECT.into()]));
        config.tenants = (0..n)
            .map(|i| TenantConfig {
                context_id: tenant_name(i),
                company_name: format!("Fleet Company {i}"),
                serial: format!("{}", 1_800_000_000 + i),
                shard: "sod2".into(),
                users: vec![UserConfig {
                    email: format!("admin{i}@fleet.example"),
                    associate_id: 5,
                    first_name: "Admin".into(),
                    last_name: format!("{i}"),
                    initials: "AF".into(),
                    is_administrator: true,
                }],
            })
            .collect();
        let sim = Simulator::start(config, "127.0.0.1:0".parse().unwrap())
            .await
            .expect("the simulator starts on loopback");
        if !latency.is_zero() {
            for route in [Route::WebApi, Route::TenantState, Route::SystemUser] {
                sim.faults()
                    .push(FaultRule::new(route, FaultAction::Latency(latency)));
            }
        }
        let dir = tempfile::tempdir().unwrap();
        let key = dir.path().join("system-user-key.pem");
        std::fs::write(&key, partner_key_pem()).unwrap();
        let mut vars: Vec<(String, String)> = vec![
            ("SO_ENVIRONMENT".into(), sim.issuer()),
            ("SO_CLIENT_ID".into(), CLIENT_ID.into()),
            ("SO_CLIENT_SECRET".into(), CLIENT_SECRET.into()),
            ("SO_SYSTEM_USER_KEY_FILE".into(), key.display().to_string()),
            ("APP_BASE_URL".into(), "http://127.0.0.1:9".into()),
            (
                "APP_DATA_DIR".into(),
                dir.path().join("store").display().to_string(),
            ),
        ];
        for (k, v) in settings {
            vars.retain(|(n, _)| n != k);
            vars.push(((*k).into(), (*v).into()));
        }
        let config = domain::config::AppConfig::from_lookup(|k| {
            vars.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone())
        })
        .expect("the fleet's configuration");
        let deployment = app::local::deployment(
            Arc::new(config),
            Arc::new(manifest),
            Duration::from_secs(120),
        )
        .expect("the local deployment");
        let worker = deployment.queue.serve(app::worker::lazy(&deployment));
        let ids = (0..n)
            .map(|i| TenantId::parse(&tenant_name(i)).unwrap())
            .collect();
        Fleet {
            sim,
            deployment,
            ids,
            worker: Some(worker),
            _dir: dir,
        }
    }

    pub fn tenants(&self) -> Tenants<adapters::local::embedded::EmbeddedItems> {
        Tenants::new(self.deployment.items.clone())
    }

    /// Consent recorded and the install queued for every tenant, then waits until all are
    /// installed.
    pub async fn install_all(&self) {
        let tenants = self.tenants();
        for (i, t) in self.ids.iter().enumerate() {
            self.sim.grant_consent(t.as_str(), CLIENT_ID);
            let token =
                superoffice::Secret::new(self.sim.system_token(t.as_str(), CLIENT_ID).unwrap());
            let sealed = self
                .deployment
                .sealer
                .seal(&token, &sealing::context(t, "system_token"))
                .await
                .unwrap();
            tenants
                .record_consent(
                    &Consent {
                        tenant: t.clone(),
                        company: None,
                        sealed_system_token: sealed,
                        approved_by: format!("admin{i}"),
                    },
                    0,
                )
                .await
                .unwrap();
            tenants
                .update(t, 0, |r| r.status = InstallStatus::Queued)
                .await
                .unwrap();
            self.deployment
                .queue
                .send(&Job::install(t, "fleet"))
                .await
                .unwrap();
        }
        self.wait_until(Duration::from_secs(900), "installed", |r| {
            r.is_some_and(|r| r.status == InstallStatus::Installed)
        })
        .await;
    }

    /// A new release: the worker restarts with `manifest` (as a deploy replaces the function's
    /// code), on the same store and queue.
    pub fn deploy(&mut self, manifest: Manifest) {
        if let Some(w) = self.worker.take() {
            w.abort();
        }
        self.deployment.manifest = Arc::new(manifest);
        self.worker = Some(
            self.deployment
                .queue
                .serve(app::worker::lazy(&self.deployment)),
        );
    }

    /// Every tenant's record, in id order.
    pub async fn records(&self) -> Vec<Option<Tenant>> {
        let tenants = self.tenants();
        let mut out = Vec::new();
        for t in &self.ids {
            out.push(tenants.get(t, 0).await.unwrap().map(|v| v.value));
        }
        out
    }

    /// Waits until `done` holds for every tenant's record; panics after `limit` with `what`.
    pub async fn wait_until(
        &self,
        limit: Duration,
        what: &str,
        done: impl Fn(Option<&Tenant>) -> bool,
    ) {
        let started = Instant::now();
        loop {
            let records = self.records().await;
            if records.iter().all(|r| done(r.as_ref())) {
                return;
            }
            assert!(
                started.elapsed() < limit,
                "not every tenant {what} after {limit:?}: {:?}",
                records
                    .iter()
                    .zip(&self.ids)
                    .filter(|(r, _)| !done(r.as_ref()))
                    .map(|(r, id)| (id.as_str(), r.as_ref().map(|r| r.status)))
                    .collect::<Vec<_>>()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub async fn stop(mut self) {
        if let Some(w) = self.worker.take() {
            w.abort();
            let _ = w.await;
        }
        self.sim.shutdown().await;
    }
}
