//! Accept negotiation for aggregated discovery.
//!
//! client-go picks its decoder only from the response Content-Type, and kubectl 1.27 breaks when
//! sent v2 while it asked for v2beta1 only. So v2 or v2beta1 is served only when the Accept header
//! lists exactly that media type (`application/json` with `g=apidiscovery.k8s.io`,
//! `v=<version>`, `as=APIGroupDiscoveryList`, parameters in any order); otherwise legacy JSON.

/// The discovery document format chosen for a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DiscoveryFormat {
    /// `apidiscovery.k8s.io/v2` APIGroupDiscoveryList (kubectl 1.30+, kube-rs `run_aggregated`).
    V2,
    /// `apidiscovery.k8s.io/v2beta1` APIGroupDiscoveryList (kubectl 1.27–1.29).
    V2Beta1,
    /// Legacy `APIVersions` / `APIGroupList`.
    Legacy,
}

impl DiscoveryFormat {
    /// The exact response Content-Type for this format.
    pub fn content_type(self) -> &'static str {
        match self {
            DiscoveryFormat::V2 => {
                "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"
            }
            DiscoveryFormat::V2Beta1 => {
                "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList"
            }
            DiscoveryFormat::Legacy => "application/json",
        }
    }

    /// `apiVersion` of the aggregated body (`apidiscovery.k8s.io/v2` or `…/v2beta1`).
    pub fn api_version(self) -> &'static str {
        match self {
            DiscoveryFormat::V2Beta1 => "apidiscovery.k8s.io/v2beta1",
            _ => "apidiscovery.k8s.io/v2",
        }
    }
}

/// Picks the format for an Accept header: the first acceptable aggregated media range the client
/// listed (skipping `q=0`), else legacy. No header, `*/*` or plain `application/json` mean legacy.
pub fn negotiate_discovery(accept: Option<&str>) -> DiscoveryFormat {
    accept
        .into_iter()
        .flat_map(|a| a.split(','))
        .find_map(aggregated_format)
        .unwrap_or(DiscoveryFormat::Legacy)
}

/// The aggregated format one media range asks for, if any.
fn aggregated_format(range: &str) -> Option<DiscoveryFormat> {
    let mut parts = range.split(';');
    let media_type = parts.next()?.trim();
    if !media_type.eq_ignore_ascii_case("application/json") {
        return None;
    }
    let (mut group, mut version, mut as_kind, mut rejected) = (None, None, None, false);
    for param in parts {
        let Some((key, value)) = param.split_once('=') else {
            continue;
        };
        let value = value.trim().trim_matches('"');
        match key.trim().to_ascii_lowercase().as_str() {
            "g" => group = Some(value),
            "v" => version = Some(value),
            "as" => as_kind = Some(value),
            "q" => rejected = value.parse::<f32>().is_ok_and(|q| q <= 0.0),
            _ => {}
        }
    }
    if rejected || group != Some("apidiscovery.k8s.io") || as_kind != Some("APIGroupDiscoveryList")
    {
        return None;
    }
    match version? {
        "v2" => Some(DiscoveryFormat::V2),
        "v2beta1" => Some(DiscoveryFormat::V2Beta1),
        _ => None,
    }
}
