//! The memo of Ed25519 signature checks on the scan path: (signed bytes, signature) →
//! the public key that verified them. An Ed25519 verification costs ~35 µs, about as
//! much as the rest of a scan's CPU; a resident's code is scanned many times in its
//! validity (in and out of a gate, several gates a day), so most checks repeat.
//!
//! Why this is sound, and what it never does:
//! - It remembers only *successful* checks, keyed by the exact bytes of the token's
//!   payload and signature, together with the public key's bytes. Whether a signature
//!   over given bytes verifies under a given public key is a mathematical fact that can
//!   never change, so an entry can never go stale — it is not a cache of data another
//!   instance can change (ARCHITECTURE: no per-instance cache of such data).
//! - A hit skips only the signature arithmetic. District, key id, key revocation and
//!   expiry are still checked on every scan against the key record read from the
//!   database for that scan, and the person's colour, their passes and pass revocation
//!   are decided from current data as before. A token signed with a key that is later
//!   revoked is refused at the next scan, hit or not.
//! - A hit requires the same public key bytes: a memo entry made under one key never
//!   vouches for a token checked against another (a rotated key, another database).
//! - Failed checks are not remembered, so a forged token costs a full verification each
//!   time, exactly as before.
//! - Bounded: two generations of at most [`GENERATION`] entries each (at most 100,000
//!   entries, ~15 MB); when the young one fills, the old one is dropped, so tokens
//!   scanned recently stay in.
//!
//! Hit-rate assumption (say it when quoting figures): the benefit depends on the same
//! token being scanned again while in the memo — true of a gate's in/out and daily
//! traffic, false of a stream of first-time tokens. `cordon bench verify` prints the cold
//! figure (every token new) and the repeated figure with the measured hit rate.

use cordon_domain::token::{TokenError, signature_valid};
use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

/// Entries per generation; two generations are kept.
pub const GENERATION: usize = 50_000;

struct Generations {
    young: HashMap<Vec<u8>, [u8; 32]>,
    old: HashMap<Vec<u8>, [u8; 32]>,
}

static MEMO: Mutex<Option<Generations>> = Mutex::new(None);
static HITS: AtomicU64 = AtomicU64::new(0);
static MISSES: AtomicU64 = AtomicU64::new(0);

fn memo_key(payload: &[u8], signature: &[u8; 64]) -> Vec<u8> {
    let mut k = Vec::with_capacity(payload.len() + signature.len());
    k.extend_from_slice(payload);
    k.extend_from_slice(signature);
    k
}

/// The signature check of [`cordon_domain::token::Unverified::verify_with`], remembering
/// successes (see the module docs for why that is sound).
pub fn check_signature(public: &[u8; 32], payload: &[u8], signature: &[u8; 64]) -> Result<bool, TokenError> {
    let key = memo_key(payload, signature);
    {
        let guard = MEMO.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(g) = guard.as_ref()
            && g.young.get(&key).or_else(|| g.old.get(&key)) == Some(public)
        {
            HITS.fetch_add(1, Ordering::Relaxed);
            return Ok(true);
        }
    }
    MISSES.fetch_add(1, Ordering::Relaxed);
    // Outside the lock: the verification is the expensive part.
    let valid = signature_valid(public, payload, signature).ok_or(TokenError::UnknownKey)?;
    if valid {
        let mut guard = MEMO.lock().unwrap_or_else(|p| p.into_inner());
        let g = guard.get_or_insert_with(|| Generations { young: HashMap::new(), old: HashMap::new() });
        if g.young.len() >= GENERATION {
            g.old = std::mem::take(&mut g.young);
        }
        g.young.insert(key, *public);
    }
    Ok(valid)
}

/// (hits, misses) since the process started — for the benchmark's hit rate.
pub fn memo_stats() -> (u64, u64) {
    (HITS.load(Ordering::Relaxed), MISSES.load(Ordering::Relaxed))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{Duration, TimeZone, Utc};
    use cordon_domain::token::{self, Claims, PublicKeyInfo, SecretKey, SubjectKind};

    #[test]
    fn a_hit_needs_the_same_key_and_never_skips_revocation_or_expiry() {
        let now = Utc.with_ymd_and_hms(2022, 4, 10, 6, 0, 0).unwrap();
        let (k1, k2) = (SecretKey::from_bytes([41; 32]), SecretKey::from_bytes([42; 32]));
        let claims = Claims {
            kind: SubjectKind::Person,
            district: "141102".into(),
            key_id: 1,
            subject: 77,
            issued_at: now,
            expires_at: now + Duration::days(1),
        };
        let tok = token::sign(&claims, &k1).unwrap();
        let info = |k: &SecretKey, revoked| PublicKeyInfo { key_id: 1, public: k.public_key(), revoked };
        let verify =
            |i: &PublicKeyInfo, at| token::decode(&tok).unwrap().verify_with("141102", Some(i), at, check_signature);
        assert_eq!(verify(&info(&k1, false), now).unwrap(), claims);
        let (hits, _) = memo_stats();
        assert_eq!(verify(&info(&k1, false), now).unwrap(), claims);
        assert!(memo_stats().0 > hits, "the second check is a hit");
        // Same bytes, another public key: no hit, and the signature is wrong for it.
        assert_eq!(verify(&info(&k2, false), now), Err(TokenError::BadSignature));
        // A remembered token is still refused once its key is revoked or it expired.
        assert_eq!(verify(&info(&k1, true), now), Err(TokenError::RevokedKey));
        assert_eq!(verify(&info(&k1, false), now + Duration::days(2)), Err(TokenError::Expired));
        // A tampered signature is never a hit.
        let mut bad = tok.clone();
        bad.pop();
        bad.push(if tok.ends_with('A') { 'B' } else { 'A' });
        let r = token::decode(&bad).map(|u| u.verify_with("141102", Some(&info(&k1, false)), now, check_signature));
        assert!(!matches!(r, Ok(Ok(_))));
    }
}
