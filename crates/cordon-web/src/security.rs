//! What every answer shares against a hostile client: the security headers and cache rule
//! ([`headers`]), the one sanitizer of `next` parameters ([`safe_next`]), the bounds of
//! a request body (declared per route, [`crate::routes::Route::body_limit`]) and of a
//! text field ([`field`]), and the keyed hash that stands in for names the server must
//! not store as typed ([`Keyed`]: unknown login names, client addresses).
//!
//! The CSP allows scripts from this site only: a page's script is a file served as
//! `/static/<page>.js` ([`crate::templates::PAGE_SCRIPTS`]), never inline.

use crate::error::AppError;
use axum::extract::Request;
use axum::http::{HeaderValue, header};
use axum::middleware::Next;
use axum::response::Response;
use cordon_domain::FieldError;
use sha2::{Digest, Sha256};

/// The body a route takes unless it declares more: forms and small JSON requests.
pub const DEFAULT_BODY_LIMIT: usize = 16 * 1024;
/// The body of a spreadsheet upload: the file and its form around it.
pub const UPLOAD_LIMIT: usize = cordon_sheets::MAX_UPLOAD_BYTES + 64 * 1024;

const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; \
     connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// Security headers on every answer; `Cache-Control: no-store` on every answer that did
/// not set its own cache rule (pages and API answers carry personal data; only static
/// assets declare themselves cacheable).
pub async fn headers(req: Request, next: Next) -> Response {
    let mut resp = next.run(req).await;
    let h = resp.headers_mut();
    h.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("same-origin"));
    h.insert("cross-origin-opener-policy", HeaderValue::from_static("same-origin"));
    if !h.contains_key(header::CACHE_CONTROL) {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    resp
}

/// Where to go after a login or a language switch: `raw` only when, parsed as a URL
/// relative to this site, it stays on this site; then as the parser serialises it (so
/// tabs, CR/LF and DEL are gone or percent-encoded and the value is a valid header).
/// Anything else — another host however spelled (`//x`, `/\x`, `/%09/x`, `https:x`), a
/// path that normalises to `//x` — is `/`.
pub fn safe_next(raw: Option<&str>) -> String {
    const BASE: &str = "http://cordon.invalid/";
    let Some(raw) = raw.filter(|r| r.starts_with('/')) else { return "/".into() };
    let Ok(base) = url::Url::parse(BASE) else { return "/".into() };
    let Ok(u) = base.join(raw) else { return "/".into() };
    if u.origin() != base.origin() || u.path().starts_with("//") || !u.username().is_empty() {
        return "/".into();
    }
    let mut out = u.path().to_string();
    if let Some(q) = u.query() {
        out.push('?');
        out.push_str(q);
    }
    if HeaderValue::from_str(&out).is_err() { "/".into() } else { out }
}

/// A text field bounded at the edge: at most `max` characters, no control, bidirectional
/// or zero-width characters; trimmed.
pub fn field(name: &'static str, value: &str, max: usize) -> Result<String, AppError> {
    cordon_domain::security::bounded_text(name, value, max).map_err(AppError::Field)
}

/// A required [`field`].
pub fn required(name: &'static str, value: &str, max: usize) -> Result<String, AppError> {
    let v = field(name, value, max)?;
    if v.is_empty() {
        return Err(AppError::Field(FieldError::new("field_missing", name, "此项不能为空", "this field is required")));
    }
    Ok(v)
}

/// Audits a read of a list once per reader, list and window
/// ([`cordon_domain::security::SecurityRules::audit_read_window_minutes`]): a page that
/// polls its list every few seconds would otherwise write an entry per poll and bury the
/// log. `key` (e.g. `round 12`) tells the lists of one target apart; the entry's detail
/// starts with it.
pub async fn audit_read_once(
    ctx: &crate::auth::Ctx,
    action: &str,
    target_kind: &str,
    target: &str,
    key: &str,
    detail: String,
) -> Result<(), AppError> {
    let rules = &crate::policy::active_profile(ctx.store.as_ref()).await?.security;
    let window = chrono::Duration::minutes(i64::from(rules.audit_read_window_minutes));
    let filter = cordon_store::AuditFilter {
        actor: Some(ctx.user.username.clone()),
        action: Some(action.to_string()),
        action_family: None,
        target_kind: Some(target_kind.to_string()),
        target: Some(target.to_string()),
        before_id: None,
        limit: 1,
    };
    let last = ctx.store.audit_log(&filter).await?;
    let prefix = format!("{key},");
    if last.first().is_some_and(|r| ctx.now - r.entry.at < window && r.entry.detail.starts_with(&prefix)) {
        return Ok(());
    }
    ctx.audit(action, target_kind, target, format!("{prefix} {detail}")).await
}

