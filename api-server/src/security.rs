//! Security of the api-server: cluster PKI and TLS, authentication (client certificates, bearer
//! tokens, an authenticating proxy's headers, delegation to a host cluster), authorization by identity (including Kubernetes' Node-authorizer rules), encryption of
//! stored values at rest, and kubeconfig files for the components.

pub(crate) mod attributes;
pub mod authn;
pub(crate) mod authn_lookup;
pub(crate) mod authz;
pub mod certs;
pub mod chain;
pub(crate) mod delegated;
pub(crate) mod encryption;
mod encryption_config;
pub mod encryption_default;
pub(crate) mod join;
pub mod join_tokens;
pub mod kubeconfig;
pub(crate) mod node_restriction;
mod node_rules;
pub(crate) mod node_view;
pub(crate) mod paths;
pub mod pki;
pub mod requestheader;
mod roles;
pub(crate) mod rules;
pub mod tls;
mod token_file;
mod ttl_cache;

pub use authn::{Authenticator, AuthnError, Identity};
pub use authz::{Authorizer, Decision, NodeRelations, ReferencedKind, RequestAttributes, Verb};
pub use encryption::{EncryptionError, Transformers};
pub use pki::{Pki, PkiConfig, PkiError};
