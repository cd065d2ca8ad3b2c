//! The column layout shared by import and export: one list, so that what export writes
//! is exactly what import reads.

/// A column of the resident sheet, in the order export writes them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum Col {
    Name,
    IdNumber,
    Phone,
    Street,
    Community,
    Compound,
    Building,
    Unit,
    Room,
    UnitCode,
    Bedridden,
    NoSmartphone,
    Temporary,
}

pub(crate) const NCOLS: usize = 13;

impl Col {
    pub(crate) const ALL: [Col; NCOLS] = [
        Col::Name,
        Col::IdNumber,
        Col::Phone,
        Col::Street,
        Col::Community,
        Col::Compound,
        Col::Building,
        Col::Unit,
        Col::Room,
        Col::UnitCode,
        Col::Bedridden,
        Col::NoSmartphone,
        Col::Temporary,
    ];

    pub(crate) fn idx(self) -> usize {
        self as usize
    }

    /// The header export writes, and the first one import looks for.
    pub(crate) fn zh(self) -> &'static str {
        match self {
            Col::Name => "姓名",
            Col::IdNumber => "身份证号",
            Col::Phone => "手机号",
            Col::Street => "街道",
            Col::Community => "社区",
            Col::Compound => "小区",
            Col::Building => "楼栋",
            Col::Unit => "单元",
            Col::Room => "房号",
            Col::UnitCode => "单元编码",
            Col::Bedridden => "卧床",
            Col::NoSmartphone => "无智能手机",
            Col::Temporary => "临时居住",
        }
    }

    /// The English header, accepted on import (`id_number`, `ID Number`, `id-number`).
    pub(crate) fn en(self) -> &'static str {
        match self {
            Col::Name => "name",
            Col::IdNumber => "id_number",
            Col::Phone => "phone",
            Col::Street => "street",
            Col::Community => "community",
            Col::Compound => "compound",
            Col::Building => "building",
            Col::Unit => "unit",
            Col::Room => "room",
            Col::UnitCode => "unit_code",
            Col::Bedridden => "bedridden",
            Col::NoSmartphone => "no_smartphone",
            Col::Temporary => "temporary",
        }
    }

    /// Other headers seen in the registers communities keep by hand.
    fn aliases(self) -> &'static [&'static str] {
        match self {
            Col::Name => &["名字"],
            Col::IdNumber => &["身份证号码", "公民身份号码", "身份证", "证件号码", "idnumber", "idno"],
            Col::Phone => &["手机号码", "手机", "联系电话", "电话", "mobile"],
            Col::Street => &["街道乡镇", "乡镇", "街道办"],
            Col::Community => &["社区村", "村", "社区名称"],
            Col::Compound => &["小区名称"],
            Col::Building => &["楼号", "楼栋号", "栋"],
            Col::Unit => &["单元号"],
            Col::Room => &["房间号", "门牌号", "室"],
            Col::UnitCode => &[],
            Col::Bedridden => &["是否卧床"],
            Col::NoSmartphone => &["是否无智能手机"],
            Col::Temporary => &["是否临时居住", "临时居住探亲", "临时"],
        }
    }

    /// The column a header names: case, spaces, `_`/`-`, a `*` required-marker and a
    /// parenthesised note (`手机号（选填）`) do not matter.
    pub(crate) fn from_header(header: &str) -> Option<Col> {
        let key = header_key(header);
        if key.is_empty() {
            return None;
        }
        Col::ALL.into_iter().find(|c| {
            header_key(c.zh()) == key || header_key(c.en()) == key || c.aliases().iter().any(|a| header_key(a) == key)
        })
    }

    /// The column whose Chinese header is `zh` (to translate a [`crate::SheetError`]).
    pub(crate) fn from_zh(zh: &str) -> Option<Col> {
        Col::ALL.into_iter().find(|c| c.zh() == zh)
    }
}

fn header_key(s: &str) -> String {
    let s = s.split(['(', '（']).next().unwrap_or("");
    s.chars()
        .filter(|c| !c.is_whitespace() && !matches!(c, '_' | '-' | '*' | '/' | '、' | '＊'))
        .flat_map(char::to_lowercase)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_in_both_languages() {
        assert_eq!(Col::from_header("姓名"), Some(Col::Name));
        assert_eq!(Col::from_header(" 身份证号码 "), Some(Col::IdNumber));
        assert_eq!(Col::from_header("ID Number"), Some(Col::IdNumber));
        assert_eq!(Col::from_header("id-number"), Some(Col::IdNumber));
        assert_eq!(Col::from_header("*房号"), Some(Col::Room));
        assert_eq!(Col::from_header("手机号（选填）"), Some(Col::Phone));
        assert_eq!(Col::from_header("Unit Code"), Some(Col::UnitCode));
        assert_eq!(Col::from_header("UNIT"), Some(Col::Unit));
        assert_eq!(Col::from_header("No_Smartphone"), Some(Col::NoSmartphone));
        assert_eq!(Col::from_header("备注"), None);
        assert_eq!(Col::from_header(""), None);
        for c in Col::ALL {
            assert_eq!(Col::from_header(c.zh()), Some(c));
            assert_eq!(Col::from_header(c.en()), Some(c));
            assert_eq!(Col::ALL[c.idx()], c);
        }
    }
}
