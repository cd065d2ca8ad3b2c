//! The demo's zones on the clock and home quarantine, so the commander and the community
//! and grid workers log in to real work: a case whose proposed zones wait for the
//! commander's decision; zones at different days of their clock (counting, due and waiting
//! for the all-negative round, restarted by a case on day 4); people in home quarantine
//! with health checks and a door test due in the grid worker's grid and the community
//! worker's community. Everything goes through the store's ordinary writes; run once.

use anyhow::{Context, Result};
use chrono::{DateTime, Duration, Utc};
use cordon_domain::area::AreaCode;
use cordon_domain::audit::AuditEntry;
use cordon_domain::clock::DistrictTz;
use cordon_domain::colour::ContactClass;
use cordon_domain::containment::quarantine::{NewHealthCheck, Person, parse_temperature};
use cordon_domain::policy::Profile;
use cordon_domain::registry::{Resident, ResidentStatus};
use cordon_domain::testing::{BarcodePattern, NewRound, PoolCapacity, TestResult};
use cordon_domain::zone::{NewZone, ZoneLevel};
use cordon_store::Store;
use cordon_store::containment::{Act, IsolationCandidate, OrderRequest};
use cordon_store::testing::{NewResult, Receipt, ScanBatch, ScanItem, ScanPerson};
use std::sync::Arc;

fn entry(action: &str, at: DateTime<Utc>) -> AuditEntry {
    AuditEntry {
        at,
        actor_id: None,
        actor: "demo".into(),
        role: None,
        action: action.into(),
        target_kind: "demo".into(),
        target: "demo".into(),
        request_id: "demo".into(),
        detail: String::new(),
    }
}

fn act(profile: &Arc<Profile>, user: &str, action: &str, at: DateTime<Utc>) -> Act {
    Act {
        at,
        tz: DistrictTz::default(),
        user_id: None,
        user: user.into(),
        profile: profile.clone(),
        audit: entry(action, at),
    }
}

/// Makes `r` a case at `when`: sampled alone in a single tube in a round of their unit,
/// received and resulted positive by the lab, as mass testing does it. `serial` keeps the
/// tube barcodes apart.
pub async fn make_case(store: &dyn Store, r: &Resident, when: DateTime<Utc>, serial: u32) -> Result<()> {
    let tz = DistrictTz::default();
    let round = NewRound { area: r.unit.clone(), date: tz.today(when), mandatory: false, pool: PoolCapacity::new(1)? };
    let round = store.create_round(&round, &entry("round.create", when)).await?.id;
    let tube = BarcodePattern::default().parse(&format!("ZC{serial:010}")).map_err(|e| anyhow::anyhow!(e.en))?;
    let items = vec![
        ScanItem::Open { client_id: "o".into(), tube: tube.clone(), capacity: PoolCapacity::new(1)?, at: when },
        ScanItem::Sample { client_id: "s".into(), tube: tube.clone(), person: ScanPerson::ResidentId(r.id), at: when },
        ScanItem::Seal { client_id: "z".into(), tube: tube.clone(), at: when },
    ];
    let batch = ScanBatch { batch_id: format!("case-{serial}"), round_id: round, user_id: 0, scope: None, items };
    let rep = store.ingest_scans(batch, &entry("scans.ingest", when)).await?;
    anyhow::ensure!(rep.accepted == 1, "the case's sample was not taken");
    store
        .receive(&Receipt::Tube(tube.clone()), 0, when, &entry("lab.receive", when))
        .await?
        .map_err(|e| anyhow::anyhow!(e.en))?;
    let result = NewResult { row: 0, tube, result: TestResult::Positive, ct: None };
    let rep = store.record_results(&[result], 0, when, &entry("lab.results", when), &tz).await?;
    anyhow::ensure!(rep.committed, "the case's result was not recorded");
    Ok(())
}

