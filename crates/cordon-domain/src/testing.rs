//! Mass testing (全员核酸) in domain terms: rounds, sampling sites, tube barcodes, pool
//! capacities, the tube state machine, results, exemptions, door-knock outcomes and the
//! Dorfman pool-size advisor.
//!
//! Owns the rules a tube and a sample obey; must never do IO or read the clock (times come
//! in as arguments) and never hard-code policy numbers: the barcode pattern and the pool
//! capacity are values handed in (a policy profile's, once one exists).

use crate::area::AreaCode;
use crate::error::FieldError;
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use std::fmt;

/// A test round: everyone under `area` is to be sampled on `date`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TestRound {
    pub id: i64,
    pub area: AreaCode,
    pub date: NaiveDate,
    pub mandatory: bool,
    /// Capacity of a pooled tube opened in this round (a policy value, stored per round so
    /// that a later policy change does not rewrite history).
    pub pool: PoolCapacity,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewRound {
    pub area: AreaCode,
    pub date: NaiveDate,
    pub mandatory: bool,
    pub pool: PoolCapacity,
}

/// A sampling site (检测点) serving a set of areas.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SamplingSite {
    pub id: i64,
    pub name: String,
    pub address: String,
    /// Opening hours as posted, e.g. `07:00-11:30, 14:00-17:00`.
    pub hours: String,
    pub areas: Vec<AreaCode>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewSite {
    pub name: String,
    pub address: String,
    pub hours: String,
    pub areas: Vec<AreaCode>,
}

/// Longest proof of an exemption ([`ExemptionReason::check_proof`]).
pub const EXEMPTION_PROOF_MAX: usize = 500;

/// Longest site name and opening hours; longest address; most areas one site serves.
pub const SITE_NAME_MAX: usize = 80;
pub const SITE_ADDRESS_MAX: usize = 200;
pub const SITE_AREAS_MAX: usize = 100;

impl NewSite {
    pub fn check(&self) -> Result<(), FieldError> {
        if self.name.trim().is_empty() {
            return Err(FieldError::new("site_name_empty", "name", "请填写检测点名称", "the site needs a name"));
        }
        crate::security::bounded_text("name", &self.name, SITE_NAME_MAX)?;
        crate::security::bounded_text("address", &self.address, SITE_ADDRESS_MAX)?;
        crate::security::bounded_text("hours", &self.hours, SITE_NAME_MAX)?;
        if self.areas.len() > SITE_AREAS_MAX {
            return Err(FieldError::new(
                "site_areas_many",
                "areas",
                format!("检测点最多服务{SITE_AREAS_MAX}个区域"),
                format!("a site serves {SITE_AREAS_MAX} areas at most"),
            ));
        }
        if self.areas.is_empty() {
            return Err(FieldError::new(
                "site_areas_empty",
                "areas",
                "检测点至少服务一个区域",
                "a site must serve at least one area",
            ));
        }
        Ok(())
    }
}

// ---- barcodes -------------------------------------------------------------------------

/// The shape tube barcodes must have, as a template: `A` an uppercase ASCII letter, `9` a
/// digit, anything else itself. The default `AA9999999999` is two letters and ten digits.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BarcodePattern(String);

impl Default for BarcodePattern {
    fn default() -> Self {
        BarcodePattern("AA9999999999".into())
    }
}

