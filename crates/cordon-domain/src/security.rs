//! The rules that keep hostile input out, as pure functions: how long a free-text field
//! may be and which characters it may hold ([`bounded_text`]), which passwords are too
//! common ([`password_acceptable`]), how far a device's clock is trusted
//! ([`device_time`]), and the login throttle ([`plan_login_attempt`]): a delay that
//! grows with the failures of an account and of a client address, never a lock-out
//! someone else can trigger. Every number is the policy profile's ([`SecurityRules`]).

use crate::error::FieldError;
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

/// Longest username (accounts are made by the CLI; a login form takes no more).
pub const USERNAME_MAX: usize = 64;
/// Longest password a login form takes (argon2 hashes whatever it is given: bound it).
pub const PASSWORD_MAX: usize = 256;
/// Shortest password an account may get.
pub const PASSWORD_MIN: usize = 10;

/// The numbers of [`plan_login_attempt`] and [`device_time`], from the policy profile's
/// `[security]` table (a profile without one gets these defaults).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SecurityRules {
    /// Failures of one account that cost nothing.
    pub login_free_failures: u32,
    /// Failures of one client address that cost nothing (more: an office behind one
    /// address logs in many people at once, each attempt counted until it succeeds).
    pub login_client_free_failures: u32,
    /// The wait after the first failure beyond the free ones; it doubles with each more.
    pub login_first_delay_seconds: u32,
    /// The longest wait an account's failures impose (small: anyone can fail on purpose
    /// for someone else's username, so the account's wait stays a nuisance, not a lock-out).
    pub login_account_max_delay_seconds: u32,
    /// The longest wait a client address's failures impose (the guesser's own address).
    pub login_client_max_delay_seconds: u32,
    /// Failures older than this are forgotten.
    pub login_window_minutes: u32,
    /// A device time further back than this is not believed (offline queues are
    /// replayed within hours); the time of receipt is recorded instead.
    pub device_time_max_age_hours: u32,
    /// A device time further ahead than this is not believed either.
    pub device_time_max_ahead_minutes: u32,
    /// A list a page polls (the missed list) is audited at its first read by a reader in
    /// each window this long, not at every poll.
    pub audit_read_window_minutes: u32,
}

impl Default for SecurityRules {
    fn default() -> Self {
        SecurityRules {
            login_free_failures: 3,
            login_client_free_failures: 20,
            login_first_delay_seconds: 2,
            login_account_max_delay_seconds: 30,
            login_client_max_delay_seconds: 900,
            login_window_minutes: 15,
            device_time_max_age_hours: 24,
            device_time_max_ahead_minutes: 5,
            audit_read_window_minutes: 15,
        }
    }
}

/// A character that reorders the text around it when displayed (bidirectional embedding,
/// override and isolate controls, and the invisible direction marks): a name holding one
/// can be shown as something else than it is.
pub fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{200E}' | '\u{200F}' | '\u{061C}')
}

/// Characters no name or free-text field may hold: control characters, bidirectional
/// controls, and the zero-width characters that make two names look alike.
pub fn is_forbidden_char(c: char) -> bool {
    c.is_control() || is_bidi_control(c) || matches!(c, '\u{200B}'..='\u{200D}' | '\u{2060}' | '\u{FEFF}')
}

/// A free-text field, trimmed: at most `max_chars` characters and none of
/// [`is_forbidden_char`]. An empty value passes (whether a field is required is its
/// form's business).
pub fn bounded_text(field: &'static str, input: &str, max_chars: usize) -> Result<String, FieldError> {
    let s = input.trim();
    if s.chars().count() > max_chars {
        return Err(FieldError::new(
            "text_too_long",
            field,
            format!("内容过长（最多{max_chars}字）"),
            format!("too long ({max_chars} characters at most)"),
        ));
    }
    if s.chars().any(is_forbidden_char) {
        return Err(FieldError::new(
            "text_chars",
            field,
            "含有不可见字符或控制字符",
            "contains invisible or control characters",
        ));
    }
    Ok(s.to_string())
}

