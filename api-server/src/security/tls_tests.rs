//! End-to-end over real TLS sockets: the server config with the bootstrapped PKI, clients with and
//! without a certificate, and the identity the authenticator derives from the handshake.

use std::sync::Arc;

use rustls::pki_types::ServerName;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::{TlsAcceptor, TlsConnector};

use super::*;
use crate::security::authn::{Authenticator, AuthnError, Identity};

/// Accepts one connection, authenticates it from the handshake, echoes a byte and returns the result
/// plus the negotiated ALPN protocol.
async fn serve_once(
    listener: TcpListener,
    config: Arc<ServerConfig>,
) -> (Result<Identity, AuthnError>, Option<Vec<u8>>) {
    let (tcp, _) = listener.accept().await.unwrap();
    let mut tls = TlsAcceptor::from(config).accept(tcp).await.unwrap();
    let (_, conn) = tls.get_ref();
    let identity = Authenticator::new().authenticate(conn.peer_certificates(), None);
    let alpn = conn.alpn_protocol().map(<[u8]>::to_vec);
    let mut byte = [0u8; 1];
    tls.read_exact(&mut byte).await.unwrap();
    tls.write_all(&byte).await.unwrap();
    tls.shutdown().await.unwrap();
    (identity, alpn)
}

async fn connect(addr: std::net::SocketAddr, config: Arc<ClientConfig>) -> std::io::Result<()> {
    let tcp = TcpStream::connect(addr).await?;
    let name = ServerName::try_from("127.0.0.1").unwrap();
    let mut tls = TlsConnector::from(config).connect(name, tcp).await?;
    tls.write_all(b"x").await?;
    let mut byte = [0u8; 1];
    tls.read_exact(&mut byte).await?;
    assert_eq!(&byte, b"x");
    Ok(())
}

async fn round_trip(
    pki: &Pki,
    client: Arc<ClientConfig>,
) -> (Result<Identity, AuthnError>, Option<Vec<u8>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(serve_once(listener, server_config(pki).unwrap()));
    connect(addr, client).await.unwrap();
    server.await.unwrap()
}

/// A client presenting the bootstrapped admin certificate.
fn admin_client(pki: &Pki) -> Arc<ClientConfig> {
    let (cert, key) = pki.component_credentials("admin").unwrap();
    client_config(pki.client_ca_pem().unwrap(), Some((&cert, &key))).unwrap()
}

#[tokio::test]
async fn admin_client_certificate_authenticates_as_flotilla_admin() {
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::load_or_bootstrap(dir.path(), &[]).unwrap();
    let (identity, alpn) = round_trip(&pki, admin_client(&pki)).await;
    let identity = identity.unwrap();
    assert_eq!(identity.user, "flotilla:admin");
    assert_eq!(
        identity.groups,
        vec![
            "system:masters".to_string(),
            "system:authenticated".to_string()
        ]
    );
    assert_eq!(alpn.as_deref(), Some(ALPN_HTTP11));
}

#[tokio::test]
async fn a_client_offering_http2_gets_it() {
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::load_or_bootstrap(dir.path(), &[]).unwrap();
    let mut client = (*admin_client(&pki)).clone();
    client.alpn_protocols = vec![b"h2".to_vec(), ALPN_HTTP11.to_vec()];
    let (_, alpn) = round_trip(&pki, Arc::new(client)).await;
    assert_eq!(alpn.as_deref(), Some(ALPN_H2));
}

#[tokio::test]
async fn a_client_without_certificate_connects_but_is_anonymous() {
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::load_or_bootstrap(dir.path(), &[]).unwrap();
    let client = client_config(pki.client_ca_pem().unwrap(), None).unwrap();
    let (identity, _) = round_trip(&pki, client).await;
    assert_eq!(identity, Err(AuthnError::Anonymous));
}

#[tokio::test]
async fn a_certificate_from_another_ca_is_refused_in_the_handshake() {
    let (ours, theirs) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let pki = Pki::load_or_bootstrap(ours.path(), &[]).unwrap();
    let foreign = Pki::load_or_bootstrap(theirs.path(), &[]).unwrap();
    let (cert, key) = foreign.component_credentials("admin").unwrap();
    let client = client_config(pki.client_ca_pem().unwrap(), Some((&cert, &key))).unwrap();

    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let config = server_config(&pki).unwrap();
    let server = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        TlsAcceptor::from(config).accept(tcp).await.map(|_| ())
    });
    // TLS 1.3 clients finish before the server checks their certificate, so the refusal shows up
    // on the server side and as a failed read on the client.
    let client_result = connect(addr, client).await;
    let server_result = server.await.unwrap();
    assert!(
        server_result.is_err(),
        "server accepted a certificate from another CA"
    );
    assert!(client_result.is_err());
}

#[tokio::test]
async fn the_serving_certificate_is_valid_for_the_requested_names() {
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::load_or_bootstrap(dir.path(), &["127.0.0.3".into()]).unwrap();
    let config = server_config(&pki).unwrap();
    let listener = TcpListener::bind("127.0.0.3:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(serve_once(listener, config));
    connect(
        addr,
        client_config(pki.client_ca_pem().unwrap(), None).unwrap(),
    )
    .await
    .unwrap();
    let (identity, _) = server.await.unwrap();
    assert_eq!(identity, Err(AuthnError::Anonymous));
}