impl BarcodePattern {
    pub fn new(template: &str) -> Result<BarcodePattern, FieldError> {
        let t = template.trim();
        if t.is_empty() || t.len() > 64 || !t.is_ascii() {
            return Err(FieldError::new(
                "barcode_pattern_invalid",
                "barcode_pattern",
                "条码规则无效（A表示字母，9表示数字，1至64个ASCII字符）",
                "invalid barcode pattern (A = letter, 9 = digit, 1 to 64 ASCII characters)",
            ));
        }
        Ok(BarcodePattern(t.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Trims, upper-cases and checks `input` against the pattern.
    pub fn parse(&self, input: &str) -> Result<TubeBarcode, FieldError> {
        let s = input.trim().to_ascii_uppercase();
        let ok = s.len() == self.0.len()
            && s.bytes().zip(self.0.bytes()).all(|(c, p)| match p {
                b'A' => c.is_ascii_uppercase(),
                b'9' => c.is_ascii_digit(),
                other => c == other,
            });
        if ok {
            Ok(TubeBarcode(s))
        } else {
            Err(FieldError::new(
                "barcode_invalid",
                "tube",
                format!("试管条码格式不正确，应为 {}（A为字母，9为数字）", self.0),
                format!("malformed tube barcode; expected {} (A = letter, 9 = digit)", self.0),
            ))
        }
    }

    /// Whether `input` looks like a barcode (the scan page uses it to tell tubes from people).
    pub fn matches(&self, input: &str) -> bool {
        self.parse(input).is_ok()
    }
}

/// A tube barcode that matched the configured pattern when it was parsed.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct TubeBarcode(String);

impl TubeBarcode {
    pub fn as_str(&self) -> &str {
        &self.0
    }
    /// For values read back from storage, which were checked on the way in.
    pub fn from_stored(s: String) -> TubeBarcode {
        TubeBarcode(s)
    }
}

impl fmt::Display for TubeBarcode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

// ---- pool capacity --------------------------------------------------------------------

/// How many people one tube holds: 1 (a single tube, for door-to-door and people under
/// control) up to [`PoolCapacity::LARGEST`]. Which capacities a district allows, and which
/// it uses when the sampler does not say, are its policy profile's
/// ([`crate::policy::Profile::pool_capacity`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "u32", into = "u32")]
pub struct PoolCapacity(u32);

impl PoolCapacity {
    pub const SINGLE: PoolCapacity = PoolCapacity(1);
    /// The most swabs one tube's medium takes: a bound of the material, not of policy.
    pub const LARGEST: u32 = 50;

    pub fn new(n: u32) -> Result<PoolCapacity, FieldError> {
        if (1..=Self::LARGEST).contains(&n) {
            Ok(PoolCapacity(n))
        } else {
            Err(FieldError::new(
                "pool_size_invalid",
                "pool_size",
                format!("混检容量应为 1 到 {} 之间（收到 {n}）", Self::LARGEST),
                format!("pool size must be between 1 and {} (got {n})", Self::LARGEST),
            ))
        }
    }

    pub fn get(self) -> u32 {
        self.0
    }

    pub fn is_single(self) -> bool {
        self.0 == 1
    }
}

impl TryFrom<u32> for PoolCapacity {
    type Error = FieldError;
    fn try_from(n: u32) -> Result<Self, FieldError> {
        PoolCapacity::new(n)
    }
}

impl From<PoolCapacity> for u32 {
    fn from(p: PoolCapacity) -> u32 {
        p.0
    }
}

// ---- tube state machine ---------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TubeState {
    Open,
    Sealed,
    Boxed,
    Received,
    Resulted,
}

impl TubeState {
    pub const ALL: [TubeState; 5] =
        [TubeState::Open, TubeState::Sealed, TubeState::Boxed, TubeState::Received, TubeState::Resulted];

    pub fn as_str(self) -> &'static str {
        match self {
            TubeState::Open => "open",
            TubeState::Sealed => "sealed",
            TubeState::Boxed => "boxed",
            TubeState::Received => "received",
            TubeState::Resulted => "resulted",
        }
    }

    pub fn parse(s: &str) -> Option<TubeState> {
        TubeState::ALL.into_iter().find(|t| t.as_str() == s)
    }

    pub fn zh(self) -> &'static str {
        match self {
            TubeState::Open => "采样中",
            TubeState::Sealed => "已封管",
            TubeState::Boxed => "已装箱",
            TubeState::Received => "实验室已接收",
            TubeState::Resulted => "已出结果",
        }
    }

    pub fn en(self) -> &'static str {
        match self {
            TubeState::Open => "open",
            TubeState::Sealed => "sealed",
            TubeState::Boxed => "boxed",
            TubeState::Received => "received by the lab",
            TubeState::Resulted => "resulted",
        }
    }
}

/// What can happen to a tube.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TubeEvent {
    /// A person's sample goes in.
    AddSample,
    /// The last sample is taken out again (undo).
    RemoveSample,
    Seal,
    PutInBox,
    Receive,
    RecordResult,
}

impl TubeEvent {
    pub const ALL: [TubeEvent; 6] = [
        TubeEvent::AddSample,
        TubeEvent::RemoveSample,
        TubeEvent::Seal,
        TubeEvent::PutInBox,
        TubeEvent::Receive,
        TubeEvent::RecordResult,
    ];

    fn zh(self) -> &'static str {
        match self {
            TubeEvent::AddSample => "加样",
            TubeEvent::RemoveSample => "撤销采样",
            TubeEvent::Seal => "封管",
            TubeEvent::PutInBox => "装箱",
            TubeEvent::Receive => "接收",
            TubeEvent::RecordResult => "录入结果",
        }
    }

    fn en(self) -> &'static str {
        match self {
            TubeEvent::AddSample => "add a sample",
            TubeEvent::RemoveSample => "undo a sample",
            TubeEvent::Seal => "seal",
            TubeEvent::PutInBox => "box",
            TubeEvent::Receive => "receive",
            TubeEvent::RecordResult => "record a result",
        }
    }
}

