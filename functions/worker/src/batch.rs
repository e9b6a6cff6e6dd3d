//! One SQS batch as the worker handles it.
//!
//! * A record whose body is not a job is logged and deleted: no retry can mend it, and cycling it
//!   through the queue would only delay the jobs behind it.
//! * A job that must wait is put back: its message is made invisible for the wait (never slept on)
//!   and reported as a batch item failure, so SQS delivers it again then.
//! * FIFO order per tenant holds: once a job of a message group goes back, the later records of
//!   that group in the batch go back unprocessed too.
//! * Nothing starts too close to the Lambda's deadline: records that cannot be started with
//!   [`DEADLINE_MARGIN`] left go back unprocessed (they come back after the visibility timeout).
//! * A record that must go back but has no message id cannot be reported alone: the whole
//!   invocation fails, so SQS redelivers the batch (every job is idempotent through the ledger).
//!
//! The queue's `ApproximateReceiveCount` is the job's delivery count: the domain's worker stops a job
//! with a message for the administrator before the queue's delivery limit sends it to the
//! dead-letter queue.

use std::collections::HashSet;
use std::future::Future;
use std::time::{Duration, SystemTime};

use adapters::aws::sqs::SqsQueue;
use aws_lambda_events::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent, SqsMessage};
use domain::jobs::{Job, JobHandler, Outcome, QueueError};

/// Time kept back from the Lambda deadline for recording the outcome.
pub const DEADLINE_MARGIN: Duration = Duration::from_secs(10);

/// Putting a received message back for a while (SQS `ChangeMessageVisibility`).
pub trait Redeliver: Send + Sync {
    fn retry_after(
        &self,
        receipt_handle: &str,
        wait: Duration,
    ) -> impl Future<Output = Result<(), QueueError>> + Send;
}

impl Redeliver for SqsQueue {
    fn retry_after(
        &self,
        receipt_handle: &str,
        wait: Duration,
    ) -> impl Future<Output = Result<(), QueueError>> + Send {
        SqsQueue::retry_after(self, receipt_handle, wait)
    }
}

/// The batch could not be answered record by record.
#[derive(Debug, thiserror::Error)]
#[error("a job must be retried but its message has no id; the whole batch is retried")]
pub struct UnreportableFailure;

/// Handles one batch; `deadline` is when the Lambda invocation ends.
pub async fn handle<H: JobHandler, R: Redeliver>(
    worker: &H,
    queue: &R,
    event: SqsEvent,
    deadline: SystemTime,
) -> Result<SqsBatchResponse, UnreportableFailure> {
    let work_until = deadline
        .checked_sub(DEADLINE_MARGIN)
        .unwrap_or(SystemTime::UNIX_EPOCH);
    let mut response = SqsBatchResponse::default();
    let mut held_groups: HashSet<String> = HashSet::new();
    for record in event.records {
        let group = record.attributes.get("MessageGroupId").cloned();
        let job: Job = match record.body.as_deref().map(serde_json::from_str) {
            Some(Ok(job)) => job,
            _ => {
                tracing::error!(
                    reason = "bad_job_message",
                    message_id = record.message_id.as_deref().unwrap_or(""),
                    "not a job; deleted"
                );
                continue;
            }
        };
        let held = group.as_ref().is_some_and(|g| held_groups.contains(g));
        if held || SystemTime::now() >= work_until {
            tracing::info!(
                reason = if held { "group_held" } else { "no_time_left" },
                tenant = %job.tenant,
                "job goes back unprocessed"
            );
            fail(&mut response, &record)?;
            if let Some(g) = group {
                held_groups.insert(g);
            }
            continue;
        }
        let delivery = record
            .attributes
            .get("ApproximateReceiveCount")
            .and_then(|n| n.parse().ok())
            .unwrap_or(1);
        if let Outcome::RetryAfter(wait) = worker.process(&job, delivery, work_until).await {
            if let Some(receipt) = record.receipt_handle.as_deref()
                && let Err(e) = queue.retry_after(receipt, wait).await
            {
                tracing::warn!(error = %e, "visibility not changed; the queue's own timeout applies");
            }
            fail(&mut response, &record)?;
            if let Some(g) = group {
                held_groups.insert(g);
            }
        }
    }
    Ok(response)
}

