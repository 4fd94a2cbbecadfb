//! SDK version gate: `X-Tapprove-SDK: <platform>/<version>` against `min_sdk_version`.

/// Parses `1.2.3` (any number of numeric dot-separated parts; a `-pre`/`+build` suffix is
/// ignored) into comparable parts.
pub(crate) fn parse_version(v: &str) -> Option<Vec<u64>> {
    let core = v.trim().split(['-', '+']).next()?;
    if core.is_empty() {
        return None;
    }
    core.split('.').map(|p| p.parse::<u64>().ok()).collect()
}

/// Whether the `X-Tapprove-SDK` header value is at least `min`. A missing or unparsable
/// header is refused, since the service cannot tell it is recent enough.
pub(crate) fn is_supported(header: Option<&str>, min: &str) -> bool {
    let Some(min) = parse_version(min) else {
        return true;
    };
    let Some(version) = header
        .and_then(|h| h.rsplit_once('/'))
        .and_then(|(_, v)| parse_version(v))
    else {
        return false;
    };
    let len = version.len().max(min.len());
    let pad = |v: &[u64]| {
        (0..len)
            .map(|i| v.get(i).copied().unwrap_or(0))
            .collect::<Vec<_>>()
    };
    pad(&version) >= pad(&min)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compares_numerically() {
        assert!(is_supported(Some("rust/0.1.0"), "0.1.0"));
        assert!(is_supported(Some("kotlin/0.10.0"), "0.9.3"));
        assert!(is_supported(Some("swift/1.0"), "0.9.9"));
        assert!(is_supported(Some("rust/0.2.0-beta.1"), "0.2"));
        assert!(!is_supported(Some("rust/0.1.9"), "0.2.0"));
        assert!(!is_supported(None, "0.1.0"));
        assert!(!is_supported(Some("garbage"), "0.1.0"));
        assert!(parse_version("x.1").is_none());
    }
}
