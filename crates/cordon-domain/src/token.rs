//! Signed code tokens (一码通): a compact Ed25519-signed token carrying who (a resident or
//! a pass), which district, which key, when issued and until when. Never the colour: the
//! colour is computed live at every scan, so a token printed last week is still right.
//!
//! Layout (26 bytes, big-endian) followed by the 64-byte signature over them, base64url
//! without padding, prefixed `CD1.`:
//! `version:u8=1 | kind:u8 | district:u32 | key_id:u32 | subject:i64 | issued:u32 | expires:u32`
//! (times in Unix seconds).
//!
//! Owns encoding, signing and pure verification. Keys are handed in by the caller (the
//! store holds them); this module never reads the clock, a file or a database. A secret
//! key's `Debug` is redacted so it cannot reach a log.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use serde::{Deserialize, Serialize};
use std::fmt;

const PREFIX: &str = "CD1.";
const VERSION: u8 = 1;
const PAYLOAD_LEN: usize = 26;
const SIG_LEN: usize = 64;

/// What a token names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SubjectKind {
    /// A resident's health code; subject = resident id.
    Person,
    /// A pass (通行证); subject = pass id.
    Pass,
}

impl SubjectKind {
    fn byte(self) -> u8 {
        match self {
            SubjectKind::Person => 1,
            SubjectKind::Pass => 2,
        }
    }
    fn from_byte(b: u8) -> Option<SubjectKind> {
        match b {
            1 => Some(SubjectKind::Person),
            2 => Some(SubjectKind::Pass),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    pub kind: SubjectKind,
    /// The 6-digit district code.
    pub district: String,
    pub key_id: u32,
    pub subject: i64,
    pub issued_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

/// Why a token was refused. Each has a stable code and zh/en text for the guard.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, thiserror::Error)]
#[serde(rename_all = "snake_case")]
pub enum TokenError {
    #[error("malformed token")]
    Malformed,
    #[error("token of another district")]
    OtherDistrict,
    #[error("token signed by an unknown key")]
    UnknownKey,
    #[error("forged token")]
    BadSignature,
    #[error("token signed by a revoked key")]
    RevokedKey,
    #[error("expired token")]
    Expired,
}

impl TokenError {
    pub fn code(self) -> &'static str {
        match self {
            TokenError::Malformed => "token_malformed",
            TokenError::OtherDistrict => "token_other_district",
            TokenError::UnknownKey => "token_unknown_key",
            TokenError::BadSignature => "token_forged",
            TokenError::RevokedKey => "token_key_revoked",
            TokenError::Expired => "token_expired",
        }
    }
    pub fn zh(self) -> &'static str {
        match self {
            TokenError::Malformed => "无法识别的码（残缺或格式错误），禁止通行",
            TokenError::OtherDistrict => "外区的码，本区无法核验，禁止通行，请登记后联系社区",
            TokenError::UnknownKey => "伪造的码（签名密钥未知），禁止通行",
            TokenError::BadSignature => "伪造的码（签名无效），禁止通行",
            TokenError::RevokedKey => "码的签名密钥已吊销，禁止通行，请联系社区重新领码",
            TokenError::Expired => "码已过期，禁止通行，请联系社区重新领码",
        }
    }
    pub fn en(self) -> &'static str {
        match self {
            TokenError::Malformed => "unreadable code (truncated or garbled): refused",
            TokenError::OtherDistrict => {
                "code from another district, cannot be checked here: refused; register and call the community"
            }
            TokenError::UnknownKey => "forged code (unknown signing key): refused",
            TokenError::BadSignature => "forged code (bad signature): refused",
            TokenError::RevokedKey => "code signed by a revoked key: refused; get a new code from the community",
            TokenError::Expired => "expired code: refused; get a new code from the community",
        }
    }
}

/// An Ed25519 secret key. `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretKey([u8; 32]);

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretKey(<redacted>)")
    }
}

impl SecretKey {
    /// From 32 random bytes (the caller brings the randomness: no IO here).
    pub fn from_bytes(bytes: [u8; 32]) -> SecretKey {
        SecretKey(bytes)
    }
    pub fn from_slice(bytes: &[u8]) -> Option<SecretKey> {
        <[u8; 32]>::try_from(bytes).ok().map(SecretKey)
    }
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
    pub fn public_key(&self) -> [u8; 32] {
        SigningKey::from_bytes(&self.0).verifying_key().to_bytes()
    }
}

/// A verifying key as the store knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicKeyInfo {
    pub key_id: u32,
    pub public: [u8; 32],
    pub revoked: bool,
}

fn district_number(district: &str) -> Option<u32> {
    if district.len() == 6 && district.bytes().all(|b| b.is_ascii_digit()) { district.parse().ok() } else { None }
}

