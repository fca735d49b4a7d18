//! Flotilla as an extension (aggregated) API server, delegating to a host cluster that is a
//! second real Flotilla api-server: the extension trusts `X-Remote-*` headers only from a
//! connection with the front-proxy CA's certificate (as kube-apiserver's aggregator sends them),
//! checks bearer tokens with the host's TokenReview and asks the host's SubjectAccessReview about
//! every identity the host vouched for, caching the answers.
//!
//! On a Flotilla host only Flotilla's own identities have rights, so the proxied user that the
//! host allows to read is named like the scheduler: it is the host's answer, not the
//! extension's rules, that lets it in (the SubjectAccessReview counts show it).

use std::collections::BTreeMap;
use std::sync::Arc;

use flotilla_api_server::security::certs::{self, IssuedCert, LeafKind};
use flotilla_api_server::security::chain::AUTH_DELEGATORS_GROUP;
use flotilla_api_server::security::tls;
use flotilla_tests::apiserver::TestApiServer;
use http_body_util::{BodyExt, Full};
use rustls::pki_types::ServerName;
use serde_json::{json, Value};

const SERVICES: &str = "/apis/flotilla.dev/v1alpha1/namespaces/default/swarmservices";
/// What Flotilla's rules let the scheduler read (and not create).
const TASKS: &str = "/apis/flotilla.dev/v1alpha1/namespaces/default/tasks";
const PROXY_CN: &str = "front-proxy-client";
const SCHEDULER: &str = "system:flotilla-scheduler";

struct Clusters {
    host: TestApiServer,
    ext: TestApiServer,
    /// Signed by the front-proxy CA with CN `front-proxy-client` (allowed) and another CN.
    proxy: IssuedCert,
    rogue_proxy: IssuedCert,
    _files: tempfile::TempDir,
}

/// A host with static tokens for alice and the scheduler, and a kubeconfig for it in the
/// delegators' group.
async fn host(files: &tempfile::TempDir) -> (TestApiServer, std::path::PathBuf) {
    let tokens = files.path().join("tokens.csv");
    std::fs::write(
        &tokens,
        format!("tok-alice,alice,u-alice,\"devs\"\ntok-sched,{SCHEDULER},u-sched\n"),
    )
    .unwrap();
    let host = TestApiServer::embedded_and(|o| o.token_auth_file = Some(tokens))
        .await
        .unwrap();
    let delegator = host
        .kubeconfig_for("flotilla-extension", &[AUTH_DELEGATORS_GROUP])
        .unwrap();
    (host, delegator)
}

async fn clusters() -> Clusters {
    let files = tempfile::tempdir().unwrap();
    let (host, delegator) = host(&files).await;
    let (front_proxy_ca, front_proxy_ca_cert) = certs::new_ca().unwrap();
    let ca_file = files.path().join("front-proxy-ca.crt");
    std::fs::write(&ca_file, &front_proxy_ca_cert.cert_pem).unwrap();
    let leaf = |cn: &str| {
        let kind = LeafKind::Client {
            user: cn.into(),
            groups: vec![],
        };
        certs::issue_leaf(&front_proxy_ca, &kind).unwrap()
    };
    let (proxy, rogue_proxy) = (leaf(PROXY_CN), leaf("not-the-aggregator"));
    let ext = TestApiServer::embedded_and(|o| {
        let e = &mut o.extension;
        e.requestheader_client_ca_file = Some(ca_file);
        e.requestheader_allowed_names = vec![PROXY_CN.into()];
        e.authentication_kubeconfig = Some(delegator.clone());
        e.authorization_kubeconfig = Some(delegator);
    })
    .await
    .unwrap();
    Clusters {
        host,
        ext,
        proxy,
        rogue_proxy,
        _files: files,
    }
}

/// One HTTP/1.1 request over a fresh TLS connection (so each request brings its own
/// certificate): `(status, JSON body or Null)`.
async fn call(
    server: &TestApiServer,
    cert: Option<&IssuedCert>,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<Value>,
) -> (u16, Value) {
    let ca = server.pki.client_ca_pem().unwrap();
    let client = cert.map(|c| (c.cert_pem.as_str(), c.key_pem.as_str()));
    let config: Arc<rustls::ClientConfig> = tls::client_config(ca, client).unwrap();
    let addr = server.url.trim_start_matches("https://");
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let name = ServerName::try_from("127.0.0.1").unwrap();
    let stream = tokio_rustls::TlsConnector::from(config)
        .connect(name, tcp)
        .await
        .unwrap();
    let io = hyper_util::rt::TokioIo::new(stream);
    let (mut sender, conn) = hyper::client::conn::http1::handshake(io).await.unwrap();
    tokio::spawn(conn);
    let mut req = http::Request::builder()
        .method(method)
        .uri(path)
        .header("host", addr);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let bytes = body.map(|b| b.to_string()).unwrap_or_default();
    if !bytes.is_empty() {
        req = req.header("content-type", "application/json");
    }
    let resp = sender
        .send_request(req.body(Full::new(bytes::Bytes::from(bytes))).unwrap())
        .await
        .unwrap();
    let status = resp.status().as_u16();
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    let value = serde_json::from_slice(&body)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&body).into()));
    (status, value)
}