/// Passwords people choose first and guessers try first (lower case; a password is
/// refused when, lower-cased, it is one of these or one of these with digits appended).
const COMMON_PASSWORDS: &[&str] = &[
    "123456",
    "1234567",
    "12345678",
    "123456789",
    "1234567890",
    "0123456789",
    "111111",
    "000000",
    "666666",
    "888888",
    "123123",
    "112233",
    "121212",
    "654321",
    "987654321",
    "password",
    "passw0rd",
    "p@ssw0rd",
    "password1",
    "qwerty",
    "qwertyuiop",
    "qwerty123",
    "asdfghjkl",
    "zxcvbnm",
    "1q2w3e4r",
    "1qaz2wsx",
    "abc123",
    "abcd1234",
    "a123456",
    "aa123456",
    "iloveyou",
    "woaini",
    "woaini1314",
    "5201314",
    "admin",
    "admin123",
    "administrator",
    "root",
    "welcome",
    "letmein",
    "changeme",
    "default",
    "test",
    "test123",
    "guest",
    "master",
    "monkey",
    "dragon",
    "sunshine",
    "princess",
    "football",
    "baseball",
    "superman",
    "shadow",
    "trustno1",
    "cordon",
    "cordon123",
    "huawei",
    "xiaomi",
    "qq123456",
    "wang123456",
    "zhang123456",
    "li123456",
];

/// Whether `password` may be an account's: long enough, not longer than a form takes,
/// not a common password (with or without digits after it), not digits only, not
/// containing the username.
pub fn password_acceptable(password: &str, username: &str) -> Result<(), FieldError> {
    let n = password.chars().count();
    if !(PASSWORD_MIN..=PASSWORD_MAX).contains(&n) {
        return Err(FieldError::new(
            "password_length",
            "password",
            format!("密码须为{PASSWORD_MIN}到{PASSWORD_MAX}个字符"),
            format!("a password needs {PASSWORD_MIN} to {PASSWORD_MAX} characters"),
        ));
    }
    let lower = password.to_lowercase();
    let stem = lower.trim_end_matches(|c: char| c.is_ascii_digit());
    let common = COMMON_PASSWORDS.iter().any(|p| *p == lower || (!stem.is_empty() && *p == stem));
    // One character repeated, or digits only (a birthday, a phone number).
    let first = lower.chars().next();
    let trivial = lower.chars().all(|c| Some(c) == first) || stem.is_empty();
    if common || trivial || (!username.is_empty() && lower.contains(&username.to_lowercase())) {
        return Err(FieldError::new(
            "password_common",
            "password",
            "密码过于常见或包含用户名，请换一个",
            "this password is too common or contains the username; choose another",
        ));
    }
    Ok(())
}

/// The time a device says something happened, as far as it is believed: within
/// `device_time_max_age_hours` back and `device_time_max_ahead_minutes` ahead of `now`
/// (a time a little ahead is recorded as `now`: nothing happened in the future).
/// Anything else — a clock reset to 1900, a clock a year ahead, no time at all — is
/// recorded as the time of receipt. Clamped, not refused: the swab or the scan did
/// happen, and refusing it would lose it; the receipt time is the closest true bound.
pub fn device_time(at: Option<DateTime<Utc>>, now: DateTime<Utc>, rules: &SecurityRules) -> DateTime<Utc> {
    let back = Duration::hours(i64::from(rules.device_time_max_age_hours));
    let ahead = Duration::minutes(i64::from(rules.device_time_max_ahead_minutes));
    match at {
        Some(t) if t <= now && now - t <= back => t,
        Some(t) if t > now && t - now <= ahead => now,
        _ => now,
    }
}

/// What the throttle remembers of one key (an account or a client address).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ThrottleState {
    /// Failures within the window (an attempt in progress counts as one until it succeeds).
    pub failures: u32,
    /// The last failure (or attempt).
    pub last_at: DateTime<Utc>,
    /// No attempt is taken before this.
    pub next_at: DateTime<Utc>,
}

/// Which key a throttle state belongs to: the account's wait is capped low, the client
/// address's high.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ThrottleKind {
    Account,
    Client,
}

/// The answer of the throttle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoginAttempt {
    /// The password may be checked (or, after a success, the keys were relieved).
    Go,
    /// Not before `until`; nothing changed.
    Wait { until: DateTime<Utc> },
}

/// What is asked of the throttle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ThrottleOp {
    /// An attempt is about to check a password ([`plan_login_attempt`]).
    Attempt,
    /// That attempt succeeded ([`plan_login_success`]).
    Success,
}

/// A throttle decision: the answer and, when something changes, the state to store for
/// each key in the order given (`None`: the key is forgotten).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThrottlePlan {
    pub answer: LoginAttempt,
    pub store: Option<Vec<Option<ThrottleState>>>,
}

/// The one entry the backends call inside their transaction.
pub fn plan_throttle(
    op: ThrottleOp,
    states: &[(ThrottleKind, Option<ThrottleState>)],
    now: DateTime<Utc>,
    rules: &SecurityRules,
) -> ThrottlePlan {
    match op {
        ThrottleOp::Attempt => plan_login_attempt(states, now, rules),
        ThrottleOp::Success => {
            ThrottlePlan { answer: LoginAttempt::Go, store: Some(plan_login_success(states, now, rules)) }
        }
    }
}

