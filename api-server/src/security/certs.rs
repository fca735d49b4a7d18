//! Certificate generation and inspection, without file I/O.
//!
//! Keys are ECDSA P-256 (rcgen's default). Client certificates follow the Kubernetes x509 convention:
//! subject CN = user name, subject O = group.

use std::net::IpAddr;
use std::str::FromStr;

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, SanType, SerialNumber,
};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use time::{Duration, OffsetDateTime};

/// Validity of the bootstrapped CA.
pub const CA_VALIDITY: Duration = Duration::days(3650);
/// Validity of serving and client certificates issued by the CA.
pub const LEAF_VALIDITY: Duration = Duration::days(365);
/// A leaf certificate is re-issued on start when it expires sooner than this.
pub const RENEW_BEFORE: Duration = Duration::days(30);
/// Common name of the bootstrapped CA.
pub const CA_COMMON_NAME: &str = "flotilla-ca";

#[derive(Debug, thiserror::Error)]
pub enum CertError {
    #[error("generating {what}: {source}")]
    Generate {
        what: String,
        #[source]
        source: rcgen::Error,
    },
    #[error("{what}: no PEM {kind} found")]
    NoPem { what: String, kind: &'static str },
    #[error("{what}: {reason}")]
    Invalid { what: String, reason: String },
    #[error("client certificate user (CN) must not be empty")]
    EmptyUser,
    #[error(
        "client certificate groups: at most one group (O) is supported, got {0:?} \
         (use a bearer token for users with several groups)"
    )]
    TooManyGroups(Vec<String>),
}

/// What a leaf certificate is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LeafKind {
    /// Serving certificate with these subject alternative names (DNS names or IP addresses).
    Server { sans: Vec<String> },
    /// Client certificate: CN = user, O = group.
    Client { user: String, groups: Vec<String> },
    /// Both serving and client certificate for `sans`, CN = `name`: an etcd member's, which
    /// serves its peers and connects to them with the same kind of certificate (as kubeadm's).
    Peer { name: String, sans: Vec<String> },
}

/// A freshly issued certificate and its private key, both PEM.
#[derive(Debug, Clone)]
pub struct IssuedCert {
    pub cert_pem: String,
    pub key_pem: String,
}

fn generate_err(what: &str) -> impl FnOnce(rcgen::Error) -> CertError + '_ {
    move |source| CertError::Generate {
        what: what.to_string(),
        source,
    }
}

fn random_serial() -> SerialNumber {
    let mut bytes: [u8; 16] = rand::random();
    bytes[0] &= 0x7f; // keep the DER integer positive
    SerialNumber::from_slice(&bytes)
}

fn base_params(common_name: &str, validity: Duration) -> CertificateParams {
    let now = OffsetDateTime::now_utc();
    let mut params = CertificateParams::default();
    // An hour of slack for clocks that are slightly behind ours.
    params.not_before = now - Duration::hours(1);
    params.not_after = now + validity;
    params.serial_number = Some(random_serial());
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, common_name);
    params.distinguished_name = dn;
    params
}

/// Creates a new self-signed CA. Returns the issuer (for signing) and the CA certificate.
pub fn new_ca() -> Result<(Issuer<'static, KeyPair>, IssuedCert), CertError> {
    new_ca_named(CA_COMMON_NAME)
}

/// [`new_ca`] with another common name (e.g. etcd's own CA).
pub fn new_ca_named(
    common_name: &str,
) -> Result<(Issuer<'static, KeyPair>, IssuedCert), CertError> {
    let key = KeyPair::generate().map_err(generate_err("CA key"))?;
    let mut params = base_params(common_name, CA_VALIDITY);
    params
        .distinguished_name
        .push(DnType::OrganizationName, "flotilla");
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let cert = params
        .self_signed(&key)
        .map_err(generate_err("CA certificate"))?;
    let issued = IssuedCert {
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
    };
    Ok((Issuer::new(params, key), issued))
}

/// Rebuilds an issuer from an existing CA certificate and key (both PEM).
pub fn load_issuer(
    ca_cert_pem: &str,
    ca_key_pem: &str,
) -> Result<Issuer<'static, KeyPair>, CertError> {
    let key = KeyPair::from_pem(ca_key_pem).map_err(|e| CertError::Invalid {
        what: "CA key".into(),
        reason: e.to_string(),
    })?;
    Issuer::from_ca_cert_pem(ca_cert_pem, key).map_err(|e| CertError::Invalid {
        what: "CA certificate".into(),
        reason: e.to_string(),
    })
}

/// Issues a serving or client certificate signed by `issuer`.
pub fn issue_leaf(issuer: &Issuer<'_, KeyPair>, kind: &LeafKind) -> Result<IssuedCert, CertError> {
    let mut params = match kind {
        LeafKind::Server { sans } => server_params("flotilla-api-server", sans)?,
        LeafKind::Client { user, groups } => client_params(user, groups)?,
        LeafKind::Peer { name, sans } => {
            let mut params = server_params(name, sans)?;
            params
                .extended_key_usages
                .push(ExtendedKeyUsagePurpose::ClientAuth);
            params
        }
    };
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.use_authority_key_identifier_extension = true;
    let key = KeyPair::generate().map_err(generate_err("certificate key"))?;
    let cert = params
        .signed_by(&key, issuer)
        .map_err(generate_err("certificate"))?;
    Ok(IssuedCert {
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
    })
}

