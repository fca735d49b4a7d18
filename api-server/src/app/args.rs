//! The api-server's command-line flags ([`Args`]) and the [`Options`] they describe.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args as _, FromArgMatches};

use super::{JoinOptions, Options, StorageOption};
use crate::front::extension::ExtensionOptions;
use crate::security::requestheader::HeaderNames;
use crate::storage::EtcdTlsFiles;
use crate::store::state::ServerConfig;

/// How often a watch with `allowWatchBookmarks` gets a BOOKMARK.
const DEFAULT_BOOKMARK_INTERVAL: Duration = Duration::from_secs(60);
/// Events each watch cache keeps for resuming watches.
const DEFAULT_WATCH_CACHE_SIZE: usize = 10_000;

/// The api-server's flags, named after kube-apiserver's. The binary and `flotilla all-in-one`
/// share them; every default is written here once ([`Args::defaults`]).
#[derive(clap::Args, Debug, Clone)]
pub struct Args {
    /// etcd client URLs, comma separated (like kube-apiserver's --etcd-servers).
    #[arg(long, value_delimiter = ',', env = "FLOTILLA_ETCD_SERVERS")]
    pub etcd_servers: Vec<String>,
    /// CA bundle that signed the etcd members' serving certificates (`https://` endpoints).
    #[arg(long)]
    pub etcd_cafile: Option<PathBuf>,
    /// Client certificate presented to etcd (members started with `--client-cert-auth`).
    #[arg(long, requires = "etcd_keyfile")]
    pub etcd_certfile: Option<PathBuf>,
    /// Key of `--etcd-certfile`.
    #[arg(long, requires = "etcd_certfile")]
    pub etcd_keyfile: Option<PathBuf>,
    /// Key prefix of every object in etcd.
    #[arg(long, default_value = "/registry")]
    pub etcd_prefix: String,
    /// `etcd` (needs --etcd-servers), `sqlite` (one file under <data-dir>/store, single process)
    /// or `embedded` (in memory, single process, gone on exit).
    #[arg(long, default_value = "etcd")]
    pub storage: String,
    #[arg(long, default_value = "127.0.0.1")]
    pub bind_address: String,
    #[arg(long, default_value_t = 6443)]
    pub secure_port: u16,
    /// Where the bootstrapped CA and certificates live, and the generated encryption key when
    /// no --encryption-provider-config is given.
    #[arg(long, default_value = "/var/lib/flotilla/api-server")]
    pub data_dir: PathBuf,
    /// Extra names/IPs for the serving certificate.
    #[arg(long = "tls-san")]
    pub tls_sans: Vec<String>,
    #[arg(long, requires = "tls_private_key_file")]
    pub tls_cert_file: Option<PathBuf>,
    #[arg(long, requires = "tls_cert_file")]
    pub tls_private_key_file: Option<PathBuf>,
    #[arg(long)]
    pub client_ca_file: Option<PathBuf>,
    /// Static tokens, Kubernetes CSV format: token,user,uid,"group1,group2".
    #[arg(long)]
    pub token_auth_file: Option<PathBuf>,
    /// Kubernetes EncryptionConfiguration for secrets at rest (default: an AES-GCM key
    /// generated once under --data-dir encrypts SwarmSecrets).
    #[arg(long)]
    pub encryption_provider_config: Option<PathBuf>,
    /// Write an admin kubeconfig to this path once serving.
    #[arg(long)]
    pub write_kubeconfig: Option<PathBuf>,
    /// How often etcd's history is compacted, e.g. `5m` (as kube-apiserver's flag); `0`
    /// disables it. A list or continue token older than that is answered 410 Gone.
    #[arg(long, default_value = "5m", value_parser = flotilla_api::duration::parse_duration)]
    pub etcd_compaction_interval: std::time::Duration,
    /// How long an Event is kept after it last happened, e.g. `1h` (as kube-apiserver's flag);
    /// `0` keeps Events for good.
    #[arg(long, default_value = "1h", value_parser = flotilla_api::duration::parse_duration)]
    pub event_ttl: std::time::Duration,
    /// How long a client may take to complete the TLS handshake and to send each request's
    /// headers (kube-apiserver's is 32s); an idle HTTP/1.1 keep-alive connection is closed then.
    #[arg(long, default_value = "32s", value_parser = flotilla_api::duration::parse_duration)]
    pub read_header_timeout: std::time::Duration,
    /// How long a connection with no request in flight stays open (kube-apiserver's is 90s).
    #[arg(long, default_value = "90s", value_parser = flotilla_api::duration::parse_duration)]
    pub idle_connection_timeout: std::time::Duration,
    /// Open connections accepted at once; never more than the open-file limit allows.
    #[arg(long, default_value_t = crate::front::connections::DEFAULT_MAX_CONNECTIONS)]
    pub max_connections: usize,
    /// Concurrent streams a client may open on one HTTP/2 connection (kube-apiserver's flag and
    /// default); 0 keeps hyper's default, 200.
    #[arg(long, default_value_t = crate::front::server::MAX_STREAMS_PER_CONNECTION)]
    pub http2_max_streams_per_connection: u32,
    /// Creates, updates, patches and deletes handled at once (kube-apiserver's flag; its
    /// default is 200); the others wait up to 15 s for a slot, then get 429 TooManyRequests. 0
    /// is no limit. Reads and watches are never held back.
    #[arg(long, default_value_t = crate::front::inflight::DEFAULT_MAX_MUTATING)]
    pub max_mutating_requests_inflight: usize,
    /// CA certificate that signs joining nodes' certificates (as kube-controller-manager's
    /// flag); default: the CA bootstrapped in --data-dir.
    #[arg(long, requires = "cluster_signing_key_file")]
    pub cluster_signing_cert_file: Option<PathBuf>,
    /// Key of --cluster-signing-cert-file.
    #[arg(long, requires = "cluster_signing_cert_file")]
    pub cluster_signing_key_file: Option<PathBuf>,
    /// Lifetime of the node certificates it signs; nodes renew at two thirds of it.
    #[arg(long, default_value = "8760h", value_parser = flotilla_api::duration::parse_duration)]
    pub cluster_signing_duration: std::time::Duration,
    /// A file holding a join token (FLTKN-1-…) made the valid worker token at start, unless
    /// it was rotated away since (`flotilla join-token worker --rotate`).
    #[arg(long)]
    pub join_token_file: Option<PathBuf>,
    #[command(flatten)]
    pub extension: ExtensionArgs,
}