/// The wait after `failures` failures of a key of `kind`: nothing for the free ones, then
/// `login_first_delay_seconds`, doubling with each further failure, up to the kind's cap.
pub fn login_delay(failures: u32, kind: ThrottleKind, rules: &SecurityRules) -> Duration {
    let (free, cap) = match kind {
        ThrottleKind::Account => (rules.login_free_failures, rules.login_account_max_delay_seconds),
        ThrottleKind::Client => (rules.login_client_free_failures, rules.login_client_max_delay_seconds),
    };
    if failures <= free {
        return Duration::zero();
    }
    let doublings = (failures - free - 1).min(30);
    let secs = u64::from(rules.login_first_delay_seconds).saturating_mul(1u64 << doublings).min(u64::from(cap));
    Duration::seconds(i64::try_from(secs).unwrap_or(i64::MAX / 1000))
}

/// Decides a login attempt from the stored states of its keys (`None`: never failed), in
/// the order of `kinds`. Refused while any key's wait runs; otherwise every key is charged
/// one failure now (forgotten first when the last one is older than the window) and its
/// next wait set. The backends store the planned states in the transaction that read
/// them, so twenty concurrent attempts are decided one after the other.
pub fn plan_login_attempt(
    states: &[(ThrottleKind, Option<ThrottleState>)],
    now: DateTime<Utc>,
    rules: &SecurityRules,
) -> ThrottlePlan {
    let window = Duration::minutes(i64::from(rules.login_window_minutes));
    let live = |s: &Option<ThrottleState>| s.filter(|s| now - s.last_at <= window);
    // Only a key that was given a wait makes one wait (`next_at` after `last_at`): the
    // attempts of one moment carry slightly different clocks, and a free attempt's
    // `next_at` — its own `now` — must not hold up one that read the clock just before.
    let waits = states.iter().filter_map(|(_, s)| live(s)).filter(|s| s.next_at > s.last_at);
    if let Some(until) = waits.map(|s| s.next_at).filter(|t| *t > now).max() {
        return ThrottlePlan { answer: LoginAttempt::Wait { until }, store: None };
    }
    let next = states
        .iter()
        .map(|(kind, s)| {
            let failures = live(s).map_or(0, |s| s.failures).saturating_add(1);
            Some(ThrottleState { failures, last_at: now, next_at: now + login_delay(failures, *kind, rules) })
        })
        .collect();
    ThrottlePlan { answer: LoginAttempt::Go, store: Some(next) }
}

