//! Health-code operations of the binary: `cordon keys rotate|list|revoke`, `cordon policy
//! check FILE`, and the demo's codes data (a signing key, a checkpoint at the demo
//! compound's gate with the demo guard, a shop and a sampling site).
//!
//! Secret keys are generated here from the OS's randomness and handed straight to the
//! store; they are never printed or logged.

use anyhow::{Context, Result};
use cordon_domain::area::AreaCode;
use cordon_domain::audit::AuditEntry;
use cordon_domain::token::SecretKey;
use cordon_store::Store;
use cordon_store::codes::{NewCheckpoint, NewSigningKey, NewVenue, VenueKind};
use rand::RngCore;

fn cli_entry(action: &str, target_kind: &str, target: &str, detail: &str) -> AuditEntry {
    AuditEntry {
        at: chrono::Utc::now(),
        actor_id: None,
        actor: "cli".into(),
        role: None,
        action: action.into(),
        target_kind: target_kind.into(),
        target: target.into(),
        request_id: "cli".into(),
        detail: detail.into(),
    }
}

/// A fresh Ed25519 secret from the OS's randomness.
pub fn new_secret() -> SecretKey {
    let mut b = [0u8; 32];
    // ThreadRng is a CSPRNG seeded from the operating system.
    rand::rng().fill_bytes(&mut b);
    SecretKey::from_bytes(b)
}

/// The district this database serves: its root area.
async fn district(store: &dyn Store) -> Result<String> {
    let code = AreaCode::parse(cordon_domain::synth::DISTRICT_CODE).map_err(|e| anyhow::anyhow!(e.en))?;
    store.area(&code).await?.context("the database has no district yet (run `cordon generate` or import one)")?;
    Ok(code.to_string())
}

/// Adds a new signing key; the previous one is retired (its tokens verify until they
/// expire). Returns the new key's id.
pub async fn rotate(store: &dyn Store) -> Result<i64> {
    let district = district(store).await?;
    let key = NewSigningKey { district, secret: new_secret(), created_at: chrono::Utc::now() };
    let rec = store.add_signing_key(&key, &cli_entry("keys.rotate", "signing_key", "", "new signing key")).await?;
    Ok(rec.id)
}

pub async fn list(store: &dyn Store) -> Result<()> {
    for k in store.signing_keys().await? {
        let state = if k.revoked_at.is_some() {
            "revoked"
        } else if k.retired_at.is_some() {
            "retired (verifies until its tokens expire)"
        } else {
            "current"
        };
        println!("{}\t{}\t{}\t{}", k.id, k.district, k.created_at.to_rfc3339(), state);
    }
    Ok(())
}

pub async fn revoke(store: &dyn Store, id: i64) -> Result<()> {
    store
        .revoke_signing_key(
            id,
            chrono::Utc::now(),
            &cli_entry("keys.revoke", "signing_key", &id.to_string(), "revoked"),
        )
        .await?;
    Ok(())
}

/// Parses a policy file and reports the line and reason of the first problem.
pub fn check_policy(path: &std::path::Path) -> Result<()> {
    let src = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    match cordon_domain::policy::Profile::parse(&src) {
        Ok(p) => {
            println!("{}: ok ({})", p.name, p.title_en);
            Ok(())
        }
        Err(e) => anyhow::bail!("{}:{}: {}", path.display(), e.line, e.reason),
    }
}

/// The demo's codes data, made once: a signing key, the demo compound's gate with the
/// demo guard assigned, a shop and a sampling site in the demo community.
pub async fn demo_data(store: &dyn Store, compound: &AreaCode, community: &AreaCode) -> Result<()> {
    if store.current_signing_key().await?.is_none() {
        rotate(store).await?;
    }
    if store.checkpoints_under(std::slice::from_ref(compound)).await?.is_empty() {
        let name = store.area(compound).await?.map(|a| a.name).unwrap_or_default();
        let cp = NewCheckpoint::new(&format!("{name}东门"), compound.clone(), chrono::Utc::now())
            .map_err(|e| anyhow::anyhow!(e.en))?;
        let cp = store
            .create_checkpoint(&cp, &cli_entry("checkpoint.create", "area", compound.as_str(), "demo gate"))
            .await?;
        if let Some(guard) = store.user_by_username("checkpoint_guard").await? {
            store
                .assign_guard(
                    cp.id,
                    guard.id,
                    &cli_entry("checkpoint.assign", "checkpoint", &cp.id.to_string(), "demo guard"),
                )
                .await?;
        }
    }
    if store.venues_under(std::slice::from_ref(community)).await?.is_empty() {
        let cname = store.area(community).await?.map(|a| a.name).unwrap_or_default();
        for (name, kind, area) in [
            (format!("{cname}惠民超市"), VenueKind::Shop, community.clone()),
            (format!("{cname}核酸采样点"), VenueKind::SamplingSite, compound.clone()),
        ] {
            let v = NewVenue::new(&name, kind, area.clone(), chrono::Utc::now()).map_err(|e| anyhow::anyhow!(e.en))?;
            store.create_venue(&v, &cli_entry("venue.create", "area", area.as_str(), "demo venue")).await?;
        }
    }
    Ok(())
}