/// The one transition function of a tube: open → sealed → boxed → received → resulted.
/// Samples go in and out only while open; the lab may receive a sealed tube that was
/// carried by hand (no box). Everything else is refused with a stable code.
pub fn transition(state: TubeState, event: TubeEvent) -> Result<TubeState, FieldError> {
    use TubeEvent as E;
    use TubeState as S;
    let next = match (state, event) {
        (S::Open, E::AddSample | E::RemoveSample) => Some(S::Open),
        (S::Open, E::Seal) => Some(S::Sealed),
        (S::Sealed, E::PutInBox) => Some(S::Boxed),
        (S::Sealed | S::Boxed, E::Receive) => Some(S::Received),
        (S::Received, E::RecordResult) => Some(S::Resulted),
        _ => None,
    };
    next.ok_or_else(|| {
        let code = match (state, event) {
            (_, E::AddSample) => Refusal::TubeNotOpen,
            (S::Resulted, E::RecordResult) => Refusal::ResultExists,
            (_, E::RecordResult) => Refusal::TubeNotReceived,
            _ => Refusal::TubeState,
        };
        FieldError::new(
            code.code(),
            "tube",
            format!("试管当前状态为“{}”，不能{}", state.zh(), event.zh()),
            format!("the tube is {}; cannot {}", state.en(), event.en()),
        )
    })
}

// ---- results --------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TestResult {
    Negative,
    Positive,
    Invalid,
}

impl TestResult {
    pub const ALL: [TestResult; 3] = [TestResult::Negative, TestResult::Positive, TestResult::Invalid];

    pub fn as_str(self) -> &'static str {
        match self {
            TestResult::Negative => "negative",
            TestResult::Positive => "positive",
            TestResult::Invalid => "invalid",
        }
    }

    pub fn zh(self) -> &'static str {
        match self {
            TestResult::Negative => "阴性",
            TestResult::Positive => "阳性",
            TestResult::Invalid => "无效",
        }
    }

    /// Accepts the English code or the Chinese word (as lab files write it).
    pub fn parse(input: &str) -> Result<TestResult, FieldError> {
        let s = input.trim().to_ascii_lowercase();
        match s.as_str() {
            "negative" | "neg" | "阴性" | "-" => Ok(TestResult::Negative),
            "positive" | "pos" | "阳性" | "+" => Ok(TestResult::Positive),
            "invalid" | "无效" => Ok(TestResult::Invalid),
            _ => Err(FieldError::new(
                "result_invalid",
                "result",
                format!("检测结果只能是 阴性/阳性/无效（收到“{}”）", input.trim()),
                format!("result must be negative, positive or invalid (got \"{}\")", input.trim()),
            )),
        }
    }
}

/// A Ct (cycle threshold) value, when the lab gives one: 0 < Ct ≤ 50.
pub fn parse_ct(input: &str) -> Result<Option<f64>, FieldError> {
    let s = input.trim();
    if s.is_empty() {
        return Ok(None);
    }
    match s.parse::<f64>() {
        Ok(v) if v > 0.0 && v <= 50.0 => Ok(Some(v)),
        _ => Err(FieldError::new(
            "ct_invalid",
            "ct",
            format!("Ct值应为0到50之间的数字（收到“{s}”）"),
            format!("Ct must be a number above 0 and at most 50 (got \"{s}\")"),
        )),
    }
}

// ---- exemptions, door-knocking ---------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExemptionReason {
    InQuarantine,
    Hospitalised,
    AwayWithProof,
    Deceased,
}

impl ExemptionReason {
    pub const ALL: [ExemptionReason; 4] = [
        ExemptionReason::InQuarantine,
        ExemptionReason::Hospitalised,
        ExemptionReason::AwayWithProof,
        ExemptionReason::Deceased,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ExemptionReason::InQuarantine => "in_quarantine",
            ExemptionReason::Hospitalised => "hospitalised",
            ExemptionReason::AwayWithProof => "away_with_proof",
            ExemptionReason::Deceased => "deceased",
        }
    }

    pub fn zh(self) -> &'static str {
        match self {
            ExemptionReason::InQuarantine => "集中隔离中",
            ExemptionReason::Hospitalised => "住院",
            ExemptionReason::AwayWithProof => "外出（有证明）",
            ExemptionReason::Deceased => "已故",
        }
    }

    pub fn en(self) -> &'static str {
        match self {
            ExemptionReason::InQuarantine => "in quarantine",
            ExemptionReason::Hospitalised => "hospitalised",
            ExemptionReason::AwayWithProof => "away, with proof",
            ExemptionReason::Deceased => "deceased",
        }
    }

    /// The proof an exemption rests on (the hospital or quarantine site, a certificate's
    /// number, who vouched): required for every reason — an exemption takes a person off
    /// the missed list, so whoever records it, a volunteer included, says on what
    /// grounds — plain text of 4 to [`EXEMPTION_PROOF_MAX`] characters.
    pub fn check_proof(self, proof: &str) -> Result<String, FieldError> {
        let p = crate::security::bounded_text("proof", proof, EXEMPTION_PROOF_MAX)?;
        if p.chars().count() < 4 {
            return Err(FieldError::new(
                "exemption_proof",
                "proof",
                format!("“{}”须写明证明（如医院、隔离点或证明编号）", self.zh()),
                format!("“{}” needs its proof (the hospital, the quarantine site or a certificate number)", self.en()),
            ));
        }
        Ok(p)
    }

    pub fn parse(s: &str) -> Result<ExemptionReason, FieldError> {
        ExemptionReason::ALL.into_iter().find(|r| r.as_str() == s.trim()).ok_or_else(|| {
            FieldError::new(
                "exemption_reason",
                "reason",
                format!("未知的免检原因：{s}"),
                format!("unknown exemption reason: {s}"),
            )
        })
    }
}