/// Flags of an extension (aggregated) API server, named as Kubernetes names them.
#[derive(clap::Args, Debug, Clone)]
pub struct ExtensionArgs {
    /// CA bundle of an authenticating proxy's client certificate (kube-apiserver's front-proxy
    /// CA). Requests on a connection with such a certificate are authenticated from the headers
    /// below; nobody else's headers are believed.
    #[arg(long)]
    pub requestheader_client_ca_file: Option<PathBuf>,
    /// Common names the proxy's certificate may have (comma separated; empty: any).
    #[arg(long, value_delimiter = ',')]
    pub requestheader_allowed_names: Vec<String>,
    /// Headers naming the user; the first with a value wins.
    #[arg(long, value_delimiter = ',', default_value = "X-Remote-User")]
    pub requestheader_username_headers: Vec<String>,
    /// Headers whose every value is a group.
    #[arg(long, value_delimiter = ',', default_value = "X-Remote-Group")]
    pub requestheader_group_headers: Vec<String>,
    /// Prefixes of headers carrying extra user attributes (`<prefix><key>: <value>`).
    #[arg(long, value_delimiter = ',', default_value = "X-Remote-Extra-")]
    pub requestheader_extra_headers_prefix: Vec<String>,
    /// Headers carrying the user's uid (e.g. X-Remote-Uid; none by default, as in Kubernetes).
    #[arg(long, value_delimiter = ',')]
    pub requestheader_uid_headers: Vec<String>,
    /// Kubeconfig of the host cluster that checks bearer tokens (TokenReview).
    /// Without --requestheader-client-ca-file, the request-header settings are read from
    /// its ConfigMap kube-system/extension-apiserver-authentication.
    #[arg(long)]
    pub authentication_kubeconfig: Option<PathBuf>,
    /// Do not read the request-header settings from the host cluster.
    #[arg(long)]
    pub authentication_skip_lookup: bool,
    /// Kubeconfig of the host cluster that authorizes requests Flotilla's own rules do not
    /// cover (SubjectAccessReview).
    #[arg(long)]
    pub authorization_kubeconfig: Option<PathBuf>,
    /// Non-resource paths allowed without authorization (`/prefix*` for a prefix); set it
    /// empty to allow none.
    #[arg(long, value_delimiter = ',', default_value = "/healthz,/readyz,/livez")]
    pub authorization_always_allow_paths: Vec<String>,
    /// How long a delegated TokenReview's answer is kept.
    #[arg(long, default_value = "10s", value_parser = flotilla_api::duration::parse_duration)]
    pub authentication_token_webhook_cache_ttl: std::time::Duration,
    /// How long a delegated SubjectAccessReview's "allowed" is kept.
    #[arg(long, default_value = "10s", value_parser = flotilla_api::duration::parse_duration)]
    pub authorization_webhook_cache_authorized_ttl: std::time::Duration,
    /// How long a delegated SubjectAccessReview's "denied" is kept.
    #[arg(long, default_value = "10s", value_parser = flotilla_api::duration::parse_duration)]
    pub authorization_webhook_cache_unauthorized_ttl: std::time::Duration,
}

