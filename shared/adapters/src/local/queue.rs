//! An in-process queue with the semantics of SQS FIFO as the app uses it: one job in flight per
//! tenant, deduplication by id for five minutes, delayed redelivery instead of sleeping, and
//! redelivery after a visibility timeout when a handler crashes or runs too long.

use std::collections::{HashMap, HashSet, VecDeque};
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use domain::TenantId;
use domain::jobs::{Job, JobHandler, JobQueue, Outcome, QueueError};

const DEDUPLICATION: Duration = Duration::from_secs(300);

struct Entry {
    job: Job,
    visible_at: Instant,
    receives: u32,
}

#[derive(Default)]
struct State {
    waiting: VecDeque<Entry>,
    in_flight: HashSet<TenantId>,
    seen: HashMap<String, Instant>,
    /// Every delivery, for tests: (job id, tenant).
    deliveries: Vec<(String, TenantId)>,
}

#[derive(Clone)]
pub struct LocalQueue {
    state: Arc<Mutex<State>>,
    wake: Arc<tokio::sync::Notify>,
    /// How long a delivered job may run before it is delivered again (the Lambda timeout).
    visibility: Duration,
}

/// Runs one delivery: the job, its delivery count (1 for the first), and its deadline.
pub type Handler = Arc<
    dyn Fn(Job, u32, SystemTime) -> Pin<Box<dyn Future<Output = Outcome> + Send>> + Send + Sync,
>;