/// What a door knock (敲门行动) found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DoorOutcome {
    /// The household's missing members swabbed at the door, each into a single tube whose
    /// barcode the worker records with the outcome.
    SampledAtDoor,
    NotHome,
    /// Becomes an exemption of the household's missing members.
    AwayWithProof,
    /// Becomes an enforcement record.
    Refused,
    /// The roster is wrong: the correction of a member (moved out, phone, flags…) is
    /// recorded with the outcome.
    WrongData,
}

impl DoorOutcome {
    pub const ALL: [DoorOutcome; 5] = [
        DoorOutcome::SampledAtDoor,
        DoorOutcome::NotHome,
        DoorOutcome::AwayWithProof,
        DoorOutcome::Refused,
        DoorOutcome::WrongData,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            DoorOutcome::SampledAtDoor => "sampled_at_door",
            DoorOutcome::NotHome => "not_home",
            DoorOutcome::AwayWithProof => "away_with_proof",
            DoorOutcome::Refused => "refused",
            DoorOutcome::WrongData => "wrong_data",
        }
    }

    pub fn zh(self) -> &'static str {
        match self {
            DoorOutcome::SampledAtDoor => "已上门采样",
            DoorOutcome::NotHome => "无人在家",
            DoorOutcome::AwayWithProof => "外出（有证明）",
            DoorOutcome::Refused => "拒绝采样",
            DoorOutcome::WrongData => "信息有误",
        }
    }

    pub fn en(self) -> &'static str {
        match self {
            DoorOutcome::SampledAtDoor => "sampled at the door",
            DoorOutcome::NotHome => "not at home",
            DoorOutcome::AwayWithProof => "away, with proof",
            DoorOutcome::Refused => "refused",
            DoorOutcome::WrongData => "wrong data",
        }
    }

    pub fn parse(s: &str) -> Result<DoorOutcome, FieldError> {
        DoorOutcome::ALL.into_iter().find(|r| r.as_str() == s.trim()).ok_or_else(|| {
            FieldError::new(
                "door_outcome",
                "outcome",
                format!("未知的敲门结果：{s}"),
                format!("unknown door-knock outcome: {s}"),
            )
        })
    }

    /// An away-with-proof outcome needs the proof described.
    pub fn check_note(self, note: &str) -> Result<(), FieldError> {
        if self == DoorOutcome::AwayWithProof && note.trim().is_empty() {
            return Err(FieldError::new(
                "proof_missing",
                "note",
                "外出须注明证明材料",
                "describe the proof of absence",
            ));
        }
        Ok(())
    }
}

// ---- Dorfman pool-size advisor -------------------------------------------------------------

