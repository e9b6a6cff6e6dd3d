//! The AWS adapters on the wire, against a loopback stand-in for the Lambda and CodeDeploy APIs: the
//! version is invoked by its qualified ARN with the payload as sent, `FunctionError` is read, Lambda's
//! and CodeDeploy's error codes are sorted into "ask again" and "give up", and the status reaches
//! CodeDeploy with the deployment's ids.

use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use deploy_check::aws::{CodeDeployReporter, LambdaInvoker};
use deploy_check::hook::{HookStatus, Invoke, InvokeError, ReportError, ReportStatus};
use serde_json::{Value, json};

#[derive(Default)]
struct Seen {
    invocations: Vec<(String, Vec<u8>)>,
    reports: Vec<Value>,
}

async fn stand_in(
    State(seen): State<Arc<Mutex<Seen>>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    assert_eq!(method, Method::POST);
    let path = uri.path().to_owned();
    if let Some(rest) = path.strip_prefix("/2015-03-31/functions/") {
        let name = rest.strip_suffix("/invocations").unwrap();
        let name = url::form_urlencoded::parse(format!("n={name}").as_bytes())
            .next()
            .unwrap()
            .1
            .into_owned();
        seen.lock()
            .unwrap()
            .invocations
            .push((name.clone(), body.to_vec()));
        assert_eq!(
            headers
                .get("x-amz-invocation-type")
                .map(|v| v.to_str().unwrap()),
            Some("RequestResponse")
        );
        let error = |status: StatusCode, code: &str| {
            (
                status,
                [
                    ("x-amzn-errortype", code),
                    ("content-type", "application/json"),
                ],
                json!({"Type": "User", "message": "stand-in"}).to_string(),
            )
                .into_response()
        };
        if name.contains("-denied") {
            return error(StatusCode::FORBIDDEN, "AccessDeniedException");
        }
        if name.contains("-gone") {
            return error(StatusCode::NOT_FOUND, "ResourceNotFoundException");
        }
        if name.contains("-crash") {
            return (
                StatusCode::OK,
                [("x-amz-function-error", "Unhandled")],
                r#"{"errorType":"Runtime.ExitError"}"#,
            )
                .into_response();
        }
        return (StatusCode::OK, body).into_response();
    }
    assert_eq!(path, "/");
    assert_eq!(
        headers.get("x-amz-target").map(|v| v.to_str().unwrap()),
        Some("CodeDeploy_20141006.PutLifecycleEventHookExecutionStatus")
    );
    let report: Value = serde_json::from_slice(&body).unwrap();
    seen.lock().unwrap().reports.push(report.clone());
    let type_error = |status: StatusCode, code: &str| {
        (
            status,
            [("content-type", "application/x-amz-json-1.1")],
            json!({"__type": code, "message": "stand-in"}).to_string(),
        )
            .into_response()
    };
    match report["deploymentId"].as_str() {
        Some("d-done") => type_error(
            StatusCode::BAD_REQUEST,
            "LifecycleEventAlreadyCompletedException",
        ),
        Some("d-busy") => type_error(StatusCode::BAD_REQUEST, "ThrottlingException"),
        _ => (
            StatusCode::OK,
            [("content-type", "application/x-amz-json-1.1")],
            json!({"lifecycleEventHookExecutionId": report["lifecycleEventHookExecutionId"]})
                .to_string(),
        )
            .into_response(),
    }
}

async fn start() -> (String, Arc<Mutex<Seen>>) {
    let seen = Arc::new(Mutex::new(Seen::default()));
    let app = axum::Router::new()
        .fallback(stand_in)
        .with_state(seen.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, seen)
}

fn sdk(endpoint: &str) -> adapters::aws::SdkConfig {
    use aws_sdk_lambda::config::{BehaviorVersion, Credentials, Region, SharedCredentialsProvider};
    adapters::aws::SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("eu-west-1"))
        .endpoint_url(endpoint)
        .credentials_provider(SharedCredentialsProvider::new(Credentials::new(
            "AKIDEXAMPLE",
            "stand-in",
            None,
            None,
            "test",
        )))
        .build()
}

const ARN: &str = "arn:aws:lambda:eu-west-1:123456789012:function:superoffice-app-sod-redirect:7";

#[tokio::test]
async fn a_version_is_invoked_by_its_qualified_arn_and_errors_are_sorted() {
    let (url, seen) = start().await;
    let lambda = LambdaInvoker::new(&sdk(&url));

    let answered = lambda.invoke(ARN, b"{\"x\":1}".to_vec()).await.unwrap();
    assert_eq!(answered.function_error, None);
    assert_eq!(answered.payload, b"{\"x\":1}");
    assert_eq!(
        seen.lock().unwrap().invocations[0],
        (ARN.to_owned(), b"{\"x\":1}".to_vec())
    );

    let crashed = lambda
        .invoke(&ARN.replace("redirect", "crash"), b"{}".to_vec())
        .await
        .unwrap();
    assert_eq!(crashed.function_error.as_deref(), Some("Unhandled"));

    let denied = lambda
        .invoke(&ARN.replace("redirect", "denied"), b"{}".to_vec())
        .await
        .unwrap_err();
    assert!(
        matches!(&denied, InvokeError::TryAgain(r) if r.contains("AccessDeniedException")),
        "{denied:?}"
    );
    let gone = lambda
        .invoke(&ARN.replace("redirect", "gone"), b"{}".to_vec())
        .await
        .unwrap_err();
    assert!(
        matches!(&gone, InvokeError::GiveUp(r) if r.contains("ResourceNotFoundException")),
        "{gone:?}"
    );
}

#[tokio::test]
async fn the_status_reaches_codedeploy_with_the_deployments_ids() {
    let (url, seen) = start().await;
    let codedeploy = CodeDeployReporter::new(&sdk(&url));
    codedeploy
        .report("d-ABC", "exec-1", HookStatus::Failed)
        .await
        .unwrap();
    assert_eq!(
        seen.lock().unwrap().reports[0],
        json!({"deploymentId": "d-ABC", "lifecycleEventHookExecutionId": "exec-1", "status": "Failed"})
    );
    let done = codedeploy
        .report("d-done", "exec-1", HookStatus::Succeeded)
        .await
        .unwrap_err();
    assert!(matches!(done, ReportError::Refused(_)), "{done:?}");
    let busy = codedeploy
        .report("d-busy", "exec-1", HookStatus::Succeeded)
        .await
        .unwrap_err();
    assert!(matches!(busy, ReportError::TryAgain(_)), "{busy:?}");
}

#[tokio::test]
async fn nothing_listening_is_an_invocation_to_ask_again() {
    let lambda = LambdaInvoker::new(&sdk("http://127.0.0.1:9"));
    let e = lambda.invoke(ARN, b"{}".to_vec()).await.unwrap_err();
    assert!(matches!(e, InvokeError::TryAgain(_)), "{e:?}");
}
