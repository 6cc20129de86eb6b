//! Leader election: the decision table, then request-level rounds against a scripted fake API server.

use std::time::Duration;

use http::{Method, Request, Response, StatusCode};
use k8s_openapi::api::coordination::v1::LeaseSpec;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use kube::Client;
use kube::client::Body;
use serde_json::{Value, json};
use tower_test::mock;

use super::*;

const ME: &str = "flinkops-0";
const OTHER: &str = "flinkops-1";
const BOUND: Duration = Duration::from_secs(5);
const LEASE_PATH: &str = "/apis/coordination.k8s.io/v1/namespaces/flinkops/leases/flinkops-leader";

fn now() -> Timestamp {
    Timestamp::from_second(1_800_000_000).unwrap()
}

fn ago(seconds: i64) -> Option<MicroTime> {
    Some(MicroTime(now() - SignedDuration::from_secs(seconds)))
}

fn spec(holder: Option<&str>, renewed_seconds_ago: Option<i64>) -> LeaseSpec {
    LeaseSpec {
        holder_identity: holder.map(str::to_owned),
        lease_duration_seconds: Some(15),
        renew_time: renewed_seconds_ago.and_then(ago),
        lease_transitions: Some(3),
        ..LeaseSpec::default()
    }
}

#[test]
fn decide_table() {
    let default = Duration::from_secs(15);
    let expires = |ago_s: i64| now() - SignedDuration::from_secs(ago_s) + SignedDuration::from_secs(15);
    let cases: Vec<(&str, Option<LeaseSpec>, Decision)> = vec![
        ("no lease: create it", None, Decision::Create),
        ("our lease: renew", Some(spec(Some(ME), Some(3))), Decision::Renew),
        ("our lease, expired: renew (nobody took it)", Some(spec(Some(ME), Some(60))), Decision::Renew),
        (
            "another holder, fresh: wait",
            Some(spec(Some(OTHER), Some(3))),
            Decision::Wait { holder: OTHER.into(), expires: expires(3) },
        ),
        (
            "another holder, expiring exactly now: still valid",
            Some(spec(Some(OTHER), Some(15))),
            Decision::Wait { holder: OTHER.into(), expires: now() },
        ),
        ("another holder, expired: take over", Some(spec(Some(OTHER), Some(16))), Decision::TakeOver),
        ("released (no holder): take over", Some(spec(None, Some(1))), Decision::TakeOver),
        ("released (empty holder): take over", Some(spec(Some(""), Some(1))), Decision::TakeOver),
        ("held but never renewed: expired", Some(spec(Some(OTHER), None)), Decision::TakeOver),
    ];
    for (name, lease, expected) in cases {
        assert_eq!(decide(lease.as_ref(), ME, now(), default), expected, "{name}");
    }
}

#[test]
fn decide_uses_the_default_duration_when_the_lease_has_none() {
    let mut lease = spec(Some(OTHER), Some(20));
    lease.lease_duration_seconds = None;
    assert_eq!(decide(Some(&lease), ME, now(), Duration::from_secs(15)), Decision::TakeOver);
    assert!(matches!(decide(Some(&lease), ME, now(), Duration::from_secs(30)), Decision::Wait { .. }));
}

/// One expected request and the fake API server's answer.
struct Step {
    method: Method,
    path: &'static str,
    /// Checks the request body (JSON); `None` for requests without one.
    body: Option<fn(&Value)>,
    status: StatusCode,
    reply: Value,
}

fn lease_json(holder: Option<&str>, renewed_seconds_ago: i64, transitions: i32) -> Value {
    json!({
        "apiVersion": "coordination.k8s.io/v1",
        "kind": "Lease",
        "metadata": {"name": "flinkops-leader", "namespace": "flinkops", "resourceVersion": "41"},
        "spec": {
            "holderIdentity": holder,
            "leaseDurationSeconds": 15,
            "acquireTime": (now() - SignedDuration::from_secs(600)).to_string(),
            "renewTime": (now() - SignedDuration::from_secs(renewed_seconds_ago)).to_string(),
            "leaseTransitions": transitions,
        }
    })
}