fn secs(t: DateTime<Utc>) -> u32 {
    u32::try_from(t.timestamp().max(0)).unwrap_or(u32::MAX)
}

/// Signs `claims` with `key`. `None` when the district is not a 6-digit code.
pub fn sign(claims: &Claims, key: &SecretKey) -> Option<String> {
    let mut payload = Vec::with_capacity(PAYLOAD_LEN + SIG_LEN);
    payload.push(VERSION);
    payload.push(claims.kind.byte());
    payload.extend_from_slice(&district_number(&claims.district)?.to_be_bytes());
    payload.extend_from_slice(&claims.key_id.to_be_bytes());
    payload.extend_from_slice(&claims.subject.to_be_bytes());
    payload.extend_from_slice(&secs(claims.issued_at).to_be_bytes());
    payload.extend_from_slice(&secs(claims.expires_at).to_be_bytes());
    let sig = SigningKey::from_bytes(&key.0).sign(&payload);
    payload.extend_from_slice(&sig.to_bytes());
    Some(format!("{PREFIX}{}", URL_SAFE_NO_PAD.encode(payload)))
}

/// A token that parsed but whose signature is not yet checked.
#[derive(Debug, Clone)]
pub struct Unverified {
    pub claims: Claims,
    payload: [u8; PAYLOAD_LEN],
    signature: [u8; SIG_LEN],
}

fn be_u32(b: &[u8], at: usize) -> Option<u32> {
    b.get(at..at + 4).and_then(|s| <[u8; 4]>::try_from(s).ok()).map(u32::from_be_bytes)
}

/// Parses a scanned token (whitespace around it is ignored). Structural problems only.
pub fn decode(input: &str) -> Result<Unverified, TokenError> {
    let body = input.trim().strip_prefix(PREFIX).ok_or(TokenError::Malformed)?;
    if body.len() > 200 {
        return Err(TokenError::Malformed);
    }
    let raw = URL_SAFE_NO_PAD.decode(body).map_err(|_| TokenError::Malformed)?;
    if raw.len() != PAYLOAD_LEN + SIG_LEN || raw.first() != Some(&VERSION) {
        return Err(TokenError::Malformed);
    }
    let kind = raw.get(1).copied().and_then(SubjectKind::from_byte).ok_or(TokenError::Malformed)?;
    let district = be_u32(&raw, 2).ok_or(TokenError::Malformed)?;
    let key_id = be_u32(&raw, 6).ok_or(TokenError::Malformed)?;
    let subject = raw.get(10..18).and_then(|s| <[u8; 8]>::try_from(s).ok()).map(i64::from_be_bytes);
    let issued = be_u32(&raw, 18).ok_or(TokenError::Malformed)?;
    let expires = be_u32(&raw, 22).ok_or(TokenError::Malformed)?;
    let at = |s: u32| DateTime::<Utc>::from_timestamp(i64::from(s), 0).ok_or(TokenError::Malformed);
    let payload = raw.get(..PAYLOAD_LEN).and_then(|s| <[u8; PAYLOAD_LEN]>::try_from(s).ok());
    let signature = raw.get(PAYLOAD_LEN..).and_then(|s| <[u8; SIG_LEN]>::try_from(s).ok());
    let (Some(subject), Some(payload), Some(signature)) = (subject, payload, signature) else {
        return Err(TokenError::Malformed);
    };
    Ok(Unverified {
        claims: Claims {
            kind,
            district: format!("{district:06}"),
            key_id,
            subject,
            issued_at: at(issued)?,
            expires_at: at(expires)?,
        },
        payload,
        signature,
    })
}

/// Whether `signature` is a valid Ed25519 signature of `payload` under `public`; `None`
/// when `public` is not a valid key.
pub fn signature_valid(public: &[u8; 32], payload: &[u8], signature: &[u8; SIG_LEN]) -> Option<bool> {
    let vk = VerifyingKey::from_bytes(public).ok()?;
    Some(vk.verify(payload, &Signature::from_bytes(signature)).is_ok())
}

impl Unverified {
    /// Checks the token against this district and the key its `key_id` names (`None`:
    /// no such key), at `now`. Order: district, key, signature, revocation, expiry — so a
    /// forged token is called forged even when it also claims to be expired.
    pub fn verify(self, district: &str, key: Option<&PublicKeyInfo>, now: DateTime<Utc>) -> Result<Claims, TokenError> {
        self.verify_with(district, key, now, |public, payload, signature| {
            signature_valid(public, payload, signature).ok_or(TokenError::UnknownKey)
        })
    }