/// The host's SubjectAccessReview and TokenReview requests, and the extension's cache hits,
/// read from `/metrics` (one process serves both, so the extension's counters are there too).
async fn review_counts(c: &Clusters) -> BTreeMap<&'static str, u64> {
    let admin = admin_cert(&c.host);
    let (code, text) = call(&c.host, Some(&admin), "GET", "/metrics", &[], None).await;
    assert_eq!(code, 200);
    let text = text.as_str().unwrap().to_string();
    let value = |prefix: &str| -> u64 {
        text.lines()
            .filter(|l| l.starts_with(prefix))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
            .sum()
    };
    BTreeMap::from([
        (
            "host_sar",
            value("apiserver_request_total{verb=\"POST\",resource=\"subjectaccessreviews\""),
        ),
        (
            "host_token",
            value("apiserver_request_total{verb=\"POST\",resource=\"tokenreviews\""),
        ),
        (
            "cached_sar",
            value(
                "flotilla_delegated_reviews_total{kind=\"SubjectAccessReview\",source=\"cache\"}",
            ),
        ),
        (
            "cached_token",
            value("flotilla_delegated_reviews_total{kind=\"TokenReview\",source=\"cache\"}"),
        ),
    ])
}

fn admin_cert(server: &TestApiServer) -> IssuedCert {
    let (cert_pem, key_pem) = server
        .pki
        .issue_client("flotilla:admin", &["system:masters".to_string()])
        .unwrap();
    IssuedCert { cert_pem, key_pem }
}

fn as_user<'a>(user: &'a str, groups: &[&'a str]) -> Vec<(&'a str, &'a str)> {
    let mut headers = vec![("X-Remote-User", user)];
    headers.extend(groups.iter().map(|g| ("X-Remote-Group", *g)));
    headers
}

#[tokio::test]
async fn the_aggregators_user_is_authorized_by_the_host_and_answers_are_cached() {
    let c = clusters().await;
    let before = review_counts(&c).await;
    let headers = as_user(SCHEDULER, &["system:authenticated"]);
    let (code, body) = call(&c.ext, Some(&c.proxy), "GET", TASKS, &headers, None).await;
    assert_eq!(code, 200, "{body}");
    assert_eq!(body["kind"], "TaskList");
    let after_first = review_counts(&c).await;
    assert_eq!(
        after_first["host_sar"],
        before["host_sar"] + 1,
        "{after_first:?}"
    );

    // The same question within the TTL is answered from the cache: the host is not asked.
    let (code, _) = call(&c.ext, Some(&c.proxy), "GET", TASKS, &headers, None).await;
    assert_eq!(code, 200);
    let after_second = review_counts(&c).await;
    assert_eq!(after_second["host_sar"], after_first["host_sar"]);
    assert_eq!(after_second["cached_sar"], after_first["cached_sar"] + 1);

    // The host's rules let the scheduler read, not create: its "no" is a 403 here.
    let body = json!({"apiVersion": "flotilla.dev/v1alpha1", "kind": "Task",
        "metadata": {"name": "web.1", "namespace": "default"}});
    let (code, status) = call(&c.ext, Some(&c.proxy), "POST", TASKS, &headers, Some(body)).await;
    assert_eq!(code, 403, "{status}");
    let message = status["message"].as_str().unwrap();
    assert!(
        message.contains(&format!("User \"{SCHEDULER}\" cannot create")),
        "{message}"
    );
}

#[tokio::test]
async fn a_proxied_user_the_host_denies_is_forbidden() {
    let c = clusters().await;
    let headers = as_user("alice", &["devs", "system:authenticated"]);
    let (code, status) = call(&c.ext, Some(&c.proxy), "GET", SERVICES, &headers, None).await;
    assert_eq!(code, 403, "{status}");
    assert!(status["message"]
        .as_str()
        .unwrap()
        .contains("User \"alice\""));
}