fn status(code: u16, reason: &str) -> Value {
    json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": reason, "code": code,
        "message": "leases.coordination.k8s.io \"flinkops-leader\": scripted by the test"})
}

fn get(status: StatusCode, reply: Value) -> Step {
    Step { method: Method::GET, path: LEASE_PATH, body: None, status, reply }
}

fn put(body: fn(&Value), status: StatusCode, reply: Value) -> Step {
    Step { method: Method::PUT, path: LEASE_PATH, body: Some(body), status, reply }
}

/// The create that answers 201 with our Lease.
fn create(body: Option<fn(&Value)>) -> Step {
    Step {
        method: Method::POST,
        path: "/apis/coordination.k8s.io/v1/namespaces/flinkops/leases",
        body,
        status: StatusCode::CREATED,
        reply: lease_json(Some(ME), 0, 0),
    }
}

/// Serves `steps` in order and fails on any other request; the returned task ends when all were served.
fn fake_api(steps: Vec<Step>) -> (LeaderElector, tokio::task::JoinHandle<()>) {
    let (service, mut handle) = mock::pair::<Request<Body>, Response<Body>>();
    let elector = LeaderElector::new(Client::new(service, "default"), LeaderConfig::new("flinkops", ME));
    let task = tokio::spawn(async move {
        for step in steps {
            let (request, respond) = handle.next_request().await.expect("the elector sent fewer requests");
            assert_eq!(request.method(), step.method);
            assert_eq!(request.uri().path(), step.path);
            let bytes = request.into_body().collect_bytes().await.unwrap();
            if let Some(check) = step.body {
                check(&serde_json::from_slice(&bytes).unwrap());
            }
            let body = Body::from(serde_json::to_vec(&step.reply).unwrap());
            respond.send_response(Response::builder().status(step.status).body(body).unwrap());
        }
    });
    (elector, task)
}

async fn scenario(steps: Vec<Step>) -> Result<Round, LeaderError> {
    let (elector, api) = fake_api(steps);
    let round = tokio::time::timeout(BOUND, elector.round(now())).await.unwrap();
    tokio::time::timeout(BOUND, api).await.unwrap().unwrap();
    round
}

#[tokio::test]
async fn creates_the_lease_when_absent() {
    let round = scenario(vec![
        get(StatusCode::NOT_FOUND, status(404, "NotFound")),
        create(Some(|body| {
            assert_eq!(body["metadata"]["name"], "flinkops-leader");
            assert_eq!(body["spec"]["holderIdentity"], ME);
            assert_eq!(body["spec"]["leaseDurationSeconds"], 15);
            assert_eq!(body["spec"]["leaseTransitions"], 0);
            assert_eq!(body["spec"]["renewTime"], body["spec"]["acquireTime"]);
        })),
    ])
    .await;
    assert_eq!(round.unwrap(), Round::Leading);
}

#[tokio::test]
async fn renews_its_own_lease_with_the_read_resource_version() {
    let round = scenario(vec![
        get(StatusCode::OK, lease_json(Some(ME), 5, 2)),
        put(
            |body| {
                assert_eq!(body["metadata"]["resourceVersion"], "41", "optimistic concurrency");
                assert_eq!(body["spec"]["holderIdentity"], ME);
                assert_eq!(body["spec"]["leaseTransitions"], 2, "a renewal is no transition");
                assert_eq!(body["spec"]["renewTime"], json!(MicroTime(now())));
                assert_ne!(body["spec"]["acquireTime"], json!(MicroTime(now())), "acquired long ago");
            },
            StatusCode::OK,
            lease_json(Some(ME), 0, 2),
        ),
    ])
    .await;
    assert_eq!(round.unwrap(), Round::Leading);
}