/// After a successful login: the account's failures are forgotten; the client address
/// only gets back the failure it was charged in advance (so logging in to one's own
/// account does not buy more guesses at others').
pub fn plan_login_success(
    states: &[(ThrottleKind, Option<ThrottleState>)],
    now: DateTime<Utc>,
    rules: &SecurityRules,
) -> Vec<Option<ThrottleState>> {
    let window = Duration::minutes(i64::from(rules.login_window_minutes));
    states
        .iter()
        .map(|(kind, s)| match (kind, s.filter(|s| now - s.last_at <= window)) {
            (ThrottleKind::Client, Some(s)) if s.failures > 1 => {
                let failures = s.failures - 1;
                Some(ThrottleState {
                    failures,
                    last_at: s.last_at,
                    next_at: s.last_at + login_delay(failures, *kind, rules),
                })
            }
            _ => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn t(s: i64) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 12, 1, 8, 0, 0).unwrap() + Duration::seconds(s)
    }

    #[test]
    fn text_is_bounded_and_plain() {
        assert_eq!(bounded_text("site", "  东区采样点 ", 10).unwrap(), "东区采样点");
        assert_eq!(bounded_text("site", &"长".repeat(11), 10).unwrap_err().code, "text_too_long");
        assert_eq!(bounded_text("site", "张\u{202E}三", 10).unwrap_err().code, "text_chars");
        assert_eq!(bounded_text("site", "张\u{2066}三", 10).unwrap_err().field, "site");
        assert_eq!(bounded_text("site", "a\nb", 10).unwrap_err().code, "text_chars");
        assert!(is_bidi_control('\u{200F}') && !is_bidi_control('张'));
    }

    #[test]
    fn common_passwords_are_refused() {
        for pw in ["password123", "12345678901", "Qwerty123456", "aaaaaaaaaaaa", "commander-pw-1", "woaini1314"] {
            assert!(password_acceptable(pw, "commander").is_err(), "{pw}");
        }
        assert_eq!(password_acceptable("short", "x").unwrap_err().code, "password_length");
        assert!(password_acceptable("cordon-commander", "commander").is_err(), "contains the username");
        assert!(password_acceptable("tall-river-lamp-42", "commander").is_ok());
        assert!(password_acceptable(&"x".repeat(PASSWORD_MAX + 1), "y").is_err());
    }

    #[test]
    fn device_times_are_clamped() {
        let r = SecurityRules::default();
        let now = t(0);
        assert_eq!(device_time(Some(t(-3600)), now, &r), t(-3600), "an hour back is believed");
        assert_eq!(device_time(Some(t(-25 * 3600)), now, &r), now, "more than a day back is not");
        let y1900 = Utc.with_ymd_and_hms(1900, 1, 1, 0, 0, 0).unwrap();
        assert_eq!(device_time(Some(y1900), now, &r), now);
        assert_eq!(device_time(Some(t(60)), now, &r), now, "a minute ahead is now");
        assert_eq!(device_time(Some(t(86_400 * 365)), now, &r), now, "a year ahead is now");
        assert_eq!(device_time(None, now, &r), now);
    }

    #[test]
    fn the_delay_grows_and_is_capped_by_kind() {
        let r = SecurityRules::default();
        let d = |n, k| login_delay(n, k, &r).num_seconds();
        assert_eq!((d(1, ThrottleKind::Account), d(3, ThrottleKind::Account)), (0, 0));
        assert_eq!((d(4, ThrottleKind::Account), d(5, ThrottleKind::Account), d(6, ThrottleKind::Account)), (2, 4, 8));
        assert_eq!(d(20, ThrottleKind::Account), 30, "an account's wait stays short");
        assert_eq!(d(20, ThrottleKind::Client), 0, "an office logs in many people at once");
        assert_eq!((d(21, ThrottleKind::Client), d(22, ThrottleKind::Client)), (2, 4));
        assert_eq!(d(40, ThrottleKind::Client), 900, "a guessing address waits long");
        assert_eq!(d(u32::MAX, ThrottleKind::Client), 900);
    }

    #[test]
    fn attempts_are_charged_in_advance_and_wait_while_a_delay_runs() {
        let r = SecurityRules::default();
        let kinds = [ThrottleKind::Account, ThrottleKind::Client];
        let mut states: Vec<Option<ThrottleState>> = vec![None, None];
        let mut went = 0;
        // Twenty attempts in the same second, decided one after the other.
        for _ in 0..20 {
            let input: Vec<_> = kinds.iter().copied().zip(states.iter().copied()).collect();
            let plan = plan_throttle(ThrottleOp::Attempt, &input, t(0), &r);
            match plan.answer {
                LoginAttempt::Go => {
                    went += 1;
                    states = plan.store.unwrap();
                }
                LoginAttempt::Wait { until } => assert!(until > t(0) && plan.store.is_none()),
            }
        }
        assert_eq!(went, r.login_free_failures + 1, "the free failures and one more, then a wait");
        // After the wait, one more goes and the wait doubles.
        let input: Vec<_> = kinds.iter().copied().zip(states.iter().copied()).collect();
        let plan = plan_login_attempt(&input, t(2), &r);
        assert_eq!(plan.answer, LoginAttempt::Go, "the wait is over");
        let next: Vec<ThrottleState> = plan.store.unwrap().into_iter().flatten().collect();
        assert_eq!(next[0].failures, 5);
        assert_eq!(next[0].next_at, t(2) + Duration::seconds(4));
        // A success forgets the account's failures; the address gets back one.
        let input: Vec<_> = kinds.iter().copied().zip(next.iter().copied().map(Some)).collect();
        let after = plan_login_success(&input, t(3), &r);
        assert_eq!(after[0], None);
        assert_eq!(after[1].map(|s| s.failures), Some(4));
        // Attempts of one moment read slightly different clocks: a free attempt decided
        // first with a later clock holds up nobody.
        let later = ThrottleState { failures: 1, last_at: t(1), next_at: t(1) };
        let input = [(ThrottleKind::Account, Some(later)), (ThrottleKind::Client, Some(later))];
        assert_eq!(plan_login_attempt(&input, t(0), &r).answer, LoginAttempt::Go);
        // Failures older than the window are forgotten.
        let fresh = plan_login_attempt(&input, t(16 * 60), &r).store.unwrap();
        assert_eq!(fresh[0].map(|s| s.failures), Some(1));
        // One key waiting is enough to wait.
        let waiting = ThrottleState { failures: 9, last_at: t(0), next_at: t(100) };
        assert_eq!(
            plan_login_attempt(&[(ThrottleKind::Account, None), (ThrottleKind::Client, Some(waiting))], t(1), &r)
                .answer,
            LoginAttempt::Wait { until: t(100) }
        );
    }
}
