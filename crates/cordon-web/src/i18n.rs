//! Interface language: Simplified Chinese by default, English on request (cookie `lang`).
//!
//! Every user-visible string of the pages lives in [`MESSAGES`] with both languages, so a
//! missing translation is a missing table row, found by the test below.

use serde::Serialize;

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

/// (key, 中文, English)
pub const MESSAGES: &[(&str, &str, &str)] = &[
    ("app.name", "区级疫情防控指挥平台", "Cordon — district outbreak command"),
    ("app.short", "Cordon 防控平台", "Cordon"),
    ("nav.home", "首页", "Home"),
    ("nav.tree", "区域", "Areas"),
    ("nav.search", "查找居民", "Find residents"),
    ("nav.import", "导入名册", "Import roster"),
    ("nav.audit", "审计日志", "Audit log"),
    ("nav.logout", "退出", "Log out"),
    ("nav.lang", "English", "中文"),
    ("login.title", "登录", "Log in"),
    ("login.username", "用户名", "Username"),
    ("login.password", "密码", "Password"),
    ("login.submit", "登录", "Log in"),
    ("login.failed", "用户名或密码错误", "Wrong username or password"),
    ("login.throttled", "登录失败次数过多，请15分钟后再试", "Too many failed attempts; try again in 15 minutes"),
    ("area.residents", "居民", "Residents"),
    ("area.households", "户数", "Households"),
    ("area.children", "下级区域", "Areas below"),
    ("area.name", "名称", "Name"),
    ("area.code", "编码", "Code"),
    ("area.level", "层级", "Level"),
    ("area.roster", "楼栋名册", "Building roster"),
    ("area.export", "导出居民", "Export residents"),
    ("area.your_scope", "您的管辖范围", "Your area"),
    ("area.grids", "网格", "Grids"),
    ("area.grid_worker", "网格员", "Grid worker"),
    ("roster.title", "楼栋名册", "Building roster"),
    ("roster.leader", "楼长", "Building leader"),
    ("roster.unit", "单元", "Unit"),
    ("roster.room", "房号", "Room"),
    ("roster.members", "成员", "Members"),
    ("roster.phones", "有手机号", "With phone"),
    ("roster.no_phone", "无手机号", "No phone"),
    ("roster.door", "需上门服务", "Needs door service"),
    ("roster.add_visitor", "登记临时人员（探亲/暂住）", "Register a visitor (temporary)"),
    ("roster.add", "登记", "Register"),
    ("resident.name", "姓名", "Name"),
    ("resident.id_number", "身份证号", "ID number"),
    ("resident.phone", "手机号", "Phone"),
    ("resident.sex", "性别", "Sex"),
    ("resident.age", "年龄", "Age"),
    ("resident.birth_date", "出生日期", "Birth date"),
    ("resident.address", "住址", "Address"),
    ("resident.flags", "标记", "Flags"),
    ("resident.status", "状态", "Status"),
    ("resident.detail", "居民信息", "Resident"),
    ("flag.elderly", "80岁以上", "80+"),
    ("flag.bedridden", "卧床", "Bedridden"),
    ("flag.no_smartphone", "无智能手机", "No smartphone"),
    ("flag.temporary", "临时人员", "Temporary"),
    ("status.active", "在住", "Living here"),
    ("status.moved_out", "已搬离", "Moved out"),
    ("correct.title", "信息更正", "Corrections"),
    ("correct.moved_out", "标记为已搬离", "Mark as moved out"),
    ("correct.returned", "恢复为在住", "Mark as living here"),
    ("correct.temporary_on", "标记为临时人员", "Mark as temporary"),
    ("correct.temporary_off", "取消临时人员标记", "Unmark temporary"),
    ("correct.phone", "更改手机号", "Change phone"),
    ("correct.flags", "更新标记", "Update flags"),
    ("correct.save", "保存", "Save"),
    ("correct.done", "已保存更正", "Correction saved"),
    ("search.title", "查找居民", "Find residents"),
    ("search.hint", "输入姓名、身份证号或手机号", "Name, ID number or phone"),
    ("search.go", "查找", "Search"),
    ("search.none", "未找到符合条件的居民", "No resident found"),
    ("import.title", "导入居民名册", "Import residents"),
    (
        "import.help",
        "支持 .xlsx 和 .csv（UTF-8）。表头：姓名、身份证号、手机号、小区、楼栋、单元、房号（或 单元编码）、卧床、无智能手机、临时居住。",
        "Accepts .xlsx and .csv (UTF-8). Headers: 姓名 (name), 身份证号 (id_number), 手机号 (phone), 小区, 楼栋, 单元, 房号 (or 单元编码 unit_code), flags 卧床, 无智能手机, 临时居住.",
    ),
    ("import.file", "文件", "File"),
    ("import.mode", "有错误行时", "If any row is bad"),
    ("import.all_or_nothing", "全部不导入（默认）", "import nothing (default)"),
    ("import.valid_only", "只导入正确的行", "import the valid rows"),
    ("import.submit", "上传并导入", "Upload and import"),
    ("import.report", "导入结果", "Import report"),
    ("import.rows", "数据行", "Rows"),
    ("import.imported", "已导入", "Imported"),
    ("import.errors", "错误", "Errors"),
    (
        "import.nothing",
        "存在错误行，未导入任何数据。请修改后重新上传，或选择“只导入正确的行”。",
        "Some rows are bad, so nothing was imported. Fix them and upload again, or choose \"import the valid rows\".",
    ),
    ("import.row", "行", "Row"),
    ("import.column", "列", "Column"),
    ("import.reason", "原因", "Reason"),
    ("audit.title", "审计日志", "Audit log"),
    ("audit.at", "时间", "Time"),
    ("audit.actor", "操作人", "Who"),
    ("audit.action", "操作", "Action"),
    ("audit.target", "对象", "Record"),
    ("audit.request", "请求号", "Request"),
    ("audit.detail", "说明", "Detail"),
    ("audit.older", "更早的记录", "Older entries"),
    ("audit.filter", "筛选", "Filter"),
    ("error.title", "出错了", "Something went wrong"),
    ("error.request", "请求号", "Request id"),
    ("error.back", "返回", "Back"),
    ("common.yes", "是", "yes"),
    ("common.no", "否", "no"),
];

/// Every message table: the shell's, then one per capability module.
pub const TABLES: &[&[(&str, &str, &str)]] = &[MESSAGES, crate::codes::MESSAGES, crate::testing::MESSAGES];

fn lookup(key: &str) -> Option<&'static (&'static str, &'static str, &'static str)> {
    TABLES.iter().flat_map(|t| t.iter()).find(|(k, _, _)| *k == key)
}

pub fn text(lang: Lang, key: &str) -> String {
    match lookup(key) {
        Some((_, zh, en)) => lang.pick(zh, en).to_string(),
        None => key.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_template_key_is_translated() {
        let mut missing = Vec::new();
        for (name, src) in crate::templates::SOURCES {
            let mut rest = *src;
            while let Some(i) = rest.find("t(\"") {
                let after = &rest[i + 3..];
                let end = after.find('"').unwrap_or(0);
                let key = &after[..end];
                if lookup(key).is_none() {
                    missing.push(format!("{name}: {key}"));
                }
                rest = &after[end..];
            }
        }
        assert!(missing.is_empty(), "untranslated keys: {missing:?}");
        let mut keys: Vec<_> = TABLES.iter().flat_map(|t| t.iter()).map(|(k, _, _)| k).collect();
        let total = keys.len();
        keys.sort();
        keys.dedup();
        assert_eq!(keys.len(), total, "duplicate keys");
    }
}