#[tokio::test]
async fn waits_while_another_holders_lease_is_fresh() {
    let round = scenario(vec![get(StatusCode::OK, lease_json(Some(OTHER), 5, 2))]).await;
    assert_eq!(round.unwrap(), Round::Following { holder: OTHER.into() });
}

#[tokio::test]
async fn takes_over_an_expired_lease_counting_a_transition() {
    let round = scenario(vec![
        get(StatusCode::OK, lease_json(Some(OTHER), 60, 2)),
        put(
            |body| {
                assert_eq!(body["metadata"]["resourceVersion"], "41");
                assert_eq!(body["spec"]["holderIdentity"], ME);
                assert_eq!(body["spec"]["leaseTransitions"], 3);
                assert_eq!(body["spec"]["acquireTime"], json!(MicroTime(now())));
            },
            StatusCode::OK,
            lease_json(Some(ME), 0, 3),
        ),
    ])
    .await;
    assert_eq!(round.unwrap(), Round::Leading);
}

#[tokio::test]
async fn a_409_means_another_replica_won_the_race() {
    let round = scenario(vec![
        get(StatusCode::OK, lease_json(None, 1, 2)),
        put(|_| {}, StatusCode::CONFLICT, status(409, "Conflict")),
    ])
    .await;
    assert_eq!(round.unwrap(), Round::Following { holder: String::new() });
}

#[tokio::test]
async fn other_api_errors_are_errors_naming_the_lease() {
    let error = scenario(vec![get(StatusCode::FORBIDDEN, status(403, "Forbidden"))]).await.unwrap_err();
    assert!(error.to_string().starts_with("Lease flinkops/flinkops-leader: "), "{error}");
}

#[tokio::test]
async fn leads_then_releases_the_lease_on_shutdown() {
    let (elector, api) = fake_api(vec![
        get(StatusCode::NOT_FOUND, status(404, "NotFound")),
        create(None),
        get(StatusCode::OK, lease_json(Some(ME), 0, 0)),
        put(
            |body| {
                assert_eq!(body["spec"]["holderIdentity"], Value::Null, "released: a successor starts at once");
                assert_eq!(body["metadata"]["resourceVersion"], "41");
            },
            StatusCode::OK,
            lease_json(None, 0, 0),
        ),
    ]);
    let mut leadership = elector.leadership();
    assert!(!leadership.is_leader());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let running = tokio::spawn(elector.run(async {
        let _ = stopped.await;
    }));
    tokio::time::timeout(BOUND, leadership.acquired()).await.unwrap();
    assert!(leadership.is_leader());
    stop.send(()).unwrap();
    tokio::time::timeout(BOUND, leadership.lost()).await.unwrap();
    tokio::time::timeout(BOUND, running).await.unwrap().unwrap().unwrap();
    tokio::time::timeout(BOUND, api).await.unwrap().unwrap();
}

#[tokio::test(start_paused = true)]
async fn a_leader_that_cannot_renew_steps_down_before_its_lease_expires() {
    let failing = || get(StatusCode::INTERNAL_SERVER_ERROR, status(500, "InternalError"));
    let (elector, api) = fake_api(vec![
        get(StatusCode::NOT_FOUND, status(404, "NotFound")),
        create(None),
        // Renewals at 5 s, 7 s, 9 s and 11 s after acquiring fail; the deadline (10 s) passes at the fourth.
        failing(),
        failing(),
        failing(),
        failing(),
    ]);
    let mut leadership = elector.leadership();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let running = tokio::spawn(elector.run(async {
        let _ = stopped.await;
    }));
    leadership.acquired().await;
    let acquired = tokio::time::Instant::now();
    tokio::time::timeout(Duration::from_secs(60), leadership.lost()).await.unwrap();
    let led_for = acquired.elapsed();
    assert!(led_for >= Duration::from_secs(10) && led_for < Duration::from_secs(15), "led for {led_for:?}");
    stop.send(()).unwrap();
    running.await.unwrap().unwrap();
    api.await.unwrap();
}