#[tokio::test]
async fn headers_without_the_front_proxy_certificate_are_ignored() {
    let c = clusters().await;
    let masters = as_user("mallory", &["system:masters"]);
    // No certificate at all: the headers do not make an identity.
    let (code, _) = call(&c.ext, None, "GET", SERVICES, &masters, None).await;
    assert_eq!(code, 401);
    // A certificate from the ordinary client CA: its CN is the user, the headers count for
    // nothing (bob is not a Flotilla identity with rights).
    let (cert_pem, key_pem) = c.ext.pki.issue_client("bob", &[]).unwrap();
    let bob = IssuedCert { cert_pem, key_pem };
    let (code, status) = call(&c.ext, Some(&bob), "GET", SERVICES, &masters, None).await;
    assert_eq!(code, 403, "{status}");
    assert!(status["message"].as_str().unwrap().contains("User \"bob\""));
    // The front-proxy certificate without a user header is nobody either.
    let (code, _) = call(&c.ext, Some(&c.proxy), "GET", SERVICES, &[], None).await;
    assert_eq!(code, 401);
}

#[tokio::test]
async fn a_proxy_whose_name_is_not_allowed_is_refused() {
    let c = clusters().await;
    let masters = as_user("mallory", &["system:masters"]);
    let rogue = Some(&c.rogue_proxy);
    let (code, _) = call(&c.ext, rogue, "GET", SERVICES, &masters, None).await;
    assert_eq!(code, 401);
    // The allowed proxy asserting the same user is believed (system:masters needs no review).
    let (code, body) = call(&c.ext, Some(&c.proxy), "GET", SERVICES, &masters, None).await;
    assert_eq!(code, 200, "{body}");
}

#[tokio::test]
async fn bearer_tokens_are_checked_by_the_hosts_token_review() {
    let c = clusters().await;
    let before = review_counts(&c).await;
    let bearer = |t: &'static str| [("Authorization", t)];
    let sched = bearer("Bearer tok-sched");
    let (code, body) = call(&c.ext, None, "GET", TASKS, &sched, None).await;
    assert_eq!(code, 200, "{body}");
    let (code, _) = call(&c.ext, None, "GET", TASKS, &sched, None).await;
    assert_eq!(code, 200);
    let after = review_counts(&c).await;
    assert_eq!(after["host_token"], before["host_token"] + 1, "{after:?}");
    assert_eq!(after["cached_token"], before["cached_token"] + 1);
    // A token the host knows, for a user the host does not authorize: 403, not 401.
    let (code, _) = call(
        &c.ext,
        None,
        "GET",
        SERVICES,
        &bearer("Bearer tok-alice"),
        None,
    )
    .await;
    assert_eq!(code, 403);
    let (code, _) = call(&c.ext, None, "GET", SERVICES, &bearer("Bearer nope"), None).await;
    assert_eq!(code, 401);
}

#[tokio::test]
async fn the_host_serves_reviews_to_delegators_only() {
    let c = clusters().await;
    let tr = json!({"apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview",
                    "spec": {"token": "tok-alice"}});
    let path = "/apis/authentication.k8s.io/v1/tokenreviews";
    let (cert_pem, key_pem) = c
        .host
        .pki
        .issue_client("ext", &[AUTH_DELEGATORS_GROUP.to_string()])
        .unwrap();
    let delegator = IssuedCert { cert_pem, key_pem };
    let (code, review) = call(
        &c.host,
        Some(&delegator),
        "POST",
        path,
        &[],
        Some(tr.clone()),
    )
    .await;
    assert_eq!(code, 201, "{review}");
    assert_eq!(review["status"]["authenticated"], true);
    assert_eq!(review["status"]["user"]["username"], "alice");
    assert_eq!(review["status"]["user"]["uid"], "u-alice");

    let (cert_pem, key_pem) = c.host.pki.issue_client("bob", &[]).unwrap();
    let bob = IssuedCert { cert_pem, key_pem };
    let (code, _) = call(&c.host, Some(&bob), "POST", path, &[], Some(tr)).await;
    assert_eq!(code, 403);

    let sar = json!({"apiVersion": "authorization.k8s.io/v1", "kind": "SubjectAccessReview",
        "spec": {"user": SCHEDULER, "resourceAttributes":
            {"verb": "create", "group": "flotilla.dev", "resource": "tasks", "subresource": "binding",
             "namespace": "default", "name": "web.1"}}});
    let path = "/apis/authorization.k8s.io/v1/subjectaccessreviews";
    let (code, review) = call(&c.host, Some(&delegator), "POST", path, &[], Some(sar)).await;
    assert_eq!(code, 201, "{review}");
    assert_eq!(review["status"]["allowed"], true);
    let invalid = json!({"spec": {"resourceAttributes": {"verb": "get"}}});
    let (code, status) = call(&c.host, Some(&delegator), "POST", path, &[], Some(invalid)).await;
    assert_eq!(code, 422, "{status}");

    // Both review kinds are in discovery.
    let admin = admin_cert(&c.host);
    let (code, list) = call(
        &c.host,
        Some(&admin),
        "GET",
        "/apis/authorization.k8s.io/v1",
        &[],
        None,
    )
    .await;
    assert_eq!(code, 200);
    let names: Vec<&str> = list["resources"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|r| r["name"].as_str())
        .collect();
    assert!(names.contains(&"subjectaccessreviews"), "{names:?}");
    let (code, list) = call(
        &c.host,
        Some(&admin),
        "GET",
        "/apis/authentication.k8s.io/v1",
        &[],
        None,
    )
    .await;
    assert_eq!(code, 200);
    assert!(list.to_string().contains("\"tokenreviews\""), "{list}");
}