/// Expected tests per person with two-stage Dorfman pooling of `k` at prevalence `p`:
/// E(k) = 1/k + 1 − (1−p)^k. Single tubes (k = 1) cost exactly one test each, so E(1) = 1
/// (the formula's retest term does not apply when there is nothing to split).
pub fn expected_tests_per_person(p: f64, k: u32) -> f64 {
    if k <= 1 {
        return 1.0;
    }
    let p = p.clamp(0.0, 1.0);
    1.0 / f64::from(k) + 1.0 - (1.0 - p).powi(k as i32)
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PoolOption {
    pub k: u32,
    pub tests_per_person: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PoolAdvice {
    /// Observed positive rate the advice is for.
    pub p: f64,
    pub options: Vec<PoolOption>,
    /// The capacity with the fewest expected tests per person (the smaller on a tie).
    pub best: u32,
}

/// E(k) for every allowed capacity (`sizes`: the profile's pool sizes) and the best one
/// at prevalence `p`.
pub fn advise_pool_size(p: f64, sizes: &[u32]) -> PoolAdvice {
    let options: Vec<PoolOption> =
        sizes.iter().map(|&k| PoolOption { k, tests_per_person: expected_tests_per_person(p, k) }).collect();
    let mut best = PoolOption { k: 1, tests_per_person: 1.0 };
    for o in &options {
        if o.tests_per_person < best.tests_per_person - 1e-12 {
            best = o.clone();
        }
    }
    PoolAdvice { p: p.clamp(0.0, 1.0), options, best: best.k }
}

/// Why a scan, a receipt, a result or a door-knock outcome was refused: a closed set, so
/// an unknown code cannot compile. Each carries its stable code, the field it is about
/// and its message in both languages; planners, both backends and the web layer use
/// these, so a device sees the same message whatever serves it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Refusal {
    AlreadySampled,
    NotResident,
    TubeFull,
    TubeNotOpen,
    TubeOtherRound,
    NeedsSingleTube,
    TubeUnknown,
    TubeNotReceived,
    ResultExists,
    TubeEmpty,
    NotInTube,
    BoxUnknown,
    RoundUnknown,
    OutOfRound,
    SampledAlready,
    TubeUsed,
    NotInHousehold,
    NotMissing,
    MemberTwice,
    DoorNoSamples,
    MemberMissing,
    /// A pool-positive member re-sampled already, into another single tube.
    AlreadyResampled,
    /// A pool-positive member scanned into a pooled tube: a re-sample takes a single tube.
    ResampleSingleTube,
    /// A tube event its state does not allow (see [`transition`], which words it).
    TubeState,
}

impl Refusal {
    pub const ALL: [Refusal; 24] = [
        Refusal::AlreadySampled,
        Refusal::NotResident,
        Refusal::TubeFull,
        Refusal::TubeNotOpen,
        Refusal::TubeOtherRound,
        Refusal::NeedsSingleTube,
        Refusal::TubeUnknown,
        Refusal::TubeNotReceived,
        Refusal::ResultExists,
        Refusal::TubeEmpty,
        Refusal::NotInTube,
        Refusal::BoxUnknown,
        Refusal::RoundUnknown,
        Refusal::OutOfRound,
        Refusal::SampledAlready,
        Refusal::TubeUsed,
        Refusal::NotInHousehold,
        Refusal::NotMissing,
        Refusal::MemberTwice,
        Refusal::DoorNoSamples,
        Refusal::MemberMissing,
        Refusal::AlreadyResampled,
        Refusal::ResampleSingleTube,
        Refusal::TubeState,
    ];

    /// (stable code, field, zh, en).
    fn parts(self) -> (&'static str, &'static str, &'static str, &'static str) {
        use Refusal as R;
        match self {
            R::AlreadySampled => (
                "already_sampled",
                "person",
                "本轮已采样，不能重复采样",
                "already sampled in this round; no second sample",
            ),
            R::NotResident => (
                "not_resident",
                "person",
                "不是本采样点登记的居民，请按临时人员登记（身份证号和手机号）",
                "not a resident registered for this site; record as a visitor (ID number and phone)",
            ),
            R::TubeFull => {
                ("tube_full", "tube", "试管已满，请封管并换新管", "the tube is full; seal it and take a new one")
            }
            R::TubeNotOpen => {
                ("tube_not_open", "tube", "试管已封管，不能再加样", "the tube is sealed; no more samples")
            }
            R::TubeOtherRound => {
                ("tube_other_round", "tube", "该试管属于其他轮次", "this tube belongs to another round")
            }
            R::NeedsSingleTube => (
                "needs_single_tube",
                "person",
                "此人处于管控中，须单人单管采样",
                "this person is under control and needs a single tube",
            ),
            R::TubeUnknown => ("tube_unknown", "tube", "未找到该试管", "no such tube"),
            R::TubeNotReceived => {
                ("tube_not_received", "tube", "试管尚未被实验室接收", "the tube has not been received by the lab")
            }
            R::ResultExists => ("result_exists", "tube", "该试管已有检测结果", "this tube already has a result"),
            R::TubeEmpty => ("tube_empty", "tube", "试管中没有样本", "the tube holds no samples"),
            R::NotInTube => ("not_in_tube", "person", "此人不在该试管中", "this person is not in that tube"),
            R::BoxUnknown => ("box_unknown", "box", "未找到该转运箱", "no such transport box"),
            R::RoundUnknown => ("round_unknown", "round", "未找到该检测轮次", "no such test round"),
            R::OutOfRound => {
                ("out_of_round", "person", "此人不在本轮检测范围内", "this person is outside the round's area")
            }
            R::SampledAlready => (
                "sampled_already",
                "person",
                "此人本轮已采样，无需免检",
                "already sampled in this round; no exemption needed",
            ),
            R::TubeUsed => (
                "tube_used",
                "tube",
                "该试管条码已使用，请换一支新管",
                "this tube barcode is already in use; take a new tube",
            ),
            R::NotInHousehold => ("not_in_household", "member", "此人不是该户成员", "not a member of this household"),
            R::NotMissing => (
                "not_missing",
                "member",
                "此人本轮不在未采样名单中（已免检或已不在册）",
                "not on this round's missed list (exempt, or no longer registered here)",
            ),
            R::MemberTwice => ("member_twice", "member", "同一成员填写了两次", "the same member is given twice"),
            R::DoorNoSamples => (
                "door_no_samples",
                "tube",
                "请至少为一名已采样的成员填写试管条码",
                "enter a tube barcode for at least one member swabbed",
            ),
            R::MemberMissing => {
                ("member_missing", "member", "请选择信息有误的成员", "choose the member whose data is wrong")
            }
            R::AlreadyResampled => (
                "already_resampled",
                "person",
                "此人已单管复采，等待结果，无需再采",
                "already re-sampled into a single tube; awaiting its result",
            ),
            R::ResampleSingleTube => (
                "resample_single_tube",
                "person",
                "此人为混阳待复核人员，须单管复采（单采单检）：请换单管后再扫",
                "this person awaits an individual re-test after a positive pool: re-sample into a single tube",
            ),
            R::TubeState => ("tube_state", "tube", "试管当前状态不允许此操作", "the tube's state does not allow this"),
        }
    }

    pub fn code(self) -> &'static str {
        self.parts().0
    }
    pub fn field(self) -> &'static str {
        self.parts().1
    }
    pub fn zh(self) -> &'static str {
        self.parts().2
    }
    pub fn en(self) -> &'static str {
        self.parts().3
    }

    /// The refusal as the error every layer reports.
    pub fn error(self) -> FieldError {
        let (code, field, zh, en) = self.parts();
        FieldError::new(code, field, zh, en)
    }

    pub fn from_code(code: &str) -> Option<Refusal> {
        Refusal::ALL.into_iter().find(|r| r.code() == code)
    }
}

