//! What invokes the worker function: a batch from the jobs queue, or the schedule's rollout tick.
//!
//! The tick is recognised by its exact shape (`{"action":"rollout"}`, the schedule's fixed input),
//! tried before the SQS batch; anything else must be an SQS event, so a stray or malformed event
//! fails to parse (the invocation errors and is counted) instead of being taken for a batch.

use aws_lambda_events::sqs::SqsEvent;
use serde::Deserialize;

#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum WorkerEvent {
    Scheduled(Scheduled),
    Jobs(SqsEvent),
}

/// The schedule's input.
#[derive(Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Scheduled {
    pub action: Action,
}

#[derive(Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// One tick of the rollout of this release's manifest (`app::rollout`).
    Rollout,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_schedules_input_is_a_rollout_tick() {
        let e: WorkerEvent = serde_json::from_str(r#"{"action":"rollout"}"#).unwrap();
        assert!(matches!(
            e,
            WorkerEvent::Scheduled(Scheduled {
                action: Action::Rollout
            })
        ));
    }

    #[test]
    fn an_sqs_batch_is_a_batch() {
        let body = r#"{"Records":[{"messageId":"m1","receiptHandle":"r1","body":"{}","attributes":{"MessageGroupId":"Cust1","ApproximateReceiveCount":"1"},"messageAttributes":{},"eventSource":"aws:sqs","eventSourceARN":"arn:aws:sqs:eu-west-1:123456789012:q.fifo","awsRegion":"eu-west-1"}]}"#;
        match serde_json::from_str::<WorkerEvent>(body).unwrap() {
            WorkerEvent::Jobs(batch) => assert_eq!(batch.records.len(), 1),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn an_unknown_action_or_extra_field_is_refused_not_taken_for_a_batch() {
        for body in [
            r#"{"action":"backup"}"#,
            r#"{"action":"rollout","tenant":"Cust1"}"#,
            r#"{"action":"ROLLOUT"}"#,
            r#"{}"#,
        ] {
            assert!(serde_json::from_str::<WorkerEvent>(body).is_err(), "{body}");
        }
    }
}
