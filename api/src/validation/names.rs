//! Kubernetes object-name rules for names that Flotilla turns into DNS names or references.

use std::sync::LazyLock;

use regex::Regex;

use super::FieldError;

static DNS1035_LABEL: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^[a-z]([-a-z0-9]*[a-z0-9])?$").expect("valid regex"));
static DNS1123_SUBDOMAIN: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
        .expect("valid regex")
});

/// A service's name is its DNS name on every network (`web`, `web.default`), so like a
/// Kubernetes Service it must be a DNS-1035 label (Swarm also caps names at 63 characters).
pub fn validate_service_name(path: &str, name: &str) -> Vec<FieldError> {
    dns_name(
        path,
        name,
        63,
        &DNS1035_LABEL,
        "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start \
         with an alphabetic character, and end with an alphanumeric character (e.g. \
         'my-name',  or 'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')",
    )
}

/// A reference to another object (secret, config, network) must be a name it could have.
pub fn validate_object_reference(path: &str, name: &str) -> Vec<FieldError> {
    dns_name(
        path,
        name,
        253,
        &DNS1123_SUBDOMAIN,
        "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, \
         '-' or '.', and must start and end with an alphanumeric character (e.g. \
         'example.com', regex used for validation is \
         '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')",
    )
}

/// Kubernetes' two checks of a DNS name, each its own error: at most `max` long, and `form`
/// (explained by `message`, kubectl users see it verbatim).
fn dns_name(path: &str, name: &str, max: usize, form: &Regex, message: &str) -> Vec<FieldError> {
    let mut errs = Vec::new();
    if name.len() > max {
        errs.push(FieldError::too_long(
            path,
            format!("must be no more than {max} characters"),
        ));
    }
    if !form.is_match(name) {
        errs.push(FieldError::invalid(path, name, message));
    }
    errs
}
