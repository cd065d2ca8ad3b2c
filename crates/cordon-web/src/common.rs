//! What several features share that is no feature's own: the roster correction as a
//! form sends it (the resident page, the API, a door knock's wrong-data outcome) and its
//! audit entry, so a correction is the same whoever makes it and wherever; and readable
//! area names for lists of many areas ([`area_names`]), read at once.

use crate::auth::Ctx;
use crate::error::AppError;
use cordon_domain::Phone;
use cordon_domain::area::AreaCode;
use cordon_domain::registry::Correction;

/// Turns a form or API request into a domain correction.
pub(crate) fn correction_from(
    kind: &str,
    phone: &str,
    bedridden: bool,
    no_smartphone: bool,
) -> Result<Correction, AppError> {
    Ok(match kind {
        "moved_out" => Correction::MovedOut,
        "returned" => Correction::Returned,
        "temporary_on" => Correction::SetTemporary { temporary: true },
        "temporary_off" => Correction::SetTemporary { temporary: false },
        "phone" => {
            Correction::SetPhone { phone: if phone.trim().is_empty() { None } else { Some(Phone::parse(phone)?) } }
        }
        "flags" => Correction::SetFlags { bedridden, no_smartphone },
        other => {
            return Err(AppError::Field(cordon_domain::FieldError::new(
                "correction_kind",
                "kind",
                format!("未知的更正类型：{other}"),
                format!("unknown correction: {other}"),
            )));
        }
    })
}

/// The audit entry of a correction, wherever it is made (the resident page, the API, a
/// door knock's wrong-data outcome).
pub(crate) fn correction_entry(ctx: &Ctx, resident_id: i64, c: &Correction) -> cordon_domain::audit::AuditEntry {
    ctx.entry("resident.update", "resident", &resident_id.to_string(), c.audit_detail())
}

/// Readable names of areas: each area with its community, compound and building names
/// ("幸福社区 幸福小区 3号楼"), fetched in one read.
pub(crate) async fn area_names(
    store: &dyn cordon_store::Store,
    codes: impl IntoIterator<Item = &AreaCode>,
) -> Result<std::collections::HashMap<AreaCode, String>, AppError> {
    let wanted: Vec<AreaCode> = codes.into_iter().cloned().collect();
    let mut lineage: Vec<AreaCode> = wanted
        .iter()
        .flat_map(|c| c.lineage())
        .filter(|c| c.level() >= cordon_domain::area::AreaLevel::Community)
        .collect();
    lineage.sort();
    lineage.dedup();
    let known: std::collections::HashMap<AreaCode, String> =
        store.areas(&lineage).await?.into_iter().map(|a| (a.code, a.name)).collect();
    Ok(wanted
        .into_iter()
        .map(|c| {
            let parts: Vec<&str> = c
                .lineage()
                .iter()
                .filter(|a| a.level() >= cordon_domain::area::AreaLevel::Community || *a == &c)
                .filter_map(|a| known.get(a).map(String::as_str))
                .collect();
            let name = if parts.is_empty() { c.to_string() } else { parts.join(" ") };
            (c, name)
        })
        .collect())
}