impl ExtensionArgs {
    pub fn options(self) -> ExtensionOptions {
        ExtensionOptions {
            requestheader_client_ca_file: self.requestheader_client_ca_file,
            requestheader_allowed_names: self.requestheader_allowed_names,
            requestheader_headers: HeaderNames {
                username: self.requestheader_username_headers,
                group: self.requestheader_group_headers,
                extra_prefix: self.requestheader_extra_headers_prefix,
                uid: self.requestheader_uid_headers,
            },
            authentication_kubeconfig: self.authentication_kubeconfig,
            authentication_skip_lookup: self.authentication_skip_lookup,
            authorization_kubeconfig: self.authorization_kubeconfig,
            always_allow_paths: self.authorization_always_allow_paths,
            token_cache_ttl: self.authentication_token_webhook_cache_ttl,
            authorized_cache_ttl: self.authorization_webhook_cache_authorized_ttl,
            unauthorized_cache_ttl: self.authorization_webhook_cache_unauthorized_ttl,
        }
    }
}

impl Args {
    /// Every flag at its default, as a command line without api-server flags gives them.
    pub fn defaults() -> Args {
        let command = Args::augment_args(clap::Command::new("flotilla-api-server"));
        let matches = command
            .try_get_matches_from(["flotilla-api-server"])
            .expect("the defaults parse");
        Args::from_arg_matches(&matches).expect("the defaults parse")
    }

    /// `--bind-address:--secure-port`.
    pub fn listen_address(&self) -> String {
        format!("{}:{}", self.bind_address, self.secure_port)
    }

    /// The request layer's tunables.
    pub fn server_config(&self) -> ServerConfig {
        ServerConfig {
            etcd_prefix: self.etcd_prefix.clone(),
            bookmark_interval: DEFAULT_BOOKMARK_INTERVAL,
            watch_cache_size: DEFAULT_WATCH_CACHE_SIZE,
            compaction_interval: self.etcd_compaction_interval,
            event_ttl: self.event_ttl,
            read_header_timeout: self.read_header_timeout,
            idle_timeout: self.idle_connection_timeout,
            max_connections: self.max_connections,
            http2_max_streams: self.http2_max_streams_per_connection,
            max_mutating_inflight: self.max_mutating_requests_inflight,
            inflight_wait: crate::front::inflight::DEFAULT_WAIT,
        }
    }

    /// `--cluster-signing-*` and `--join-token-file`.
    pub fn join_options(&self) -> JoinOptions {
        JoinOptions {
            signing_files: self
                .cluster_signing_cert_file
                .clone()
                .zip(self.cluster_signing_key_file.clone()),
            duration: self.cluster_signing_duration,
            token_file: self.join_token_file.clone(),
        }
    }

