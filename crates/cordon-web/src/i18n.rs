//! Interface language: Simplified Chinese by default, English on request (cookie `lang`).
//!
//! Every user-visible string of the pages lives in a message table with both languages.
//! Each feature module owns its tables and declares them in its
//! [`crate::features::Feature`]; this module looks keys up across all of them, so a
//! missing translation is a missing table row, found by the tests below.

use serde::Serialize;
use std::collections::HashMap;
use std::sync::OnceLock;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Lang {
    #[default]
    Zh,
    En,
}

impl Lang {
    pub fn from_tag(s: &str) -> Lang {
        if s.trim().to_ascii_lowercase().starts_with("en") { Lang::En } else { Lang::Zh }
    }
    pub fn tag(self) -> &'static str {
        match self {
            Lang::Zh => "zh",
            Lang::En => "en",
        }
    }
    pub fn pick<'a>(self, zh: &'a str, en: &'a str) -> &'a str {
        match self {
            Lang::Zh => zh,
            Lang::En => en,
        }
    }
}

/// A row of a message table: (key, 中文, English).
pub type Message = (&'static str, &'static str, &'static str);

/// Every message of every feature, by key, built once.
fn table() -> &'static HashMap<&'static str, (&'static str, &'static str)> {
    static TABLE: OnceLock<HashMap<&'static str, (&'static str, &'static str)>> = OnceLock::new();
    TABLE.get_or_init(|| {
        crate::features::FEATURES
            .iter()
            .flat_map(|f| f.messages.iter())
            .flat_map(|t| t.iter())
            .map(|(k, zh, en)| (*k, (*zh, *en)))
            .collect()
    })
}

fn lookup(key: &str) -> Option<(&'static str, &'static str)> {
    table().get(key).copied()
}

pub fn text(lang: Lang, key: &str) -> String {
    match lookup(key) {
        Some((zh, en)) => lang.pick(zh, en).to_string(),
        None => key.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Keys quoted in calls of `name` in `src` (`t("key")` in templates, `text(lang, "key")`
    /// in code): the first string literal, in either quotes, before the closing parenthesis
    /// of a call not preceded by an identifier character or a dot (so `.text()` is no call).
    fn quoted_keys<'a>(src: &'a str, name: &str) -> Vec<&'a str> {
        let marker = format!("{name}(");
        let mut keys = Vec::new();
        let mut from = 0;
        while let Some(i) = src[from..].find(&marker) {
            let at = from + i;
            from = at + marker.len();
            let before = src[..at].chars().next_back();
            if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '.') {
                continue;
            }
            let call = &src[from..];
            let call = &call[..call.find(')').unwrap_or(call.len())];
            if let Some(start) = call.find(['"', '\'']) {
                let quote = call[start..].chars().next().unwrap_or('"');
                let lit = &call[start + 1..];
                let key = &lit[..lit.find(quote).unwrap_or(0)];
                if !key.is_empty()
                    && key.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'_')
                {
                    keys.push(key);
                }
            }
        }
        keys
    }

    fn sources() -> Vec<(String, String)> {
        fn walk(dir: &std::path::Path, out: &mut Vec<(String, String)>) {
            for e in std::fs::read_dir(dir).unwrap() {
                let p = e.unwrap().path();
                if p.is_dir() {
                    walk(&p, out);
                } else if p.extension().is_some_and(|x| x == "rs") {
                    out.push((p.display().to_string(), std::fs::read_to_string(&p).unwrap()));
                }
            }
        }
        let mut out = Vec::new();
        walk(&std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src"), &mut out);
        out
    }

    #[test]
    fn every_key_used_by_a_template_or_the_code_is_translated() {
        let mut used = Vec::new();
        for (name, src) in crate::templates::sources() {
            used.extend(quoted_keys(src, "t").into_iter().map(|k| (name.to_string(), k.to_string())));
        }
        // This file quotes the call in its docs.
        let code: Vec<_> = sources().into_iter().filter(|(name, _)| !name.ends_with("i18n.rs")).collect();
        assert!(code.len() > 10, "the crate's sources are read");
        for (name, src) in &code {
            used.extend(quoted_keys(src, "text").into_iter().map(|k| (name.clone(), k.to_string())));
        }
        used.extend(
            crate::features::nav_entries().into_iter().map(|e| ("navigation".to_string(), e.label.to_string())),
        );
        assert!(used.len() > 300, "keys are found ({})", used.len());
        let missing: Vec<_> =
            used.iter().filter(|(_, k)| lookup(k).is_none()).map(|(n, k)| format!("{n}: {k}")).collect();
        assert!(missing.is_empty(), "untranslated keys: {missing:?}");
        assert!(
            lookup("nav.testing").is_some() && lookup("codes.pass.title").is_some(),
            "every feature's table is registered"
        );
    }

    #[test]
    fn every_field_a_refusal_names_has_a_chinese_name() {
        // A refusal carries its own zh/en text; the field it names is put in front of it
        // (`试管条码：…`) from the `field.<name>` rows of the feature tables.
        let missing: Vec<_> = cordon_domain::testing::Refusal::ALL
            .iter()
            .map(|r| r.field())
            .filter(|f| lookup(&format!("field.{f}")).is_none())
            .collect();
        assert!(missing.is_empty(), "refusal fields without a name: {missing:?}");
        assert_eq!(crate::error::field_zh("tube"), "试管条码");
    }

    #[test]
    fn no_key_is_in_two_tables_and_every_row_has_both_languages() {
        let rows: Vec<&Message> =
            crate::features::FEATURES.iter().flat_map(|f| f.messages.iter()).flat_map(|t| t.iter()).collect();
        let mut keys: Vec<_> = rows.iter().map(|(k, _, _)| *k).collect();
        keys.sort_unstable();
        let total = keys.len();
        keys.dedup();
        assert_eq!(keys.len(), total, "duplicate keys");
        for (k, zh, en) in rows {
            assert!(!zh.trim().is_empty() && !en.trim().is_empty(), "{k} lacks a language");
        }
    }
}