/// HMAC-SHA256 under the deployment's secret ([`Store::instance_secret`]): the stand-in
/// for a name that must be counted or correlated but not stored as typed.
#[derive(Clone)]
pub struct Keyed {
    key: [u8; 32],
}

impl Keyed {
    /// The deployment's key, made on first use and shared by every instance (each app
    /// state reads it once: it never changes).
    pub async fn load(state: &crate::AppState) -> Result<Keyed, AppError> {
        let key = state
            .login_key
            .get_or_try_init(|| async {
                let mut candidate = [0u8; 32];
                rand::RngCore::fill_bytes(&mut rand::rng(), &mut candidate);
                let stored = state.store.instance_secret("login_hash_key", &candidate).await?;
                let mut key = [0u8; 32];
                key.copy_from_slice(&Sha256::digest(&stored));
                Ok::<_, AppError>(key)
            })
            .await?;
        Ok(Keyed { key: *key })
    }

    /// `prefix` and the first 128 bits of the HMAC of `value`, in hex.
    pub fn hash(&self, prefix: &str, value: &str) -> String {
        let mut ipad = [0x36u8; 64];
        let mut opad = [0x5cu8; 64];
        for (i, k) in self.key.iter().enumerate() {
            ipad[i] ^= k;
            opad[i] ^= k;
        }
        let inner = Sha256::new().chain_update(ipad).chain_update(value.as_bytes()).finalize();
        let mac = Sha256::new().chain_update(opad).chain_update(inner).finalize();
        let hex: String = mac.iter().take(16).map(|b| format!("{b:02x}")).collect();
        format!("{prefix}{hex}")
    }
}

/// The part of a client address that throttling counts: an IPv4 address, or the /64
/// network of an IPv6 one (a host picks freely inside its /64).
pub fn client_key(addr: Option<std::net::IpAddr>) -> String {
    match addr.map(|a| match a {
        std::net::IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(std::net::IpAddr::V6(v6), std::net::IpAddr::V4),
        v4 => v4,
    }) {
        Some(std::net::IpAddr::V4(v4)) => v4.to_string(),
        Some(std::net::IpAddr::V6(v6)) => {
            let s = v6.segments();
            format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
        }
        None => "unknown".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_stays_on_this_site() {
        assert_eq!(safe_next(Some("/areas/141102")), "/areas/141102");
        assert_eq!(safe_next(Some("/audit?action=login&x=1")), "/audit?action=login&x=1");
        for evil in [
            "//evil.example",
            "/\\evil.example",
            "/%09/evil.example",
            "/\t/evil.example",
            "/\n/evil.example",
            "/./\t/evil.example",
            "/.//evil.example",
            "https://evil.example",
            "http:evil.example",
            "javascript:alert(1)",
            "evil.example",
            "",
        ] {
            let got = safe_next(Some(evil));
            // What a browser makes of the Location: a page of this site.
            let base = url::Url::parse("http://cordon.invalid/").unwrap();
            let resolved = base.join(&got).unwrap();
            assert_eq!(resolved.host_str(), Some("cordon.invalid"), "{evil:?} → {got}");
            assert!(got.starts_with('/') && !got.starts_with("//"), "{evil:?} → {got}");
        }
        assert_eq!(safe_next(None), "/");
    }

    #[test]
    fn next_is_always_a_valid_header() {
        for raw in ["/a\r\nSet-Cookie: x=1", "/a\u{7f}b", "/a\0b", "/中文?q=张三", "/a b"] {
            let got = safe_next(Some(raw));
            assert!(HeaderValue::from_str(&got).is_ok(), "{raw:?} → {got:?}");
            assert!(!got.contains('\r') && !got.contains('\n') && !got.contains('\u{7f}'), "{got:?}");
        }
    }

    #[test]
    fn keyed_hashes_differ_by_key_and_value() {
        let a = Keyed { key: [1; 32] };
        let b = Keyed { key: [2; 32] };
        assert_eq!(a.hash("u:", "alice"), a.hash("u:", "alice"));
        assert_ne!(a.hash("u:", "alice"), a.hash("u:", "bob"));
        assert_ne!(a.hash("u:", "alice"), b.hash("u:", "alice"));
        assert_eq!(a.hash("u:", "alice").len(), 2 + 32);
    }

    #[test]
    fn client_keys() {
        assert_eq!(client_key(Some("10.1.2.3".parse().unwrap())), "10.1.2.3");
        assert_eq!(client_key(Some("2001:db8:1:2:aaaa::1".parse().unwrap())), "2001:db8:1:2::/64");
        assert_eq!(client_key(Some("::ffff:10.1.2.3".parse().unwrap())), "10.1.2.3");
        assert_eq!(client_key(None), "unknown");
    }
}
