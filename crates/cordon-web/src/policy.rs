//! The active policy profile, read through this one module by every caller (the scan
//! decision, the code pages, zones, rounds, the policy page).
//!
//! Never caches the profile: the setting is read from the store on every call, so a
//! profile switched through another instance applies here at the next request. Only the
//! parse of a profile text is memoised, keyed by the exact text, which cannot go stale.

use crate::error::{AppError, Internal};
use cordon_domain::policy::{self, Profile};
use cordon_store::Store;
use cordon_store::codes::PolicySetting;
use std::sync::{Arc, Mutex};

/// The district's active profile, read from the store now.
pub async fn active_profile(store: &dyn Store) -> Result<Arc<Profile>, AppError> {
    Ok(active(store).await?.0)
}

/// The active profile and the setting it comes from (`None`: nobody switched it yet, the
/// shipped default applies), read from the store now.
pub async fn active(store: &dyn Store) -> Result<(Arc<Profile>, Option<PolicySetting>), AppError> {
    let setting = store.policy_setting().await?;
    Ok((profile_of(setting.clone())?, setting))
}

/// The profile of a policy setting just read (`None`: the shipped default), for callers
/// that read the setting together with other data (the scan path).
pub fn profile_of(setting: Option<PolicySetting>) -> Result<Arc<Profile>, AppError> {
    static PARSED: Mutex<Option<(String, Arc<Profile>)>> = Mutex::new(None);
    let (name, source) = match setting {
        Some(s) => (s.name, s.source),
        None => (policy::DEFAULT_PROFILE.to_string(), default_source().to_string()),
    };
    if let Some((_, p)) = PARSED.lock().unwrap_or_else(|p| p.into_inner()).as_ref().filter(|(src, _)| *src == source) {
        return Ok(p.clone());
    }
    // A shipped profile stored by an earlier release lacks the rules a later one added:
    // the shipped profile of that name, as this release carries it, applies.
    let profile = Arc::new(match Profile::effective(&name, &source) {
        Ok((p, None)) => p,
        Ok((p, Some(e))) => {
            tracing::warn!(profile = %name, error = %e, "stored profile text is from an earlier release; applying the shipped one");
            p
        }
        Err(e) => {
            return Err(AppError::Internal(Internal::Policy, format!("stored policy profile does not parse: {e}")));
        }
    });
    *PARSED.lock().unwrap_or_else(|p| p.into_inner()) = Some((source, profile.clone()));
    Ok(profile)
}

fn default_source() -> &'static str {
    shipped_source(policy::DEFAULT_PROFILE).unwrap_or("")
}

/// The text of a profile shipped with Cordon, by name.
pub fn shipped_source(name: &str) -> Option<&'static str> {
    policy::SHIPPED.iter().find(|(n, _)| *n == name).map(|(_, s)| *s)
}

/// The shipped profiles, parsed: (name, profile).
pub fn shipped() -> Vec<(&'static str, Profile)> {
    policy::SHIPPED.iter().filter_map(|(n, src)| Profile::parse(src).ok().map(|p| (*n, p))).collect()
}

/// A profile a commander chose (a shipped name, or TOML they pasted) as the setting to
/// store, checked: a text that does not parse is refused naming the field.
pub fn choose(
    name: &str,
    source: &str,
    by: &str,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<(Profile, PolicySetting), AppError> {
    let src = if source.trim().is_empty() {
        shipped_source(name.trim()).map(str::to_string).ok_or_else(|| {
            AppError::Field(cordon_domain::FieldError::new(
                "policy_unknown",
                "profile",
                "未知的策略配置",
                "unknown policy profile",
            ))
        })?
    } else {
        source.to_string()
    };
    let parsed = Profile::parse(&src).map_err(|e| AppError::Field(e.field_error()))?;
    let setting = PolicySetting { name: parsed.name.clone(), source: src, updated_at: now, updated_by: by.to_string() };
    Ok((parsed, setting))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_and_every_shipped_profile_parse() {
        assert!(!shipped().is_empty());
        assert_eq!(shipped().len(), policy::SHIPPED.len());
        assert_eq!(profile_of(None).unwrap().name, policy::DEFAULT_PROFILE);
        assert!(
            matches!(choose("no-such", "", "x", chrono::Utc::now()), Err(AppError::Field(f)) if f.code == "policy_unknown")
        );
    }
}
