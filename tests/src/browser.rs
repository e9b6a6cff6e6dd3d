//! Headless Chromium (Debian's package) driven through chromedriver, for tests of pages people use.
//! No browser is downloaded: `scripts/test` installs `chromium` and `chromium-driver` with apt.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder};

pub struct Browser {
    pub client: Client,
    // Dropped in this order: the session handle, then the driver's process group, then the profile
    // folder the (by then killed) browser wrote to.
    _driver: Driver,
    _profile: tempfile::TempDir,
}

/// chromedriver in its own process group. Dropping it kills the whole group (the driver and the
/// Chromium it started), so nothing outlives a test, whichever step fails: it owns the process from
/// the moment it is spawned, before the session is even connected.
struct Driver(Child);

impl Drop for Driver {
    fn drop(&mut self) {
        let group = format!("-{}", self.0.id());
        let _ = Command::new("kill").args(["-9", "--", &group]).status();
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

impl Browser {
    /// Starts chromedriver and a headless Chromium session. Fails with a clear message when either is
    /// missing.
    pub async fn start() -> Browser {
        Self::start_with(&[]).await
    }

    /// [`Browser::start`] with more Chromium switches (for example
    /// `--test-third-party-cookie-phaseout`, which blocks third-party cookies as browsers do by
    /// default or are moving to).
    pub async fn start_with(extra_args: &[&str]) -> Browser {
        for (bin, package) in [
            ("/usr/bin/chromium", "chromium"),
            ("/usr/bin/chromedriver", "chromium-driver"),
        ] {
            assert!(
                std::path::Path::new(bin).exists(),
                "this test needs {bin}: run it through scripts/test, which installs Debian's {package}"
            );
        }
        // Made before the driver starts, so on a panic below the driver's group is killed first (locals
        // drop in reverse order) and only then is the folder removed.
        let profile = tempfile::tempdir().expect("profile dir");
        let port = free_port();
        // Its own process group, guarded from here on: if connecting fails or any step below panics,
        // dropping the guard kills the driver and the browser.
        use std::os::unix::process::CommandExt;
        let driver = Driver(
            Command::new("/usr/bin/chromedriver")
                .arg(format!("--port={port}"))
                .process_group(0)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("chromedriver starts"),
        );
        let mut args: Vec<String> = [
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-quic",
            "--window-size=1200,900",
        ]
        .into_iter()
        .chain(extra_args.iter().copied())
        .map(str::to_owned)
        .collect();
        args.push(format!("--user-data-dir={}", profile.path().display()));
        let mut caps = serde_json::Map::new();
        caps.insert(
            "goog:chromeOptions".into(),
            serde_json::json!({
                "binary": "/usr/bin/chromium",
                "args": args,
            }),
        );
        let url = format!("http://127.0.0.1:{port}");
        let started = Instant::now();
        let client = loop {
            match ClientBuilder::rustls()
                .expect("tls roots")
                .capabilities(caps.clone())
                .connect(&url)
                .await
            {
                Ok(c) => break c,
                Err(_) if started.elapsed() < Duration::from_secs(20) => {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(e) => panic!("chromedriver did not start a Chromium session: {e}"),
            }
        };
        Browser {
            client,
            _driver: driver,
            _profile: profile,
        }
    }

    /// The element `css` once it appears (within `secs`); fails the test, naming it, when it does not.
    pub async fn wait_for(&self, css: &str, secs: u64) -> fantoccini::elements::Element {
        self.client
            .wait()
            .at_most(Duration::from_secs(secs))
            .for_element(fantoccini::Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("{css} did not appear: {e}"))
    }

    /// Saves a screenshot of the window as `{shots}/{name}.png` (a folder in the target folder, for a
    /// person to look at) and returns the text a person reads in the current frame, checked for the app's
    /// internals: a customer page never shows URL templates, ProgIds, raw list syntax, tenant ids,
    /// tenant states as SuperOffice spells them, or the app's own address.
    pub async fn look(&self, shots: &str, name: &str) -> String {
        let png = self.client.screenshot().await.unwrap();
        assert!(png.starts_with(b"\x89PNG"), "a PNG screenshot");
        let dir = std::path::Path::new(shots);
        std::fs::create_dir_all(dir).unwrap();
        std::fs::write(dir.join(format!("{name}.png")), png).unwrap();
        let text = self
            .client
            .find(fantoccini::Locator::Css("body"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        for internal in [
            "<uctx>",
            "<usid>",
            "DemoPartnerApp.",
            "NO:\"",
            "UDefFieldId",
            "ProgId",
            "OfflineMaintenance",
            "Cust12345",
            "http://127.0.0.1",
        ] {
            assert!(
                !text.contains(internal),
                "{name}: a customer page shows {internal:?}:\n{text}"
            );
        }
        text
    }

    pub async fn stop(self) {
        let _ = self.client.clone().close().await;
        // Dropping the driver guard kills what is left of the process group.
    }
}