fn server_params(common_name: &str, sans: &[String]) -> Result<CertificateParams, CertError> {
    let mut params = base_params(common_name, LEAF_VALIDITY);
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    params.subject_alt_names = sans
        .iter()
        .map(|s| match IpAddr::from_str(s) {
            Ok(ip) => Ok(SanType::IpAddress(ip)),
            Err(_) => s
                .clone()
                .try_into()
                .map(SanType::DnsName)
                .map_err(|e| CertError::Invalid {
                    what: format!("serving certificate SAN {s:?}"),
                    reason: format!("{e}"),
                }),
        })
        .collect::<Result<_, _>>()?;
    Ok(params)
}

fn client_params(user: &str, groups: &[String]) -> Result<CertificateParams, CertError> {
    if user.trim().is_empty() {
        return Err(CertError::EmptyUser);
    }
    // rcgen keeps one value per attribute type, so a certificate carries at most one O.
    if groups.len() > 1 {
        return Err(CertError::TooManyGroups(groups.to_vec()));
    }
    let mut params = base_params(user, LEAF_VALIDITY);
    if let Some(group) = groups.first() {
        params
            .distinguished_name
            .push(DnType::OrganizationName, group.as_str());
    }
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    Ok(params)
}

/// Parses every certificate in a PEM bundle. `what` names the source in errors.
pub fn parse_certs(pem: &str, what: &str) -> Result<Vec<CertificateDer<'static>>, CertError> {
    let certs = CertificateDer::pem_slice_iter(pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| CertError::Invalid {
            what: what.to_string(),
            reason: e.to_string(),
        })?;
    if certs.is_empty() {
        return Err(CertError::NoPem {
            what: what.to_string(),
            kind: "CERTIFICATE",
        });
    }
    Ok(certs)
}

/// Parses the first private key (PKCS#8, SEC1 or PKCS#1) in a PEM document.
pub fn parse_key(pem: &str, what: &str) -> Result<PrivateKeyDer<'static>, CertError> {
    PrivateKeyDer::from_pem_slice(pem.as_bytes()).map_err(|e| match e {
        rustls::pki_types::pem::Error::NoItemsFound => CertError::NoPem {
            what: what.to_string(),
            kind: "PRIVATE KEY",
        },
        other => CertError::Invalid {
            what: what.to_string(),
            reason: other.to_string(),
        },
    })
}

/// The subject of a certificate as Kubernetes reads it: CN = user, every O = a group.
pub fn subject_user_groups(cert: &CertificateDer<'_>) -> Result<(String, Vec<String>), CertError> {
    let invalid = |reason: String| CertError::Invalid {
        what: "client certificate".into(),
        reason,
    };
    let (_, parsed) =
        x509_parser::parse_x509_certificate(cert).map_err(|e| invalid(e.to_string()))?;
    let subject = parsed.subject();
    let user = subject
        .iter_common_name()
        .next()
        .ok_or_else(|| invalid("subject has no common name (CN)".into()))?
        .as_str()
        .map_err(|e| invalid(format!("subject CN: {e}")))?
        .to_string();
    let groups = subject
        .iter_organization()
        .map(|o| o.as_str().map(str::to_string))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| invalid(format!("subject O: {e}")))?;
    Ok((user, groups))
}

/// True when `leaf` was signed by `ca`, is valid for at least [`RENEW_BEFORE`] and covers every name in
/// `required_sans`. Used to decide whether a stored certificate can be reused on start.
pub fn leaf_is_current(
    leaf: &CertificateDer<'_>,
    ca: &CertificateDer<'_>,
    required_sans: &[String],
) -> bool {
    let (Ok((_, leaf)), Ok((_, ca))) = (
        x509_parser::parse_x509_certificate(leaf),
        x509_parser::parse_x509_certificate(ca),
    ) else {
        return false;
    };
    if leaf.verify_signature(Some(ca.public_key())).is_err() {
        return false;
    }
    let fresh = leaf
        .validity()
        .time_to_expiration()
        .is_some_and(|left| left > RENEW_BEFORE);
    fresh && required_sans.iter().all(|name| covers_san(&leaf, name))
}

fn covers_san(cert: &x509_parser::certificate::X509Certificate<'_>, name: &str) -> bool {
    use x509_parser::extensions::GeneralName;
    let Ok(Some(san)) = cert.subject_alternative_name() else {
        return false;
    };
    let ip = IpAddr::from_str(name).ok();
    san.value
        .general_names
        .iter()
        .any(|general| match (general, ip) {
            (GeneralName::IPAddress(bytes), Some(IpAddr::V4(v4))) => *bytes == v4.octets(),
            (GeneralName::IPAddress(bytes), Some(IpAddr::V6(v6))) => *bytes == v6.octets(),
            (GeneralName::DNSName(dns), None) => dns.eq_ignore_ascii_case(name),
            _ => false,
        })
}
