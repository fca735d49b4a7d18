//! One HTTP/2 client (the one every component uses) with a thousand requests in flight whose
//! answers are small: the h2 crate counts each buffered DATA frame under 256 bytes against a
//! budget of half the connection's flow-control window and, when it runs out, closes the
//! connection with ENHANCE_YOUR_CALM, failing every request on it. A thousand 404 Statuses
//! at once (a thousand simulated nodes registering) did that with the adaptive window, whose
//! budget starts at 32 KiB.

use flotilla_tests::apiserver::TestApiServer;
use futures::future::join_all;
use k8s_openapi::api::coordination::v1::Lease;
use kube::Api;

/// Three times the api-server's concurrent streams per connection.
const IN_FLIGHT: usize = 3_000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_thousand_small_answers_at_once_keep_the_connection() {
    let server = TestApiServer::embedded().await.expect("api-server");
    let client = flotilla_component::http2_client_from_kubeconfig(Some(&server.kubeconfig))
        .await
        .expect("client");
    let leases: Api<Lease> = Api::namespaced(client, "default");
    // Every answer is a 404 Status of about 200 bytes: one small DATA frame per stream.
    let gets = (0..IN_FLIGHT).map(|i| {
        let leases = leases.clone();
        tokio::spawn(async move { leases.get_opt(&format!("m{i}")).await })
    });
    let answers: Vec<_> = join_all(gets)
        .await
        .into_iter()
        .map(Result::unwrap)
        .collect();
    let failed: Vec<String> = answers
        .iter()
        .filter_map(|a| a.as_ref().err().map(|e| e.to_string()))
        .collect();
    assert!(
        failed.is_empty(),
        "{} of {IN_FLIGHT} requests failed, first: {:?}",
        failed.len(),
        failed.first()
    );
    assert!(answers.iter().all(|a| matches!(a, Ok(None))));
    server.stop().await;
}
