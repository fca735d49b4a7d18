//! Real kubectl (Go's crypto/tls and crypto/x509) against the api-server's TLS configuration, with
//! kubeconfigs written by `write_kubeconfig`: the bootstrapped certificates must be acceptable to Go,
//! client certificates must arrive as identities, and bearer tokens must work over the same listener.
//! The HTTP side is a minimal HTTP/1.1 responder that answers `GET` with `<user> <groups>`.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use flotilla_api_server::security::authn::Authenticator;
use flotilla_api_server::security::kubeconfig::{
    render_kubeconfig, write_kubeconfig, write_rendered, Credentials,
};
use flotilla_api_server::security::{tls, Pki};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

const KUBECTL_DIR: &str = "/usr/lib/google-cloud-sdk/bin";

async fn respond(stream: tokio::net::TcpStream, acceptor: TlsAcceptor, authn: Arc<Authenticator>) {
    let Ok(mut tls) = acceptor.accept(stream).await else {
        return;
    };
    let mut request = Vec::new();
    let mut buf = [0u8; 4096];
    while !request.windows(4).any(|w| w == b"\r\n\r\n") {
        match tls.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => request.extend_from_slice(&buf[..n]),
        }
    }
    let head = String::from_utf8_lossy(&request).to_string();
    let authorization = head
        .lines()
        .find_map(|l| {
            l.split_once(':')
                .filter(|(k, _)| k.eq_ignore_ascii_case("authorization"))
        })
        .map(|(_, v)| v.trim().to_string());
    let peer = tls.get_ref().1.peer_certificates().map(<[_]>::to_vec);
    let (status, body) = match authn.authenticate(peer.as_deref(), authorization.as_deref()) {
        Ok(id) => ("200 OK", format!("{} {}", id.user, id.groups.join(","))),
        Err(e) => ("401 Unauthorized", format!("{{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"status\":\"Failure\",\"message\":\"Unauthorized\",\"reason\":\"Unauthorized\",\"code\":401,\"details\":{{\"causes\":[{{\"message\":\"{e}\"}}]}}}}")),
    };
    let response = format!(
        "HTTP/1.1 {status}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = tls.write_all(response.as_bytes()).await;
    let _ = tls.shutdown().await;
}

async fn start_server(pki: &Pki, authn: Authenticator) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("https://{}", listener.local_addr().unwrap());
    // The server's own TLS configuration, but ALPN `http/1.1` only: this responder speaks just
    // enough HTTP/1.1 (kubectl would pick the server's `h2`).
    let mut config = (*tls::server_config(pki).unwrap()).clone();
    config.alpn_protocols = vec![tls::ALPN_HTTP11.to_vec()];
    let acceptor = TlsAcceptor::from(Arc::new(config));
    let authn = Arc::new(authn);
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(respond(stream, acceptor.clone(), authn.clone()));
        }
    });
    url
}

async fn kubectl(binary: &Path, kubeconfig: &Path) -> (bool, String) {
    let out = tokio::process::Command::new(binary)
        .arg("--kubeconfig")
        .arg(kubeconfig)
        .args(["get", "--raw", "/healthz"])
        .output()
        .await
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

fn kubectls() -> Vec<PathBuf> {
    let found: Vec<PathBuf> = ["kubectl.1.27", "kubectl.1.33"]
        .iter()
        .map(|name| Path::new(KUBECTL_DIR).join(name))
        .filter(|p| p.exists())
        .collect();
    if found.is_empty() {
        eprintln!("SKIPPED: no kubectl under {KUBECTL_DIR}");
    }
    found
}

#[tokio::test]
async fn kubectl_authenticates_with_bootstrapped_certificates_and_tokens() {
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::load_or_bootstrap(dir.path(), &[]).unwrap();
    let authn = Authenticator::with_token_csv("t0ken,alice,1001,\"devs,ops\"\n").unwrap();
    let url = start_server(&pki, authn).await;
    let ca = pki.client_ca_pem().unwrap();

    let admin = dir.path().join("admin.kubeconfig");
    let (cert, key) = pki.component_credentials("admin").unwrap();
    write_kubeconfig(&admin, &url, ca, &cert, &key, "flotilla:admin").unwrap();
    let node = dir.path().join("node-1.kubeconfig");
    let (cert, key) = pki
        .issue_client("system:node:node-1", &["system:nodes".into()])
        .unwrap();
    write_kubeconfig(&node, &url, ca, &cert, &key, "system:node:node-1").unwrap();
    let alice = dir.path().join("alice.kubeconfig");
    write_rendered(
        &alice,
        &render_kubeconfig(&url, ca, Credentials::Token("t0ken"), "alice").unwrap(),
    )
    .unwrap();
    let wrong = dir.path().join("wrong.kubeconfig");
    write_rendered(
        &wrong,
        &render_kubeconfig(&url, ca, Credentials::Token("nope"), "mallory").unwrap(),
    )
    .unwrap();

    for binary in kubectls() {
        let v = binary.display();
        assert_eq!(
            kubectl(&binary, &admin).await,
            (
                true,
                "flotilla:admin system:masters,system:authenticated".into()
            ),
            "{v}"
        );
        assert_eq!(
            kubectl(&binary, &node).await,
            (
                true,
                "system:node:node-1 system:nodes,system:authenticated".into()
            ),
            "{v}"
        );
        assert_eq!(
            kubectl(&binary, &alice).await,
            (true, "alice devs,ops,system:authenticated".into()),
            "{v}"
        );
        let (ok, text) = kubectl(&binary, &wrong).await;
        assert!(!ok && text.contains("You must be logged in"), "{v}: {text}");
    }
}
