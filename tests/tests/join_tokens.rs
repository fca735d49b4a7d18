//! Nodes join with a token (Swarm's `docker swarm join --token`, Kubernetes' TLS bootstrapping):
//! the real node-agent bootstrap code against a real in-process api-server. A joined node is
//! `system:node:<name>` and confined by the node authorizer; a token pinning another CA, a wrong
//! or rotated secret and a live node's name are refused with a message saying which; the
//! certificate is renewed before it expires; only administrators may read the token.

mod agent_common;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use agent_common::*;
use flotilla_api::join::JoinToken;
use flotilla_api::SwarmNode;
use flotilla_cli::join_token::fetch;
use flotilla_node_agent::bootstrap::{self, BootstrapConfig};
use flotilla_node_agent::identity::{CERT_FILE, KEY_FILE};
use flotilla_node_agent::runtime::simulated::Simulated;
use flotilla_node_agent::{run, AgentConfig};
use flotilla_tests::apiserver::{client_from, TestApiServer};
use kube::Api;
use tokio::sync::oneshot;

const WAIT: Duration = Duration::from_secs(20);

fn config(server: &TestApiServer, dir: &Path, node: &str, token: Option<&str>) -> BootstrapConfig {
    BootstrapConfig {
        server: server.url.clone(),
        token: token.map(str::to_string),
        node_name: node.to_string(),
        cert_dir: dir.join(node),
    }
}