impl LocalQueue {
    pub fn new(visibility: Duration) -> Self {
        Self {
            state: Arc::default(),
            wake: Arc::default(),
            visibility,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Jobs delivered so far (id, tenant), in order.
    pub fn deliveries(&self) -> Vec<(String, TenantId)> {
        self.lock().deliveries.clone()
    }

    /// Jobs waiting or in flight.
    pub fn pending(&self) -> usize {
        let s = self.lock();
        s.waiting.len() + s.in_flight.len()
    }

    /// Runs `handler` on jobs until the returned task is aborted. Each delivery gets a deadline
    /// (now + visibility); a handler still running at its deadline is abandoned and its job delivered
    /// again, like a Lambda that timed out.
    pub fn run(&self, handler: Handler) -> tokio::task::JoinHandle<()> {
        let queue = self.clone();
        tokio::spawn(async move {
            loop {
                let next = {
                    let mut s = queue.lock();
                    let now = Instant::now();
                    let pos = s
                        .waiting
                        .iter()
                        .position(|e| e.visible_at <= now && !s.in_flight.contains(&e.job.tenant));
                    match pos.and_then(|p| s.waiting.remove(p)) {
                        Some(mut e) => {
                            e.receives += 1;
                            s.in_flight.insert(e.job.tenant.clone());
                            s.deliveries.push((e.job.id.clone(), e.job.tenant.clone()));
                            Ok(e)
                        }
                        None => Err(s
                            .waiting
                            .iter()
                            .filter(|e| !s.in_flight.contains(&e.job.tenant))
                            .map(|e| e.visible_at)
                            .min()),
                    }
                };
                match next {
                    Ok(entry) => {
                        let queue = queue.clone();
                        let handler = handler.clone();
                        tokio::spawn(async move {
                            let deadline = SystemTime::now() + queue.visibility;
                            let work = handler(entry.job.clone(), entry.receives, deadline);
                            let outcome = tokio::time::timeout(queue.visibility, work).await;
                            let mut s = queue.lock();
                            s.in_flight.remove(&entry.job.tenant);
                            match outcome {
                                Ok(Outcome::Done) => {}
                                Ok(Outcome::RetryAfter(wait)) => s.waiting.push_front(Entry {
                                    visible_at: Instant::now() + wait,
                                    ..entry
                                }),
                                // Timed out: delivered again at once (its visibility has passed).
                                Err(_) => s.waiting.push_front(Entry {
                                    visible_at: Instant::now(),
                                    ..entry
                                }),
                            }
                            drop(s);
                            queue.wake.notify_one();
                        });
                    }
                    Err(Some(at)) => {
                        let wait = at.saturating_duration_since(Instant::now());
                        let _ = tokio::time::timeout(wait, queue.wake.notified()).await;
                    }
                    Err(None) => queue.wake.notified().await,
                }
            }
        })
    }
}

impl LocalQueue {
    /// Runs `handler`'s jobs until the returned task is aborted (see [`LocalQueue::run`]).
    pub fn serve<H: JobHandler>(&self, handler: Arc<H>) -> tokio::task::JoinHandle<()> {
        self.run(Arc::new(move |job: Job, delivery, deadline| {
            let handler = handler.clone();
            Box::pin(async move { handler.process(&job, delivery, deadline).await })
        }))
    }
}

impl JobQueue for LocalQueue {
    async fn send(&self, job: &Job) -> Result<(), QueueError> {
        {
            let mut s = self.lock();
            let now = Instant::now();
            s.seen
                .retain(|_, at| now.duration_since(*at) < DEDUPLICATION);
            if s.seen.contains_key(&job.id) {
                return Ok(());
            }
            s.seen.insert(job.id.clone(), now);
            s.waiting.push_back(Entry {
                job: job.clone(),
                visible_at: now,
                receives: 0,
            });
        }
        self.wake.notify_one();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use domain::jobs::JobKind;
    use std::sync::atomic::{AtomicU32, Ordering};

    fn job(id: &str, tenant: &str) -> Job {
        Job {
            id: id.into(),
            tenant: TenantId::parse(tenant).unwrap(),
            kind: JobKind::Install,
        }
    }

    #[tokio::test]
    async fn one_job_per_tenant_at_a_time_other_tenants_in_parallel_and_duplicates_dropped() {
        let q = LocalQueue::new(Duration::from_secs(5));
        let running: Arc<Mutex<HashMap<TenantId, u32>>> = Arc::default();
        let max_same_tenant = Arc::new(AtomicU32::new(0));
        let done = Arc::new(AtomicU32::new(0));
        let (r, m, d) = (running.clone(), max_same_tenant.clone(), done.clone());
        let task = q.run(Arc::new(move |job: Job, _, _| {
            let (r, m, d) = (r.clone(), m.clone(), d.clone());
            Box::pin(async move {
                let n = {
                    let mut g = r.lock().unwrap();
                    let n = g.entry(job.tenant.clone()).or_default();
                    *n += 1;
                    *n
                };
                m.fetch_max(n, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(20)).await;
                *r.lock().unwrap().get_mut(&job.tenant).unwrap() -= 1;
                d.fetch_add(1, Ordering::SeqCst);
                Outcome::Done
            })
        }));
        for (id, tenant) in [
            ("a1", "CustA1"),
            ("a2", "CustA1"),
            ("a1", "CustA1"),
            ("b1", "CustB2"),
            ("a3", "CustA1"),
        ] {
            q.send(&job(id, tenant)).await.unwrap();
        }
        for _ in 0..100 {
            if done.load(Ordering::SeqCst) == 4 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(done.load(Ordering::SeqCst), 4, "a1 sent twice is one job");
        assert_eq!(max_same_tenant.load(Ordering::SeqCst), 1);
        task.abort();
    }

    #[tokio::test]
    async fn a_job_that_must_wait_comes_back_after_the_wait_and_a_stuck_one_after_the_timeout() {
        let q = LocalQueue::new(Duration::from_millis(200));
        let calls = Arc::new(AtomicU32::new(0));
        let c = calls.clone();
        let started = Instant::now();
        let task = q.run(Arc::new(move |_job, _, _| {
            let c = c.clone();
            Box::pin(async move {
                match c.fetch_add(1, Ordering::SeqCst) {
                    0 => Outcome::RetryAfter(Duration::from_millis(100)),
                    1 => {
                        // A crash-like hang: abandoned at the visibility timeout.
                        std::future::pending::<()>().await;
                        Outcome::Done
                    }
                    _ => Outcome::Done,
                }
            })
        }));
        q.send(&job("j", "CustA1")).await.unwrap();
        for _ in 0..100 {
            if calls.load(Ordering::SeqCst) >= 3 && q.pending() == 0 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(calls.load(Ordering::SeqCst), 3);
        assert!(
            started.elapsed() >= Duration::from_millis(300),
            "waited 100 ms, then 200 ms"
        );
        assert_eq!(q.deliveries().len(), 3);
        task.abort();
    }
}