/// Puts `people` in home quarantine as secondary contacts exposed at `exposure` (home
/// quarantine under protocol-9), ordered at `now`. Returns the order ids.
pub async fn home_orders(
    store: &dyn Store,
    profile: &Arc<Profile>,
    people: &[Resident],
    first_contact: i64,
    exposure: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<Vec<i64>> {
    let candidates: Vec<IsolationCandidate> = people
        .iter()
        .enumerate()
        .map(|(i, r)| IsolationCandidate {
            contact_id: first_contact + i as i64,
            person: Person {
                resident_id: Some(r.id),
                name: r.name.clone(),
                id_number: None,
                phone: r.phone.clone(),
                unit: Some(r.unit.clone()),
                address: String::new(),
                household_id: Some(r.household_id),
            },
            class: ContactClass::Secondary,
            last_exposure: exposure,
            identified_at: exposure + Duration::hours(3),
            deadline: exposure + Duration::hours(27),
        })
        .collect();
    let ids: Vec<i64> = candidates.iter().map(|c| c.contact_id).collect();
    store
        .enqueue_isolation(candidates, act(profile, "流调员", "contacts.enqueue", now))
        .await?
        .map_err(|r| anyhow::anyhow!(r.error.en))?;
    let requests = ids.into_iter().map(|contact_id| OrderRequest::Contact { contact_id }).collect();
    let orders = store
        .issue_orders(requests, act(profile, "指挥部", "orders.issue", now))
        .await?
        .map_err(|r| anyhow::anyhow!(r.error.en))?;
    Ok(orders.into_iter().map(|o| o.id).collect())
}

fn active_in(residents: &[Resident], area: &AreaCode) -> Vec<Resident> {
    residents.iter().filter(|r| r.status == ResidentStatus::Active && area.contains(&r.unit)).cloned().collect()
}

/// The last active resident of each of the last `n` households under `area` (the first
/// households stay as they are: other demo data and the browser tests use them).
fn last_households(residents: &[Resident], area: &AreaCode, n: usize) -> Vec<Resident> {
    let mut seen = std::collections::BTreeMap::new();
    for r in active_in(residents, area) {
        seen.insert(r.household_id, r);
    }
    seen.into_values().rev().take(n).collect()
}

/// Every building of the district, in code order.
async fn buildings_of(store: &dyn Store, district: &AreaCode) -> Result<Vec<AreaCode>> {
    let mut level = vec![district.clone()];
    while level.first().is_some_and(|c| c.level() < cordon_domain::area::AreaLevel::Building) {
        let mut next = Vec::new();
        for c in &level {
            next.extend(store.children(c).await?.into_iter().map(|s| s.area.code));
        }
        level = next;
    }
    Ok(level)
}

pub async fn seed(store: &dyn Store, district: &AreaCode) -> Result<()> {
    if !store.zone_history(std::slice::from_ref(district), 1).await?.is_empty()
        || !store.zone_proposals(std::slice::from_ref(district), false, 1).await?.is_empty()
    {
        return Ok(());
    }
    let now = Utc::now();
    let profile = Arc::new(
        Profile::shipped(cordon_domain::policy::DEFAULT_PROFILE)
            .context("no default profile")?
            .map_err(|e| anyhow::anyhow!("{e}"))?,
    );
    let street = store.children(district).await?.into_iter().next().context("no street")?.area.code;
    let community = store.children(&street).await?.into_iter().next().context("no community")?.area.code;
    let demo_compound = store.children(&community).await?.into_iter().next().context("no compound")?.area.code;
    // Zones away from the demo accounts' compound (the browser tests look at its people).
    let others: Vec<AreaCode> =
        buildings_of(store, district).await?.into_iter().filter(|b| !demo_compound.contains(b)).collect();
    let residents = store.residents_under(std::slice::from_ref(district)).await?;
    let with_people: Vec<&AreaCode> = others.iter().filter(|b| !active_in(&residents, b).is_empty()).collect();
    // A district too small to keep the zones off the buildings other demo data and the
    // browser tests use (their 800 residents live in four buildings) gets none.
    if with_people.len() < 6 {
        eprintln!("  (演示辖区太小，未生成风险区演示 / demo district too small for the zone demo: skipped)");
        return Ok(());
    }
    let (case_building, counting, reset) = (with_people[0], with_people[1], with_people[2]);

    // A case today: its building and compound are proposed, waiting for the commander.
    let case = active_in(&residents, case_building).into_iter().next().context("no resident for the case")?;
    make_case(store, &case, now - Duration::hours(2), 1).await?;
    // Zones at different days of their clock: a high zone on day 3 of 7; a medium zone
    // whose 7 days are done tomorrow, waiting for the all-negative round; a high zone
    // whose clock a case on its day 4 restarted.
    let zone = |area: &AreaCode, level, hours_ago: i64, reason: &str| {
        NewZone::new(area.clone(), level, reason, now - Duration::hours(hours_ago), "指挥部", now)
            .map_err(|e| anyhow::anyhow!(e.en))
    };
    let mut orders = vec![
        zone(counting, ZoneLevel::High, 3 * 24 + 2, "确诊病例居住楼栋")?,
        zone(reset, ZoneLevel::High, 7 * 24 + 2, "确诊病例居住楼栋")?,
    ];
    // The medium zone on a compound holding none of the other zones, the case, nor any
    // other case of the demo (the tracing demo's), which would restart its clock.
    let mut medium = None;
    for c in with_people[3..].iter().filter_map(|b| b.parent()) {
        if [case_building, counting, reset].iter().any(|b| c.contains(b)) {
            continue;
        }
        let mut has_case = false;
        for r in active_in(&residents, &c) {
            if store.case_of(r.id).await?.is_some() {
                has_case = true;
                break;
            }
        }
        if !has_case {
            medium = Some(c);
            break;
        }
    }
    if let Some(compound) = medium {
        orders.push(zone(&compound, ZoneLevel::Medium, 7 * 24, "病例活动轨迹涉及")?);
    }
    let designated = orders.len();
    for z in orders {
        let at = z.starts_at;
        store
            .order_zone(z, act(&profile, "指挥部", "zone.designate", at))
            .await?
            .map_err(|r| anyhow::anyhow!(r.error.en))?;
    }
    // A new infection on day 4 of the third zone restarts its clock.
    if let Some(r) = active_in(&residents, reset).into_iter().next() {
        make_case(store, &r, now - Duration::days(3), 2).await?;
    }
    store.sweep_cases(act(&profile, "zone-clock", "cases.sweep", now)).await?;
    // The proposals of the earlier case are already covered by its zone; the new case's
    // stay open for the commander.

    // Home quarantine in the grid worker's grid and the community worker's community.
    let grids = store.grids_under(&community).await?;
    let mut people = Vec::new();
    if let Some(grid) = grids.first() {
        for b in grid.buildings.iter().take(2) {
            people.extend(last_households(&residents, b, 2));
        }
    }
    let elsewhere = store.children(&community).await?.into_iter().last().map(|c| c.area.code);
    if let Some(c) = elsewhere {
        people.extend(last_households(&residents, &c, 1));
    }
    people.retain(|r| r.id != case.id);
    let mut seen = std::collections::BTreeSet::new();
    people.retain(|r| seen.insert(r.id));
    if people.is_empty() {
        return Ok(());
    }
    let ids = home_orders(
        store,
        &profile,
        &people,
        9_000_001,
        now - Duration::days(2),
        now - Duration::days(2) + Duration::hours(4),
    )
    .await?;
    // One of them had this morning's check already.
    if let Some(first) = ids.first() {
        let at = now - Duration::hours(1);
        let check = NewHealthCheck::new(
            *first,
            parse_temperature("36.6").map_err(|e| anyhow::anyhow!(e.en))?,
            &[],
            "",
            &profile,
            None,
            "社区网格员",
            at,
        )
        .map_err(|e| anyhow::anyhow!(e.en))?;
        store
            .record_health_check(check, act(&profile, "社区网格员", "health.check", at))
            .await?
            .map_err(|r| anyhow::anyhow!(r.error.en))?;
    }
    eprintln!(
        "  演示风险区与居家隔离 / demo zones and home quarantine: {} zones, {} people at home",
        designated,
        ids.len()
    );
    Ok(())
}