/// Runs the agent for `node` with `client` until the returned sender is dropped.
fn start_agent(client: kube::Client, node: &str) -> oneshot::Sender<()> {
    let mut config = AgentConfig::new(node);
    config.heartbeat = Duration::from_millis(300);
    config.mesh = false;
    let (stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(run(
        client,
        config,
        Arc::new(Simulated::new(Default::default())),
        async {
            let _ = stopped.await;
        },
    ));
    stop
}

async fn join_err(cfg: BootstrapConfig) -> String {
    match bootstrap::connect(cfg).await {
        Ok(_) => panic!("the join must be refused"),
        Err(e) => e.to_string(),
    }
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[tokio::test(flavor = "multi_thread")]
async fn a_node_joins_with_the_token_and_the_node_authorizer_confines_it() {
    let server = TestApiServer::embedded().await.unwrap();
    let admin = server.client().await.unwrap();
    let token = fetch(&admin, false).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(&server, dir.path(), "n1", Some(&token));
    let (client, _renewal) = bootstrap::connect(cfg.clone()).await.unwrap();
    for file in [KEY_FILE, CERT_FILE] {
        assert_eq!(mode(&cfg.cert_dir.join(file)), 0o600, "{file}");
    }
    let _agent = start_agent(client.clone(), "n1");
    let nodes: Api<SwarmNode> = Api::all(admin.clone());
    wait_for("SwarmNode n1 registered", WAIT, || async {
        nodes.get_opt("n1").await.ok()?
    })
    .await;

    create_assigned(
        &admin,
        &bound_task("theirs", "web", "n2", template("sim/web")),
    )
    .await
    .unwrap();
    create_assigned(
        &admin,
        &bound_task("mine", "web", "n1", template("sim/web")),
    )
    .await
    .unwrap();
    // The joined agent runs its Task: it read and patched it as system:node:n1 once its watch
    // brought it, which the authorizer allowed (its index is never behind a watch).
    wait_state(&admin, "mine", flotilla_api::TaskState::Running, WAIT).await;
    let tasks: Api<flotilla_api::Task> = Api::namespaced(client.clone(), "default");
    tasks.get("mine").await.expect("a node reads its own Task");
    let err = tasks.get("theirs").await.unwrap_err();
    let kube::Error::Api(status) = err else {
        panic!("{err:?}")
    };
    assert_eq!(status.code, 403, "{status:?}");
    assert!(
        status.message.contains("User \"system:node:n1\""),
        "the joined identity is the node's: {}",
        status.message
    );

    // A second agent claiming the live node's name is refused; another name is not.
    let twin = config(&server, &dir.path().join("twin"), "n1", Some(&token));
    let why = join_err(twin).await;
    assert!(why.contains("node name \"n1\" is taken"), "{why}");
    let other = config(&server, dir.path(), "n3", Some(&token));
    bootstrap::connect(other).await.expect("a free name joins");
    let again = config(&server, &dir.path().join("again"), "n3", Some(&token));
    let why = join_err(again).await;
    assert!(why.contains("another node joined under that name"), "{why}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_token_pinning_another_ca_is_refused_before_anything_is_sent() {
    let server = TestApiServer::embedded().await.unwrap();
    let admin = server.client().await.unwrap();
    let real = JoinToken::parse(&fetch(&admin, false).await.unwrap()).unwrap();
    let forged = JoinToken::new(&"ab".repeat(32), &real.secret).to_string();
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(&server, dir.path(), "n1", Some(&forged));
    let why = join_err(cfg.clone()).await;
    assert!(why.contains("refusing the cluster CA"), "{why}");
    assert!(
        why.contains(&real.ca_digest),
        "names the CA it was served: {why}"
    );
    assert!(!cfg.cert_dir.join(KEY_FILE).exists(), "nothing was kept");
}

#[tokio::test(flavor = "multi_thread")]
async fn wrong_and_rotated_secrets_are_refused_by_name() {
    let server = TestApiServer::embedded().await.unwrap();
    let admin = server.client().await.unwrap();
    let old = JoinToken::parse(&fetch(&admin, false).await.unwrap()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let wrong = JoinToken::new(&old.ca_digest, "wrongsecret00000000000000000000a").to_string();
    let why = join_err(config(&server, dir.path(), "n1", Some(&wrong))).await;
    assert!(why.contains("join token secret is not valid"), "{why}");

    let new = fetch(&admin, true).await.unwrap();
    assert_ne!(new, old.to_string());
    let why = join_err(config(&server, dir.path(), "n1", Some(&old.to_string()))).await;
    assert!(why.contains("join token has been rotated"), "{why}");
    assert_eq!(
        fetch(&admin, false).await.unwrap(),
        new,
        "reading does not rotate"
    );
    bootstrap::connect(config(&server, dir.path(), "n1", Some(&new)))
        .await
        .expect("the current token joins");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_certificate_is_renewed_and_a_restart_needs_no_token() {
    let server = TestApiServer::embedded_and(|o| o.join.duration = Duration::from_secs(6))
        .await
        .unwrap();
    let admin = server.client().await.unwrap();
    let token = fetch(&admin, false).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(&server, dir.path(), "n1", Some(&token));
    let (client, renewal) = bootstrap::connect(cfg.clone()).await.unwrap();
    let cert_path = cfg.cert_dir.join(CERT_FILE);
    let first = std::fs::read_to_string(&cert_path).unwrap();
    wait_for("the certificate renewed", WAIT, || async {
        let now = std::fs::read_to_string(&cert_path).ok()?;
        (now != first).then_some(())
    })
    .await;
    assert_eq!(mode(&cert_path), 0o600);
    // Past the first certificate's expiry the agent's client still works (new connections
    // present the renewed certificate: identity_tests checks the swap).
    tokio::time::sleep(Duration::from_secs(7)).await;
    flotilla_node_agent::node::renew_lease(&client, "n1", 40)
        .await
        .expect("the renewed certificate authenticates");
    drop(renewal);
    let restarted = BootstrapConfig { token: None, ..cfg };
    let (client, _renewal) = bootstrap::connect(restarted)
        .await
        .expect("a valid certificate in --cert-dir needs no token");
    flotilla_node_agent::node::renew_lease(&client, "n1", 40)
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn only_administrators_read_or_rotate_the_token() {
    let server = TestApiServer::embedded().await.unwrap();
    let admin = server.client().await.unwrap();
    let token = fetch(&admin, false).await.unwrap();
    for (user, groups) in [
        ("system:flotilla-scheduler", vec![]),
        ("system:flotilla-controller-manager", vec![]),
        ("system:node:n1", vec!["system:nodes"]),
        ("alice", vec!["developers"]),
    ] {
        let client = client_from(&server.kubeconfig_for(user, &groups).unwrap())
            .await
            .unwrap();
        for rotate in [false, true] {
            match fetch(&client, rotate).await {
                Err(kube::Error::Api(s)) if s.code == 403 => {
                    assert!(
                        s.message.contains("/join/v1/tokens/worker"),
                        "{}",
                        s.message
                    )
                }
                other => panic!("{user} (rotate {rotate}): {other:?}"),
            }
        }
    }
    let mut anonymous = kube::Config::new(server.url.parse().unwrap());
    anonymous.accept_invalid_certs = true;
    let anonymous = kube::Client::try_from(anonymous).unwrap();
    match fetch(&anonymous, false).await {
        Err(kube::Error::Api(s)) if s.code == 401 => {}
        other => panic!("anonymous: {other:?}"),
    }
    assert_eq!(
        fetch(&admin, false).await.unwrap(),
        token,
        "nobody rotated it"
    );
}

/// A node image has no system CA certificates (`FROM scratch`): the agent binary must join
/// without any (here the system verifier is pointed at an empty store).
#[tokio::test(flavor = "multi_thread")]
async fn an_agent_without_system_ca_certificates_joins() {
    let bins = flotilla_tests::bins::workspace_bins().await.unwrap();
    let server = TestApiServer::embedded().await.unwrap();
    let token = fetch(&server.client().await.unwrap(), false).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (empty, token_file) = (dir.path().join("none.pem"), dir.path().join("token"));
    std::fs::write(&empty, "").unwrap();
    std::fs::write(&token_file, &token).unwrap();
    let cert_dir = dir.path().join("n1");
    let mut agent = std::process::Command::new(bins.join("flotilla-node-agent"))
        .arg(format!("--server={}", server.url))
        .arg(format!("--join-token-file={}", token_file.display()))
        .arg(format!("--cert-dir={}", cert_dir.display()))
        .args(["--node-name=n1", "--runtime=simulated", "--no-mesh"])
        .env("SSL_CERT_FILE", &empty)
        .env("SSL_CERT_DIR", dir.path())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = tokio::time::Instant::now() + WAIT;
    while !cert_dir.join(CERT_FILE).exists() {
        if let Some(status) = agent.try_wait().unwrap() {
            let mut err = String::new();
            std::io::Read::read_to_string(agent.stderr.as_mut().unwrap(), &mut err).unwrap();
            panic!("the agent exited ({status}) without joining:\n{err}");
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no join in {WAIT:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    agent.kill().unwrap();
    agent.wait().unwrap();
}

/// A client whose bearer token is `token`, trusting any server certificate.
fn bearer_client(server: &TestApiServer, token: &str) -> kube::Client {
    let mut config = kube::Config::new(server.url.parse().unwrap());
    config.accept_invalid_certs = true;
    config.auth_info.token = Some(token.to_string().into());
    kube::Client::try_from(config).unwrap()
}

/// A join token is no identity: only the node-certificate endpoint, which checks it itself,
/// lets it through. Anywhere else it is an unknown token, a 401, public paths included; and an
/// unknown token that is no join token is a 401 at the join endpoint too.
#[tokio::test(flavor = "multi_thread")]
async fn a_join_token_is_no_credential_outside_the_join_endpoint() {
    let server = TestApiServer::embedded().await.unwrap();
    let token = fetch(&server.client().await.unwrap(), false).await.unwrap();
    let get = |path: &str| http::Request::get(path).body(vec![]).unwrap();
    let holder = bearer_client(&server, &token);
    for path in [
        "/version",
        "/join/v1/ca.crt",
        "/join/v1/tokens/worker",
        "/apis/flotilla.dev/v1alpha1/tasks",
    ] {
        match holder.request_text(get(path)).await {
            Err(kube::Error::Api(s)) if s.code == 401 => {}
            other => panic!("{path} with the join token: {other:?}"),
        }
    }
    let csr = http::Request::post(flotilla_api::join::NODE_CERTIFICATES_PATH)
        .header("content-type", "application/json")
        .body(br#"{"nodeName":"n1","csr":""}"#.to_vec())
        .unwrap();
    match bearer_client(&server, "not-a-join-token")
        .request_text(csr)
        .await
    {
        Err(kube::Error::Api(s)) if s.code == 401 => {}
        other => panic!("an unknown token at the join endpoint: {other:?}"),
    }
    let dir = tempfile::tempdir().unwrap();
    bootstrap::connect(config(&server, dir.path(), "n1", Some(&token)))
        .await
        .expect("the same token joins");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_token_file_is_valid_from_the_start() {
    let file_token = std::sync::Mutex::new(String::new());
    let server = TestApiServer::embedded_and(|o| {
        // The CA exists before the server starts (as the chart generates it), so the token can pin it.
        let pki =
            flotilla_api_server::security::pki::Pki::load_or_bootstrap(&o.data_dir, &[]).unwrap();
        let ca =
            flotilla_api_server::security::certs::parse_certs(pki.client_ca_pem().unwrap(), "ca")
                .unwrap();
        let token = JoinToken::new(
            &flotilla_api::join::ca_digest(&ca[0]),
            "chartmadesecret0000000000000000z",
        );
        let path = o.data_dir.join("join-token");
        std::fs::write(&path, format!("{token}\n")).unwrap();
        o.join.token_file = Some(path);
        *file_token.lock().unwrap() = token.to_string();
    })
    .await
    .unwrap();
    let token = file_token.into_inner().unwrap();
    let admin = server.client().await.unwrap();
    assert_eq!(fetch(&admin, false).await.unwrap(), token);
    let dir = tempfile::tempdir().unwrap();
    bootstrap::connect(config(&server, dir.path(), "n1", Some(&token)))
        .await
        .expect("the file's token joins");
}

#[tokio::test(flavor = "multi_thread")]
async fn replicas_over_one_etcd_share_the_token_and_its_rotation() {
    use flotilla_api_server::app::StorageOption;
    let etcd = flotilla_tests::etcd::Etcd::start().await.unwrap();
    let storage = StorageOption::Etcd(vec![etcd.endpoint().to_string()]);
    let first_storage = storage.clone();
    let first = TestApiServer::embedded_and(|o| o.storage = first_storage)
        .await
        .unwrap();
    // The second replica signs with the first one's CA, as replicas given the same
    // --cluster-signing-cert-file do.
    let ca_dir = first.dir.path().join("pki").join("pki");
    let second = TestApiServer::embedded_and(|o| {
        o.storage = storage;
        o.join.signing_files = Some((ca_dir.join("ca.crt"), ca_dir.join("ca.key")));
    })
    .await
    .unwrap();
    let (admin1, admin2) = (
        first.client().await.unwrap(),
        second.client().await.unwrap(),
    );
    let old = fetch(&admin1, false).await.unwrap();
    assert_eq!(
        fetch(&admin2, false).await.unwrap(),
        old,
        "one token for both"
    );
    let new = fetch(&admin2, true).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let why = join_err(config(&first, dir.path(), "n1", Some(&old))).await;
    assert!(why.contains("join token has been rotated"), "{why}");
    bootstrap::connect(config(&first, dir.path(), "n1", Some(&new)))
        .await
        .expect("the token rotated on the other replica joins here");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_token_file_pinning_another_ca_stops_the_api_server() {
    let result = TestApiServer::embedded_and(|o| {
        let path = o.data_dir.join("join-token");
        std::fs::create_dir_all(&o.data_dir).unwrap();
        let token = JoinToken::new(&"ab".repeat(32), "chartmadesecret0000000000000000z");
        std::fs::write(&path, token.to_string()).unwrap();
        o.join.token_file = Some(path);
    })
    .await;
    let Err(err) = result else {
        panic!("the api-server must refuse a token for another CA")
    };
    let message = format!("{err:#}");
    assert!(
        message.contains("--join-token-file") && message.contains("the token pins CA digest abab"),
        "{message}"
    );
}
