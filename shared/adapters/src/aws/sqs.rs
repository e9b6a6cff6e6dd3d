//! SQS FIFO: the tenant is the message group, the job id the deduplication id.

use aws_sdk_sqs::Client;

use domain::jobs::{Job, JobQueue, MAX_WAIT, QueueError};

#[derive(Clone, Debug)]
pub struct SqsQueue {
    client: Client,
    /// `None` for a function that was given no queue (`APP_QUEUE_URL` unset): sending refuses.
    url: Option<String>,
}

impl SqsQueue {
    pub fn new(client: Client, url: impl Into<String>) -> Self {
        Self {
            client,
            url: Some(url.into()),
        }
    }

    /// A queue for a function that sends no jobs: every send fails with a message saying why.
    pub fn unconfigured(client: Client) -> Self {
        Self { client, url: None }
    }

    fn queue_url(&self) -> Result<&str, QueueError> {
        self.url.as_deref().ok_or_else(|| {
            QueueError::Unavailable("APP_QUEUE_URL is not set for this function".into())
        })
    }

    /// Makes a received message invisible for `wait` (capped at SQS's 12 hours), so it is delivered
    /// again then instead of being slept on.
    pub async fn retry_after(
        &self,
        receipt_handle: &str,
        wait: std::time::Duration,
    ) -> Result<(), QueueError> {
        let secs = wait.min(MAX_WAIT).as_secs().max(1) as i32;
        self.client
            .change_message_visibility()
            .queue_url(self.queue_url()?)
            .receipt_handle(receipt_handle)
            .visibility_timeout(secs)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| QueueError::Unavailable(Box::new(e)))
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    pub fn url(&self) -> Option<&str> {
        self.url.as_deref()
    }
}

impl JobQueue for SqsQueue {
    async fn send(&self, job: &Job) -> Result<(), QueueError> {
        let body = serde_json::to_string(job).map_err(|e| QueueError::Unavailable(Box::new(e)))?;
        self.client
            .send_message()
            .queue_url(self.queue_url()?)
            .message_body(body)
            .message_group_id(job.tenant.as_str())
            .message_deduplication_id(&job.id)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| QueueError::Unavailable(Box::new(e)))
    }
}