#[tokio::test]
async fn without_a_ca_file_the_proxy_settings_are_looked_up_on_the_host() {
    // A Flotilla host publishes no ConfigMap kube-system/extension-apiserver-authentication
    // (404): the extension starts all the same, believes nobody's headers, and still checks
    // tokens with the host.
    let files = tempfile::tempdir().unwrap();
    let (_host, delegator) = host(&files).await;
    let ext = TestApiServer::embedded_and(|o| {
        o.extension.authentication_kubeconfig = Some(delegator.clone());
        o.extension.authorization_kubeconfig = Some(delegator);
    })
    .await
    .unwrap();
    let masters = as_user("mallory", &["system:masters"]);
    let (code, _) = call(&ext, None, "GET", SERVICES, &masters, None).await;
    assert_eq!(code, 401);
    let sched = [("Authorization", "Bearer tok-sched")];
    let (code, body) = call(&ext, None, "GET", TASKS, &sched, None).await;
    assert_eq!(code, 200, "{body}");
}

#[tokio::test]
async fn a_host_that_cannot_answer_fails_closed() {
    let Clusters {
        host, ext, proxy, ..
    } = clusters().await;
    host.stop().await;
    // Authorization: Kubernetes answers 500 when its authorizer webhook fails.
    let headers = as_user("alice", &["devs"]);
    let (code, status) = call(&ext, Some(&proxy), "GET", SERVICES, &headers, None).await;
    assert_eq!(code, 500, "{status}");
    assert!(
        status["message"]
            .as_str()
            .unwrap()
            .contains("delegated authorization"),
        "{status}"
    );
    // Authentication: a token nobody can vouch for is no identity.
    let sched = [("Authorization", "Bearer tok-sched")];
    let (code, _) = call(&ext, None, "GET", SERVICES, &sched, None).await;
    assert_eq!(code, 401);
    // Flotilla's own identities do not depend on the host.
    let admin = admin_cert(&ext);
    let (code, _) = call(&ext, Some(&admin), "GET", SERVICES, &[], None).await;
    assert_eq!(code, 200);
}

#[tokio::test]
async fn the_aggregators_availability_check_and_discovery_succeed() {
    // kube-aggregator marks an APIService Available when GET /apis/<group>/<version> answers
    // 2xx to a request it sends as system:kube-aggregator in system:masters.
    let c = clusters().await;
    // Exactly the headers it sends: no system:authenticated among them.
    let aggregator = [
        ("X-Remote-User", "system:kube-aggregator"),
        ("X-Remote-Group", "system:masters"),
    ];
    let gv = "/apis/flotilla.dev/v1alpha1";
    let (code, list) = call(&c.ext, Some(&c.proxy), "GET", gv, &aggregator, None).await;
    assert_eq!(code, 200, "{list}");
    assert_eq!(list["kind"], "APIResourceList");
    // An ordinary user's discovery is the host's to allow; a Flotilla host allows discovery to
    // every authenticated user.
    let alice = as_user("alice", &["system:authenticated"]);
    let (code, _) = call(&c.ext, Some(&c.proxy), "GET", gv, &alice, None).await;
    assert_eq!(code, 200);
}

#[tokio::test]
async fn the_hosts_anonymous_user_stays_anonymous() {
    // With anonymous requests allowed, the aggregator proxies them as system:anonymous in
    // system:unauthenticated; Flotilla adds no system:authenticated to what the host asserted.
    let c = clusters().await;
    let anonymous = [
        ("X-Remote-User", "system:anonymous"),
        ("X-Remote-Group", "system:unauthenticated"),
    ];
    let (code, _) = call(&c.ext, Some(&c.proxy), "GET", SERVICES, &anonymous, None).await;
    assert_eq!(code, 401);
    let (code, _) = call(&c.ext, Some(&c.proxy), "GET", "/version", &anonymous, None).await;
    assert_eq!(code, 200);
}
