//! A cgroup v1 `cpu` cgroup with a CFS quota, to give a function the CPU share of a small Lambda.
//!
//! Lambda allocates CPU in proportion to memory, one full vCPU at 1,769 MB; a 128 MB function gets
//! about 128/1769 = 7.2 % of one CPU, i.e. a quota of about 7,200 µs per 100,000 µs period.
//!
//! A child is moved into the cgroup between `fork` and `exec` (`pre_exec`), so everything it runs,
//! including the dynamic loader, is throttled. The closure only writes `0` ("this process") to a
//! `cgroup.procs` descriptor opened beforehand: no allocation, no locks, async-signal-safe.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub const DEFAULT_ROOT: &str = "/sys/fs/cgroup/cpu";
pub const DEFAULT_NAME: &str = "coldstart-bench";

#[derive(Debug)]
pub struct CpuCgroup {
    dir: PathBuf,
    procs: Arc<File>,
    pub quota_us: u64,
    pub period_us: u64,
}

impl CpuCgroup {
    /// Creates (or reuses) `root/name` and sets its quota and period; reads both back to be sure.
    pub fn create(root: &Path, name: &str, quota_us: u64, period_us: u64) -> Result<Self, String> {
        if !root.join("cpu.cfs_quota_us").exists() {
            return Err(format!(
                "{} is not a cgroup v1 cpu controller (no cpu.cfs_quota_us there)",
                root.display()
            ));
        }
        let dir = root.join(name);
        std::fs::create_dir_all(&dir)
            .map_err(|e| format!("cannot create cgroup {}: {e}", dir.display()))?;
        let configured = Self::configure(&dir, quota_us, period_us);
        if configured.is_err() {
            let _ = std::fs::remove_dir(&dir);
        }
        let procs = configured?;
        Ok(Self {
            dir,
            procs: Arc::new(procs),
            quota_us,
            period_us,
        })
    }

    /// Sets period and quota and opens `cgroup.procs` for the children.
    fn configure(dir: &Path, quota_us: u64, period_us: u64) -> Result<File, String> {
        let set = |file: &str, value: u64| -> Result<(), String> {
            let path = dir.join(file);
            std::fs::write(&path, value.to_string())
                .map_err(|e| format!("cannot write {value} to {}: {e}", path.display()))?;
            let back = std::fs::read_to_string(&path)
                .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
            if back.trim() != value.to_string() {
                return Err(format!(
                    "{} reads {:?} after writing {value}",
                    path.display(),
                    back.trim()
                ));
            }
            Ok(())
        };
        // Lift any old quota first so that a new, shorter period is always accepted.
        std::fs::write(dir.join("cpu.cfs_quota_us"), "-1")
            .map_err(|e| format!("cannot reset the quota of {}: {e}", dir.display()))?;
        set("cpu.cfs_period_us", period_us)?;
        set("cpu.cfs_quota_us", quota_us)?;
        let procs_path = dir.join("cgroup.procs");
        OpenOptions::new()
            .write(true)
            .open(&procs_path)
            .map_err(|e| format!("cannot open {}: {e}", procs_path.display()))
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The cgroup path as `/proc/PID/cgroup` shows it for the `cpu` controller (`/coldstart-bench`).
    pub fn name_in_hierarchy(&self) -> String {
        format!(
            "/{}",
            self.dir
                .file_name()
                .map(|n| n.to_string_lossy())
                .unwrap_or_default()
        )
    }

    /// Arranges for the child of `cmd` to join this cgroup before it execs.
    pub fn confine(&self, cmd: &mut tokio::process::Command) {
        let procs = self.procs.clone();
        // SAFETY: the closure runs in the forked child before exec. It only issues write(2) on a
        // descriptor opened by the parent (`File` opens with O_CLOEXEC, so the program never sees
        // it): no allocation, no locks. An error (an OS error code, no allocation either) makes
        // spawn fail in the parent.
        unsafe {
            cmd.pre_exec(move || (&*procs).write_all(b"0"));
        }
    }

    /// Whether `pid` is in this cgroup, from `/proc/PID/cgroup`.
    pub fn contains(&self, pid: u32) -> std::io::Result<bool> {
        let text = std::fs::read_to_string(format!("/proc/{pid}/cgroup"))?;
        let want = self.name_in_hierarchy();
        Ok(text.lines().any(|line| {
            let mut parts = line.splitn(3, ':');
            let (_, controllers, path) = (parts.next(), parts.next(), parts.next());
            controllers.is_some_and(|c| c.split(',').any(|c| c == "cpu")) && path == Some(&want)
        }))
    }

    /// Removes the cgroup directory (only possible once every child is gone); best effort.
    pub fn remove(self) {
        drop(self.procs);
        if let Err(e) = std::fs::remove_dir(&self.dir) {
            eprintln!("note: could not remove {}: {e}", self.dir.display());
        }
    }
}
