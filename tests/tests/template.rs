//! Deployment checks on `template.yaml`, `samconfig.toml` and the event fixtures in `infra/events/`
//! (the template rows of the reliability catalogue: PITR on, KMS rotation, no secrets in environment
//! variables, least privilege, log retention, the job queue's FIFO order, redrive and TLS; and every
//! promise of the backups: the bucket's TLS-only policy, public access block, versioning, SSE-KMS,
//! lifecycle and optional Object Lock, a role that puts but never deletes, the key's rotation and its
//! policy scoped by encryption context, the schedules, the drill and the freshness alarm).
//!
//! cfn-lint (`scripts/lint-template`) checks the template against CloudFormation's and SAM's schemas;
//! these tests check our own promises, which no linter knows. The template is read as written:
//! CloudFormation's short-form tags (`!Ref X`, `!GetAtt A.B`, `!Sub ...`, `!If [...]`) are mapped to
//! their long form (`{"Ref": "X"}`, `{"Fn::GetAtt": ["A", "B"]}`, ...) so a reference can never be
//! mistaken for a literal string, and every check runs on that JSON form.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Duration;

use base64::Engine as _;
use saphyr::{LoadableYamlNode, Scalar, Tag, Yaml};
use serde_json::{Map, Value, json};

/// Routes the redirect function serves, as API Gateway route keys.
const REDIRECT_ROUTES: &[&str] = &[
    "GET /",
    "HEAD /",
    "GET /login",
    "HEAD /login",
    "GET /callback",
    "POST /callback",
    "POST /logout",
    "GET /app.css",
    "HEAD /app.css",
];

/// Routes the install function serves: the install flow, the management pages and the web panels
/// (with their sign-in hand-off and script), each page also by HEAD.
const INSTALL_ROUTES: &[&str] = &[
    "GET /install",
    "HEAD /install",
    "POST /install",
    "GET /install/status",
    "HEAD /install/status",
    "GET /manage",
    "HEAD /manage",
    "GET /manage/uninstall",
    "HEAD /manage/uninstall",
    "POST /manage/uninstall",
    "GET /panels/contact",
    "HEAD /panels/contact",
    "GET /panels/home",
    "HEAD /panels/home",
    "GET /panels/handoff",
    "HEAD /panels/handoff",
    "POST /panels/session",
    "GET /panels/panel.js",
    "HEAD /panels/panel.js",
];

/// Routes the webhook receiver serves (`{tenant}` is the customer's context id).
const WEBHOOKS_ROUTES: &[&str] = &["POST /webhooks/superoffice/{tenant}"];
const LIFECYCLE_ROUTES: &[&str] = &["POST /state-change"];

/// The secret the webhook fixture (`infra/events/post-webhook.json`) is signed with: its
/// `x-superoffice-signature` is the base64 HMAC-SHA256 of the body under this key. A test value.
const FIXTURE_WEBHOOK_SECRET: &str = "fixture-webhook-secret";

/// Every purpose the app seals under its KMS key (`domain::sealing::context(tenant, purpose)`).
const SEALING_PURPOSES: &[&str] = &["system_token", "webhook_secret"];

/// The functions started by schedules (not by the API or a queue), with the actions their
/// schedules send (`functions/backup`'s events).
const SCHEDULED: &[(&str, &[&str])] = &[
    ("BackupFunction", &["backup", "continue", "verify"]),
    ("WorkerFunction", &["rollout"]),
];

/// The functions that read the backup's configuration (`domain::backup::config::BackupConfig`)
/// instead of the app's.
const BACKUP_FUNCTIONS: &[&str] = &["BackupFunction"];

/// IAM statements allowed to name `Resource: "*"`: (role, statement Sid, why AWS offers no
/// resource-level permission for these actions). Empty today; X-Ray's `PutTraceSegments` or
/// CloudWatch's `PutMetricData` would belong here if a function ever needs them.
const RESOURCE_STAR_ALLOWED: &[(&str, &str, &str)] = &[];

/// CodeDeploy's PreTraffic hook for every function (issue 15): a function of the stack, but not one
/// of the app's (no configuration of the app, no alias, no routes).
const DEPLOY_HOOK: &str = "DeployCheckFunction";

/// The alias every gradually deployed function publishes and the API, the queue and CodeDeploy use.
const LIVE_ALIAS: &str = "live";

/// App functions deployed in place, without the alias, CodeDeploy or the deploy check: the backup,
/// run by EventBridge schedules and on no request path. A canary of 5 or 10 minutes would see one
/// scheduled invocation at most, so neither the traffic shift nor its alarms could judge the new
/// version; a synthetic invocation from the deploy check would start or continue a real backup run
/// (minutes of work against the table, KMS and S3). Its Errors alarm, the restore drill and the
/// freshness alarm report a broken version by the next run.
const DEPLOYED_IN_PLACE: &[&str] = &["BackupFunction"];

/// `EnvironmentName` → the SuperOffice environment it must sign in against.
const ENVIRONMENTS: &[(&str, &str)] =
    &[("sod", "sod"), ("stage", "qaonline"), ("online", "online")];

// ---------------------------------------------------------------------------------------------
// Storage and keys
// ---------------------------------------------------------------------------------------------

#[test]
fn every_table_has_point_in_time_recovery_on() {
    let t = template();
    let tables = t.of_type("AWS::DynamoDB::Table");
    assert!(!tables.is_empty(), "the template declares no table");
    for (name, table) in tables {
        assert_eq!(
            table["Properties"]["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"],
            json!(true),
            "{name}: point-in-time recovery must be on"
        );
    }
}

#[test]
fn every_table_is_encrypted_under_a_customer_managed_key_and_outlives_the_stack() {
    let t = template();
    for (name, table) in t.of_type("AWS::DynamoDB::Table") {
        let sse = &table["Properties"]["SSESpecification"];
        assert_eq!(sse["SSEEnabled"], json!(true), "{name}: SSE");
        assert_eq!(sse["SSEType"], json!("KMS"), "{name}: SSE type");
        let key = getatt_target(&sse["KMSMasterKeyId"]).unwrap_or_else(|| {
            panic!("{name}: KMSMasterKeyId must be !GetAtt <key>.Arn of a key in this template")
        });
        assert_eq!(
            t.type_of(&key),
            "AWS::KMS::Key",
            "{name}: {key} is not a KMS key"
        );
        assert_eq!(
            table["DeletionPolicy"],
            json!("Retain"),
            "{name}: DeletionPolicy"
        );
        assert_eq!(
            table["UpdateReplacePolicy"],
            json!("Retain"),
            "{name}: UpdateReplacePolicy"
        );
        assert_eq!(
            table["Properties"]["DeletionProtectionEnabled"],
            json!({"Fn::If": ["IsOnline", true, false]}),
            "{name}: deletion protection must be on in the online environment"
        );
    }
    assert_eq!(
        t.doc["Conditions"]["IsOnline"],
        json!({"Fn::Equals": [{"Ref": "EnvironmentName"}, "online"]})
    );
}

#[test]
fn the_app_table_has_the_key_schema_and_ttl_the_store_adapter_uses() {
    let props = &template().resource("AppTable")["Properties"];
    assert_eq!(props["BillingMode"], json!("PAY_PER_REQUEST"));
    assert_eq!(
        props["KeySchema"],
        json!([{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}])
    );
    assert_eq!(
        props["AttributeDefinitions"],
        json!([{"AttributeName": "pk", "AttributeType": "S"}, {"AttributeName": "sk", "AttributeType": "S"}])
    );
    assert_eq!(
        props["TimeToLiveSpecification"],
        json!({"AttributeName": "expires_at", "Enabled": true})
    );
    // The inverted index the adapter lists partitions from (the backup's tenant listing).
    assert_eq!(
        props["GlobalSecondaryIndexes"],
        json!([{
            "IndexName": adapters::aws::dynamo::SORT_KEY_INDEX,
            "KeySchema": [{"AttributeName": "sk", "KeyType": "HASH"}, {"AttributeName": "pk", "KeyType": "RANGE"}],
            "Projection": {"ProjectionType": "INCLUDE", "NonKeyAttributes": ["expires_at"]}
        }])
    );
}

#[test]
fn every_kms_key_rotates_and_is_kept_as_long_as_the_data() {
    let t = template();
    let keys = t.of_type("AWS::KMS::Key");
    assert!(!keys.is_empty(), "the template declares no KMS key");
    for (name, key) in keys {
        assert_eq!(
            key["Properties"]["EnableKeyRotation"],
            json!(true),
            "{name}: rotation"
        );
        assert_eq!(
            key["DeletionPolicy"],
            json!("Retain"),
            "{name}: a deleted key loses the retained table"
        );
        assert_eq!(
            key["UpdateReplacePolicy"],
            json!("Retain"),
            "{name}: a replaced key loses what the old one encrypted"
        );
    }
}

