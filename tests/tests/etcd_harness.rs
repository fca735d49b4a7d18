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