    /// [`Unverified::verify`] with the Ed25519 check supplied by the caller — `check`
    /// gets (public key, payload, signature) and answers whether the signature is valid,
    /// or `Err(UnknownKey)` for a public key that is not a curve point. A caller may
    /// remember earlier answers for the same three byte strings (the answer can never
    /// change); every other check (district, key id, revocation, expiry) still runs here
    /// against the `key` and `now` given.
    pub fn verify_with(
        self,
        district: &str,
        key: Option<&PublicKeyInfo>,
        now: DateTime<Utc>,
        check: impl FnOnce(&[u8; 32], &[u8], &[u8; SIG_LEN]) -> Result<bool, TokenError>,
    ) -> Result<Claims, TokenError> {
        if self.claims.district != district {
            return Err(TokenError::OtherDistrict);
        }
        let key = key.filter(|k| k.key_id == self.claims.key_id).ok_or(TokenError::UnknownKey)?;
        if !check(&key.public, &self.payload, &self.signature)? {
            return Err(TokenError::BadSignature);
        }
        if key.revoked {
            return Err(TokenError::RevokedKey);
        }
        if self.claims.expires_at <= now {
            return Err(TokenError::Expired);
        }
        Ok(self.claims)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{Duration, TimeZone};

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2022, 4, 10, 6, 0, 0).unwrap()
    }

    fn key(seed: u8) -> SecretKey {
        SecretKey::from_bytes([seed; 32])
    }

    fn info(id: u32, k: &SecretKey) -> PublicKeyInfo {
        PublicKeyInfo { key_id: id, public: k.public_key(), revoked: false }
    }

    fn claims(key_id: u32) -> Claims {
        Claims {
            kind: SubjectKind::Person,
            district: "141102".into(),
            key_id,
            subject: 4711,
            issued_at: now(),
            expires_at: now() + Duration::days(30),
        }
    }

    #[test]
    fn round_trip() {
        let k = key(7);
        let t = sign(&claims(1), &k).unwrap();
        assert!(t.starts_with("CD1.") && t.len() < 130, "{t}");
        let got = decode(&format!("  {t}\r\n")).unwrap().verify("141102", Some(&info(1, &k)), now()).unwrap();
        assert_eq!(got, claims(1));
        assert!(!t.contains("green") && !t.contains("4711"));
    }

    #[test]
    fn forgery_truncation_and_garbage() {
        let k = key(7);
        let t = sign(&claims(1), &k).unwrap();
        // Signed by someone else's key under our key id.
        let forged = sign(&claims(1), &key(9)).unwrap();
        assert_eq!(decode(&forged).unwrap().verify("141102", Some(&info(1, &k)), now()), Err(TokenError::BadSignature));
        // One payload bit flipped (the subject).
        let mut raw = URL_SAFE_NO_PAD.decode(&t[4..]).unwrap();
        raw[17] ^= 1;
        let flipped = format!("CD1.{}", URL_SAFE_NO_PAD.encode(&raw));
        assert_eq!(
            decode(&flipped).unwrap().verify("141102", Some(&info(1, &k)), now()),
            Err(TokenError::BadSignature)
        );
        assert_eq!(decode(&t[..t.len() - 5]).unwrap_err(), TokenError::Malformed);
        for bad in ["", "hello", "CD1.", "CD1.!!!!", "CD2.AAAA", &t.replace("CD1.", "")] {
            assert_eq!(decode(bad).unwrap_err(), TokenError::Malformed, "{bad}");
        }
        assert_eq!(decode(&t).unwrap().verify("141102", None, now()), Err(TokenError::UnknownKey));
        assert_eq!(decode(&t).unwrap().verify("141102", Some(&info(2, &k)), now()), Err(TokenError::UnknownKey));
    }

    #[test]
    fn expiry_revocation_and_district() {
        let k = key(7);
        let t = sign(&claims(1), &k).unwrap();
        let late = now() + Duration::days(30);
        assert_eq!(decode(&t).unwrap().verify("141102", Some(&info(1, &k)), late), Err(TokenError::Expired));
        let revoked = PublicKeyInfo { revoked: true, ..info(1, &k) };
        assert_eq!(decode(&t).unwrap().verify("141102", Some(&revoked), now()), Err(TokenError::RevokedKey));
        let other = sign(&Claims { district: "110105".into(), ..claims(1) }, &k).unwrap();
        assert_eq!(decode(&other).unwrap().verify("141102", Some(&info(1, &k)), now()), Err(TokenError::OtherDistrict));
        assert!(format!("{k:?}").contains("redacted"));
        for e in [TokenError::Malformed, TokenError::Expired, TokenError::BadSignature] {
            assert!(!e.zh().is_empty() && !e.en().is_empty() && e.code().starts_with("token_"));
        }
    }
}
