//! `cordon audit verify`: walks the tamper-evident audit chain and names the first broken
//! link (an entry edited, deleted or slipped in after the fact).

use anyhow::Result;
use cordon_store::Store;
use cordon_store::audit_chain::{Break, ChainReport};

/// One line a person reads: the chain holds (with the head's hash to keep elsewhere),
/// or where and how it breaks.
pub fn describe(r: &ChainReport) -> String {
    let legacy = if r.unchained > 0 {
        format!("; {} earlier entries predate the chain / 另有{}条早于链的记录", r.unchained, r.unchained)
    } else {
        String::new()
    };
    match &r.broken {
        None => format!(
            "审计链完整 / audit chain intact: {} entries, head #{} {}{legacy}",
            r.checked, r.head.seq, r.head.hash
        ),
        Some(b) => {
            let (zh, en) = match b.reason {
                Break::Missing => ("记录缺失", "an entry is missing"),
                Break::PrevMismatch => ("与上一条不衔接", "it does not carry the previous entry's hash"),
                Break::HashMismatch => ("内容被改动", "its content was changed"),
                Break::HeadMismatch => ("链尾被替换", "the chain's head does not match its last entry"),
            };
            let entry = b.id.map(|id| format!(" (audit entry id {id})")).unwrap_or_default();
            format!(
                "审计链断裂 / audit chain BROKEN at place #{}{entry}: {zh} / {en}; {} entries before it verified{legacy}",
                b.chain_seq, r.checked
            )
        }
    }
}

/// Verifies the chain; prints the report (JSON with `json`) and fails when it is broken.
pub async fn verify(store: &dyn Store, json: bool) -> Result<ChainReport> {
    let report = store.verify_audit_chain().await?;
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        println!("{}", describe(&report));
    }
    Ok(report)
}
