//! `--kubeconfig PATH` → [`kube::Client`], shared by every binary.

use std::path::{Path, PathBuf};

use kube::config::{KubeConfigOptions, Kubeconfig};

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// Reading or parsing the file (the message names the path).
    #[error(transparent)]
    Read(kube::config::KubeconfigError),
    #[error("kubeconfig {path}: {source}")]
    Config {
        path: PathBuf,
        source: kube::config::KubeconfigError,
    },
    #[error("no --kubeconfig given and no in-cluster or default configuration: {0}")]
    Infer(#[from] kube::config::InferConfigError),
    #[error("building the API client: {0}")]
    Client(#[from] kube::Error),
    #[error("kubeconfig tls-server-name {0:?} is not a valid server name")]
    ServerName(String),
}

/// A client for the kubeconfig at `path` (its current context), or, without a path, the usual
/// inference (`$KUBECONFIG`, `~/.kube/config`, in-cluster service account).
pub async fn client_from_kubeconfig(path: Option<&Path>) -> Result<kube::Client, ClientError> {
    Ok(kube::Client::try_from(config_from_kubeconfig(path).await?)?)
}

/// Like [`client_from_kubeconfig`], but speaking HTTP/2 when the server offers it (ALPN): many
/// concurrent requests share one TLS connection and its writes (kube's own client is HTTP/1.1
/// only, one connection per request in flight).
pub async fn http2_client_from_kubeconfig(
    path: Option<&Path>,
) -> Result<kube::Client, ClientError> {
    http2_client(config_from_kubeconfig(path).await?)
}

/// How long a request may wait for its response's headers when the config sets no
/// `read_timeout` (kube's default is the same).
const RESPONSE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(295);

/// Flow-control windows of the HTTP/2 client: what the server may send before the client reads
/// (per connection, per stream). Small DATA frames may use up half the connection window's
/// worth of budget while unread, so a thousand small answers in flight need far less than this.
const CONNECTION_WINDOW: u32 = 16 * 1024 * 1024;
const STREAM_WINDOW: u32 = 2 * 1024 * 1024;

/// The HTTP/2 client of [`http2_client_from_kubeconfig`] for `config`. A request whose response
/// headers do not arrive within `config.read_timeout` fails: pings catch a dead connection, but
/// not a live server that never answers one request (kube's HTTP/1.1 stack has a socket read
/// timeout for that). A watch's headers come at once, so its long body is not cut.
pub fn http2_client(config: kube::Config) -> Result<kube::Client, ClientError> {
    use kube::client::ConfigExt;
    let tls = config.rustls_client_config()?;
    http2_client_with_tls(config, tls)
}

/// [`http2_client`] with a TLS configuration of the caller's (a node agent's whose client
/// certificate is renewed while it runs); `config`'s own TLS settings are not used.
pub fn http2_client_with_tls(
    config: kube::Config,
    tls: rustls::ClientConfig,
) -> Result<kube::Client, ClientError> {
    use kube::client::ConfigExt;
    let mut http = hyper_util::client::legacy::connect::HttpConnector::new();
    http.enforce_http(false);
    http.set_nodelay(true);
    http.set_connect_timeout(config.connect_timeout);
    let mut https = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(tls)
        .https_or_http();
    // The kubeconfig's `tls-server-name`, as kube's own connector honours it.
    if let Some(name) = &config.tls_server_name {
        let name = rustls::pki_types::ServerName::try_from(name.clone())
            .map_err(|_| ClientError::ServerName(name.clone()))?;
        https = https.with_server_name_resolver(hyper_rustls::FixedServerNameResolver::new(name));
    }
    let https = https.enable_all_versions().wrap_connector(http);
    // Pings find a connection that died silently (every request shares it), so leader election
    // and watches fail over instead of hanging. Fixed, large flow-control windows keep large
    // initial lists fast, and they size the h2 crate's budget for small DATA frames waiting to
    // be read (half the connection window): with the adaptive window that budget starts at
    // 32 KiB, and a thousand small answers arriving at once (nodes registering) exhausted it,
    // so h2 closed the connection and failed every request on it (tests/client_many_streams.rs).
    let client = hyper_util::client::legacy::Builder::new(hyper_util::rt::TokioExecutor::new())
        .timer(hyper_util::rt::TokioTimer::new())
        .http2_keep_alive_interval(std::time::Duration::from_secs(15))
        .http2_keep_alive_timeout(std::time::Duration::from_secs(10))
        .http2_initial_connection_window_size(CONNECTION_WINDOW)
        .http2_initial_stream_window_size(STREAM_WINDOW)
        .build::<_, kube::client::Body>(https);
    let service = tower::ServiceBuilder::new()
        .layer(config.base_uri_layer())
        .option_layer(config.auth_layer()?)
        // Impersonation and other headers from the kubeconfig, as in kube's own stack.
        .layer(config.extra_headers_layer()?)
        .map_err(tower::BoxError::from)
        .timeout(config.read_timeout.unwrap_or(RESPONSE_TIMEOUT))
        .service(client);
    Ok(kube::Client::new(service, config.default_namespace))
}

async fn config_from_kubeconfig(path: Option<&Path>) -> Result<kube::Config, ClientError> {
    Ok(match path {
        Some(path) => {
            let kubeconfig = Kubeconfig::read_from(path).map_err(ClientError::Read)?;
            kube::Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
                .await
                .map_err(|source| ClientError::Config {
                    path: path.to_path_buf(),
                    source,
                })?
        }
        None => kube::Config::infer().await?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A server that accepts connections and reads requests but never answers.
    async fn silent_server() -> (std::net::SocketAddr, tokio::task::JoinHandle<()>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let task = tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((conn, _)) = listener.accept().await {
                held.push(conn);
            }
        });
        (addr, task)
    }

    #[tokio::test]
    async fn a_request_that_gets_no_answer_fails_after_the_read_timeout() {
        let (addr, server) = silent_server().await;
        let mut config = kube::Config::new(format!("http://{addr}").parse().unwrap());
        config.read_timeout = Some(std::time::Duration::from_millis(300));
        let client = http2_client(config).unwrap();
        let api: kube::Api<k8s_openapi::api::coordination::v1::Lease> =
            kube::Api::namespaced(client, "default");
        let started = tokio::time::Instant::now();
        let outcome = tokio::time::timeout(std::time::Duration::from_secs(10), api.get("x")).await;
        let err = outcome
            .expect("the client's own timeout ends the request, not the test's")
            .expect_err("no answer is an error");
        assert!(
            started.elapsed() >= std::time::Duration::from_millis(300),
            "not before the timeout: {err}"
        );
        assert!(err.to_string().contains("timed out"), "{err}");
        server.abort();
    }

    #[tokio::test]
    async fn missing_kubeconfig_names_the_path() {
        let Err(err) = client_from_kubeconfig(Some(Path::new("/nonexistent/kubeconfig"))).await
        else {
            panic!("a missing kubeconfig must be an error");
        };
        let message = err.to_string();
        assert!(
            message.contains("/nonexistent/kubeconfig"),
            "error should name the file: {message}"
        );
    }
}