fn fail(response: &mut SqsBatchResponse, record: &SqsMessage) -> Result<(), UnreportableFailure> {
    let id = record
        .message_id
        .clone()
        .filter(|id| !id.is_empty())
        .ok_or(UnreportableFailure)?;
    let mut failure = BatchItemFailure::default();
    failure.item_identifier = id;
    response.batch_item_failures.push(failure);
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::sync::Mutex;

    use domain::TenantId;
    use domain::jobs::JobKind;

    use super::*;

    /// Records what it was given; answers per tenant.
    #[derive(Default)]
    struct FakeWorker {
        seen: Mutex<Vec<(String, u32, SystemTime)>>,
        wait_for: HashMap<String, Duration>,
    }

    impl JobHandler for FakeWorker {
        async fn process(&self, job: &Job, delivery: u32, deadline: SystemTime) -> Outcome {
            self.seen
                .lock()
                .unwrap()
                .push((job.id.clone(), delivery, deadline));
            match self.wait_for.get(job.tenant.as_str()) {
                Some(w) => Outcome::RetryAfter(*w),
                None => Outcome::Done,
            }
        }
    }

    #[derive(Default)]
    struct FakeQueue {
        put_back: Mutex<Vec<(String, Duration)>>,
    }

    impl Redeliver for FakeQueue {
        async fn retry_after(&self, receipt: &str, wait: Duration) -> Result<(), QueueError> {
            self.put_back
                .lock()
                .unwrap()
                .push((receipt.to_owned(), wait));
            Ok(())
        }
    }

    fn record(id: Option<&str>, tenant: &str, job_id: &str, receives: u32) -> SqsMessage {
        let job = Job {
            id: job_id.into(),
            tenant: TenantId::parse(tenant).unwrap(),
            kind: JobKind::Install,
        };
        let mut m = SqsMessage::default();
        m.message_id = id.map(str::to_owned);
        m.receipt_handle = Some(format!("receipt-{job_id}"));
        m.body = Some(serde_json::to_string(&job).unwrap());
        m.attributes
            .insert("ApproximateReceiveCount".into(), receives.to_string());
        m.attributes.insert("MessageGroupId".into(), tenant.into());
        m
    }

    fn batch(records: Vec<SqsMessage>) -> SqsEvent {
        let mut e = SqsEvent::default();
        e.records = records;
        e
    }

    fn failed(r: &SqsBatchResponse) -> Vec<&str> {
        r.batch_item_failures
            .iter()
            .map(|f| f.item_identifier.as_str())
            .collect()
    }

    fn far() -> SystemTime {
        SystemTime::now() + Duration::from_secs(900)
    }

    #[tokio::test]
    async fn a_job_that_must_wait_is_put_back_for_its_wait_and_reported() {
        let worker = FakeWorker {
            wait_for: HashMap::from([("Cust1".into(), Duration::from_secs(42))]),
            ..Default::default()
        };
        let queue = FakeQueue::default();
        let deadline = far();
        let r = handle(
            &worker,
            &queue,
            batch(vec![
                record(Some("m1"), "Cust1", "j1", 3),
                record(Some("m2"), "Cust2", "j2", 1),
            ]),
            deadline,
        )
        .await
        .unwrap();
        assert_eq!(failed(&r), ["m1"]);
        assert_eq!(
            *queue.put_back.lock().unwrap(),
            [("receipt-j1".to_owned(), Duration::from_secs(42))]
        );
        let seen = worker.seen.lock().unwrap();
        assert_eq!(seen[0].0, "j1");
        assert_eq!(seen[0].1, 3, "the receive count is the delivery");
        assert_eq!(
            seen[0].2,
            deadline - DEADLINE_MARGIN,
            "the job's deadline keeps the margin"
        );
        assert_eq!(seen[1].0, "j2", "another tenant's job still runs");
    }

    #[tokio::test]
    async fn later_jobs_of_a_tenant_whose_job_went_back_go_back_unprocessed() {
        let worker = FakeWorker {
            wait_for: HashMap::from([("Cust1".into(), Duration::from_secs(5))]),
            ..Default::default()
        };
        let r = handle(
            &worker,
            &FakeQueue::default(),
            batch(vec![
                record(Some("m1"), "Cust1", "j1", 1),
                record(Some("m2"), "Cust1", "j2", 1),
            ]),
            far(),
        )
        .await
        .unwrap();
        assert_eq!(failed(&r), ["m1", "m2"], "FIFO order per tenant holds");
        assert_eq!(worker.seen.lock().unwrap().len(), 1, "j2 never ran");
    }

    #[tokio::test]
    async fn a_message_that_is_not_a_job_is_deleted_not_retried() {
        let worker = FakeWorker::default();
        let mut junk = SqsMessage::default();
        junk.message_id = Some("junk".into());
        junk.body = Some("{\"not\":\"a job\"}".into());
        let mut empty = SqsMessage::default();
        empty.message_id = Some("empty".into());
        let r = handle(
            &worker,
            &FakeQueue::default(),
            batch(vec![junk, empty, record(Some("m1"), "Cust1", "j1", 1)]),
            far(),
        )
        .await
        .unwrap();
        assert!(failed(&r).is_empty());
        assert_eq!(worker.seen.lock().unwrap().len(), 1);
    }

    #[tokio::test]
    async fn nothing_starts_inside_the_deadline_margin() {
        let worker = FakeWorker::default();
        let r = handle(
            &worker,
            &FakeQueue::default(),
            batch(vec![record(Some("m1"), "Cust1", "j1", 1)]),
            SystemTime::now() + DEADLINE_MARGIN / 2,
        )
        .await
        .unwrap();
        assert_eq!(failed(&r), ["m1"]);
        assert!(worker.seen.lock().unwrap().is_empty());
    }

    #[tokio::test]
    async fn a_retry_without_a_message_id_fails_the_whole_batch() {
        let worker = FakeWorker {
            wait_for: HashMap::from([("Cust1".into(), Duration::from_secs(5))]),
            ..Default::default()
        };
        let r = handle(
            &worker,
            &FakeQueue::default(),
            batch(vec![record(None, "Cust1", "j1", 1)]),
            far(),
        )
        .await;
        assert!(r.is_err());
        // A finished job without an id needs no report.
        let r = handle(
            &FakeWorker::default(),
            &FakeQueue::default(),
            batch(vec![record(None, "Cust2", "j2", 1)]),
            far(),
        )
        .await
        .unwrap();
        assert!(failed(&r).is_empty());
    }
}
