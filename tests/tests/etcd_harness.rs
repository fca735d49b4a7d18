//! The harness itself: a real etcd starts, answers, and is gone after drop.

use flotilla_tests::etcd::Etcd;

#[tokio::test]
async fn etcd_starts_answers_and_stops() {
    let etcd = Etcd::start().await.expect("etcd starts");
    let addr = etcd.endpoint().trim_start_matches("http://").to_string();
    assert!(tokio::net::TcpStream::connect(&addr).await.is_ok());
    drop(etcd);
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    assert!(
        tokio::net::TcpStream::connect(&addr).await.is_err(),
        "etcd still listening on {addr} after drop"
    );
}

/// A port taken between picking and etcd's bind (another test's server) makes etcd exit with
/// "address already in use"; the harness starts it again on other ports.
#[tokio::test]
async fn etcd_starts_on_other_ports_when_its_first_client_port_is_taken() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let taken_port = taken.local_addr().unwrap().port();
    let mut first = true;
    let pick = move || {
        if std::mem::take(&mut first) {
            Ok(taken_port)
        } else {
            flotilla_tests::etcd::free_port()
        }
    };
    let etcd = Etcd::start_with_ports(pick).await.expect("etcd starts");
    assert_ne!(etcd.endpoint(), format!("http://127.0.0.1:{taken_port}"));
    let mut client = etcd_client::Client::connect([etcd.endpoint()], None)
        .await
        .unwrap();
    client.put("k", "v", None).await.expect("etcd answers");
}
