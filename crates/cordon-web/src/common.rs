//! What several features share that is no feature's own: the roster correction as a
//! form sends it (the resident page, the API, a door knock's wrong-data outcome) and its
//! audit entry, so a correction is the same whoever makes it and wherever.

use crate::auth::Ctx;
use crate::error::AppError;
use cordon_domain::Phone;
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