    /// The options these flags describe; an error names the flag that is wrong.
    pub fn options(self) -> anyhow::Result<Options> {
        let storage = match self.storage.as_str() {
            "embedded" => StorageOption::Embedded,
            "sqlite" => StorageOption::Sqlite(self.data_dir.join("store")),
            "etcd" if !self.etcd_servers.is_empty() => {
                StorageOption::Etcd(self.etcd_servers.clone())
            }
            "etcd" => anyhow::bail!("--etcd-servers is required with --storage=etcd"),
            other => anyhow::bail!("--storage must be etcd, sqlite or embedded, not {other:?}"),
        };
        let tls_files = match (&self.tls_cert_file, &self.tls_private_key_file) {
            (Some(c), Some(k)) => Some((c.clone(), k.clone(), self.client_ca_file.clone())),
            _ => None,
        };
        let mut sans = self.tls_sans.clone();
        sans.push(self.bind_address.clone());
        Ok(Options {
            storage,
            etcd_tls: EtcdTlsFiles {
                ca: self.etcd_cafile.clone(),
                cert: self.etcd_certfile.clone(),
                key: self.etcd_keyfile.clone(),
            },
            config: self.server_config(),
            join: self.join_options(),
            data_dir: self.data_dir,
            tls_sans: sans,
            tls_files,
            token_auth_file: self.token_auth_file,
            encryption_provider_config: self.encryption_provider_config,
            write_kubeconfig: self.write_kubeconfig,
            extension: self.extension.options(),
        })
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;
    use crate::security::requestheader::HeaderNames;

    #[derive(clap::Parser)]
    struct Cli {
        #[command(flatten)]
        args: Args,
    }

    fn parse(args: &[&str]) -> Args {
        let argv = ["flotilla-api-server", "--storage=embedded"]
            .iter()
            .chain(args);
        Cli::try_parse_from(argv).expect("flags parse").args
    }

    #[test]
    fn defaults_are_the_flags_defaults() {
        let d = Args::defaults();
        assert_eq!(d.listen_address(), "127.0.0.1:6443");
        let embedded = Options::embedded(PathBuf::from("/tmp/x"));
        assert_eq!(embedded.config.etcd_prefix, "/registry");
        assert_eq!(
            embedded.config.compaction_interval,
            Duration::from_secs(300)
        );
        assert_eq!(embedded.config.read_header_timeout, Duration::from_secs(32));
        assert_eq!(embedded.config.event_ttl, Duration::from_secs(3600));
        assert_eq!(embedded.join.duration, Duration::from_secs(365 * 24 * 3600));
        assert_eq!(
            embedded.extension.always_allow_paths,
            parse(&[]).extension.options().always_allow_paths
        );
        assert!(matches!(embedded.storage, StorageOption::Embedded));
    }

    #[test]
    fn sqlite_storage_lives_under_the_data_dir() {
        let argv = [
            "flotilla-api-server",
            "--storage=sqlite",
            "--data-dir=/var/lib/fl",
        ];
        let opts = Cli::try_parse_from(argv).unwrap().args.options().unwrap();
        match opts.storage {
            StorageOption::Sqlite(dir) => assert_eq!(dir, PathBuf::from("/var/lib/fl/store")),
            other => panic!("--storage=sqlite gave {other:?}"),
        }
    }

    #[test]
    fn extension_flags_default_as_kubernetes_does() {
        let e = parse(&[]).extension.options();
        assert_eq!(e.requestheader_client_ca_file, None);
        assert_eq!(e.requestheader_headers, HeaderNames::default());
        assert_eq!(e.always_allow_paths, ["/healthz", "/readyz", "/livez"]);
        assert_eq!(e.token_cache_ttl, std::time::Duration::from_secs(10));
        assert_eq!(e.authorized_cache_ttl, std::time::Duration::from_secs(10));
        assert_eq!(e.unauthorized_cache_ttl, std::time::Duration::from_secs(10));
    }

    #[test]
    fn extension_flags_take_kubernetes_spellings() {
        let e = parse(&[
            "--requestheader-client-ca-file=/etc/front-proxy-ca.crt",
            "--requestheader-allowed-names=front-proxy-client,aggregator",
            "--requestheader-username-headers=X-Remote-User",
            "--requestheader-group-headers=X-Remote-Group",
            "--requestheader-extra-headers-prefix=X-Remote-Extra-",
            "--authentication-kubeconfig=/etc/host.kubeconfig",
            "--authorization-kubeconfig=/etc/host.kubeconfig",
            "--authentication-skip-lookup",
            "--authorization-always-allow-paths=",
            "--authorization-webhook-cache-unauthorized-ttl=1s",
        ])
        .extension
        .options();
        assert_eq!(
            e.requestheader_allowed_names,
            ["front-proxy-client", "aggregator"]
        );
        assert!(e.authentication_skip_lookup);
        assert!(e.always_allow_paths.iter().all(String::is_empty));
        assert_eq!(e.unauthorized_cache_ttl, std::time::Duration::from_secs(1));
        assert!(e.authorization_kubeconfig.is_some());
    }
}