impl From<Refusal> for FieldError {
    fn from(r: Refusal) -> FieldError {
        r.error()
    }
}

/// One mandatory round that covered a person: its date and whether the person was
/// sampled or exempted in it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoundAttendance {
    pub date: NaiveDate,
    pub sampled: bool,
    pub exempt: bool,
}

/// What the colour engine needs from a person's mandatory rounds, `history` newest first:
/// how many consecutive rounds were missed up to `today`, and whether the latest round
/// counted was an exemption. Today's round counts only once the person has attended it —
/// not being sampled yet is not missing while the day lasts; a round in the future never
/// counts.
pub fn missed_rounds(history: &[RoundAttendance], today: NaiveDate) -> (u32, bool) {
    let mut missed = 0;
    let mut exempt = None;
    for r in history.iter().filter(|r| r.date <= today) {
        let attended = r.sampled || r.exempt;
        if r.date == today && !attended {
            continue;
        }
        exempt.get_or_insert(r.exempt && !r.sampled);
        if attended {
            break;
        }
        missed += 1;
    }
    (missed, exempt.unwrap_or(false))
}

/// Whether `who` may be given a door-knock task in `unit`: the door-knockers who take
/// tasks (a grid worker or a volunteer) whose area holds the unit. Staff above them assign
/// the work; they are not assigned it.
pub fn door_assignee(who: &crate::authz::Principal, unit: &AreaCode) -> Result<(), FieldError> {
    let knocker = matches!(who.role, crate::role::Role::GridWorker | crate::role::Role::Volunteer);
    if !knocker {
        return Err(FieldError::new(
            "assignee_role",
            "assignee",
            "只能指派给网格员或志愿者",
            "tasks are assigned to a grid worker or a volunteer",
        ));
    }
    if crate::authz::authorize(who, crate::authz::Action::DoorKnock, Some(unit)).is_err() {
        return Err(FieldError::new(
            "assignee_scope",
            "assignee",
            "该人员的负责范围不包括这户",
            "this household is outside the assignee's area",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {

    #[test]
    fn door_tasks_go_to_knockers_of_the_area() {
        let unit = AreaCode::parse("14110200100100100102").unwrap();
        let who = |role, root: &str| crate::authz::Principal {
            user_id: 1,
            username: "u".into(),
            role,
            roots: vec![AreaCode::parse(root).unwrap()],
            scope_label: String::new(),
        };
        use crate::role::Role;
        assert!(door_assignee(&who(Role::Volunteer, "141102001001"), &unit).is_ok());
        assert!(door_assignee(&who(Role::GridWorker, "141102001001001001"), &unit).is_ok());
        assert_eq!(door_assignee(&who(Role::Volunteer, "141102001002"), &unit).unwrap_err().code, "assignee_scope");
        assert_eq!(
            door_assignee(&who(Role::CommunityWorker, "141102001001"), &unit).unwrap_err().code,
            "assignee_role"
        );
    }
    use super::*;

    const SIZES: &[u32] = &[1, 5, 10, 20];

    #[test]
    fn barcodes() {
        let p = BarcodePattern::default();
        assert_eq!(p.parse(" ab0123456789 ").unwrap().as_str(), "AB0123456789");
        for bad in ["", "AB012345678", "AB01234567890", "A10123456789", "ABC123456789", "AB01234567８9"] {
            let e = p.parse(bad).unwrap_err();
            assert_eq!(e.code, "barcode_invalid", "{bad}");
            assert!(e.zh.contains("AA9999999999") && e.en.contains("expected"));
        }
        let custom = BarcodePattern::new("T-99999").unwrap();
        assert!(custom.matches("t-12345"));
        assert!(!custom.matches("T12345"));
        assert!(BarcodePattern::new("").is_err());
    }

    #[test]
    fn pool_capacities() {
        for n in 0..60 {
            assert_eq!(PoolCapacity::new(n).is_ok(), (1..=50).contains(&n), "{n}");
        }
        assert_eq!(PoolCapacity::new(51).unwrap_err().code, "pool_size_invalid");
        assert_eq!(PoolCapacity::try_from(20).unwrap().get(), 20);
        assert!(PoolCapacity::try_from(0).is_err());
        // Which sizes a district uses is its profile's.
        let p = crate::policy::Profile::shipped("protocol-9").unwrap().unwrap();
        assert_eq!(p.pool_capacity(None).unwrap().get(), 10);
        assert_eq!(p.pool_capacity(Some(5)).unwrap().get(), 5);
        let e = p.pool_capacity(Some(7)).unwrap_err();
        assert_eq!((e.code, e.field), ("pool_size_invalid", "pool_size"));
        assert!(e.zh.contains("1、5、10、20") && e.en.contains("1, 5, 10, 20"), "{e:?}");
    }

    /// Every (state, event) pair against the literal table of legal moves.
    #[test]
    fn tube_state_machine_exhaustive() {
        use TubeEvent as E;
        use TubeState as S;
        let legal: &[(S, E, S)] = &[
            (S::Open, E::AddSample, S::Open),
            (S::Open, E::RemoveSample, S::Open),
            (S::Open, E::Seal, S::Sealed),
            (S::Sealed, E::PutInBox, S::Boxed),
            (S::Sealed, E::Receive, S::Received),
            (S::Boxed, E::Receive, S::Received),
            (S::Received, E::RecordResult, S::Resulted),
        ];
        let mut n = 0;
        for s in TubeState::ALL {
            for e in TubeEvent::ALL {
                n += 1;
                let expected = legal.iter().find(|(a, b, _)| *a == s && *b == e).map(|(_, _, c)| *c);
                match (transition(s, e), expected) {
                    (Ok(got), Some(want)) => assert_eq!(got, want, "{s:?} {e:?}"),
                    (Err(err), None) => {
                        assert!(!err.zh.is_empty() && !err.en.is_empty());
                        assert_eq!(err.field, "tube");
                    }
                    (got, want) => panic!("{s:?} + {e:?}: got {got:?}, want {want:?}"),
                }
            }
        }
        assert_eq!(n, 30);
        assert_eq!(transition(S::Sealed, E::AddSample).unwrap_err().code, "tube_not_open");
        assert_eq!(transition(S::Resulted, E::RecordResult).unwrap_err().code, "result_exists");
        assert_eq!(transition(S::Sealed, E::RecordResult).unwrap_err().code, "tube_not_received");
        for s in TubeState::ALL {
            assert_eq!(TubeState::parse(s.as_str()), Some(s));
        }
    }

    #[test]
    fn results_and_ct() {
        assert_eq!(TestResult::parse("阳性").unwrap(), TestResult::Positive);
        assert_eq!(TestResult::parse(" Negative ").unwrap(), TestResult::Negative);
        assert_eq!(TestResult::parse("无效").unwrap(), TestResult::Invalid);
        assert_eq!(TestResult::parse("maybe").unwrap_err().code, "result_invalid");
        assert_eq!(parse_ct("").unwrap(), None);
        assert_eq!(parse_ct("31.5").unwrap(), Some(31.5));
        assert_eq!(parse_ct("0").unwrap_err().code, "ct_invalid");
        assert_eq!(parse_ct("abc").unwrap_err().code, "ct_invalid");
        assert!(parse_ct("51").is_err());
    }

    #[test]
    fn reasons_and_outcomes_round_trip() {
        for r in ExemptionReason::ALL {
            assert_eq!(ExemptionReason::parse(r.as_str()).unwrap(), r);
            assert_eq!(r.check_proof("").unwrap_err().code, "exemption_proof", "{r:?} needs proof");
            assert_eq!(r.check_proof("  ok ").unwrap_err().code, "exemption_proof");
            assert_eq!(r.check_proof("市一院住院部 2026-118").unwrap(), "市一院住院部 2026-118");
            assert_eq!(r.check_proof(&"证".repeat(501)).unwrap_err().code, "text_too_long");
        }
        for o in DoorOutcome::ALL {
            assert_eq!(DoorOutcome::parse(o.as_str()).unwrap(), o);
        }
        assert!(DoorOutcome::AwayWithProof.check_note(" ").is_err());
        assert!(DoorOutcome::NotHome.check_note("").is_ok());
    }

    #[test]
    fn door_refusals_name_their_field() {
        for (r, field) in [
            (Refusal::TubeUsed, "tube"),
            (Refusal::TubeOtherRound, "tube"),
            (Refusal::DoorNoSamples, "tube"),
            (Refusal::AlreadySampled, "person"),
            (Refusal::NotInHousehold, "member"),
            (Refusal::NotMissing, "member"),
            (Refusal::MemberTwice, "member"),
            (Refusal::MemberMissing, "member"),
        ] {
            let e = r.error();
            assert_eq!((e.code, e.field), (r.code(), field));
        }
    }

    #[test]
    fn refusal_codes_are_unique_and_worded() {
        let mut seen = std::collections::HashSet::new();
        for r in Refusal::ALL {
            assert!(seen.insert(r.code()), "{} twice", r.code());
            assert!(!r.zh().is_empty() && !r.en().is_empty() && !r.field().is_empty(), "{r:?}");
            assert_eq!(Refusal::from_code(r.code()), Some(r));
            // The serde name is the stable code.
            assert_eq!(serde_json::to_value(r).unwrap(), serde_json::json!(r.code()));
        }
    }

    #[test]
    fn dorfman_known_values() {
        // p = 1%: E(10) = 0.1 + 1 - 0.99^10 ≈ 0.1956; E(5) ≈ 0.249; E(20) ≈ 0.2321.
        let a = advise_pool_size(0.01, SIZES);
        let e = |k| a.options.iter().find(|o| o.k == k).unwrap().tests_per_person;
        assert!((e(10) - 0.195_618).abs() < 1e-5, "{}", e(10));
        assert!((e(5) - 0.249_01).abs() < 1e-4);
        assert!((e(20) - 0.232_093).abs() < 1e-5);
        assert_eq!(e(1), 1.0);
        assert_eq!(a.best, 10);
        // Very low prevalence favours the biggest pools; high prevalence single tubes.
        assert_eq!(advise_pool_size(0.0001, SIZES).best, 20);
        assert_eq!(advise_pool_size(0.05, SIZES).best, 5);
        assert_eq!(advise_pool_size(0.4, SIZES).best, 1);
    }

    proptest::proptest! {
        /// The advice is the minimum over the allowed capacities, and E(k) is within
        /// [1/k, 1/k + 1].
        #[test]
        fn dorfman_best_is_minimum(p in 0.0f64..1.0) {
            let a = advise_pool_size(p, SIZES);
            let best = a.options.iter().find(|o| o.k == a.best).unwrap().tests_per_person;
            for o in &a.options {
                proptest::prop_assert!(best <= o.tests_per_person + 1e-12);
                if o.k > 1 {
                    let lo = 1.0 / f64::from(o.k);
                    proptest::prop_assert!(o.tests_per_person >= lo - 1e-12 && o.tests_per_person <= lo + 1.0 + 1e-12);
                }
            }
        }
    }

    #[test]
    fn missed_rounds_count_consecutive_misses_up_to_today() {
        let d = |day| NaiveDate::from_ymd_opt(2026, 4, day).unwrap();
        let r = |day, sampled, exempt| RoundAttendance { date: d(day), sampled, exempt };
        let today = d(10);
        assert_eq!(missed_rounds(&[], today), (0, false));
        // Today's round not attended yet: not missed; yesterday's missed.
        assert_eq!(missed_rounds(&[r(10, false, false), r(9, false, false), r(8, true, false)], today), (1, false));
        // Sampled today: whatever came before no longer counts.
        assert_eq!(missed_rounds(&[r(10, true, false), r(9, false, false)], today), (0, false));
        // Two misses in a row, then a sample.
        assert_eq!(missed_rounds(&[r(9, false, false), r(8, false, false), r(7, true, false)], today), (2, false));
        // An exemption is attendance, and reported.
        assert_eq!(missed_rounds(&[r(9, false, true), r(8, false, false)], today), (0, true));
        // Future rounds are ignored.
        assert_eq!(missed_rounds(&[r(12, false, false), r(9, true, false)], today), (0, false));
    }
}
