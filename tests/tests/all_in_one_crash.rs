//! `flotilla all-in-one` keeps every acknowledged write through `kill -9`: writers create
//! SwarmSecrets while the real binary is SIGKILLed at a random moment, five times. After each
//! kill the store opens (never left unopenable) and holds every create the api-server answered
//! 201 to, a store watch from the revision before the writes resumes with them, and after the
//! restart the API serves them all, the secret written first still decrypts (its key persisted
//! with the data), its plain text is nowhere in the store's files, and the controllers bring the
//! service back to exactly its three tasks.

mod aio_support;

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aio_support::{converged, create_service, free_port, AioProcess};
use flotilla_api::SwarmSecret;
use flotilla_api_server::storage::{Event, SqliteStore, Store};
use futures::StreamExt;
use kube::api::{Api, ListParams, PostParams};

const ROUNDS: usize = 5;
const WRITERS: usize = 8;
const PLAIN: &str = "crash-test-plaintext-0451";
const SECRETS: &str = "/registry/flotilla.dev/swarmsecrets/default/";

fn secret(name: &str, data: &str) -> SwarmSecret {
    use base64::Engine;
    let data = base64::engine::general_purpose::STANDARD.encode(data);
    serde_json::from_value(serde_json::json!({
        "apiVersion": "flotilla.dev/v1alpha1", "kind": "SwarmSecret",
        "metadata": {"name": name}, "spec": {"data": data}
    }))
    .unwrap()
}

/// A small xorshift: the kill moments vary per run, and the seed is printed to replay one.
fn next(seed: &mut u64) -> u64 {
    *seed ^= *seed << 13;
    *seed ^= *seed >> 7;
    *seed ^= *seed << 17;
    *seed
}

#[tokio::test(flavor = "multi_thread")]
async fn acknowledged_creates_survive_sigkill_and_controllers_converge() {
    let bins = flotilla_tests::bins::workspace_bins().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
        | 1;
    println!("seed {seed}");
    let extra = ["--simulate-nodes", "3", "--simulated-latency", "10ms"];
    let mut aio = AioProcess::start(&bins, dir.path(), port, &extra).await;
    let secrets: Api<SwarmSecret> = Api::namespaced(aio.client().await, "default");
    secrets
        .create(&PostParams::default(), &secret("keep", PLAIN))
        .await
        .unwrap();
    create_service(aio.client().await, "web", 3).await;
    converged(aio.client().await, "web", 3).await;

    let mut all_acked = BTreeSet::new();
    for round in 0..ROUNDS {
        let client = aio.client().await;
        let before: i64 = Api::<SwarmSecret>::namespaced(client.clone(), "default")
            .list(&ListParams::default().limit(1))
            .await
            .unwrap()
            .metadata
            .resource_version
            .unwrap()
            .parse()
            .unwrap();
        let acked = Arc::new(Mutex::new(BTreeSet::new()));
        let mut writers = tokio::task::JoinSet::new();
        for w in 0..WRITERS {
            let (api, acked) = (
                Api::<SwarmSecret>::namespaced(client.clone(), "default"),
                acked.clone(),
            );
            writers.spawn(async move {
                for k in 0.. {
                    let name = format!("r{round}-w{w}-{k}");
                    match api
                        .create(&PostParams::default(), &secret(&name, "v"))
                        .await
                    {
                        Ok(_) => acked.lock().unwrap().insert(name),
                        Err(_) => return,
                    };
                }
            });
        }
        let delay = Duration::from_millis(200 + next(&mut seed) % 1300);
        tokio::time::sleep(delay).await;
        aio.kill9();
        let drained = tokio::time::timeout(Duration::from_secs(20), async {
            while writers.join_next().await.is_some() {}
        });
        drained.await.expect("writers stop once the server is gone");
        let acked = std::mem::take(&mut *acked.lock().unwrap());
        println!(
            "round {round}: killed after {delay:?}, {} creates acknowledged",
            acked.len()
        );

        check_store_while_down(dir.path(), before, &acked).await;
        all_acked.extend(acked);

        aio = AioProcess::start(&bins, dir.path(), port, &extra).await;
        let client = aio.client().await;
        let api: Api<SwarmSecret> = Api::namespaced(client.clone(), "default");
        let served: BTreeSet<String> = api
            .list(&ListParams::default())
            .await
            .unwrap()
            .items
            .into_iter()
            .filter_map(|s| s.metadata.name)
            .collect();
        let missing: Vec<_> = all_acked.difference(&served).collect();
        assert!(
            missing.is_empty(),
            "acknowledged but gone after kill -9: {missing:?}"
        );
        let keep = api.get("keep").await.unwrap();
        assert_eq!(
            keep.spec.data.0,
            PLAIN.as_bytes(),
            "the secret decrypts after a restart"
        );
        converged(client, "web", 3).await;
    }
    assert!(
        !all_acked.is_empty(),
        "the writers got no create acknowledged at all"
    );
    aio.stop().await;
}

/// With the process dead: the store opens, holds every acknowledged create, replays them to a
/// watch from `before`, and holds no secret in plain text.
async fn check_store_while_down(dir: &std::path::Path, before: i64, acked: &BTreeSet<String>) {
    let store = SqliteStore::open(&dir.join("store")).expect("the store opens after kill -9");
    for name in acked {
        let kv = store.get(&format!("{SECRETS}{name}")).await.unwrap();
        assert!(
            kv.is_some(),
            "{name} was acknowledged but is not in the store"
        );
    }
    let current = store.current_revision().await.unwrap();
    let mut watch = store.watch(SECRETS, before, false).await.unwrap();
    let mut created = BTreeSet::new();
    let mut last = before;
    while last < current {
        let next = tokio::time::timeout(Duration::from_secs(1), watch.next()).await;
        let Ok(Some(Ok(event))) = next else { break };
        last = event.revision();
        if let Event::Put { kv, .. } = event {
            created.insert(kv.key.trim_start_matches(SECRETS).to_string());
        }
    }
    let unseen: Vec<_> = acked.difference(&created).collect();
    assert!(unseen.is_empty(), "a watch from {before} missed {unseen:?}");
    drop(store);
    for file in ["store.db", "store.db-wal"] {
        let bytes = std::fs::read(dir.join("store").join(file)).unwrap_or_default();
        use base64::Engine;
        let b64 = base64::engine::general_purpose::STANDARD.encode(PLAIN);
        for needle in [PLAIN, b64.as_str()] {
            let found = bytes.windows(needle.len()).any(|w| w == needle.as_bytes());
            assert!(!found, "{file} holds the secret in plain text");
        }
    }
}