#[test]
fn key_policies_grant_kms_star_to_the_account_root_and_to_no_one_else() {
    let root = json!({"AWS": {"Fn::Sub": "arn:${AWS::Partition}:iam::${AWS::AccountId}:root"}});
    for (name, key) in template().of_type("AWS::KMS::Key") {
        // The account root keeps the key manageable through IAM (without it no one could ever change
        // or delete the key again).
        assert!(
            statements(&key["Properties"]["KeyPolicy"]).iter().any(|s| {
                s["Effect"] == json!("Allow")
                    && s["Principal"] == root
                    && actions(s) == vec!["kms:*".to_owned()]
                    && s.get("Condition").is_none()
            }),
            "{name}: the key policy lost the account root's statement"
        );
        for statement in statements(&key["Properties"]["KeyPolicy"]) {
            let sid = statement["Sid"].as_str().unwrap_or("(no Sid)");
            assert!(
                statement.get("NotAction").is_none(),
                "{name}/{sid}: NotAction"
            );
            assert!(
                statement.get("NotPrincipal").is_none(),
                "{name}/{sid}: NotPrincipal"
            );
            let wildcard = actions(statement).iter().any(|a| a.contains('*'));
            if wildcard {
                assert_eq!(
                    statement["Principal"], root,
                    "{name}/{sid}: a wildcard action for someone other than the account root"
                );
                assert_eq!(actions(statement), vec!["kms:*".to_owned()], "{name}/{sid}");
            }
            assert_ne!(
                statement["Principal"],
                json!("*"),
                "{name}/{sid}: Principal *"
            );
            assert_ne!(
                statement["Principal"],
                json!({"AWS": "*"}),
                "{name}/{sid}: Principal AWS *"
            );
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Logs
// ---------------------------------------------------------------------------------------------

#[test]
fn every_log_group_keeps_logs_for_at_least_ninety_days() {
    let t = template();
    let groups = t.of_type("AWS::Logs::LogGroup");
    assert!(!groups.is_empty(), "the template declares no log group");
    for (name, group) in groups {
        let retention = &group["Properties"]["RetentionInDays"];
        for days in t.possible_numbers(retention) {
            assert!(
                days >= 90,
                "{name}: a retention of {days} days is possible; certification asks for 3 months"
            );
        }
        // Deleting the stack must not delete the logs before their time.
        assert_eq!(
            group["DeletionPolicy"],
            json!("Retain"),
            "{name}: DeletionPolicy"
        );
    }
    assert_eq!(t.parameter("LogRetentionDays")["Default"], json!(180));
}

#[test]
fn every_log_group_is_encrypted_under_a_key_only_cloudwatch_logs_may_use_for_this_stack() {
    let t = template();
    for (name, group) in t.of_type("AWS::Logs::LogGroup") {
        let p = &group["Properties"];
        let key = getatt_target(&p["KmsKeyId"]).unwrap_or_else(|| {
            panic!("{name}: KmsKeyId must be !GetAtt <key>.Arn of a KMS key in this template")
        });
        assert_eq!(t.type_of(&key), "AWS::KMS::Key", "{name}: {key}");
        let group_name = p["LogGroupName"]["Fn::Sub"].as_str().unwrap_or_else(|| {
            panic!("{name}: LogGroupName must be a !Sub name: the key's condition names the log groups it serves")
        });

        // Besides the account root, one statement: CloudWatch Logs, which encrypts and decrypts the
        // events itself, with the log group's ARN as encryption context.
        let services = non_root_statements(&t.resource(&key)["Properties"]["KeyPolicy"]);
        assert_eq!(
            services.len(),
            1,
            "{key}: one statement besides the account root's"
        );
        let statement = services[0];
        assert_eq!(statement["Effect"], json!("Allow"), "{key}");
        assert_eq!(
            statement["Principal"],
            json!({"Service": {"Fn::Sub": "logs.${AWS::Region}.amazonaws.com"}}),
            "{key}: only CloudWatch Logs, in the stack's region"
        );
        let granted = actions(statement);
        for needed in ["kms:Encrypt", "kms:Decrypt", "kms:GenerateDataKey"] {
            assert!(
                granted.iter().any(|a| a == needed),
                "{key}: CloudWatch Logs needs {needed}"
            );
        }
        let condition = statement["Condition"]
            .as_object()
            .cloned()
            .unwrap_or_default();
        assert_eq!(
            condition.len(),
            1,
            "{key}: one condition operator, on the encryption context: {condition:?}"
        );
        let (operator, test) = condition.iter().next().expect("one operator");
        assert!(
            ["ArnLike", "ArnEquals"].contains(&operator.as_str()),
            "{key}: {operator}"
        );
        let test = test.as_object().cloned().unwrap_or_default();
        assert_eq!(
            test.keys().collect::<Vec<_>>(),
            vec!["kms:EncryptionContext:aws:logs:arn"],
            "{key}: the condition is on the log group's ARN CloudWatch Logs sends"
        );
        let arn = test["kms:EncryptionContext:aws:logs:arn"]["Fn::Sub"]
            .as_str()
            .unwrap_or_else(|| panic!("{key}: the log group ARN is a !Sub string"));
        let pattern = arn
            .strip_prefix("arn:${AWS::Partition}:logs:${AWS::Region}:${AWS::AccountId}:log-group:")
            .unwrap_or_else(|| {
                panic!("{key}: {arn} is not a log group ARN of this account and region")
            });
        // A stack name cannot hold a '/': `${AWS::StackName}/` is this stack's prefix and no other's
        // (`${AWS::StackName}-` would also match the stack named `<name>-2`).
        assert!(
            pattern.starts_with("${AWS::StackName}/"),
            "{key}: {pattern} is not limited to this stack's log groups"
        );
        assert!(
            operator == "ArnLike" || !pattern.contains('*'),
            "{key}: a wildcard needs ArnLike"
        );
        assert!(
            glob_matches(pattern, group_name),
            "{name}: its name {group_name} is outside {key}'s condition ({pattern}): CloudWatch Logs could not use the key"
        );
    }
}

#[test]
fn every_function_writes_json_logs_to_a_log_group_of_its_own() {
    let t = template();
    let mut seen = BTreeMap::new();
    for name in t.functions() {
        let props = t.function_properties(&name);
        let logging = &props["LoggingConfig"];
        assert_eq!(logging["LogFormat"], json!("JSON"), "{name}: LogFormat");
        let group = ref_target(&logging["LogGroup"]).unwrap_or_else(|| {
            panic!("{name}: LoggingConfig.LogGroup must be !Ref to a log group in this template")
        });
        assert_eq!(t.type_of(&group), "AWS::Logs::LogGroup", "{name}: {group}");
        if let Some(other) = seen.insert(group.clone(), name.clone()) {
            panic!("{name} and {other} share the log group {group}");
        }
    }
    assert!(!seen.is_empty(), "no function");
    assert!(
        !seen.contains_key("HttpApiAccessLogGroup"),
        "a function logs into the API's access log group"
    );
}

#[test]
fn the_http_api_writes_json_access_logs_without_query_strings_or_headers() {
    let t = template();
    let settings = &t.resource("HttpApi")["Properties"]["AccessLogSettings"];
    let group =
        getatt_target(&settings["DestinationArn"]).expect("DestinationArn is !GetAtt <group>.Arn");
    assert_eq!(t.type_of(&group), "AWS::Logs::LogGroup");
    let format = settings["Format"]
        .as_str()
        .expect("Format is a literal string");
    let fields: Map<String, Value> = serde_json::from_str(format)
        .unwrap_or_else(|e| panic!("access log format is not JSON ({e}): {format}"));
    for key in ["requestId", "status", "routeKey", "ip"] {
        assert!(fields.contains_key(key), "access log lacks {key}");
    }
    for value in fields.values() {
        let v = value.as_str().unwrap_or_default().to_ascii_lowercase();
        // /callback carries the authorization code and state; cookies carry sessions.
        for forbidden in [
            "querystring",
            "header",
            "cookie",
            "authorizer",
            "requesturi",
        ] {
            assert!(!v.contains(forbidden), "access log records {v}");
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Secrets and configuration
// ---------------------------------------------------------------------------------------------

#[test]
fn no_function_environment_variable_holds_a_secret() {
    let t = template();
    for name in t.functions() {
        let props = t.function_properties(&name);
        let variables = props["Environment"]["Variables"]
            .as_object()
            .cloned()
            .unwrap_or_default();
        for (var, value) in &variables {
            let upper = var.to_ascii_uppercase();
            if ["SECRET", "KEY", "TOKEN", "PASSWORD"]
                .iter()
                .any(|w| upper.contains(w))
            {
                assert!(
                    upper.ends_with("_ARN"),
                    "{name}: {var} names a secret but is not an ARN"
                );
                // The ARN of a KMS key of this stack names a key, not a secret value.
                if let Some(key) = value["Fn::GetAtt"].as_array()
                    && key.get(1) == Some(&json!("Arn"))
                    && key
                        .first()
                        .and_then(|k| k.as_str())
                        .is_some_and(|k| t.type_of(k) == "AWS::KMS::Key")
                {
                    continue;
                }
                let parameter = ref_target(value).unwrap_or_else(|| {
                    panic!("{name}: {var} must be !Ref to a parameter, not {value}")
                });
                let pattern = t.parameter(&parameter)["AllowedPattern"]
                    .as_str()
                    .unwrap_or_default();
                assert!(
                    pattern.starts_with("^arn:") && pattern.contains("secretsmanager"),
                    "{name}: {var} takes {parameter}, whose AllowedPattern ({pattern:?}) does not insist on a Secrets Manager ARN"
                );
                assert!(
                    t.parameter(&parameter).get("Default").is_none(),
                    "{parameter} must not have a default"
                );
            }
            for literal in literals(value) {
                assert!(
                    !looks_like_secret(&literal),
                    "{name}: {var} holds a literal that looks like a secret"
                );
            }
        }
    }
}

#[test]
fn the_secret_detector_flags_tokens_keys_and_long_random_strings() {
    assert!(looks_like_secret(
        "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiIxIn0.c2ln"
    ));
    assert!(looks_like_secret("-----BEGIN RSA PRIVATE KEY-----\nMIIE"));
    assert!(looks_like_secret("Xk2m9QvR7tLpW4sN8yH3cF6bJ1dG5aZ0"));
    assert!(looks_like_secret("6cf25376616343b38d14ddcd804f2891"));
    assert!(!looks_like_secret("json"));
    assert!(!looks_like_secret("info"));
    assert!(!looks_like_secret("8"));
    assert!(!looks_like_secret("https://app.example.com"));
}

#[test]
fn the_functions_get_the_configuration_they_validate_at_start() {
    let t = template();
    // What `AppConfig::from_env` requires in Lambda (shared/domain/src/config.rs), for every function
    // but the backup's, which reads its own (below).
    for name in t.app_functions() {
        if BACKUP_FUNCTIONS.contains(&name.as_str()) {
            continue;
        }
        let env = t.function_properties(&name)["Environment"]["Variables"].clone();
        assert_eq!(
            env["SO_ENVIRONMENT"],
            json!({"Ref": "SuperOfficeEnvironment"}),
            "{name}"
        );
        assert_eq!(env["SO_CLIENT_ID"], json!({"Ref": "ClientId"}), "{name}");
        assert_eq!(
            env["SO_CLIENT_SECRET_ARN"],
            json!({"Ref": "ClientSecretArn"}),
            "{name}: required by the configuration even where it is not read"
        );
        assert_eq!(env["APP_TABLE_NAME"], json!({"Ref": "AppTable"}), "{name}");
        assert_eq!(env["APP_LOG_FORMAT"], json!("json"), "{name}");
        assert_eq!(
            env["APP_KMS_KEY_ARN"],
            json!({"Fn::GetAtt": ["AppKey", "Arn"]}),
            "{name}: required in Lambda (the sealing key)"
        );
        // The base URL the function builds its redirect URI from is the one the stack reports.
        assert_eq!(
            env["APP_BASE_URL"], t.doc["Outputs"]["BaseUrl"]["Value"],
            "{name}"
        );
    }

    // What `BackupConfig::from_env` requires in Lambda (shared/domain/src/backup/config.rs): the
    // table, this stack's environment and app name (the backup's encryption context), the bucket,
    // the key that wraps tenant keys; the metrics namespace the alarms read.
    for name in BACKUP_FUNCTIONS {
        let env = t.function_properties(name)["Environment"]["Variables"].clone();
        assert_eq!(env["APP_TABLE_NAME"], json!({"Ref": "AppTable"}), "{name}");
        assert_eq!(
            env["APP_ENVIRONMENT"],
            json!({"Ref": "EnvironmentName"}),
            "{name}"
        );
        assert_eq!(env["APP_NAME"], json!({"Ref": "AppName"}), "{name}");
        assert_eq!(
            env["APP_BACKUP_BUCKET"],
            json!({"Ref": "BackupBucket"}),
            "{name}"
        );
        assert_eq!(
            env["APP_BACKUP_KEY_ARN"],
            json!({"Fn::GetAtt": ["BackupKey", "Arn"]}),
            "{name}"
        );
        assert_eq!(env["APP_LOG_FORMAT"], json!("json"), "{name}");
        for alarm in ["BackupFreshnessAlarm", "BackupDrillFailedAlarm"] {
            assert_eq!(
                t.resource(alarm)["Properties"]["Namespace"],
                env["APP_METRICS_NAMESPACE"],
                "{alarm} reads the namespace {name} writes its metrics to"
            );
        }
        assert!(
            env.get("APP_KMS_KEY_ARN").is_none() && env.get("SO_CLIENT_SECRET_ARN").is_none(),
            "{name} seals nothing and reads no secret"
        );
    }

    // The functions that queue or run jobs check APP_QUEUE_URL at start.
    for name in ["InstallFunction", "WorkerFunction", "LifecycleFunction"] {
        let env = t.function_properties(name)["Environment"]["Variables"].clone();
        assert_eq!(env["APP_QUEUE_URL"], json!({"Ref": "JobsQueue"}), "{name}");
    }
    for name in ["RedirectFunction", "WebhooksFunction", "BackupFunction"] {
        let env = t.function_properties(name)["Environment"]["Variables"].clone();
        assert!(env.get("APP_QUEUE_URL").is_none(), "{name} sends no jobs");
    }

    // The worker acts as the system user (the private key) at a bounded rate per tenant.
    let worker = t.function_properties("WorkerFunction")["Environment"]["Variables"].clone();
    assert_eq!(
        worker["SO_SYSTEM_USER_KEY_ARN"],
        json!({"Ref": "SystemUserKeyArn"})
    );
    let rate = number(&worker["APP_TENANT_RATE"]).expect("APP_TENANT_RATE is a number");
    assert!((1..=100).contains(&rate), "APP_TENANT_RATE {rate}");
    for name in t
        .app_functions()
        .into_iter()
        .filter(|f| f != "WorkerFunction")
    {
        let env = t.function_properties(&name)["Environment"]["Variables"].clone();
        assert!(
            env.get("SO_SYSTEM_USER_KEY_ARN").is_none(),
            "{name}: only the worker reads the system-user key"
        );
    }

    // Outputs derived from the base URL: the redirect URI, the Install link, the webhook URLs.
    let base = &t.doc["Outputs"]["BaseUrl"]["Value"];
    for (output, suffix) in [
        ("RedirectUri", "/callback"),
        ("InstallUrl", "/install"),
        ("ManageUrl", "/manage"),
        ("WebhookUrlPattern", "/webhooks/superoffice/{tenant}"),
        ("StateChangeUrl", "/state-change"),
    ] {
        let expected = map_strings(base, &|s| {
            if s.starts_with("https://") {
                format!("{s}{suffix}")
            } else {
                s.to_owned()
            }
        });
        assert_eq!(
            t.doc["Outputs"][output]["Value"], expected,
            "{output} is BaseUrl + {suffix}"
        );
    }
    assert_eq!(
        t.doc["Outputs"]["TableName"]["Value"],
        json!({"Ref": "AppTable"})
    );
    assert_eq!(
        t.doc["Outputs"]["JobsQueueUrl"]["Value"],
        json!({"Ref": "JobsQueue"})
    );
}

#[test]
fn parameters_accept_only_the_three_environments_client_ids_and_secret_arns() {
    let t = template();
    assert_eq!(
        t.parameter("EnvironmentName")["AllowedValues"],
        json!(["sod", "stage", "online"])
    );
    assert_eq!(
        t.parameter("SuperOfficeEnvironment")["AllowedValues"],
        json!(["sod", "qaonline", "online"])
    );
    assert_eq!(
        t.parameter("ClientId")["AllowedPattern"],
        json!("^[0-9a-fA-F]{32}$")
    );
    for name in ["ClientSecretArn", "SystemUserKeyArn"] {
        let pattern = t.parameter(name)["AllowedPattern"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        assert!(
            pattern.starts_with("^arn:aws") && pattern.contains(":secretsmanager:"),
            "{name}: {pattern}"
        );
    }
    for optional in ["DomainName", "CertificateArn", "AlarmEmail"] {
        assert_eq!(
            t.parameter(optional)["Default"],
            json!(""),
            "{optional} is optional"
        );
    }
}

#[test]
fn each_environment_name_is_tied_to_its_superoffice_environment() {
    let t = template();
    let mut tied = BTreeMap::new();
    for rule in t.doc["Rules"].as_object().expect("Rules").values() {
        let condition = &rule["RuleCondition"]["Fn::Equals"];
        if condition[0] != json!({"Ref": "EnvironmentName"}) {
            continue;
        }
        for assertion in rule["Assertions"].as_array().into_iter().flatten() {
            let equals = &assertion["Assert"]["Fn::Equals"];
            if equals[0] == json!({"Ref": "SuperOfficeEnvironment"}) {
                tied.insert(
                    condition[1].as_str().unwrap_or_default().to_owned(),
                    equals[1].as_str().unwrap_or_default().to_owned(),
                );
            }
        }
    }
    let expected: BTreeMap<String, String> = ENVIRONMENTS
        .iter()
        .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
        .collect();
    assert_eq!(tied, expected);
}

// ---------------------------------------------------------------------------------------------
// Least privilege
// ---------------------------------------------------------------------------------------------

#[test]
fn no_policy_statement_allows_a_wildcard_action_or_resource() {
    let t = template();
    let mut checked = 0;
    for (owner, document) in t.iam_policy_documents() {
        for statement in statements(&document) {
            checked += 1;
            let sid = statement["Sid"].as_str().unwrap_or("(no Sid)").to_owned();
            assert!(
                statement.get("NotAction").is_none(),
                "{owner}/{sid}: NotAction"
            );
            assert!(
                statement.get("NotResource").is_none(),
                "{owner}/{sid}: NotResource"
            );
            for action in actions(statement) {
                assert!(
                    !action.contains('*'),
                    "{owner}/{sid}: action {action} has a wildcard"
                );
            }
            if statement.get("Resource").is_none() {
                continue; // trust policies name a Principal instead
            }
            for resource in as_list(&statement["Resource"]) {
                if let Some(literal) = resource.as_str() {
                    let allowed = RESOURCE_STAR_ALLOWED
                        .iter()
                        .any(|(o, s, _why)| *o == owner && *s == sid);
                    assert!(
                        !literal.contains('*') || allowed,
                        "{owner}/{sid}: resource {literal:?} (name the resource, or add it to RESOURCE_STAR_ALLOWED with the reason)"
                    );
                }
            }
        }
    }
    assert!(checked > 0, "no IAM statement found");
}

#[test]
fn each_function_has_a_role_of_its_own_with_inline_policies_only() {
    let t = template();
    let mut roles = BTreeMap::new();
    for name in t.functions() {
        let props = t.function_properties(&name);
        assert!(
            props.get("Policies").is_none(),
            "{name}: SAM Policies would add a managed policy; use the role"
        );
        let role = getatt_target(&props["Role"]).unwrap_or_else(|| {
            panic!("{name}: Role must be !GetAtt <role>.Arn of a role in this template")
        });
        assert_eq!(t.type_of(&role), "AWS::IAM::Role", "{name}: {role}");
        if let Some(other) = roles.insert(role.clone(), name.clone()) {
            panic!("{name} and {other} share the role {role}");
        }
        let role_props = &t.resource(&role)["Properties"];
        assert!(
            role_props.get("ManagedPolicyArns").is_none(),
            "{role}: managed policies"
        );
        let trust = statements(&role_props["AssumeRolePolicyDocument"]);
        assert_eq!(trust.len(), 1, "{role}: one trust statement");
        assert_eq!(
            trust[0]["Principal"],
            json!({"Service": "lambda.amazonaws.com"}),
            "{role}: trusted by Lambda only"
        );
    }
    assert!(!roles.is_empty(), "no function");
    assert!(
        t.of_type("AWS::IAM::ManagedPolicy").is_empty(),
        "shared managed policies"
    );
    assert!(
        t.of_type("AWS::IAM::Policy").is_empty(),
        "policies attached from outside the role"
    );
}

#[test]
fn the_redirect_role_may_only_use_its_log_group_its_table_items_the_client_secret_and_seal_system_tokens()
 {
    let t = template();
    let role = &t.resource("RedirectRole")["Properties"];
    let documents: Vec<&Value> = role["Policies"]
        .as_array()
        .expect("Policies")
        .iter()
        .map(|p| &p["PolicyDocument"])
        .collect();
    let mut granted: BTreeMap<String, Value> = BTreeMap::new();
    for document in documents {
        for statement in statements(document) {
            assert_eq!(statement["Effect"], json!("Allow"));
            for action in actions(statement) {
                assert!(
                    granted.insert(action.clone(), statement.clone()).is_none(),
                    "{action} granted twice"
                );
            }
        }
    }
    let expected: BTreeSet<&str> = [
        "logs:CreateLogStream",
        "logs:PutLogEvents",
        "dynamodb:GetItem",
        "dynamodb:PutItem",
        "dynamodb:DeleteItem",
        "kms:Decrypt",
        "kms:Encrypt",
        "secretsmanager:GetSecretValue",
    ]
    .into();
    assert_eq!(
        granted.keys().map(String::as_str).collect::<BTreeSet<_>>(),
        expected
    );
    let resource = |action: &str| granted[action]["Resource"].clone();
    assert_eq!(
        resource("logs:PutLogEvents"),
        json!({"Fn::GetAtt": ["RedirectLogGroup", "Arn"]})
    );
    assert_eq!(
        resource("dynamodb:GetItem"),
        json!({"Fn::GetAtt": ["AppTable", "Arn"]})
    );
    assert_eq!(
        resource("secretsmanager:GetSecretValue"),
        json!({"Ref": "ClientSecretArn"})
    );
    assert_eq!(
        resource("kms:Decrypt"),
        json!({"Fn::GetAtt": ["TableKey", "Arn"]})
    );
    assert_eq!(
        granted["kms:Decrypt"]["Condition"],
        json!({"StringEquals": {"kms:ViaService": {"Fn::Sub": "dynamodb.${AWS::Region}.${AWS::URLSuffix}"}}}),
        "the table key is usable only through DynamoDB"
    );
    assert_eq!(
        resource("kms:Encrypt"),
        json!({"Fn::GetAtt": ["AppKey", "Arn"]})
    );
    assert_eq!(
        granted["kms:Encrypt"]["Condition"],
        json!({"StringEquals": {"kms:EncryptionContext:purpose": "system_token"}}),
        "the redirect function may only seal system tokens"
    );
}

#[test]
fn the_install_role_may_only_read_and_write_its_table_items_and_send_jobs() {
    let t = template();
    let mut expected = logs_grants("InstallLogGroup");
    expected.extend(table_grants(&[
        "dynamodb:GetItem",
        "dynamodb:PutItem",
        "dynamodb:Query",
    ]));
    expected.insert(table_key_grant());
    expected.insert(grant(
        "sqs:SendMessage",
        json!({"Fn::GetAtt": ["JobsQueue", "Arn"]}),
        Value::Null,
    ));
    assert_grants(t, "InstallRole", &expected);
}

#[test]
fn the_worker_role_may_only_use_its_table_items_its_queue_the_app_secrets_and_tenant_secrets() {
    let t = template();
    let mut expected = logs_grants("WorkerLogGroup");
    // DeleteItem: the uninstall forgets ledger entries and purges the tenant's items.
    expected.extend(table_grants(&[
        "dynamodb:GetItem",
        "dynamodb:PutItem",
        "dynamodb:Query",
        "dynamodb:DeleteItem",
    ]));
    expected.insert(table_key_grant());
    // Opens system tokens and webhook secrets; seals only webhook secrets.
    expected.insert(app_key_grant(
        "kms:Decrypt",
        json!(["system_token", "webhook_secret"]),
    ));
    expected.insert(app_key_grant("kms:Encrypt", json!("webhook_secret")));
    for secret in ["ClientSecretArn", "SystemUserKeyArn"] {
        expected.insert(grant(
            "secretsmanager:GetSecretValue",
            json!({"Ref": secret}),
            Value::Null,
        ));
    }
    // SendMessage: the rollout queues upgrades.
    for action in [
        "sqs:ReceiveMessage",
        "sqs:DeleteMessage",
        "sqs:GetQueueAttributes",
        "sqs:ChangeMessageVisibility",
        "sqs:SendMessage",
    ] {
        expected.insert(grant(
            action,
            json!({"Fn::GetAtt": ["JobsQueue", "Arn"]}),
            Value::Null,
        ));
    }
    // The rollout lists tenants through the inverted index.
    expected.insert(grant(
        "dynamodb:Query",
        json!({"Fn::Sub": "${AppTable.Arn}/index/sk-pk"}),
        Value::Null,
    ));
    assert_grants(t, "WorkerRole", &expected);
}

#[test]
fn the_webhooks_role_may_only_read_tenants_record_events_and_open_webhook_secrets() {
    let t = template();
    let mut expected = logs_grants("WebhooksLogGroup");
    expected.extend(table_grants(&["dynamodb:GetItem", "dynamodb:PutItem"]));
    expected.insert(table_key_grant());
    expected.insert(app_key_grant("kms:Decrypt", json!("webhook_secret")));
    assert_grants(t, "WebhooksRole", &expected);
}

#[test]
fn the_lifecycle_role_may_only_read_and_write_tenants_and_push_digests_and_queue_jobs() {
    let t = template();
    let mut expected = logs_grants("LifecycleLogGroup");
    expected.extend(table_grants(&[
        "dynamodb:GetItem",
        "dynamodb:PutItem",
        "dynamodb:DeleteItem",
    ]));
    expected.insert(table_key_grant());
    expected.insert(grant(
        "sqs:SendMessage",
        json!({"Fn::GetAtt": ["JobsQueue", "Arn"]}),
        Value::Null,
    ));
    assert_grants(t, "LifecycleRole", &expected);
}

#[test]
fn every_role_writes_logs_only_to_its_own_functions_log_group() {
    let t = template();
    for name in t.functions() {
        let props = t.function_properties(&name);
        let role = getatt_target(&props["Role"]).expect("Role");
        let group = ref_target(&props["LoggingConfig"]["LogGroup"]).expect("LogGroup");
        let own = json!({"Fn::GetAtt": [group, "Arn"]});
        let mut logs = 0;
        for row in grants(t, &role) {
            let (action, resource, _) = parse_grant(&row);
            if action.starts_with("logs:") {
                logs += 1;
                assert_eq!(resource, own, "{role}: {action} outside {group}");
            }
        }
        assert_eq!(
            logs, 2,
            "{role}: logs:CreateLogStream and logs:PutLogEvents"
        );
    }
}

#[test]
fn the_keys_are_used_only_through_dynamodb_or_for_a_named_sealing_purpose() {
    let t = template();
    let via_dynamodb = json!({"StringEquals": {"kms:ViaService": {"Fn::Sub": "dynamodb.${AWS::Region}.${AWS::URLSuffix}"}}});
    for (role, _) in t.of_type("AWS::IAM::Role") {
        for row in grants(t, &role) {
            let (action, resource, condition) = parse_grant(&row);
            if !action.starts_with("kms:") {
                continue;
            }
            match getatt_target(&resource).as_deref() {
                // DynamoDB decrypts the table key on the caller's behalf; no one uses it directly.
                Some("TableKey") => {
                    assert_eq!(action, "kms:Decrypt", "{role}: {action} on the table key");
                    assert_eq!(
                        condition, via_dynamodb,
                        "{role}: the table key outside DynamoDB"
                    );
                }
                // Every use of the app key names the purpose in the encryption context, so a role
                // that opens webhook secrets cannot open system tokens.
                Some("AppKey") => {
                    assert!(
                        ["kms:Encrypt", "kms:Decrypt"].contains(&action.as_str()),
                        "{role}: {action} on the app key"
                    );
                    assert_eq!(
                        condition.as_object().map(Map::len),
                        Some(1),
                        "{role}: {action} on the app key: one StringEquals condition, {condition}"
                    );
                    assert_eq!(
                        condition["StringEquals"].as_object().map(Map::len),
                        Some(1),
                        "{role}: {action} on the app key: {condition}"
                    );
                    let purposes =
                        as_list(&condition["StringEquals"]["kms:EncryptionContext:purpose"]);
                    assert!(
                        !purposes.is_empty(),
                        "{role}: {action} on the app key without a purpose"
                    );
                    for purpose in purposes {
                        assert!(
                            purpose
                                .as_str()
                                .is_some_and(|p| SEALING_PURPOSES.contains(&p)),
                            "{role}: {action} for purpose {purpose}"
                        );
                    }
                }
                // Tenants' backup keys: created and opened only with this app, environment and
                // purpose in the context (the key's policy refuses anything else as well).
                Some("BackupKey") => {
                    assert_eq!(role, "BackupRole", "{role}: {action} on the backup key");
                    assert!(
                        ["kms:GenerateDataKey", "kms:Decrypt"].contains(&action.as_str()),
                        "{role}: {action} on the backup key"
                    );
                    assert_eq!(condition, backup_key_condition(), "{role}: {action}");
                }
                // The backup bucket's key: only through S3 (SSE-KMS).
                Some("BackupBucketKey") => {
                    assert!(
                        ["kms:GenerateDataKey", "kms:Decrypt"].contains(&action.as_str()),
                        "{role}: {action} on the bucket key"
                    );
                    assert_eq!(
                        condition,
                        json!({"StringEquals": {"kms:ViaService": {"Fn::Sub": "s3.${AWS::Region}.${AWS::URLSuffix}"}}}),
                        "{role}: the bucket key outside S3"
                    );
                }
                _ => panic!("{role}: {action} on {resource}, not a key of this stack"),
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Functions and routes
// ---------------------------------------------------------------------------------------------

#[test]
fn the_redirect_function_is_the_rust_binary_built_for_arm64() {
    let t = template();
    let props = t.function_properties("RedirectFunction");
    assert_eq!(props["Runtime"], json!("provided.al2023"));
    assert_eq!(props["Architectures"], json!(["arm64"]));
    assert_eq!(props["Handler"], json!("bootstrap"));
    assert_eq!(props["MemorySize"], json!(128));
    let timeout = props["Timeout"].as_u64().expect("Timeout");
    assert!((3..=29).contains(&timeout), "Timeout {timeout} s");
    // CodeUri is the workspace root: the Makefile and cargo lambda run there with the workspace's
    // lock file and config.
    let code_uri = props["CodeUri"].as_str().expect("CodeUri");
    let manifest = std::fs::read_to_string(root().join(code_uri).join("Cargo.toml"))
        .expect("Cargo.toml at CodeUri");
    assert!(
        manifest.contains("[workspace]"),
        "CodeUri {code_uri} is not the workspace root"
    );
}

#[test]
fn the_redirect_function_serves_exactly_the_sign_in_routes() {
    let t = template();
    let routes = t.event_routes("RedirectFunction");
    let expected: BTreeSet<String> = REDIRECT_ROUTES.iter().map(|r| (*r).to_owned()).collect();
    assert_eq!(routes, expected);
}

/// The Makefile's `build-<LogicalId>` targets and the binary each packages.
fn makefile_targets() -> BTreeMap<String, String> {
    let text = std::fs::read_to_string(root().join("Makefile")).expect("the Makefile");
    let mut targets = BTreeMap::new();
    let mut current: Option<String> = None;
    for line in text.lines() {
        if let Some(name) = line
            .strip_prefix("build-")
            .and_then(|l| l.strip_suffix(':'))
        {
            current = Some(name.to_owned());
        } else if let (Some(name), Some(rest)) =
            (&current, line.trim().strip_prefix("$(call package,"))
        {
            targets.insert(name.clone(), rest.trim_end_matches(')').to_owned());
            current = None;
        }
    }
    targets
}

#[test]
fn every_function_is_a_binary_of_the_workspace_packaged_with_the_manifest_for_arm64() {
    let t = template();
    let targets = makefile_targets();
    let cargo = std::fs::read_to_string(root().join("Cargo.toml")).expect("Cargo.toml");
    let default_members = cargo
        .split("default-members = [")
        .nth(1)
        .and_then(|rest| rest.split(']').next())
        .expect("the workspace names its default members");
    let mut functions = BTreeSet::new();
    for name in t.functions() {
        let props = t.function_properties(&name);
        assert_eq!(props["Runtime"], json!("provided.al2023"), "{name}");
        assert_eq!(props["Architectures"], json!(["arm64"]), "{name}");
        assert_eq!(props["Handler"], json!("bootstrap"), "{name}");
        assert_eq!(
            props["CodeUri"],
            json!("."),
            "{name}: CodeUri is the workspace root"
        );
        let metadata = &t.resource(&name)["Metadata"];
        assert_eq!(metadata["BuildMethod"], json!("makefile"), "{name}");
        let binary = targets
            .get(&name)
            .unwrap_or_else(|| panic!("{name}: the Makefile has no build-{name} target"));
        functions.insert(format!("\"functions/{binary}\""));
        // The function's fixed name ends in its binary's name (the deploy hook's starts with the
        // prefix CodeDeploy's service role may invoke).
        let prefix = if name == DEPLOY_HOOK {
            "CodeDeployHook_"
        } else {
            ""
        };
        assert_eq!(
            props["FunctionName"],
            json!({"Fn::Sub": format!("{prefix}${{AWS::StackName}}-{binary}")}),
            "{name}"
        );
        let manifest =
            std::fs::read_to_string(root().join("functions").join(binary).join("Cargo.toml"))
                .unwrap_or_else(|e| panic!("{name}: functions/{binary}/Cargo.toml: {e}"));
        assert!(
            manifest.contains(&format!("[[bin]]\nname = \"{binary}\"")),
            "{name}: functions/{binary} declares no binary named {binary}"
        );
    }
    // A build at the root compiles exactly the deployed functions (no test crate's features).
    let members: BTreeSet<String> = default_members
        .split(',')
        .map(|m| m.trim().to_owned())
        .filter(|m| !m.is_empty())
        .collect();
    assert_eq!(
        members, functions,
        "default-members are the deployed functions"
    );
    // Every function finds the manifest the Makefile packages beside its binary.
    let makefile = std::fs::read_to_string(root().join("Makefile")).unwrap();
    assert!(
        makefile.contains("cp \"$(MANIFEST)\" \"$(ARTIFACTS_DIR)/manifest.toml\""),
        "the Makefile packages the manifest"
    );
    assert!(makefile.contains("--release --arm64 --locked --bin $(1)"));
    assert_eq!(
        t.doc["Globals"]["Function"]["Environment"]["Variables"]["APP_MANIFEST"],
        json!("manifest.toml")
    );
}

#[test]
fn the_http_functions_answer_within_the_api_timeout_and_the_worker_within_its_own() {
    let t = template();
    for name in t.functions() {
        let props = t.function_properties(&name);
        let timeout = props["Timeout"].as_u64().expect("Timeout");
        let memory = props["MemorySize"].as_u64().expect("MemorySize");
        if SCHEDULED.iter().any(|(f, _)| *f == name) {
            // Started by schedules: a run stops with a checkpoint a minute before its timeout, and
            // the 15-minute continuation tick finds it ended.
            assert!(
                (120..=900).contains(&timeout),
                "{name}: Timeout {timeout} s"
            );
        } else if t.event_routes(&name).is_empty() {
            // Fed by the queue: long enough for a run of WebAPI calls, short enough to keep the
            // queue's visibility timeout (6x) reasonable.
            assert!((60..=300).contains(&timeout), "{name}: Timeout {timeout} s");
        } else {
            // API Gateway gives up after 30 s at most.
            assert!((3..=29).contains(&timeout), "{name}: Timeout {timeout} s");
        }
        assert!((128..=256).contains(&memory), "{name}: MemorySize {memory}");
    }
}

#[test]
fn the_install_function_serves_exactly_the_install_routes() {
    let routes = template().event_routes("InstallFunction");
    let expected: BTreeSet<String> = INSTALL_ROUTES.iter().map(|r| (*r).to_owned()).collect();
    assert_eq!(routes, expected);
}

#[test]
fn the_webhooks_function_serves_exactly_the_webhook_route() {
    let routes = template().event_routes("WebhooksFunction");
    let expected: BTreeSet<String> = WEBHOOKS_ROUTES.iter().map(|r| (*r).to_owned()).collect();
    assert_eq!(routes, expected);
}

#[test]
fn the_lifecycle_function_serves_exactly_the_state_change_route_with_a_throttle_of_its_own() {
    let t = template();
    let routes = t.event_routes("LifecycleFunction");
    let expected: BTreeSet<String> = LIFECYCLE_ROUTES.iter().map(|r| (*r).to_owned()).collect();
    assert_eq!(routes, expected);
    let settings = &t.resource("HttpApi")["Properties"]["RouteSettings"]["POST /state-change"];
    let rate = number(&settings["ThrottlingRateLimit"]).expect("a rate limit");
    let burst = number(&settings["ThrottlingBurstLimit"]).expect("a burst limit");
    assert!(rate <= 10 && burst <= 20, "rate {rate}, burst {burst}");
}

#[test]
fn the_webhook_route_declares_its_tenant_path_parameter() {
    let t = template();
    let body = &t.resource("HttpApi")["Properties"]["DefinitionBody"];
    let operation = &body["paths"]["/webhooks/superoffice/{tenant}"]["post"];
    assert_eq!(
        operation["parameters"],
        json!([{"name": "tenant", "in": "path", "required": true, "schema": {"type": "string"}}])
    );
}

#[test]
fn the_worker_takes_one_job_at_a_time_from_the_fifo_jobs_queue_and_reports_the_ones_to_retry() {
    let t = template();
    let event = worker_queue_event(t);
    let p = &event["Properties"];
    assert_eq!(p["Queue"], json!({"Fn::GetAtt": ["JobsQueue", "Arn"]}));
    assert_eq!(p["BatchSize"], json!(1), "one job per invocation");
    assert_eq!(
        p["FunctionResponseTypes"],
        json!(["ReportBatchItemFailures"]),
        "jobs put back are reported, not failed as a batch"
    );
    assert_ne!(p["Enabled"], json!(false));
    // A batching window would only delay jobs (and FIFO event sources do not support one).
    assert!(p.get("MaximumBatchingWindowInSeconds").is_none());
    assert!(
        t.of_type("AWS::Lambda::EventSourceMapping").is_empty(),
        "event sources are declared as the function's Events"
    );
}

#[test]
fn the_workers_concurrency_is_capped_by_the_parameter_that_sets_the_apps_ceiling_on_superoffice() {
    let t = template();
    let props = t.function_properties("WorkerFunction");
    let event = worker_queue_event(t);
    assert_eq!(
        event["Properties"]["ScalingConfig"],
        json!({"MaximumConcurrency": {"Ref": "WorkerMaxConcurrency"}}),
        "the event source holds jobs back beyond WorkerMaxConcurrency instances"
    );
    // A reserved concurrency below MaximumConcurrency would throttle the event source's invocations
    // (each a failed receive towards the dead-letter queue): the cap is the event source's alone.
    assert!(
        props.get("ReservedConcurrentExecutions").is_none(),
        "WorkerFunction: ReservedConcurrentExecutions next to MaximumConcurrency (see the note on WorkerFunction)"
    );

    let p = t.parameter("WorkerMaxConcurrency");
    assert_eq!(p["Type"], json!("Number"));
    let value = |field: &str| {
        number(&p[field]).unwrap_or_else(|| panic!("WorkerMaxConcurrency needs a {field}"))
    };
    let (min, default, max) = (value("MinValue"), value("Default"), value("MaxValue"));
    // AWS accepts a MaximumConcurrency from 2 to 1000.
    assert!(
        2 <= min && min <= default && default <= max && max <= 1000,
        "WorkerMaxConcurrency {min}..={max}, default {default}"
    );

    // The ceiling: instances x requests/s per tenant (one tenant per instance: the FIFO group).
    // The parameter's description and infra/DEPLOY.md state it with the numbers the template sets.
    let rate =
        number(&props["Environment"]["Variables"]["APP_TENANT_RATE"]).expect("APP_TENANT_RATE");
    let description = p["Description"].as_str().expect("Description");
    for promise in [
        format!("APP_TENANT_RATE = {rate} requests/s"),
        format!("WorkerMaxConcurrency x {rate} requests/s"),
        format!("({} requests/s by default)", default * rate),
    ] {
        assert!(
            description.contains(&promise),
            "WorkerMaxConcurrency's description does not say {promise:?}: {description}"
        );
    }
    let deploy = std::fs::read_to_string(root().join("infra/DEPLOY.md")).expect("infra/DEPLOY.md");
    for promise in [
        "`WorkerMaxConcurrency` × `APP_TENANT_RATE`".to_owned(),
        format!("{default} × {rate} = {} requests/s", default * rate),
        format!("{max} × {rate} = {} requests/s", max * rate),
    ] {
        assert!(
            deploy.contains(&promise),
            "infra/DEPLOY.md does not say {promise:?}"
        );
    }
}

#[test]
fn the_jobs_queue_is_fifo_with_app_set_deduplication_and_a_fifo_dead_letter_queue() {
    let t = template();
    let queue = &t.resource("JobsQueue")["Properties"];
    assert_eq!(
        queue["FifoQueue"],
        json!(true),
        "FIFO: one job per tenant at a time"
    );
    assert_eq!(
        queue["ContentBasedDeduplication"],
        json!(false),
        "the app sends MessageDeduplicationId (the job id)"
    );
    let name = queue["QueueName"]["Fn::Sub"].as_str().expect("QueueName");
    assert!(name.ends_with(".fifo"), "{name}");

    let redrive = &queue["RedrivePolicy"];
    let dlq = getatt_target(&redrive["deadLetterTargetArn"])
        .expect("deadLetterTargetArn is !GetAtt <queue>.Arn");
    assert_eq!(t.type_of(&dlq), "AWS::SQS::Queue");
    assert_eq!(
        t.resource(&dlq)["Properties"]["FifoQueue"],
        json!(true),
        "a FIFO queue's dead-letter queue is FIFO"
    );
    // Each wait for throttling or maintenance is one receive: only a job that keeps failing
    // reaches the dead-letter queue.
    let receives = number(&redrive["maxReceiveCount"]).expect("maxReceiveCount");
    assert_eq!(
        receives,
        u64::from(domain::jobs::MAX_DELIVERIES),
        "the worker stops a job just before the queue's maxReceiveCount"
    );

    // Retention: a job waiting out a long maintenance is not dropped (SQS keeps 14 days at most).
    for q in ["JobsQueue", dlq.as_str()] {
        let retention = number(&t.resource(q)["Properties"]["MessageRetentionPeriod"])
            .expect("MessageRetentionPeriod");
        assert_eq!(retention, 1_209_600, "{q}: 14 days");
    }

    // The visibility timeout outlasts the worker: a running job is never handed out again. AWS
    // asks for six times the function's timeout for a Lambda event source (throttled retries).
    let visibility = number(&queue["VisibilityTimeout"]).expect("VisibilityTimeout");
    let timeout = t.function_properties("WorkerFunction")["Timeout"]
        .as_u64()
        .expect("worker Timeout");
    assert!(
        visibility > timeout,
        "VisibilityTimeout {visibility} s does not exceed the worker's Timeout {timeout} s"
    );
    assert!(
        visibility >= 6 * timeout,
        "VisibilityTimeout {visibility} s is less than 6x the worker's Timeout {timeout} s"
    );
}

#[test]
fn every_queue_is_encrypted_and_refuses_requests_without_tls() {
    let t = template();
    let queues = t.of_type("AWS::SQS::Queue");
    assert!(!queues.is_empty(), "no queue");
    let policies = t.of_type("AWS::SQS::QueuePolicy");
    for (name, queue) in &queues {
        let p = &queue["Properties"];
        assert!(
            p["SqsManagedSseEnabled"] == json!(true) || p.get("KmsMasterKeyId").is_some(),
            "{name}: encryption at rest"
        );
        let own: Vec<&Value> = policies
            .iter()
            .filter(|(_, policy)| {
                as_list(&policy["Properties"]["Queues"]).contains(&json!({"Ref": name}))
            })
            .map(|(_, policy)| *policy)
            .collect();
        assert_eq!(own.len(), 1, "{name}: one queue policy");
        let document = &own[0]["Properties"]["PolicyDocument"];
        let denies_plain_http = statements(document).iter().any(|s| {
            s["Effect"] == json!("Deny")
                && s["Principal"] == json!("*")
                && actions(s) == vec!["sqs:*".to_owned()]
                && s["Resource"] == json!({"Fn::GetAtt": [name, "Arn"]})
                && s["Condition"] == json!({"Bool": {"aws:SecureTransport": "false"}})
        });
        assert!(
            denies_plain_http,
            "{name}: no statement denying requests without TLS"
        );
    }
    // Queue policies only deny: access is granted by the functions' roles.
    for (name, policy) in &policies {
        for s in statements(&policy["Properties"]["PolicyDocument"]) {
            assert_eq!(
                s["Effect"],
                json!("Deny"),
                "{name}: a queue policy that allows"
            );
        }
    }
}

#[test]
fn every_topic_is_encrypted_under_a_key_cloudwatch_alarms_may_use_only_for_that_topic() {
    let t = template();
    let topics = t.of_type("AWS::SNS::Topic");
    assert!(!topics.is_empty(), "no topic");
    for (name, topic) in topics {
        let p = &topic["Properties"];
        // SNS's AWS managed key (aws/sns) would keep CloudWatch out: the alarms would notify no one.
        let key = getatt_target(&p["KmsMasterKeyId"]).unwrap_or_else(|| {
            panic!("{name}: KmsMasterKeyId must be !GetAtt <key>.Arn of a KMS key in this template")
        });
        assert_eq!(t.type_of(&key), "AWS::KMS::Key", "{name}: {key}");
        let topic_name = p["TopicName"]["Fn::Sub"].as_str().unwrap_or_else(|| {
            panic!("{name}: TopicName must be a !Sub name: the key policy names the topic's ARN")
        });
        let services = non_root_statements(&t.resource(&key)["Properties"]["KeyPolicy"]);
        assert_eq!(
            services.len(),
            1,
            "{key}: one statement besides the account root's"
        );
        let statement = services[0];
        assert_eq!(statement["Effect"], json!("Allow"), "{key}");
        assert_eq!(
            statement["Principal"],
            json!({"Service": "cloudwatch.amazonaws.com"}),
            "{key}: CloudWatch alarms publish as cloudwatch.amazonaws.com"
        );
        let mut granted = actions(statement);
        granted.sort();
        assert_eq!(
            granted,
            vec!["kms:Decrypt".to_owned(), "kms:GenerateDataKey".to_owned()],
            "{key}: what a publisher to an encrypted topic needs, and nothing more"
        );
        assert_eq!(
            statement["Condition"],
            json!({"StringEquals": {"kms:EncryptionContext:aws:sns:topicArn": {
                "Fn::Sub": format!("arn:${{AWS::Partition}}:sns:${{AWS::Region}}:${{AWS::AccountId}}:{topic_name}")
            }}}),
            "{key}: usable only for {name} (SNS sends the topic's ARN as encryption context)"
        );
    }
    // Every alarm notifies an encrypted topic of this template.
    for (alarm, a) in t.of_type("AWS::CloudWatch::Alarm") {
        for action in as_list(&a["Properties"]["AlarmActions"]) {
            let topic = ref_target(&action).unwrap_or_else(|| panic!("{alarm}: {action}"));
            assert_eq!(t.type_of(&topic), "AWS::SNS::Topic", "{alarm}: {topic}");
        }
    }
}

#[test]
fn the_dead_letter_queue_and_the_age_of_waiting_jobs_raise_alarms() {
    let t = template();
    let alarms = t.of_type("AWS::CloudWatch::Alarm");
    let on_queue = |queue: &str, metric: &str| {
        alarms
            .iter()
            .find(|(_, a)| {
                let p = &a["Properties"];
                p["Namespace"] == json!("AWS/SQS")
                    && p["MetricName"] == json!(metric)
                    && p["Dimensions"]
                        == json!([{"Name": "QueueName", "Value": {"Fn::GetAtt": [queue, "QueueName"]}}])
            })
            .map(|(n, a)| (n.clone(), a["Properties"].clone()))
            .unwrap_or_else(|| panic!("{queue}: no {metric} alarm"))
    };
    let (dlq_alarm, p) = on_queue("JobsDeadLetterQueue", "ApproximateNumberOfMessagesVisible");
    assert_eq!(p["Threshold"], json!(0), "{dlq_alarm}");
    assert_eq!(
        p["ComparisonOperator"],
        json!("GreaterThanThreshold"),
        "{dlq_alarm}"
    );
    let (age_alarm, p) = on_queue("JobsQueue", "ApproximateAgeOfOldestMessage");
    let threshold = number(&p["Threshold"]).expect("Threshold");
    assert!(
        (600..=6 * 3600).contains(&threshold),
        "{age_alarm}: {threshold} s"
    );
    for alarm in [dlq_alarm, age_alarm] {
        let p = &t.resource(&alarm)["Properties"];
        assert!(
            as_list(&p["AlarmActions"])
                .iter()
                .any(|x| ref_target(x).is_some_and(|r| t.type_of(&r) == "AWS::SNS::Topic")),
            "{alarm}: notifies no SNS topic"
        );
    }
}

#[test]
fn every_route_reaches_its_function_by_name_so_the_api_does_not_depend_on_the_functions() {
    let t = template();
    let api = t.resource("HttpApi");
    let body = &api["Properties"]["DefinitionBody"];
    let functions = t.functions();

    // The API may not reference any function: the functions reference the API (APP_BASE_URL), and a
    // reference back would be a dependency cycle CloudFormation refuses.
    let referenced = logical_ids(&api["Properties"]);
    for f in &functions {
        assert!(
            !referenced.contains(f),
            "HttpApi references {f}: a dependency cycle"
        );
    }

    let mut from_body: BTreeMap<String, String> = BTreeMap::new(); // route key -> function name suffix
    for (path, item) in body["paths"].as_object().expect("paths") {
        for (method, operation) in item.as_object().expect("path item") {
            let integration =
                resolve_integration(body, &operation["x-amazon-apigateway-integration"]);
            assert_eq!(integration["type"], json!("aws_proxy"), "{method} {path}");
            assert_eq!(
                integration["payloadFormatVersion"],
                json!("2.0"),
                "{method} {path}"
            );
            let uri = integration["uri"]["Fn::Sub"]
                .as_str()
                .expect("integration uri is a !Sub string");
            let (function, alias) = uri
                .split(":function:${AWS::StackName}-")
                .nth(1)
                .and_then(|rest| rest.strip_suffix("/invocations"))
                .and_then(|rest| rest.split_once(':'))
                .unwrap_or_else(|| {
                    panic!("{method} {path}: uri does not name an alias of a function of this stack: {uri}")
                });
            // The alias CodeDeploy moves: invoking the function's unqualified name would reach
            // $LATEST, and a canary or a rollback would never touch the API's traffic.
            assert_eq!(alias, LIVE_ALIAS, "{method} {path}: {uri}");
            from_body.insert(
                format!("{} {path}", method.to_ascii_uppercase()),
                function.to_owned(),
            );
        }
    }

    let mut from_events: BTreeMap<String, String> = BTreeMap::new();
    for f in &functions {
        if t.event_routes(f).is_empty() {
            continue;
        }
        let props = t.function_properties(f);
        assert_eq!(
            props["AutoPublishAlias"],
            json!(LIVE_ALIAS),
            "{f}: the API invokes the alias {LIVE_ALIAS}, which AutoPublishAlias creates"
        );
        let suffix = props["FunctionName"]["Fn::Sub"]
            .as_str()
            .and_then(|n| n.strip_prefix("${AWS::StackName}-"))
            .unwrap_or_else(|| {
                panic!("{f}: FunctionName must be !Sub '${{AWS::StackName}}-<name>'")
            })
            .to_owned();
        for route in t.event_routes(f) {
            assert!(
                from_events.insert(route.clone(), suffix.clone()).is_none(),
                "{route} served twice"
            );
        }
        // The function's timeout ends before the API gives up on it.
        if let Some(ms) = integration_timeout_ms(body, &suffix) {
            let timeout = props["Timeout"].as_u64().unwrap_or(3);
            assert!(
                timeout * 1000 < ms,
                "{f}: Timeout {timeout} s is not below the integration's {ms} ms"
            );
        }
    }
    assert_eq!(
        from_body, from_events,
        "the API's routes and the functions' events disagree"
    );
}

#[test]
fn a_custom_domain_needs_a_certificate_and_is_created_only_when_named() {
    let t = template();
    for name in ["CustomDomain", "CustomDomainMapping"] {
        assert_eq!(
            t.resource(name)["Condition"],
            json!("HasCustomDomain"),
            "{name}"
        );
    }
    let condition = t.doc["Conditions"]["HasCustomDomain"].to_string();
    assert!(
        condition.contains("DomainName") && condition.contains("CertificateArn"),
        "{condition}"
    );
    let rule = &t.doc["Rules"]["CustomDomainNeedsCertificate"];
    assert_eq!(
        rule["Assertions"][0]["Assert"],
        json!({"Fn::Not": [{"Fn::Equals": [{"Ref": "CertificateArn"}, ""]}]})
    );
    assert_eq!(
        t.resource("CustomDomain")["Properties"]["DomainNameConfigurations"][0]["SecurityPolicy"],
        json!("TLS_1_2")
    );
}

#[test]
fn every_function_has_alarms_on_errors_and_throttles() {
    let t = template();
    let alarms = t.of_type("AWS::CloudWatch::Alarm");
    for f in t.functions() {
        for metric in ["Errors", "Throttles"] {
            let found = alarms.iter().find(|(_, a)| {
                let p = &a["Properties"];
                p["Namespace"] == json!("AWS/Lambda")
                    && p["MetricName"] == json!(metric)
                    && p["Dimensions"] == json!([{"Name": "FunctionName", "Value": {"Ref": f}}])
            });
            let (alarm, a) = found.unwrap_or_else(|| panic!("{f}: no {metric} alarm"));
            let actions = as_list(&a["Properties"]["AlarmActions"]);
            assert!(
                actions
                    .iter()
                    .any(|x| ref_target(x).is_some_and(|r| t.type_of(&r) == "AWS::SNS::Topic")),
                "{alarm}: notifies no SNS topic"
            );
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Backups
// ---------------------------------------------------------------------------------------------

/// The backup bucket's own ARN and its objects' ARNs.
fn bucket_resources() -> Value {
    json!([
        {"Fn::GetAtt": ["BackupBucket", "Arn"]},
        {"Fn::Sub": "${BackupBucket.Arn}/*"}
    ])
}

fn bucket_policy_statements(t: &Template) -> Vec<Value> {
    let policies: Vec<_> = t
        .of_type("AWS::S3::BucketPolicy")
        .into_iter()
        .filter(|(_, p)| p["Properties"]["Bucket"] == json!({"Ref": "BackupBucket"}))
        .collect();
    assert_eq!(policies.len(), 1, "BackupBucket: one bucket policy");
    statements(&policies[0].1["Properties"]["PolicyDocument"])
        .into_iter()
        .cloned()
        .collect()
}

#[test]
fn every_bucket_refuses_plain_http_and_tls_below_1_2() {
    let t = template();
    let buckets = t.of_type("AWS::S3::Bucket");
    assert_eq!(
        buckets.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>(),
        ["BackupBucket"]
    );
    let statements = bucket_policy_statements(t);
    let denies = |condition: Value| {
        statements.iter().any(|s| {
            s["Effect"] == json!("Deny")
                && s["Principal"] == json!("*")
                && actions(s) == vec!["s3:*".to_owned()]
                && s["Resource"] == bucket_resources()
                && s["Condition"] == condition
        })
    };
    assert!(
        denies(json!({"Bool": {"aws:SecureTransport": "false"}})),
        "BackupBucket: no statement denying requests without TLS"
    );
    assert!(
        denies(json!({"NumericLessThan": {"s3:TlsVersion": "1.2"}})),
        "BackupBucket: no statement denying TLS below 1.2"
    );
    // The bucket policy only refuses; access is granted by the backup role.
    for s in &statements {
        assert_eq!(
            s["Effect"],
            json!("Deny"),
            "BackupBucket's policy allows: {s}"
        );
    }
}

#[test]
fn the_backup_bucket_blocks_public_access_keeps_versions_and_encrypts_under_a_key_only_s3_uses() {
    let t = template();
    let bucket = t.resource("BackupBucket");
    let p = &bucket["Properties"];
    assert_eq!(
        p["PublicAccessBlockConfiguration"],
        json!({"BlockPublicAcls": true, "BlockPublicPolicy": true, "IgnorePublicAcls": true, "RestrictPublicBuckets": true})
    );
    assert_eq!(
        p["OwnershipControls"],
        json!({"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]}),
        "no ACLs"
    );
    assert_eq!(p["VersioningConfiguration"], json!({"Status": "Enabled"}));
    assert_eq!(
        p["BucketEncryption"],
        json!({"ServerSideEncryptionConfiguration": [{
            "ServerSideEncryptionByDefault": {
                "SSEAlgorithm": "aws:kms",
                "KMSMasterKeyID": {"Fn::GetAtt": ["BackupBucketKey", "Arn"]}
            },
            "BucketKeyEnabled": true
        }]})
    );
    assert_eq!(bucket["DeletionPolicy"], json!("Retain"));
    assert_eq!(bucket["UpdateReplacePolicy"], json!("Retain"));
    // The bucket key: no one but the account root in its policy; roles use it only through S3
    // (checked for every role in the_keys_are_used_only_through_dynamodb_or_for_a_named_sealing_purpose).
    assert!(
        non_root_statements(&t.resource("BackupBucketKey")["Properties"]["KeyPolicy"]).is_empty(),
        "BackupBucketKey: a statement besides the account root's"
    );
}

#[test]
fn backups_expire_after_the_retention_and_noncurrent_versions_and_incomplete_uploads_expire() {
    let t = template();
    let rules = t.resource("BackupBucket")["Properties"]["LifecycleConfiguration"]["Rules"]
        .as_array()
        .expect("lifecycle rules")
        .clone();
    for r in &rules {
        assert_eq!(r["Status"], json!("Enabled"), "{r}");
        assert!(
            r.get("Prefix").is_none() && r.get("Filter").is_none(),
            "{r}: every rule covers the whole bucket"
        );
    }
    let expire = rules
        .iter()
        .find(|r| r.get("ExpirationInDays").is_some())
        .expect("a rule that expires backups");
    assert_eq!(
        expire["ExpirationInDays"],
        json!({"Ref": "BackupRetentionDays"})
    );
    let noncurrent = number(&expire["NoncurrentVersionExpiration"]["NoncurrentDays"])
        .expect("noncurrent versions expire");
    assert!(
        (1..=30).contains(&noncurrent),
        "NoncurrentDays {noncurrent}"
    );
    let abort = number(&expire["AbortIncompleteMultipartUpload"]["DaysAfterInitiation"])
        .expect("incomplete multipart uploads expire");
    assert!((1..=7).contains(&abort), "DaysAfterInitiation {abort}");
    assert!(
        rules
            .iter()
            .any(|r| r["ExpiredObjectDeleteMarker"] == json!(true)),
        "delete markers left by expiry are removed"
    );
    let retention = t.parameter("BackupRetentionDays");
    assert_eq!(retention["Type"], json!("Number"));
    let (min, default) = (
        number(&retention["MinValue"]).expect("MinValue"),
        number(&retention["Default"]).expect("Default"),
    );
    assert!(
        min >= 7 && default >= 30,
        "retention {min}..., default {default}"
    );
    // infra/DEPLOY.md states the retention with the numbers the template sets.
    let deploy = std::fs::read_to_string(root().join("infra/DEPLOY.md")).expect("infra/DEPLOY.md");
    for promise in [
        format!("`BackupRetentionDays` ({default} by default)"),
        format!("{noncurrent} days later"),
        format!("after {abort} day"),
    ] {
        assert!(
            deploy.contains(&promise),
            "infra/DEPLOY.md does not say {promise:?}"
        );
    }
}

#[test]
fn object_lock_is_optional_governs_each_backup_for_the_days_given_and_is_off_by_default() {
    let t = template();
    let p = &t.resource("BackupBucket")["Properties"];
    assert_eq!(
        p["ObjectLockEnabled"],
        json!({"Fn::If": ["HasBackupObjectLock", true, {"Ref": "AWS::NoValue"}]})
    );
    assert_eq!(
        p["ObjectLockConfiguration"],
        json!({"Fn::If": ["HasBackupObjectLock", {
            "ObjectLockEnabled": "Enabled",
            "Rule": {"DefaultRetention": {"Mode": "GOVERNANCE", "Days": {"Ref": "BackupObjectLockDays"}}}
        }, {"Ref": "AWS::NoValue"}]})
    );
    assert_eq!(
        t.doc["Conditions"]["HasBackupObjectLock"],
        json!({"Fn::Not": [{"Fn::Equals": [{"Ref": "BackupObjectLockDays"}, 0]}]})
    );
    assert_eq!(
        t.parameter("BackupObjectLockDays")["Default"],
        json!(0),
        "off by default"
    );
}

#[test]
fn the_backup_role_may_put_and_read_this_environments_backups_but_never_delete() {
    let t = template();
    let mut expected = logs_grants("BackupLogGroup");
    for action in ["dynamodb:Query", "dynamodb:GetItem", "dynamodb:PutItem"] {
        for resource in [
            json!({"Fn::GetAtt": ["AppTable", "Arn"]}),
            json!({"Fn::Sub": format!("${{AppTable.Arn}}/index/{}", adapters::aws::dynamo::SORT_KEY_INDEX)}),
        ] {
            expected.insert(grant(action, resource, Value::Null));
        }
    }
    expected.insert(table_key_grant());
    for action in ["kms:GenerateDataKey", "kms:Decrypt"] {
        expected.insert(grant(
            action,
            json!({"Fn::GetAtt": ["BackupKey", "Arn"]}),
            backup_key_condition(),
        ));
        expected.insert(grant(
            action,
            json!({"Fn::GetAtt": ["BackupBucketKey", "Arn"]}),
            json!({"StringEquals": {"kms:ViaService": {"Fn::Sub": "s3.${AWS::Region}.${AWS::URLSuffix}"}}}),
        ));
    }
    for action in ["s3:PutObject", "s3:GetObject"] {
        expected.insert(grant(
            action,
            json!({"Fn::Sub": "${BackupBucket.Arn}/backups/${EnvironmentName}/*"}),
            Value::Null,
        ));
    }
    expected.insert(grant(
        "s3:ListBucket",
        json!({"Fn::GetAtt": ["BackupBucket", "Arn"]}),
        json!({"StringLike": {"s3:prefix": {"Fn::Sub": "backups/${EnvironmentName}/*"}}}),
    ));
    assert_grants(t, "BackupRole", &expected);

    // No role may delete a backup, scan the table or delete its items through the backup role; the
    // bucket policy denies the backup role every delete and every change of the protections.
    for (role, _) in t.of_type("AWS::IAM::Role") {
        for row in grants(t, &role) {
            let (action, _, _) = parse_grant(&row);
            assert!(
                !action.starts_with("s3:Delete") && action != "s3:AbortMultipartUpload",
                "{role}: {action}"
            );
            assert_ne!(action, "dynamodb:Scan", "{role}: a table scan");
        }
    }
    let deny = bucket_policy_statements(t)
        .into_iter()
        .find(|s| s["Principal"] == json!({"AWS": {"Fn::GetAtt": ["BackupRole", "Arn"]}}))
        .expect("a statement for the backup role");
    assert_eq!(deny["Effect"], json!("Deny"));
    assert_eq!(deny["Resource"], bucket_resources());
    let denied: BTreeSet<String> = actions(&deny).into_iter().collect();
    for action in [
        "s3:DeleteObject",
        "s3:DeleteObjectVersion",
        "s3:PutLifecycleConfiguration",
        "s3:PutBucketPolicy",
        "s3:PutBucketVersioning",
        "s3:BypassGovernanceRetention",
    ] {
        assert!(
            denied.contains(action),
            "the backup role is not denied {action}"
        );
    }
}

#[test]
fn the_backup_key_rotates_and_refuses_any_use_without_this_app_environment_and_purpose() {
    let t = template();
    let key = t.resource("BackupKey");
    assert_eq!(key["Properties"]["EnableKeyRotation"], json!(true));
    assert_eq!(key["DeletionPolicy"], json!("Retain"));
    let root = json!({"AWS": {"Fn::Sub": "arn:${AWS::Partition}:iam::${AWS::AccountId}:root"}});
    let crypto: BTreeSet<String> = [
        "kms:Encrypt",
        "kms:Decrypt",
        "kms:ReEncryptFrom",
        "kms:ReEncryptTo",
        "kms:GenerateDataKey",
        "kms:GenerateDataKeyWithoutPlaintext",
    ]
    .iter()
    .map(|a| (*a).to_owned())
    .collect();
    let mut scoped = BTreeMap::new();
    assert!(
        non_root_statements(&key["Properties"]["KeyPolicy"]).is_empty(),
        "BackupKey: a statement for someone other than the account"
    );
    for s in statements(&key["Properties"]["KeyPolicy"]) {
        if s["Effect"] != json!("Deny") {
            continue;
        }
        // A deny naming the account binds every role and user in it.
        assert_eq!(s["Principal"], root, "{s}");
        assert_eq!(
            actions(s).into_iter().collect::<BTreeSet<_>>(),
            crypto,
            "every cryptographic use is covered: {s}"
        );
        let condition = s["Condition"]["StringNotEquals"]
            .as_object()
            .expect("StringNotEquals");
        assert_eq!(
            condition.len(),
            1,
            "one context key per statement (denies add up): {s}"
        );
        let (k, v) = condition.iter().next().expect("a key");
        scoped.insert(k.clone(), v.clone());
    }
    assert_eq!(
        scoped,
        BTreeMap::from([
            (
                "kms:EncryptionContext:app".to_owned(),
                json!({"Ref": "AppName"})
            ),
            (
                "kms:EncryptionContext:environment".to_owned(),
                json!({"Ref": "EnvironmentName"})
            ),
            (
                "kms:EncryptionContext:purpose".to_owned(),
                json!(domain::backup::keys::PURPOSE)
            ),
        ])
    );
    // The context the code sends names exactly these.
    let sent = domain::backup::keys::wrapping_context(
        "superoffice-app",
        "sod",
        &domain::backup::Scope::App,
    );
    for k in scoped.keys() {
        let name = k.trim_start_matches("kms:EncryptionContext:");
        assert!(sent.contains_key(name), "the code does not send {name}");
    }
}

#[test]
fn the_backup_function_runs_with_one_malloc_arena_as_its_benchmark_measured() {
    // tests/benches/backup.rs runs its child the same way; without it the process grows with the
    // data (glibc keeps freed message buffers in per-thread arenas).
    let t = template();
    let env = &t.function_properties("BackupFunction")["Environment"]["Variables"];
    assert_eq!(env["MALLOC_ARENA_MAX"], json!("1"));
    let bench = std::fs::read_to_string(root().join("tests/benches/backup.rs")).expect("bench");
    assert!(bench.contains(r#"command.env("MALLOC_ARENA_MAX", "1")"#));
}

#[test]
fn backups_run_on_the_interval_parameter_continue_every_15_minutes_and_the_drill_verifies_more_often()
 {
    let t = template();
    let props = t.function_properties("BackupFunction");
    let events = props["Events"].as_object().expect("backup Events");
    let mut inputs = BTreeMap::new();
    for (name, e) in events {
        assert_eq!(e["Type"], json!("Schedule"), "{name}");
        let input: Value =
            serde_json::from_str(e["Properties"]["Input"].as_str().expect("Input")).expect("JSON");
        assert!(
            backup::action(input.clone()).is_ok(),
            "{name}: the function does not take {input}"
        );
        inputs.insert(
            input["action"].as_str().expect("action").to_owned(),
            e["Properties"]["Schedule"].clone(),
        );
    }
    assert_eq!(
        inputs["backup"],
        json!({"Fn::FindInMap": ["BackupIntervals", {"Ref": "BackupInterval"}, "Schedule"]})
    );
    assert_eq!(inputs["continue"], json!("rate(15 minutes)"));
    assert_eq!(
        inputs["verify"],
        json!({"Fn::FindInMap": ["BackupIntervals", {"Ref": "BackupInterval"}, "DrillSchedule"]})
    );
    let p = t.parameter("BackupInterval");
    assert_eq!(p["Default"], json!("daily"));
    let mappings = &t.doc["Mappings"]["BackupIntervals"];
    for interval in p["AllowedValues"].as_array().expect("AllowedValues") {
        let m = &mappings[interval.as_str().expect("name")];
        let every = rate_seconds(&m["Schedule"]);
        let drill = rate_seconds(&m["DrillSchedule"]);
        assert!(
            drill < every,
            "{interval}: the drill runs more often than the backup"
        );
    }
    assert_eq!(
        rate_seconds(&mappings["daily"]["Schedule"]),
        86_400,
        "daily by default"
    );
}

/// Seconds of an EventBridge `rate(N unit)` expression.
fn rate_seconds(expression: &Value) -> u64 {
    let text = expression.as_str().expect("a rate expression");
    let inner = text
        .strip_prefix("rate(")
        .and_then(|r| r.strip_suffix(')'))
        .unwrap_or_else(|| panic!("{text}: not rate(...)"));
    let (n, unit) = inner.split_once(' ').expect("N unit");
    let n: u64 = n.parse().expect("a number");
    n * match unit.trim_end_matches('s') {
        "minute" => 60,
        "hour" => 3600,
        "day" => 86_400,
        other => panic!("{text}: unit {other}"),
    }
}

#[test]
fn the_freshness_alarm_fires_when_the_newest_verified_backup_is_older_than_the_schedule_allows() {
    let t = template();
    let a = &t.resource("BackupFreshnessAlarm")["Properties"];
    assert_eq!(
        a["Namespace"],
        json!({"Fn::Sub": "${AWS::StackName}/backup"})
    );
    assert_eq!(a["MetricName"], json!("NewestVerifiedBackupAgeSeconds"));
    assert_eq!(a["Statistic"], json!("Maximum"));
    assert_eq!(a["ComparisonOperator"], json!("GreaterThanThreshold"));
    assert_eq!(
        a["TreatMissingData"],
        json!("breaching"),
        "a drill that stopped reporting is a failure"
    );
    assert_eq!(a["Period"], json!(3600));
    let find = |field: &str| json!({"Fn::FindInMap": ["BackupIntervals", {"Ref": "BackupInterval"}, field]});
    assert_eq!(a["Threshold"], find("MaxAgeSeconds"));
    assert_eq!(a["EvaluationPeriods"], find("AlarmHours"));
    assert_eq!(a["DatapointsToAlarm"], find("AlarmHours"));
    assert!(
        as_list(&a["AlarmActions"])
            .iter()
            .any(|x| ref_target(x).is_some_and(|r| t.type_of(&r) == "AWS::SNS::Topic")),
        "notifies no SNS topic"
    );
    for (interval, m) in t.doc["Mappings"]["BackupIntervals"]
        .as_object()
        .expect("mapping")
    {
        let every = rate_seconds(&m["Schedule"]);
        let drill = rate_seconds(&m["DrillSchedule"]);
        let max_age = number(&m["MaxAgeSeconds"]).expect("MaxAgeSeconds");
        let hours = number(&m["AlarmHours"]).expect("AlarmHours");
        // A healthy schedule never alarms: just before a new backup is verified, the newest
        // verified one is one interval and (at most) one drill interval old, plus a run's length.
        assert!(
            max_age >= every + drill + 3600,
            "{interval}: {max_age} s leaves no room for the schedule"
        );
        // ... and a stalled one alarms within a second interval.
        assert!(
            max_age <= 2 * every,
            "{interval}: {max_age} s hides a missed backup"
        );
        // Missing data alarms only when a drill has had time to report: more hours than one drill
        // interval.
        assert!(
            hours * 3600 > drill && hours <= 24,
            "{interval}: {hours} hours against a drill every {drill} s"
        );
    }
    // The function writes the metrics the alarms read (app::backup::metrics; the lines themselves
    // are read back in tests/metric_lines.rs), in the namespace the template gives it.
    let written: Vec<&str> = app::backup::metrics::METRICS
        .iter()
        .map(|(n, _)| *n)
        .collect();
    for metric in ["NewestVerifiedBackupAgeSeconds", "BackupVerified"] {
        assert!(written.contains(&metric), "{metric} is not written");
    }
    assert_eq!(
        t.function_properties("BackupFunction")["Environment"]["Variables"]["APP_METRICS_NAMESPACE"],
        a["Namespace"],
        "the alarms read the namespace the function writes to"
    );
    let d = &t.resource("BackupDrillFailedAlarm")["Properties"];
    assert_eq!(d["MetricName"], json!("BackupVerified"));
    assert_eq!(d["Namespace"], a["Namespace"]);
    assert_eq!(d["ComparisonOperator"], json!("LessThanThreshold"));
    assert_eq!(d["Threshold"], json!(1));
}

// ---------------------------------------------------------------------------------------------
// The security scan (checkov, run by scripts/lint-template)
// ---------------------------------------------------------------------------------------------

// ---------------------------------------------------------------------------------------------
// The edge: throttles per kind of caller, HEAD, alarms on rates (issue 11)
// ---------------------------------------------------------------------------------------------

#[test]
fn every_page_the_api_serves_by_get_it_also_serves_by_head() {
    let t = template();
    let routes: BTreeSet<String> = t
        .functions()
        .iter()
        .flat_map(|f| t.event_routes(f))
        .collect();
    for route in &routes {
        let Some(path) = route.strip_prefix("GET ") else {
            continue;
        };
        // `/callback` is not a page: the flow posts to it, and a GET is refused.
        if path == "/callback" {
            continue;
        }
        assert!(routes.contains(&format!("HEAD {path}")), "no HEAD {path}");
    }
}

#[test]
fn the_webhook_route_and_the_sign_in_routes_each_have_a_throttle_of_their_own() {
    let props = &template().resource("HttpApi")["Properties"];
    let default_rate = number(&props["DefaultRouteSettings"]["ThrottlingRateLimit"]).unwrap();
    let settings = props["RouteSettings"]
        .as_object()
        .expect("HttpApi has RouteSettings");
    let limits = |route: &str| {
        let s = settings
            .get(route)
            .unwrap_or_else(|| panic!("{route} has no throttle of its own"));
        (
            number(&s["ThrottlingRateLimit"]).expect("a rate"),
            number(&s["ThrottlingBurstLimit"]).expect("a burst"),
        )
    };
    let webhook = limits(WEBHOOKS_ROUTES[0]);
    for route in ["GET /login", "POST /callback", "GET /callback"] {
        let (rate, burst) = limits(route);
        assert!(rate > 0 && burst >= rate, "{route}");
        assert!(
            rate < default_rate,
            "{route}: below the default, so a flood there stays there"
        );
        assert_ne!(
            (rate, burst),
            webhook,
            "{route} shares the webhook route's budget"
        );
    }
    assert!(
        webhook.0 >= default_rate,
        "SuperOffice's deliveries get at least the default rate"
    );
    // Every throttled route is a route of the API.
    let t = template();
    let routes: BTreeSet<String> = t
        .functions()
        .iter()
        .flat_map(|f| t.event_routes(f))
        .collect();
    for route in settings.keys() {
        assert!(routes.contains(route), "{route} is not a route");
    }
}

/// The alarm named `name` and the metric ids of its metric-math expression.
fn math_alarm<'a>(t: &'a Template, name: &str) -> (&'a Value, BTreeMap<String, &'a Value>) {
    let alarm = t.resource(name);
    assert_eq!(alarm["Type"], json!("AWS::CloudWatch::Alarm"), "{name}");
    let metrics: BTreeMap<String, &Value> = alarm["Properties"]["Metrics"]
        .as_array()
        .unwrap_or_else(|| panic!("{name}: a metric-math alarm"))
        .iter()
        .map(|m| (m["Id"].as_str().unwrap().to_owned(), m))
        .collect();
    (alarm, metrics)
}

#[test]
fn the_api_raises_alarms_on_its_4xx_5xx_and_throttled_rates() {
    let t = template();
    for (name, metric, threshold) in [
        ("HttpApi4xxRateAlarm", "4xx", 25),
        ("HttpApi5xxRateAlarm", "5xx", 5),
    ] {
        let (alarm, metrics) = math_alarm(t, name);
        let returned: Vec<_> = metrics
            .values()
            .filter(|m| m["ReturnData"] == json!(true))
            .collect();
        assert_eq!(returned.len(), 1, "{name}: one expression is the alarm's");
        let expression = returned[0]["Expression"].as_str().unwrap();
        // A rate: the errors divided by all requests of the same API, in percent.
        let stat = |id: &str| {
            let m = metrics[id]["MetricStat"]["Metric"].clone();
            assert_eq!(m["Namespace"], json!("AWS/ApiGateway"), "{name}/{id}");
            assert_eq!(
                m["Dimensions"],
                json!([{"Name": "ApiId", "Value": {"Ref": "HttpApi"}}]),
                "{name}/{id}"
            );
            m["MetricName"].as_str().unwrap().to_owned()
        };
        let errors = metrics
            .keys()
            .find(|id| metrics[*id].get("MetricStat").is_some() && stat(id) == metric)
            .unwrap_or_else(|| panic!("{name}: no {metric} metric"));
        let requests = metrics
            .keys()
            .find(|id| metrics[*id].get("MetricStat").is_some() && stat(id) == "Count")
            .unwrap_or_else(|| panic!("{name}: no Count metric"));
        assert!(
            expression.contains(&format!("100 * {errors} / {requests}")),
            "{name}: {expression}"
        );
        let p = &alarm["Properties"];
        assert_eq!(number(&p["Threshold"]), Some(threshold), "{name}");
        assert_eq!(p["AlarmActions"], json!([{"Ref": "AlarmTopic"}]), "{name}");
    }

    // Throttling: a 429 in the access log (HTTP APIs publish no throttle metric).
    let filter = t.resource("HttpApiThrottledMetric")["Properties"].clone();
    assert_eq!(
        filter["LogGroupName"],
        json!({"Ref": "HttpApiAccessLogGroup"})
    );
    assert_eq!(filter["FilterPattern"], json!("{ $.status = \"429\" }"));
    let format = t.resource("HttpApi")["Properties"]["AccessLogSettings"]["Format"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        format.contains("\"status\":\"$context.status\""),
        "the access log has the status the filter reads"
    );
    assert_metric_alarm(t, "HttpApiThrottledAlarm", &filter);
}

/// The alarm `name` watches the metric the filter writes, and notifies the alarm topic.
fn assert_metric_alarm(t: &Template, name: &str, filter: &Value) {
    let transformation = &filter["MetricTransformations"][0];
    let p = &t.resource(name)["Properties"];
    assert_eq!(p["Namespace"], transformation["MetricNamespace"], "{name}");
    assert_eq!(p["MetricName"], transformation["MetricName"], "{name}");
    assert_eq!(p["Statistic"], json!("Sum"), "{name}");
    assert_eq!(p["AlarmActions"], json!([{"Ref": "AlarmTopic"}]), "{name}");
    assert_eq!(p["TreatMissingData"], json!("notBreaching"), "{name}");
}

#[test]
fn a_failed_jwks_refresh_on_last_known_good_keys_raises_an_alarm_in_every_function_that_validates_tokens()
 {
    let t = template();
    let metric = superoffice::metrics::JWKS_LAST_KNOWN_GOOD;
    // The functions that validate SuperOffice tokens: sign-in (id_tokens), the worker (the
    // system user's JWT) and the state-change receiver (the push's token).
    for (filter_name, log_group) in [
        ("RedirectJwksLastKnownGoodMetric", "RedirectLogGroup"),
        ("WorkerJwksLastKnownGoodMetric", "WorkerLogGroup"),
        ("LifecycleJwksLastKnownGoodMetric", "LifecycleLogGroup"),
    ] {
        let filter = t.resource(filter_name)["Properties"].clone();
        assert_eq!(
            filter["LogGroupName"],
            json!({"Ref": log_group}),
            "{filter_name}"
        );
        assert_eq!(
            filter["FilterPattern"],
            json!(format!("{{ $.{metric} = 1 }}")),
            "{filter_name}: the field the embedded-metric line carries"
        );
        assert_eq!(
            filter["MetricTransformations"][0]["MetricName"],
            json!(metric),
            "{filter_name}"
        );
        assert_metric_alarm(t, "JwksLastKnownGoodAlarm", &filter);
    }
    // The line the filters read is what superoffice::metrics writes.
    let line = superoffice::metrics::emf_line(
        metric,
        "jwks_refresh_failed",
        "f",
        std::time::SystemTime::now(),
    );
    let v: Value = serde_json::from_str(&line).unwrap();
    assert_eq!(v[metric], json!(1));
}

// ---------------------------------------------------------------------------------------------
// Metrics (issue 15): the availability budget, SuperOffice's throttling, the dashboard
// ---------------------------------------------------------------------------------------------

/// The availability the SLA asks for: percent of requests answered without a server error.
const SLA_PERCENT: f64 = 99.8;

#[test]
fn the_availability_budget_raises_burn_rate_alarms_on_the_apis_5xx_rate() {
    let t = template();
    let budget = 100.0 - SLA_PERCENT;
    for (name, window, burn) in [
        ("HttpApiAvailabilityFastBurnAlarm", 3600, 14.4),
        ("HttpApiAvailabilitySlowBurnAlarm", 6 * 3600, 6.0),
    ] {
        let (alarm, metrics) = math_alarm(t, name);
        let returned: Vec<_> = metrics
            .values()
            .filter(|m| m["ReturnData"] == json!(true))
            .collect();
        assert_eq!(returned.len(), 1, "{name}: one expression is the alarm's");
        let expression = returned[0]["Expression"].as_str().unwrap();
        let id_of = |metric: &str| {
            let (id, m) = metrics
                .iter()
                .find(|(_, m)| m["MetricStat"]["Metric"]["MetricName"] == json!(metric))
                .unwrap_or_else(|| panic!("{name}: no {metric}"));
            let stat = &m["MetricStat"];
            assert_eq!(
                stat["Metric"]["Namespace"],
                json!("AWS/ApiGateway"),
                "{name}/{id}"
            );
            assert_eq!(
                stat["Metric"]["Dimensions"],
                json!([{"Name": "ApiId", "Value": {"Ref": "HttpApi"}}]),
                "{name}/{id}"
            );
            assert_eq!(
                number(&stat["Period"]),
                Some(window),
                "{name}/{id}: the window"
            );
            assert_eq!(stat["Stat"], json!("Sum"), "{name}/{id}");
            id.clone()
        };
        let (errors, requests) = (id_of("5xx"), id_of("Count"));
        assert!(
            expression.contains(&format!("100 * {errors} / {requests}")),
            "{name}: {expression}"
        );
        let p = &alarm["Properties"];
        let threshold = p["Threshold"].as_f64().expect("Threshold");
        assert!(
            (threshold - burn * budget).abs() < 1e-9,
            "{name}: {threshold} % is not {burn} times the budget of {budget} %"
        );
        assert_eq!(
            p["ComparisonOperator"],
            json!("GreaterThanThreshold"),
            "{name}"
        );
        assert_eq!(number(&p["EvaluationPeriods"]), Some(1), "{name}");
        assert_eq!(p["AlarmActions"], json!([{"Ref": "AlarmTopic"}]), "{name}");
        assert_eq!(p["TreatMissingData"], json!("notBreaching"), "{name}");
    }
    // A few failures at low traffic still raise the count alarm.
    let count = &t.resource("HttpApi5xxAlarm")["Properties"];
    assert_eq!(count["MetricName"], json!("5xx"));
    assert_eq!(count["AlarmActions"], json!([{"Ref": "AlarmTopic"}]));
}

#[test]
fn superoffice_throttling_raises_an_alarm_from_the_workers_usage_lines() {
    let t = template();
    let metric = telemetry::metrics::SUPEROFFICE_THROTTLED.name;
    let filter = t.resource("SuperOfficeThrottledMetric")["Properties"].clone();
    assert_eq!(filter["LogGroupName"], json!({"Ref": "WorkerLogGroup"}));
    assert_eq!(
        filter["FilterPattern"],
        json!(format!("{{ $.{metric} > 0 }}"))
    );
    let transformation = &filter["MetricTransformations"][0];
    assert_eq!(transformation["MetricName"], json!(metric));
    assert_eq!(transformation["MetricValue"], json!(format!("$.{metric}")));
    assert_metric_alarm(t, "SuperOfficeThrottledAlarm", &filter);
    // The line the filter reads is what the worker writes: the member is a number.
    let usage = telemetry::metrics::Usage {
        calls: 12,
        throttled: 3,
        ..Default::default()
    };
    let line = telemetry::metrics::superoffice_usage_line(
        "Cust12345",
        "2026-12-01",
        usage,
        "stack-worker",
        std::time::SystemTime::now(),
    );
    let v = telemetry::emf::check(&line).unwrap();
    assert_eq!(v[metric], json!(3));
    assert_eq!(v["tenant"], json!("Cust12345"), "the tenant is a property");
}

#[test]
fn no_function_filters_its_metric_lines_away_by_log_level_or_switches_them_off() {
    // Metric lines carry no `level`, which Lambda files as INFO: a function whose application log
    // level were raised above INFO would drop them (and the dashboard and alarms with them).
    let t = template();
    for f in t.functions() {
        let logging = &t.function_properties(&f)["LoggingConfig"];
        assert_eq!(logging["LogFormat"], json!("JSON"), "{f}");
        if let Some(level) = logging.get("ApplicationLogLevel") {
            assert!(
                ["TRACE", "DEBUG", "INFO"].contains(&level.as_str().unwrap_or_default()),
                "{f}: ApplicationLogLevel {level} drops the metric lines"
            );
        }
        // APP_METRICS=off (telemetry::sink) is for benchmarks and local runs only.
        assert!(
            t.function_properties(&f)["Environment"]["Variables"]
                .get("APP_METRICS")
                .is_none(),
            "{f}: APP_METRICS switches the metric lines off"
        );
    }
}

/// The dashboard's body with its `!Sub` references resolved to recognisable stand-ins:
/// `${AWS::StackName}` → `STACK`, `${AWS::Region}` → `REGION`, `${X}` → `ref:X`, `${X.Attr}` →
/// `X.Attr` (each checked to name a resource of the template).
fn dashboard_body(t: &Template) -> Value {
    let dashboard = t.resource("Dashboard");
    assert_eq!(dashboard["Type"], json!("AWS::CloudWatch::Dashboard"));
    let p = &dashboard["Properties"];
    assert_eq!(p["DashboardName"], json!({"Ref": "AWS::StackName"}));
    let text = p["DashboardBody"]["Fn::Sub"]
        .as_str()
        .expect("DashboardBody: !Sub of a JSON text");
    let mut out = String::new();
    let mut rest = text;
    while let Some(at) = rest.find("${") {
        out.push_str(&rest[..at]);
        let end = rest[at..].find('}').expect("an unclosed ${") + at;
        let name = &rest[at + 2..end];
        let resolved = match name {
            "AWS::StackName" => "STACK".to_owned(),
            "AWS::Region" => "REGION".to_owned(),
            _ => {
                let resource = name.split('.').next().unwrap();
                assert!(
                    !t.type_of(resource).is_empty(),
                    "the dashboard names ${{{name}}}, not a resource"
                );
                if name.contains('.') {
                    name.to_owned()
                } else {
                    format!("ref:{name}")
                }
            }
        };
        out.push_str(&resolved);
        rest = &rest[end + 1..];
    }
    out.push_str(rest);
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("the dashboard body is not JSON: {e}"))
}

/// The app's metric `name` with exactly these dimensions, as `telemetry::metrics` writes it.
fn app_writes(name: &str, dimensions: &[&str]) -> bool {
    telemetry::metrics::ALL.iter().any(|(_, shape)| {
        shape
            .iter()
            .any(|d| d.dimensions == dimensions && d.metrics.iter().any(|m| m.name == name))
    })
}

/// The functions (binary names) that write the app's metric `name`.
fn writers(name: &str) -> &'static [&'static str] {
    match name {
        "Requests" | "Latency" => &["redirect", "install", "webhooks", "lifecycle"],
        "SignIns" => &["redirect"],
        "Jobs" => &["install", "worker", "lifecycle"],
        n if n.starts_with("SuperOffice") => &["worker"],
        "JwksLastKnownGoodInUse" => &["redirect", "worker", "lifecycle"],
        other => panic!("no function writes {other}"),
    }
}

/// Checks one metric of the dashboard; returns its name.
fn check_dashboard_metric(t: &Template, widget: &str, row: &[Value]) -> String {
    let strings: Vec<&str> = row.iter().filter_map(Value::as_str).collect();
    let (namespace, name, dims) = (strings[0], strings[1], &strings[2..]);
    assert!(dims.len() % 2 == 0, "{widget}: {row:?}");
    let pairs: Vec<(&str, &str)> = dims.chunks(2).map(|c| (c[0], c[1])).collect();
    let names: Vec<&str> = pairs.iter().map(|(n, _)| *n).collect();
    match namespace {
        telemetry::metrics::NAMESPACE => {
            assert!(
                app_writes(name, &names),
                "{widget}: the app writes no {name} by {names:?}"
            );
            for (dim, value) in &pairs {
                if *dim == telemetry::metrics::FUNCTION {
                    let function = value
                        .strip_prefix("STACK-")
                        .expect("a function of this stack");
                    assert!(
                        writers(name).contains(&function),
                        "{widget}: {function} writes no {name}"
                    );
                }
            }
        }
        "AWS/ApiGateway" => {
            assert_eq!(pairs, [("ApiId", "ref:HttpApi")], "{widget}: {name}");
        }
        "AWS/SQS" => {
            assert_eq!(names, ["QueueName"], "{widget}: {name}");
            let queue = pairs[0]
                .1
                .strip_suffix(".QueueName")
                .expect("a queue's name");
            assert_eq!(t.type_of(queue), "AWS::SQS::Queue", "{widget}");
        }
        "STACK/backup" => {
            // The backup function's own lines (no dimensions), in the namespace the template
            // gives it.
            assert!(
                app::backup::metrics::METRICS
                    .iter()
                    .any(|(n, _)| *n == name),
                "{widget}: the backup writes no {name}"
            );
            assert!(dims.is_empty(), "{widget}: {name} has no dimensions");
            assert_eq!(
                t.function_properties("BackupFunction")["Environment"]["Variables"]["APP_METRICS_NAMESPACE"],
                json!({"Fn::Sub": "${AWS::StackName}/backup"}),
                "{widget}"
            );
        }
        "STACK" => {
            // A metric one of the template's log metric filters writes.
            let written = t.of_type("AWS::Logs::MetricFilter").iter().any(|(_, f)| {
                let m = &f["Properties"]["MetricTransformations"][0];
                m["MetricNamespace"] == json!({"Ref": "AWS::StackName"})
                    && m["MetricName"] == json!(name)
            });
            assert!(
                written && dims.is_empty(),
                "{widget}: no filter writes STACK/{name}"
            );
        }
        other => panic!("{widget}: namespace {other}"),
    }
    name.to_owned()
}

/// Checks a `SEARCH(...)` of the app's metrics; returns the metric's name.
fn check_dashboard_search(widget: &str, expression: &str) -> String {
    let schema_start = expression.find('{').expect("a metric schema");
    let schema_end = expression.find('}').unwrap();
    let schema: Vec<&str> = expression[schema_start + 1..schema_end]
        .split(',')
        .map(str::trim)
        .collect();
    assert_eq!(
        schema[0],
        telemetry::metrics::NAMESPACE,
        "{widget}: {expression}"
    );
    let name = expression
        .split("MetricName=\"")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .unwrap_or_else(|| panic!("{widget}: no exact MetricName in {expression}"));
    assert!(
        app_writes(name, &schema[1..]),
        "{widget}: the app writes no {name} by {:?}",
        &schema[1..]
    );
    let functions: Vec<&str> = expression
        .split("Function=\"")
        .skip(1)
        .map(|r| r.split('"').next().unwrap())
        .collect();
    assert!(
        !functions.is_empty(),
        "{widget}: not limited to this stack's functions"
    );
    let mut named: Vec<&str> = functions
        .iter()
        .map(|f| f.strip_prefix("STACK-").expect("a function of this stack"))
        .collect();
    named.sort();
    let mut want = writers(name).to_vec();
    want.sort();
    assert_eq!(
        named, want,
        "{widget}: every function that writes {name}, and only those"
    );
    name.to_owned()
}

#[test]
fn the_dashboard_shows_only_metrics_the_app_writes_and_the_alarms_of_the_stack() {
    let t = template();
    let body = dashboard_body(t);
    let mut shown = BTreeSet::new();
    let mut alarms = BTreeSet::new();
    for widget in body["widgets"].as_array().expect("widgets") {
        let p = &widget["properties"];
        let title = p["title"].as_str().expect("every widget has a title");
        match widget["type"].as_str() {
            Some("alarm") => {
                for arn in p["alarms"].as_array().unwrap() {
                    let alarm = arn.as_str().unwrap().strip_suffix(".Arn").unwrap();
                    assert_eq!(t.type_of(alarm), "AWS::CloudWatch::Alarm", "{title}");
                    alarms.insert(alarm.to_owned());
                }
            }
            Some("metric") => {
                assert_eq!(p["region"], json!("REGION"), "{title}");
                let rows = p["metrics"].as_array().unwrap();
                let ids: BTreeSet<&str> = rows
                    .iter()
                    .filter_map(|r| r.as_array()?.last()?.get("id")?.as_str())
                    .collect();
                for row in rows {
                    let row = row.as_array().unwrap();
                    match row[0].get("expression").and_then(Value::as_str) {
                        Some(e) if e.starts_with("SEARCH(") => {
                            shown.insert(check_dashboard_search(title, e));
                        }
                        Some(e) => {
                            // Metric math over the widget's own metrics (functions are upper
                            // case, ids lower case).
                            for word in e.split(|c: char| !c.is_ascii_alphanumeric()) {
                                if word.starts_with(|c: char| c.is_ascii_lowercase()) {
                                    assert!(ids.contains(word), "{title}: {word} in {e}");
                                }
                            }
                        }
                        None => {
                            shown.insert(check_dashboard_metric(t, title, row));
                        }
                    }
                }
            }
            other => panic!("{title}: widget type {other:?}"),
        }
    }
    for metric in [
        "5xx",
        "Count",
        "Latency",
        "Requests",
        "SignIns",
        "Jobs",
        "SuperOfficeCalls",
        "SuperOfficeBytesSent",
        "SuperOfficeBytesReceived",
        "SuperOfficeThrottled",
        "JwksLastKnownGoodInUse",
        "ApproximateNumberOfMessagesVisible",
        "NewestVerifiedBackupAgeSeconds",
        "BackupVerified",
        "BackupCompleted",
    ] {
        assert!(
            shown.contains(metric),
            "the dashboard does not show {metric}"
        );
    }
    for alarm in [
        "HttpApiAvailabilityFastBurnAlarm",
        "HttpApiAvailabilitySlowBurnAlarm",
        "SuperOfficeThrottledAlarm",
        "JobsDeadLetterAlarm",
        "JwksLastKnownGoodAlarm",
        "BackupFreshnessAlarm",
        "BackupDrillFailedAlarm",
    ] {
        assert!(
            alarms.contains(alarm),
            "the dashboard does not show {alarm}"
        );
    }
    // And every function's Errors alarm (a crash, a timeout, out of memory).
    for f in t.functions() {
        let errors = format!("{}ErrorsAlarm", f.trim_end_matches("Function"));
        assert_eq!(t.type_of(&errors), "AWS::CloudWatch::Alarm", "{f}");
        assert!(
            alarms.contains(&errors),
            "the dashboard does not show {errors}"
        );
    }
}

#[test]
fn every_checkov_skip_sits_in_its_resource_gives_its_reason_and_is_listed_in_deploy_md() {
    let t = template();
    let text = std::fs::read_to_string(root().join("template.yaml")).expect("template.yaml");
    let skips = checkov_skips(&text).unwrap_or_else(|e| panic!("template.yaml: {e}"));
    let mut skipped: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for skip in &skips {
        let at = format!("template.yaml:{} ({})", skip.line, skip.resource);
        assert!(
            t.resources().contains_key(&skip.resource),
            "{at}: not a resource"
        );
        for check in &skip.checks {
            assert!(
                check.starts_with("CKV_")
                    && check
                        .bytes()
                        .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_'),
                "{at}: {check:?} is not a checkov check id"
            );
            assert!(
                skipped
                    .entry(check.clone())
                    .or_default()
                    .insert(skip.resource.clone()),
                "{at}: {check} skipped twice"
            );
        }
        // A reason a reviewer can weigh, not a bare id: `# checkov:skip=CKV_AWS_117: why`.
        assert!(
            skip.reason.split_whitespace().count() >= 5,
            "{at}: checkov:skip={} gives no reason (write `# checkov:skip=ID: why it does not apply`): {:?}",
            skip.checks.join(","),
            skip.reason
        );
    }
    // infra/DEPLOY.md's security table gives the same skips, check by check and resource by resource.
    assert_eq!(
        deploy_md_skips(),
        skipped,
        "infra/DEPLOY.md's \"Security scan\" table and the template's checkov skips disagree"
    );
}

#[test]
fn the_skip_reader_finds_skips_inside_resources_and_refuses_them_anywhere_else() {
    let text = "\
Resources:
  Queue:
    Type: AWS::SQS::Queue
    # checkov:skip=CKV_AWS_27: encrypted with SQS-managed keys, not recognised
    Properties:
      # checkov:skip=CKV_AWS_1,CKV_AWS_2
      FifoQueue: true
Outputs:
  Q:
    Value: x
";
    let skips = checkov_skips(text).expect("skips");
    assert_eq!(skips.len(), 2);
    assert_eq!((skips[0].line, skips[0].resource.as_str()), (4, "Queue"));
    assert_eq!(skips[0].checks, vec!["CKV_AWS_27".to_owned()]);
    assert_eq!(
        skips[0].reason,
        "encrypted with SQS-managed keys, not recognised"
    );
    assert_eq!(
        skips[1].checks,
        vec!["CKV_AWS_1".to_owned(), "CKV_AWS_2".to_owned()]
    );
    assert_eq!(skips[1].reason, "", "no colon, no reason");

    // Between two resources, or outside Resources, checkov applies a skip to no resource, or to the
    // wrong one.
    let between =
        "Resources:\n  A:\n    Type: X\n  # checkov:skip=CKV_AWS_1: reason\n  B:\n    Type: Y\n";
    assert!(checkov_skips(between).is_err());
    let outside = "Outputs:\n  A:\n    # bridgecrew:skip=CKV_AWS_1: reason\n    Value: x\n";
    assert!(checkov_skips(outside).is_err());
    let not_a_comment = "Resources:\n  A:\n    Description: checkov:skip=CKV_AWS_1: reason\n";
    assert!(checkov_skips(not_a_comment).is_err());
}

// ---------------------------------------------------------------------------------------------
// Gradual deploys (issue 15): aliases, deployment preferences, the deploy hook, rollback alarms
// ---------------------------------------------------------------------------------------------

/// How CodeDeploy moves traffic in each environment.
const DEPLOYMENT_TYPES: &[(&str, &str)] = &[
    ("sod", "AllAtOnce"),
    ("stage", "Canary10Percent5Minutes"),
    ("online", "Canary10Percent10Minutes"),
];

/// CodeDeploy's predefined Lambda deployment configurations (`CodeDeployDefault.Lambda<Type>`).
const CODEDEPLOY_LAMBDA_TYPES: &[&str] = &[
    "AllAtOnce",
    "Canary10Percent5Minutes",
    "Canary10Percent10Minutes",
    "Canary10Percent15Minutes",
    "Canary10Percent30Minutes",
    "Linear10PercentEvery1Minute",
    "Linear10PercentEvery2Minutes",
    "Linear10PercentEvery3Minutes",
    "Linear10PercentEvery10Minutes",
];

/// The alarms a function's deployment preference names as rollback triggers.
fn rollback_alarms(t: &Template, function: &str) -> Vec<String> {
    as_list(&t.function_properties(function)["DeploymentPreference"]["Alarms"])
        .iter()
        .map(|a| {
            ref_target(a).unwrap_or_else(|| panic!("{function}: an alarm that is not !Ref: {a}"))
        })
        .collect()
}

#[test]
fn every_app_function_publishes_the_live_alias_and_deploys_through_codedeploy_after_the_deploy_check()
 {
    let t = template();
    for f in t.gradual_functions() {
        let props = t.function_properties(&f);
        assert_eq!(props["AutoPublishAlias"], json!(LIVE_ALIAS), "{f}");
        let preference = &props["DeploymentPreference"];
        assert_eq!(
            preference["Type"],
            json!({"Fn::FindInMap": ["DeploymentByEnvironment", {"Ref": "EnvironmentName"}, "Type"]}),
            "{f}: the deployment type follows the environment"
        );
        assert!(
            preference.get("Enabled").is_none_or(|e| e == &json!(true)),
            "{f}: deployment preference switched off"
        );
        assert_eq!(
            preference["Hooks"],
            json!({"PreTraffic": {"Ref": DEPLOY_HOOK}}),
            "{f}: the deploy check runs before any traffic moves"
        );
        let alarms = rollback_alarms(t, &f);
        assert!(!alarms.is_empty(), "{f}: no rollback alarm");
        for alarm in &alarms {
            assert_eq!(t.type_of(alarm), "AWS::CloudWatch::Alarm", "{f}: {alarm}");
        }
    }
    // The hook is deployed as it is: an alias or a deployment of its own would need a hook itself.
    let hook = t.function_properties(DEPLOY_HOOK);
    for absent in ["AutoPublishAlias", "DeploymentPreference", "Events"] {
        assert!(hook.get(absent).is_none(), "{DEPLOY_HOOK}: {absent}");
    }
}

#[test]
fn the_scheduled_backup_is_deployed_in_place_and_its_schedules_invoke_the_function_itself() {
    let t = template();
    for f in DEPLOYED_IN_PLACE {
        assert!(
            t.app_functions().iter().any(|a| a == f),
            "{f}: not in the template"
        );
        let props = t.function_properties(f);
        for absent in ["AutoPublishAlias", "DeploymentPreference"] {
            assert!(props.get(absent).is_none(), "{f}: {absent}");
        }
        let events = props["Events"].as_object().expect("Events");
        assert!(!events.is_empty(), "{f}: no schedule");
        for (name, event) in events {
            assert_eq!(
                event["Type"],
                json!("Schedule"),
                "{f}.{name}: on a schedule only"
            );
        }
        assert!(t.event_routes(f).is_empty(), "{f}: on no request path");
        // The deploy check neither calls it nor may invoke it.
        let hook = t.function_properties(DEPLOY_HOOK)["Environment"]["Variables"].clone();
        assert!(
            !hook.to_string().contains(&format!("\"{f}.Version\"")),
            "{f}: the deploy check calls it"
        );
    }
}

#[test]
fn the_deployment_is_all_at_once_on_sod_and_a_canary_on_stage_and_online() {
    let t = template();
    let mapping = t.doc["Mappings"]["DeploymentByEnvironment"]
        .as_object()
        .expect("Mappings.DeploymentByEnvironment");
    let environments: BTreeSet<&str> = mapping.keys().map(String::as_str).collect();
    let allowed: BTreeSet<&str> = as_list(&t.parameter("EnvironmentName")["AllowedValues"])
        .iter()
        .map(|v| v.as_str().unwrap())
        .map(|v| ENVIRONMENTS.iter().find(|(e, _)| *e == v).unwrap().0)
        .collect();
    assert_eq!(environments, allowed, "one deployment type per environment");
    for (environment, expected) in DEPLOYMENT_TYPES {
        let ty = mapping[*environment]["Type"]
            .as_str()
            .expect("a literal type");
        assert_eq!(ty, *expected, "{environment}");
        assert!(CODEDEPLOY_LAMBDA_TYPES.contains(&ty), "{environment}: {ty}");
    }
}

#[test]
fn the_rollback_alarms_watch_the_new_version_behind_the_alias_errors_always_latency_for_http() {
    let t = template();
    for f in t.gradual_functions() {
        let props = t.function_properties(&f);
        let timeout_ms = props["Timeout"].as_u64().expect("Timeout") * 1000;
        let mut metrics = BTreeSet::new();
        for alarm in rollback_alarms(t, &f) {
            let p = &t.resource(&alarm)["Properties"];
            assert_eq!(p["Namespace"], json!("AWS/Lambda"), "{alarm}");
            // The version being deployed, as invoked through the alias: an old version's errors do
            // not roll a good release back, and the deploy check's direct calls are not counted.
            let dimensions: BTreeMap<String, Value> = as_list(&p["Dimensions"])
                .iter()
                .map(|d| (d["Name"].as_str().unwrap().to_owned(), d["Value"].clone()))
                .collect();
            let expected: BTreeMap<String, Value> = [
                ("FunctionName", json!({"Ref": f})),
                (
                    "Resource",
                    json!({"Fn::Sub": format!("${{{f}}}:{LIVE_ALIAS}")}),
                ),
                (
                    "ExecutedVersion",
                    json!({"Fn::GetAtt": [f, "Version.Version"]}),
                ),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v))
            .collect();
            assert_eq!(dimensions, expected, "{alarm}");
            let period = number(&p["Period"]).expect("Period");
            assert!(
                period <= 60,
                "{alarm}: a {period} s period outlasts part of the canary"
            );
            assert_eq!(p["TreatMissingData"], json!("notBreaching"), "{alarm}");
            assert_eq!(p["AlarmActions"], json!([{"Ref": "AlarmTopic"}]), "{alarm}");
            let metric = p["MetricName"].as_str().unwrap().to_owned();
            match metric.as_str() {
                "Errors" => {
                    assert_eq!(p["Statistic"], json!("Sum"), "{alarm}");
                    assert_eq!(
                        number(&p["Threshold"]),
                        Some(1),
                        "{alarm}: one error rolls back"
                    );
                    assert_eq!(
                        p["ComparisonOperator"],
                        json!("GreaterThanOrEqualToThreshold"),
                        "{alarm}"
                    );
                }
                "Duration" => {
                    assert_eq!(p["ExtendedStatistic"], json!("p99"), "{alarm}");
                    let threshold = number(&p["Threshold"]).expect("Threshold in ms");
                    assert!(
                        timeout_ms / 2 <= threshold && threshold < timeout_ms,
                        "{alarm}: {threshold} ms is not near {f}'s {timeout_ms} ms timeout"
                    );
                    assert_eq!(
                        p["ComparisonOperator"],
                        json!("GreaterThanThreshold"),
                        "{alarm}"
                    );
                }
                other => panic!("{alarm}: rolls back on {other}"),
            }
            assert!(metrics.insert(metric), "{f}: two alarms on one metric");
        }
        assert!(metrics.contains("Errors"), "{f}: no Errors rollback alarm");
        if !t.event_routes(&f).is_empty() {
            assert!(
                metrics.contains("Duration"),
                "{f}: no latency rollback alarm"
            );
        }
    }
}

#[test]
fn the_deploy_hook_is_named_for_codedeploy_calls_each_new_version_and_ends_before_its_timeout() {
    let t = template();
    let props = t.function_properties(DEPLOY_HOOK);
    // SAM's CodeDeploy service role (AWSCodeDeployRoleForLambda) invokes CodeDeployHook_* only.
    let name = props["FunctionName"]["Fn::Sub"]
        .as_str()
        .expect("FunctionName");
    assert!(name.starts_with("CodeDeployHook_"), "{name}");

    // One variable per function the hook knows, each the ARN of the version this deploy published.
    let variables = props["Environment"]["Variables"].clone();
    let mut named = BTreeSet::new();
    for function in deploy_check::probes::Function::ALL {
        let owner = t
            .gradual_functions()
            .into_iter()
            .find(|f| {
                t.function_properties(f)["FunctionName"]
                    == json!({"Fn::Sub": format!("${{AWS::StackName}}-{}", function.name())})
            })
            .unwrap_or_else(|| panic!("no function {} in the template", function.name()));
        assert_eq!(
            variables[function.variable()],
            json!({"Ref": format!("{owner}.Version")}),
            "{}",
            function.variable()
        );
        named.insert(owner);
    }
    let every: BTreeSet<String> = t.gradual_functions().into_iter().collect();
    assert_eq!(
        named, every,
        "the deploy check calls every gradually deployed function"
    );

    // The probes get their whole budget within the timeout, and the report its share after them.
    let timeout = Duration::from_secs(props["Timeout"].as_u64().expect("Timeout"));
    let budget = deploy_check::hook::Budget::within(timeout, deploy_check::hook::MAX_PROBES);
    assert_eq!(
        budget.probes,
        deploy_check::hook::MAX_PROBES,
        "Timeout {timeout:?}"
    );
    assert!(budget.probes + budget.report < timeout);
    let slowest = t
        .app_functions()
        .iter()
        .filter(|f| !t.event_routes(f).is_empty())
        .map(|f| t.function_properties(f)["Timeout"].as_u64().unwrap())
        .max()
        .unwrap();
    assert!(
        deploy_check::hook::MAX_PROBES >= Duration::from_secs(2 * slowest),
        "a slow HTTP function could not answer twice within the probes' budget"
    );
}

#[test]
fn the_deploy_hook_may_invoke_only_the_new_versions_and_report_only_to_this_stacks_deployments() {
    let t = template();
    let mut expected = logs_grants("DeployCheckLogGroup");
    for f in t.gradual_functions() {
        expected.insert(grant(
            "lambda:InvokeFunction",
            json!({"Ref": format!("{f}.Version")}),
            Value::Null,
        ));
        expected.insert(grant(
            "codedeploy:PutLifecycleEventHookExecutionStatus",
            json!({"Fn::Sub": format!("arn:${{AWS::Partition}}:codedeploy:${{AWS::Region}}:${{AWS::AccountId}}:deploymentgroup:${{ServerlessDeploymentApplication}}/${{{f}DeploymentGroup}}")}),
            Value::Null,
        ));
    }
    let role = getatt_target(&t.function_properties(DEPLOY_HOOK)["Role"]).expect("Role");
    assert_grants(t, &role, &expected);
    // No app role may invoke functions or touch deployments.
    for (role, _) in t.of_type("AWS::IAM::Role") {
        if role == "DeployCheckRole" {
            continue;
        }
        for row in grants(t, &role) {
            let (action, _, _) = parse_grant(&row);
            assert!(
                !action.starts_with("lambda:") && !action.starts_with("codedeploy:"),
                "{role}: {action}"
            );
        }
    }
}

// ---------------------------------------------------------------------------------------------
// samconfig.toml and event fixtures
// ---------------------------------------------------------------------------------------------

#[test]
fn samconfig_deploys_sod_stage_and_online_as_separate_stacks() {
    let config = samconfig();
    assert_eq!(
        config["default.build.parameters"]["build_in_source"], "true",
        "the Makefile builds in the workspace, where Cargo.lock and target/ are"
    );
    let mut stacks = BTreeSet::new();
    for (env, superoffice) in ENVIRONMENTS {
        let section = config
            .get(&format!("{env}.deploy.parameters"))
            .unwrap_or_else(|| panic!("samconfig.toml has no [{env}.deploy.parameters]"));
        let stack = &section["stack_name"];
        assert!(stack.ends_with(env), "{env}: stack_name {stack}");
        assert!(
            stacks.insert(stack.clone()),
            "{env}: stack_name {stack} is used twice"
        );
        assert_eq!(section["capabilities"], "CAPABILITY_IAM", "{env}");
        let overrides: BTreeMap<&str, &str> = section["parameter_overrides"]
            .split_whitespace()
            .filter_map(|kv| kv.split_once('='))
            .collect();
        assert_eq!(overrides.get("EnvironmentName"), Some(env), "{env}");
        assert_eq!(
            overrides.get("SuperOfficeEnvironment"),
            Some(superoffice),
            "{env}"
        );
        for required in ["ClientId", "ClientSecretArn", "SystemUserKeyArn"] {
            assert!(
                overrides.contains_key(required),
                "{env}: {required} missing from parameter_overrides"
            );
        }
    }
    assert_eq!(
        config["online.deploy.parameters"]["confirm_changeset"], "true",
        "production changes are confirmed"
    );
}

#[test]
fn the_event_fixtures_are_requests_and_jobs_the_functions_receive() {
    let t = template();
    // Route key -> the function that serves it.
    let mut routes: BTreeMap<String, String> = BTreeMap::new();
    for f in t.functions() {
        for route in t.event_routes(&f) {
            routes.insert(route, f.clone());
        }
    }
    let dir = root().join("infra/events");
    let mut seen = BTreeSet::new();
    let mut scheduled = BTreeSet::new();
    let mut jobs = 0;
    for entry in std::fs::read_dir(&dir).expect("infra/events") {
        let path = entry.expect("entry").path();
        if path.extension().and_then(|e| e.to_str()) != Some("json") {
            continue;
        }
        let file = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default()
            .to_owned();
        let event: Value =
            serde_json::from_str(&std::fs::read_to_string(&path).expect("read")).expect("JSON");
        if event.get("Records").is_some() {
            check_sqs_fixture(t, &file, &event);
            jobs += 1;
            continue;
        }
        if event.get("action").is_some() {
            let (function, action) = scheduled_input(t, &event)
                .unwrap_or_else(|| panic!("{file}: {event} is not the Input of any schedule"));
            scheduled.insert(format!("{function} {action}"));
            continue;
        }
        assert_eq!(event["version"], json!("2.0"), "{file}");
        let route = event["routeKey"].as_str().expect("routeKey");
        assert!(
            routes.contains_key(route),
            "{file}: {route} is not a route of any function"
        );
        let (method, template_path) = route.split_once(' ').expect("METHOD /path");
        let raw_path = event["rawPath"].as_str().expect("rawPath");
        let parameters = match_route_path(template_path, raw_path)
            .unwrap_or_else(|| panic!("{file}: rawPath {raw_path} does not match {route}"));
        for (name, value) in &parameters {
            assert_eq!(
                event["pathParameters"][name],
                json!(value),
                "{file}: pathParameters.{name}"
            );
        }
        if parameters.is_empty() {
            assert!(
                event.get("pathParameters").is_none(),
                "{file}: pathParameters"
            );
        }
        assert_eq!(event["requestContext"]["routeKey"], json!(route), "{file}");
        assert_eq!(
            event["requestContext"]["http"]["method"],
            json!(method),
            "{file}"
        );
        assert_eq!(
            event["requestContext"]["http"]["path"],
            json!(raw_path),
            "{file}"
        );
        assert_eq!(
            event["requestContext"]["stage"],
            json!("$default"),
            "{file}"
        );
        // Payload v2 moves cookies out of the headers into `cookies`; header names are lower case.
        let headers = event["headers"].as_object().expect("headers");
        assert!(
            headers.get("cookie").is_none(),
            "{file}: cookies belong in `cookies`"
        );
        for name in headers.keys() {
            assert_eq!(name, &name.to_ascii_lowercase(), "{file}: header {name}");
        }
        let body = match (&event["body"], &event["isBase64Encoded"]) {
            (Value::String(b), Value::Bool(true)) => String::from_utf8(
                base64::engine::general_purpose::STANDARD
                    .decode(b)
                    .unwrap_or_else(|e| panic!("{file}: body is not base64: {e}")),
            )
            .expect("UTF-8 body"),
            (Value::String(b), _) => b.clone(),
            _ => String::new(),
        };
        if event["headers"]["content-type"] == json!("application/x-www-form-urlencoded") {
            let fields: BTreeSet<&str> = body
                .split('&')
                .filter_map(|kv| kv.split_once('='))
                .map(|(k, _)| k)
                .collect();
            let needed: &[&str] = match route {
                "POST /callback" => &["code", "state"],
                "POST /install" => &["csrf"],
                other => panic!("{file}: a form posted to {other}"),
            };
            for field in needed {
                assert!(fields.contains(field), "{file}: no {field} in {body}");
            }
        }
        match routes[route].as_str() {
            "InstallFunction" => check_install_fixture(&file, &event),
            "WebhooksFunction" => check_webhook_fixture(&file, &event, &body, &parameters),
            _ => {}
        }
        seen.insert(route.to_owned());
    }
    for needed in [
        "GET /login",
        "POST /callback",
        "GET /",
        "POST /install",
        "GET /install/status",
        "POST /webhooks/superoffice/{tenant}",
    ] {
        assert!(seen.contains(needed), "no fixture for {needed}");
    }
    assert!(jobs > 0, "no SQS fixture for the worker");
    for (function, actions) in SCHEDULED {
        for action in *actions {
            assert!(
                scheduled.contains(&format!("{function} {action}")),
                "no fixture for {function}'s {action} schedule"
            );
        }
    }
}

/// The scheduled function and action whose schedule sends exactly `event` as its Input.
fn scheduled_input(t: &Template, event: &Value) -> Option<(String, String)> {
    for (function, _) in SCHEDULED {
        for (_, e) in t.function_properties(function)["Events"]
            .as_object()
            .into_iter()
            .flatten()
        {
            let Some(input) = e["Properties"]["Input"].as_str() else {
                continue; // the worker's queue
            };
            let input: Value = serde_json::from_str(input).ok()?;
            if &input == event {
                return Some(((*function).to_owned(), input["action"].as_str()?.to_owned()));
            }
        }
    }
    None
}

/// The path parameters of `raw` under a route path such as `/webhooks/superoffice/{tenant}`, or
/// None when it does not match.
fn match_route_path(template: &str, raw: &str) -> Option<BTreeMap<String, String>> {
    let (a, b): (Vec<&str>, Vec<&str>) = (template.split('/').collect(), raw.split('/').collect());
    if a.len() != b.len() {
        return None;
    }
    let mut parameters = BTreeMap::new();
    for (t, r) in a.iter().zip(&b) {
        match t.strip_prefix('{').and_then(|n| n.strip_suffix('}')) {
            Some(name) if !r.is_empty() => {
                parameters.insert(name.to_owned(), (*r).to_owned());
            }
            Some(_) => return None,
            None if t == r => {}
            None => return None,
        }
    }
    Some(parameters)
}

/// An install request carries a session cookie in the form the session store looks up
/// (43 base64url characters); a form post says it comes from the same origin.
fn check_install_fixture(file: &str, event: &Value) {
    let session = as_list(&event["cookies"])
        .iter()
        .filter_map(|c| {
            c.as_str()?
                .strip_prefix("__Host-session=")
                .map(str::to_owned)
        })
        .next()
        .unwrap_or_else(|| panic!("{file}: no __Host-session cookie"));
    assert!(
        session.len() == 43
            && session
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'),
        "{file}: session id {session:?} is not 43 base64url characters"
    );
    if event["requestContext"]["http"]["method"] == json!("POST") {
        assert_eq!(
            event["headers"]["sec-fetch-site"],
            json!("same-origin"),
            "{file}: the install form is refused from another origin"
        );
    }
}

/// A webhook delivery: a JSON event for the tenant in the path, signed with
/// [`FIXTURE_WEBHOOK_SECRET`] as SuperOffice signs it (base64 HMAC-SHA256 of the raw body).
fn check_webhook_fixture(
    file: &str,
    event: &Value,
    body: &str,
    parameters: &BTreeMap<String, String>,
) {
    assert_eq!(
        event["headers"]["content-type"],
        json!("application/json"),
        "{file}"
    );
    let payload: Value = serde_json::from_str(body).unwrap_or_else(|e| panic!("{file}: body: {e}"));
    assert_eq!(
        payload["ContextIdentifier"],
        json!(parameters["tenant"]),
        "{file}: the event is for the tenant in the path"
    );
    assert!(
        payload["EventId"].as_str().is_some_and(|id| !id.is_empty()),
        "{file}: EventId"
    );
    assert_eq!(
        event["headers"]["x-superoffice-event"], payload["Event"],
        "{file}: x-superoffice-event names the body's Event"
    );
    let signature = event["headers"]["x-superoffice-signature"]
        .as_str()
        .unwrap_or_else(|| panic!("{file}: no x-superoffice-signature"));
    let sent = base64::engine::general_purpose::STANDARD
        .decode(signature)
        .unwrap_or_else(|e| panic!("{file}: signature is not base64: {e}"));
    let key = aws_lc_rs::hmac::Key::new(
        aws_lc_rs::hmac::HMAC_SHA256,
        FIXTURE_WEBHOOK_SECRET.as_bytes(),
    );
    assert!(
        aws_lc_rs::hmac::verify(&key, body.as_bytes(), &sent).is_ok(),
        "{file}: x-superoffice-signature is not the HMAC-SHA256 of the body under FIXTURE_WEBHOOK_SECRET"
    );
}

/// An SQS FIFO event as the worker receives it: one record from the jobs queue, the tenant as
/// message group, the job id as deduplication id, the body a job.
fn check_sqs_fixture(t: &Template, file: &str, event: &Value) {
    let records = event["Records"].as_array().expect("Records");
    let batch = worker_queue_event(t)["Properties"]["BatchSize"].clone();
    assert_eq!(
        json!(records.len()),
        batch,
        "{file}: records per invocation"
    );
    let queue_name = t.resource("JobsQueue")["Properties"]["QueueName"]["Fn::Sub"]
        .as_str()
        .expect("QueueName")
        .trim_start_matches("${AWS::StackName}")
        .to_owned();
    for record in records {
        assert_eq!(record["eventSource"], json!("aws:sqs"), "{file}");
        let arn = record["eventSourceARN"].as_str().expect("eventSourceARN");
        assert!(
            arn.starts_with("arn:aws:sqs:") && arn.ends_with(&queue_name),
            "{file}: {arn} is not the jobs queue (*{queue_name})"
        );
        for field in ["messageId", "receiptHandle", "md5OfBody", "awsRegion"] {
            assert!(record[field].is_string(), "{file}: {field}");
        }
        let job: Value = serde_json::from_str(record["body"].as_str().expect("body"))
            .unwrap_or_else(|e| panic!("{file}: body is not JSON: {e}"));
        let tenant = job["tenant"].as_str().expect("job tenant");
        let id = job["id"].as_str().expect("job id");
        assert_eq!(job["kind"], json!("install"), "{file}");
        assert!(
            id.strip_prefix(&format!("install-{tenant}-"))
                .is_some_and(|minute| minute.parse::<u64>().is_ok()),
            "{file}: job id {id} is not install-<tenant>-<minute>"
        );
        let attributes = &record["attributes"];
        assert_eq!(
            attributes["MessageGroupId"],
            json!(tenant),
            "{file}: group = tenant"
        );
        assert_eq!(
            attributes["MessageDeduplicationId"],
            json!(id),
            "{file}: deduplication id = job id"
        );
        for field in ["ApproximateReceiveCount", "SentTimestamp", "SequenceNumber"] {
            assert!(attributes[field].is_string(), "{file}: attributes.{field}");
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Reading the template
// ---------------------------------------------------------------------------------------------

/// A checkov skip comment (`# checkov:skip=ID[,ID]: reason`) and the resource it sits in.
struct Skip {
    line: usize,
    resource: String,
    checks: Vec<String>,
    reason: String,
}

/// The checkov skips in a template's text (YAML comments, which the JSON form does not keep). checkov
/// applies a skip to the resource whose lines hold it, so a skip must be a comment inside a resource
/// of `Resources` (indented under it); anywhere else is an error. checkov also reads `bridgecrew:` and
/// `cortex:` skips.
fn checkov_skips(text: &str) -> Result<Vec<Skip>, String> {
    const MARKERS: &[&str] = &["checkov:skip=", "bridgecrew:skip=", "cortex:skip="];
    let mut in_resources = false;
    let mut resource: Option<String> = None;
    let mut out = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let number = index + 1;
        let trimmed = line.trim_start();
        let indent = line.len() - trimmed.len();
        let comment = trimmed.starts_with('#');
        if indent == 0 && !trimmed.is_empty() && !comment {
            in_resources = trimmed.trim_end() == "Resources:";
            resource = None;
        } else if in_resources && indent == 2 && !comment {
            resource = trimmed.trim_end().strip_suffix(':').map(str::to_owned);
        }
        let Some(rest) = MARKERS
            .iter()
            .find_map(|m| line.find(m).map(|at| &line[at + m.len()..]))
        else {
            continue;
        };
        if !comment {
            return Err(format!("line {number}: a checkov skip outside a comment"));
        }
        let resource = match (&resource, in_resources && indent >= 4) {
            (Some(r), true) => r.clone(),
            _ => {
                return Err(format!(
                    "line {number}: a checkov skip outside a resource (checkov reads a skip only inside the resource it applies to)"
                ));
            }
        };
        let (ids, reason) = rest.split_once(':').unwrap_or((rest, ""));
        out.push(Skip {
            line: number,
            resource,
            checks: ids.split(',').map(|c| c.trim().to_owned()).collect(),
            reason: reason.trim().to_owned(),
        });
    }
    Ok(out)
}

/// infra/DEPLOY.md's "Security scan" table: check id → the resources it names, from rows
/// `| `CKV_…` … | `Resource`, `Resource` | why |`.
fn deploy_md_skips() -> BTreeMap<String, BTreeSet<String>> {
    let text = std::fs::read_to_string(root().join("infra/DEPLOY.md")).expect("infra/DEPLOY.md");
    let section = text
        .split("\n## Security scan")
        .nth(1)
        .expect("infra/DEPLOY.md has no \"## Security scan\" section")
        .split("\n## ")
        .next()
        .unwrap_or_default();
    let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for row in section.lines().filter(|l| l.starts_with("| `CKV_")) {
        let cells: Vec<&str> = row.split('|').map(str::trim).collect();
        assert!(cells.len() >= 5, "infra/DEPLOY.md: {row}");
        let check = cells[1].split('`').nth(1).expect("check id").to_owned();
        let resources: Vec<&str> = cells[2].split('`').skip(1).step_by(2).collect();
        assert!(
            !resources.is_empty(),
            "infra/DEPLOY.md: {check} names no resource"
        );
        assert!(
            cells[3].split_whitespace().count() >= 5,
            "infra/DEPLOY.md: {check} gives no reason"
        );
        for resource in resources {
            assert!(
                out.entry(check.clone())
                    .or_default()
                    .insert(resource.to_owned()),
                "infra/DEPLOY.md: {check} lists {resource} twice"
            );
        }
    }
    out
}

/// The statements of a key policy for someone other than the account root.
fn non_root_statements(policy: &Value) -> Vec<&Value> {
    let root = json!({"AWS": {"Fn::Sub": "arn:${AWS::Partition}:iam::${AWS::AccountId}:root"}});
    statements(policy)
        .into_iter()
        .filter(|s| s["Principal"] != root)
        .collect()
}

/// Whether `name` matches an IAM ARN pattern where `*` stands for any run of characters.
fn glob_matches(pattern: &str, name: &str) -> bool {
    match pattern.split_once('*') {
        None => pattern == name,
        Some((head, tail)) => {
            name.starts_with(head)
                && (0..=name.len() - head.len()).any(|skip| {
                    name.is_char_boundary(head.len() + skip)
                        && glob_matches(tail, &name[head.len() + skip..])
                })
        }
    }
}

/// Every grant of a role's inline policies, one row per action and resource:
/// `[action, resource, condition or null]` as JSON text, so rows compare and print plainly.
fn grants(t: &Template, role: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let policies = t.resource(role)["Properties"]["Policies"]
        .as_array()
        .unwrap_or_else(|| panic!("{role}: no inline Policies"));
    for policy in policies {
        for statement in statements(&policy["PolicyDocument"]) {
            let sid = statement["Sid"].as_str().unwrap_or("(no Sid)");
            assert_eq!(
                statement["Effect"],
                json!("Allow"),
                "{role}/{sid}: Allow only"
            );
            let condition = statement.get("Condition").cloned().unwrap_or(Value::Null);
            for action in actions(statement) {
                for resource in as_list(&statement["Resource"]) {
                    let row = grant(&action, resource, condition.clone());
                    assert!(out.insert(row.clone()), "{role}: {row} granted twice");
                }
            }
        }
    }
    out
}

fn grant(action: &str, resource: Value, condition: Value) -> String {
    json!([action, resource, condition]).to_string()
}

fn parse_grant(row: &str) -> (String, Value, Value) {
    let v: Value = serde_json::from_str(row).expect("grant row");
    (
        v[0].as_str().expect("action").to_owned(),
        v[1].clone(),
        v[2].clone(),
    )
}

fn logs_grants(group: &str) -> BTreeSet<String> {
    ["logs:CreateLogStream", "logs:PutLogEvents"]
        .iter()
        .map(|a| grant(a, json!({"Fn::GetAtt": [group, "Arn"]}), Value::Null))
        .collect()
}

fn table_grants(actions: &[&str]) -> BTreeSet<String> {
    actions
        .iter()
        .map(|a| grant(a, json!({"Fn::GetAtt": ["AppTable", "Arn"]}), Value::Null))
        .collect()
}

fn table_key_grant() -> String {
    grant(
        "kms:Decrypt",
        json!({"Fn::GetAtt": ["TableKey", "Arn"]}),
        json!({"StringEquals": {"kms:ViaService": {"Fn::Sub": "dynamodb.${AWS::Region}.${AWS::URLSuffix}"}}}),
    )
}

/// The encryption context every use of the backup key must name.
fn backup_key_condition() -> Value {
    json!({"StringEquals": {
        "kms:EncryptionContext:app": {"Ref": "AppName"},
        "kms:EncryptionContext:environment": {"Ref": "EnvironmentName"},
        "kms:EncryptionContext:purpose": domain::backup::keys::PURPOSE,
    }})
}

fn app_key_grant(action: &str, purposes: Value) -> String {
    grant(
        action,
        json!({"Fn::GetAtt": ["AppKey", "Arn"]}),
        json!({"StringEquals": {"kms:EncryptionContext:purpose": purposes}}),
    )
}

/// The role grants exactly `expected`: nothing missing, nothing more.
fn assert_grants(t: &Template, role: &str, expected: &BTreeSet<String>) {
    let granted = grants(t, role);
    let missing: Vec<&String> = expected.difference(&granted).collect();
    let extra: Vec<&String> = granted.difference(expected).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "{role}:\n  missing {missing:#?}\n  not expected {extra:#?}"
    );
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root")
        .to_path_buf()
}

struct Template {
    doc: Value,
}

fn template() -> &'static Template {
    static TEMPLATE: OnceLock<Template> = OnceLock::new();
    TEMPLATE.get_or_init(|| {
        let text = std::fs::read_to_string(root().join("template.yaml")).expect("template.yaml");
        let docs =
            Yaml::load_from_str(&text).unwrap_or_else(|e| panic!("template.yaml is not YAML: {e}"));
        assert_eq!(docs.len(), 1, "template.yaml holds one document");
        Template {
            doc: to_json(&docs[0]),
        }
    })
}

impl Template {
    fn resources(&self) -> &Map<String, Value> {
        self.doc["Resources"].as_object().expect("Resources")
    }

    fn resource(&self, name: &str) -> &Value {
        self.resources()
            .get(name)
            .unwrap_or_else(|| panic!("no resource {name}"))
    }

    /// The resource's type, or "" when `name` is not a resource (a parameter, a pseudo parameter, or a
    /// resource SAM generates).
    fn type_of(&self, name: &str) -> &str {
        self.resources()
            .get(name)
            .and_then(|r| r["Type"].as_str())
            .unwrap_or("")
    }

    fn of_type(&self, ty: &str) -> Vec<(String, &Value)> {
        self.resources()
            .iter()
            .filter(|(_, r)| r["Type"] == json!(ty))
            .map(|(n, r)| (n.clone(), r))
            .collect()
    }

    fn parameter(&self, name: &str) -> &Value {
        self.doc["Parameters"]
            .get(name)
            .unwrap_or_else(|| panic!("no parameter {name}"))
    }

    fn functions(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .of_type("AWS::Serverless::Function")
            .into_iter()
            .map(|(n, _)| n)
            .collect();
        assert!(
            self.of_type("AWS::Lambda::Function").is_empty(),
            "declare functions as AWS::Serverless::Function"
        );
        names.sort();
        names
    }

    /// The app's functions: every function but the deploy hook.
    fn app_functions(&self) -> Vec<String> {
        let all = self.functions();
        assert!(
            all.iter().any(|f| f == DEPLOY_HOOK),
            "no {DEPLOY_HOOK} in the template"
        );
        all.into_iter().filter(|f| f != DEPLOY_HOOK).collect()
    }

    /// The app functions CodeDeploy deploys gradually behind the deploy check: all but the scheduled
    /// ones (`DEPLOYED_IN_PLACE`).
    fn gradual_functions(&self) -> Vec<String> {
        self.app_functions()
            .into_iter()
            .filter(|f| !DEPLOYED_IN_PLACE.contains(&f.as_str()))
            .collect()
    }

    /// A function's properties as SAM sees them: `Globals.Function` merged under its own.
    fn function_properties(&self, name: &str) -> Value {
        let own = self.resource(name)["Properties"].clone();
        match self.doc.get("Globals").and_then(|g| g.get("Function")) {
            Some(globals) => merge(globals.clone(), own),
            None => own,
        }
    }

    /// "METHOD /path" of every HttpApi event of a function.
    fn event_routes(&self, function: &str) -> BTreeSet<String> {
        let props = self.function_properties(function);
        let mut routes = BTreeSet::new();
        for (event, e) in props["Events"].as_object().into_iter().flatten() {
            if e["Type"] != json!("HttpApi") {
                continue;
            }
            let p = &e["Properties"];
            assert_eq!(
                p["ApiId"],
                json!({"Ref": "HttpApi"}),
                "{function}/{event}: not on HttpApi"
            );
            let method = p["Method"].as_str().expect("Method").to_ascii_uppercase();
            let path = p["Path"].as_str().expect("Path");
            assert!(
                routes.insert(format!("{method} {path}")),
                "{function}/{event}: route declared twice"
            );
        }
        routes
    }

    /// Every IAM policy document in the template, with the name of its owner.
    fn iam_policy_documents(&self) -> Vec<(String, Value)> {
        let mut out = Vec::new();
        for (name, r) in self.resources() {
            let p = &r["Properties"];
            match r["Type"].as_str().unwrap_or_default() {
                "AWS::IAM::Role" => {
                    out.push((name.clone(), p["AssumeRolePolicyDocument"].clone()));
                    for policy in p["Policies"].as_array().into_iter().flatten() {
                        out.push((name.clone(), policy["PolicyDocument"].clone()));
                    }
                }
                "AWS::IAM::Policy" | "AWS::IAM::ManagedPolicy" => {
                    out.push((name.clone(), p["PolicyDocument"].clone()))
                }
                "AWS::Serverless::Function" => {
                    for policy in p["Policies"].as_array().into_iter().flatten() {
                        if policy.get("Statement").is_some() {
                            out.push((name.clone(), policy.clone()));
                        }
                    }
                }
                _ => {}
            }
        }
        out
    }

    /// The numbers a value can take: a literal, or every allowed value (and the default) of the
    /// parameter it references.
    fn possible_numbers(&self, value: &Value) -> Vec<u64> {
        if let Some(n) = value.as_u64() {
            return vec![n];
        }
        let parameter =
            ref_target(value).unwrap_or_else(|| panic!("{value} is neither a number nor !Ref"));
        let p = self.parameter(&parameter);
        let allowed = p["AllowedValues"]
            .as_array()
            .unwrap_or_else(|| panic!("{parameter} needs AllowedValues so its range is known"));
        allowed
            .iter()
            .chain(p.get("Default"))
            .map(|v| number(v).unwrap_or_else(|| panic!("{parameter}: {v}")))
            .collect()
    }
}

/// YAML node → JSON, with CloudFormation's short-form tags in their long form.
fn to_json(node: &Yaml) -> Value {
    match node {
        Yaml::Value(scalar) => scalar_to_json(scalar),
        Yaml::Representation(text, _, _) => Value::String(text.to_string()),
        Yaml::Sequence(items) => Value::Array(items.iter().map(to_json).collect()),
        Yaml::Mapping(map) => {
            let mut out = Map::new();
            for (k, v) in map {
                let key = match to_json(k) {
                    Value::String(s) => s,
                    other => other.to_string(),
                };
                out.insert(key, to_json(v));
            }
            Value::Object(out)
        }
        Yaml::Tagged(tag, inner) => intrinsic(tag, inner),
        Yaml::Alias(_) => panic!("YAML aliases are not used in template.yaml"),
        Yaml::BadValue => panic!("template.yaml holds a value YAML cannot read"),
    }
}

fn scalar_to_json(scalar: &Scalar) -> Value {
    match scalar {
        Scalar::Null => Value::Null,
        Scalar::Boolean(b) => Value::Bool(*b),
        Scalar::Integer(i) => json!(i),
        Scalar::FloatingPoint(f) => json!(f.into_inner()),
        Scalar::String(s) => Value::String(s.to_string()),
    }
}

fn intrinsic(tag: &Tag, inner: &Yaml) -> Value {
    assert_eq!(
        tag.handle, "!",
        "unexpected tag {}{}",
        tag.handle, tag.suffix
    );
    let value = to_json(inner);
    match tag.suffix.as_str() {
        "Ref" => json!({ "Ref": value }),
        "Condition" => json!({ "Condition": value }),
        "GetAtt" => {
            let parts = match value {
                Value::String(s) => {
                    let (resource, attribute) =
                        s.split_once('.').unwrap_or_else(|| panic!("!GetAtt {s}"));
                    json!([resource, attribute])
                }
                other => other,
            };
            json!({ "Fn::GetAtt": parts })
        }
        other => {
            let mut m = Map::new();
            m.insert(format!("Fn::{other}"), value);
            Value::Object(m)
        }
    }
}

/// SAM's Globals merge: maps merge key by key, lists are appended, the function's scalars win.
fn merge(globals: Value, own: Value) -> Value {
    match (globals, own) {
        (Value::Object(mut g), Value::Object(o)) => {
            for (k, v) in o {
                let merged = match g.remove(&k) {
                    Some(gv) => merge(gv, v),
                    None => v,
                };
                g.insert(k, merged);
            }
            Value::Object(g)
        }
        (Value::Array(mut g), Value::Array(o)) => {
            g.extend(o);
            Value::Array(g)
        }
        (_, own) => own,
    }
}

fn ref_target(value: &Value) -> Option<String> {
    value.get("Ref").and_then(Value::as_str).map(str::to_owned)
}

fn getatt_target(value: &Value) -> Option<String> {
    value
        .get("Fn::GetAtt")
        .and_then(|v| v.get(0))
        .and_then(Value::as_str)
        .map(str::to_owned)
}

fn number(value: &Value) -> Option<u64> {
    value
        .as_u64()
        .or_else(|| value.as_str().and_then(|s| s.parse().ok()))
}

fn as_list(value: &Value) -> Vec<Value> {
    match value {
        Value::Array(items) => items.clone(),
        Value::Null => Vec::new(),
        other => vec![other.clone()],
    }
}

/// The worker's one queue event source (its other event is the rollout's schedule).
fn worker_queue_event(t: &Template) -> Value {
    let events = t.function_properties("WorkerFunction")["Events"]
        .as_object()
        .expect("worker Events")
        .clone();
    let queues: Vec<&Value> = events
        .values()
        .filter(|e| e["Type"] == json!("SQS"))
        .collect();
    assert_eq!(queues.len(), 1, "the worker has one queue event source");
    assert!(
        events
            .values()
            .all(|e| e["Type"] == json!("SQS") || e["Type"] == json!("Schedule")),
        "the worker is fed by its queue and the rollout's schedule only"
    );
    queues[0].clone()
}

#[test]
fn the_worker_ticks_the_rollout_once_a_minute_with_the_one_input_it_takes_and_may_queue_and_list_tenants()
 {
    let t = template();
    let props = t.function_properties("WorkerFunction");
    let schedules: Vec<&Value> = props["Events"]
        .as_object()
        .expect("worker Events")
        .values()
        .filter(|e| e["Type"] == json!("Schedule"))
        .collect();
    assert_eq!(schedules.len(), 1, "one rollout schedule");
    let p = &schedules[0]["Properties"];
    assert_eq!(
        p["Schedule"],
        json!("rate(1 minute)"),
        "the rate is per minute"
    );
    let input = p["Input"].as_str().expect("Input");
    assert!(
        matches!(
            serde_json::from_str::<worker::event::WorkerEvent>(input),
            Ok(worker::event::WorkerEvent::Scheduled(_))
        ),
        "the worker does not take {input} as its tick"
    );
    // The rate: a parameter whose bounds are the configuration's.
    let env = &props["Environment"]["Variables"];
    assert_eq!(
        env["APP_ROLLOUT_PER_MINUTE"],
        json!({"Ref": "RolloutTenantsPerMinute"})
    );
    let param = &t.doc["Parameters"]["RolloutTenantsPerMinute"];
    let (min, max) = (
        param["MinValue"].as_u64().expect("MinValue"),
        param["MaxValue"].as_u64().expect("MaxValue"),
    );
    let accepts = |n: u64| {
        let vars = [
            ("SO_ENVIRONMENT", "sod".to_owned()),
            (
                "SO_CLIENT_ID",
                "6cf25376616343b38d14ddcd804f2891".to_owned(),
            ),
            (
                "SO_CLIENT_SECRET_ARN",
                "arn:aws:secretsmanager:eu-west-1:123456789012:secret:c-AbCdEf".to_owned(),
            ),
            ("APP_BASE_URL", "https://app.example".to_owned()),
            ("APP_TABLE_NAME", "app-sod".to_owned()),
            (
                "APP_KMS_KEY_ARN",
                "arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
                    .to_owned(),
            ),
            ("APP_ROLLOUT_PER_MINUTE", n.to_string()),
        ];
        domain::config::AppConfig::from_lookup(|k| {
            vars.iter().find(|(n, _)| *n == k).map(|(_, v)| v.clone())
        })
        .map_err(|e| e.to_string())
    };
    for n in [min, max] {
        if let Err(e) = accepts(n) {
            panic!("the app refuses {n}, which the template allows: {e}");
        }
    }
    assert!(
        accepts(min - 1).is_err() && accepts(max + 1).is_err(),
        "the template's bounds are not the app's"
    );
    // It queues upgrades and lists tenants through the index, and scans nothing.
    let role = &t.resource("WorkerRole")["Properties"];
    let mut granted: Vec<(String, Value)> = Vec::new();
    for policy in role["Policies"].as_array().expect("Policies") {
        for s in statements(&policy["PolicyDocument"]) {
            for a in actions(s) {
                granted.push((a, s["Resource"].clone()));
            }
        }
    }
    assert!(granted.contains(&(
        "sqs:SendMessage".into(),
        json!({"Fn::GetAtt": ["JobsQueue", "Arn"]})
    )));
    assert!(granted.contains(&(
        "dynamodb:Query".into(),
        json!({"Fn::Sub": "${AppTable.Arn}/index/sk-pk"})
    )));
    assert!(granted.iter().all(|(a, _)| a != "dynamodb:Scan"));
}

fn statements(document: &Value) -> Vec<&Value> {
    match &document["Statement"] {
        Value::Array(items) => items.iter().collect(),
        Value::Null => panic!("policy document without Statement: {document}"),
        single => vec![single],
    }
}

fn actions(statement: &Value) -> Vec<String> {
    as_list(&statement["Action"])
        .iter()
        .map(|a| a.as_str().expect("literal action").to_owned())
        .collect()
}

/// The literal strings in a value, outside references (a `!Sub` template counts as literal text).
fn literals(value: &Value) -> Vec<String> {
    let mut out = Vec::new();
    fn walk(v: &Value, out: &mut Vec<String>) {
        match v {
            Value::String(s) => out.push(s.clone()),
            Value::Array(items) => items.iter().for_each(|i| walk(i, out)),
            Value::Object(m) if m.contains_key("Ref") || m.contains_key("Fn::GetAtt") => {}
            Value::Object(m) => m.values().for_each(|i| walk(i, out)),
            _ => {}
        }
    }
    walk(value, &mut out);
    out
}

/// Applies `f` to every string in a value (used to derive one output from another).
fn map_strings(value: &Value, f: &dyn Fn(&str) -> String) -> Value {
    match value {
        Value::String(s) => Value::String(f(s)),
        Value::Array(items) => Value::Array(items.iter().map(|i| map_strings(i, f)).collect()),
        Value::Object(m) if m.contains_key("Ref") || m.contains_key("Condition") => value.clone(),
        Value::Object(m) => Value::Object(
            m.iter()
                .map(|(k, v)| (k.clone(), map_strings(v, f)))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// Logical ids a value references (`Ref`, `Fn::GetAtt`, `${Name}` and `${Name.Attr}` in `Fn::Sub`).
fn logical_ids(value: &Value) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    fn walk(v: &Value, out: &mut BTreeSet<String>) {
        match v {
            Value::Object(m) => {
                for (k, inner) in m {
                    match (k.as_str(), inner) {
                        ("Ref", Value::String(s)) => {
                            out.insert(s.clone());
                        }
                        ("Fn::GetAtt", v) => {
                            if let Some(s) = v.get(0).and_then(Value::as_str) {
                                out.insert(s.to_owned());
                            }
                        }
                        ("Fn::Sub", v) => {
                            let text = v
                                .as_str()
                                .or_else(|| v.get(0).and_then(Value::as_str))
                                .unwrap_or_default();
                            for piece in text.split("${").skip(1) {
                                let name = piece.split('}').next().unwrap_or_default();
                                if !name.starts_with('!') {
                                    out.insert(
                                        name.split('.').next().unwrap_or_default().to_owned(),
                                    );
                                }
                            }
                            if let Some(vars) = v.get(1) {
                                walk(vars, out);
                            }
                        }
                        _ => walk(inner, out),
                    }
                }
            }
            Value::Array(items) => items.iter().for_each(|i| walk(i, out)),
            _ => {}
        }
    }
    walk(value, &mut out);
    out
}

/// Follows `$ref: '#/components/x-amazon-apigateway-integrations/<name>'`.
fn resolve_integration<'a>(body: &'a Value, integration: &'a Value) -> &'a Value {
    match integration.get("$ref").and_then(Value::as_str) {
        Some(reference) => {
            let name = reference
                .strip_prefix("#/components/x-amazon-apigateway-integrations/")
                .unwrap_or_else(|| panic!("unexpected $ref {reference}"));
            let resolved = &body["components"]["x-amazon-apigateway-integrations"][name];
            assert!(
                resolved.is_object(),
                "$ref {reference} names no integration"
            );
            resolved
        }
        None => integration,
    }
}

/// The integration timeout of the function named `${AWS::StackName}-<suffix>`, if set.
fn integration_timeout_ms(body: &Value, suffix: &str) -> Option<u64> {
    let needle = format!(":function:${{AWS::StackName}}-{suffix}:{LIVE_ALIAS}/invocations");
    body["components"]["x-amazon-apigateway-integrations"]
        .as_object()?
        .values()
        .find(|i| {
            i["uri"]["Fn::Sub"]
                .as_str()
                .is_some_and(|u| u.ends_with(&needle))
        })
        .and_then(|i| i["timeoutInMillis"].as_u64())
}

/// Whether a literal looks like a secret value: a JWT, a PEM key, or a long random-looking token.
fn looks_like_secret(s: &str) -> bool {
    if s.starts_with("eyJ") || s.contains("-----BEGIN") {
        return true;
    }
    let token_chars = s
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "+/=_-".contains(c));
    let digits = s.chars().filter(char::is_ascii_digit).count();
    let letters = s.chars().filter(char::is_ascii_alphabetic).count();
    token_chars && s.len() >= 20 && digits >= 4 && letters >= 4
}

/// samconfig.toml as section → key → value (strings unquoted). The file uses only `[section]`
/// headers and `key = "string" | true | false` lines, so a line reader is enough.
fn samconfig() -> BTreeMap<String, BTreeMap<String, String>> {
    let text = std::fs::read_to_string(root().join("samconfig.toml")).expect("samconfig.toml");
    let mut out: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    let mut section = String::new();
    for raw in text.lines() {
        let line = strip_toml_comment(raw).trim().to_owned();
        if line.is_empty() {
            continue;
        }
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            section = name.trim().to_owned();
            out.entry(section.clone()).or_default();
            continue;
        }
        let (key, value) = line
            .split_once('=')
            .unwrap_or_else(|| panic!("samconfig.toml: unexpected line {raw:?}"));
        let value = value.trim();
        let value = value
            .strip_prefix('"')
            .and_then(|v| v.strip_suffix('"'))
            .unwrap_or(value);
        out.entry(section.clone())
            .or_default()
            .insert(key.trim().to_owned(), value.to_owned());
    }
    out
}

fn strip_toml_comment(line: &str) -> &str {
    let mut in_string = false;
    for (i, c) in line.char_indices() {
        match c {
            '"' => in_string = !in_string,
            '#' if !in_string => return &line[..i],
            _ => {}
        }
    }
    line
}
