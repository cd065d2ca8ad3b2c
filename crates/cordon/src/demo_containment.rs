//! Demo data for quarantine and transfer, so each containment role's login has work
//! waiting: a quarantine hotel with rooms run by the demo site manager; contacts waiting in
//! the isolation queue (one past its deadline); three contacts ordered and waiting for a
//! vehicle (the dispatcher's); a household on a run dispatched to the demo driver; and two
//! people in their rooms for a week whose release is due today, with every scheduled test
//! negative but the last, whose single tube (`QZ0000000001`, `QZ0000000002`, sampled
//! today) waits for the lab. Only when no quarantine site exists yet.
//!
//! Everything goes through the store's containment and testing writes (the same rules as
//! the pages); the past of the week-long stays is written with past `Act` times.

use anyhow::{Result, anyhow};
use chrono::{DateTime, Duration, NaiveTime, Utc};
use cordon_domain::area::AreaCode;
use cordon_domain::audit::AuditEntry;
use cordon_domain::clock::DistrictTz;
use cordon_domain::colour::ContactClass;
use cordon_domain::containment::quarantine::{Category, NewRoom, NewSite, Person, PersonResult, SiteKind};
use cordon_domain::containment::transfer::Vehicle;
use cordon_domain::containment::{add_days, local_instant};
use cordon_domain::registry::{Resident, ResidentStatus};
use cordon_domain::testing::{BarcodePattern, PoolCapacity, TestResult};
use cordon_store::Store;
use cordon_store::containment::{Act, Answer, DispatchRequest, IsolationCandidate, OrderRequest, PickupWho, SiteQuery};
use cordon_store::testing::{ScanBatch, ScanItem, ScanPerson};
use std::collections::{BTreeMap, BTreeSet};

/// The single tubes of today's samples of the people whose release waits for the lab.
pub const RELEASE_TUBES: [&str; 2] = ["QZ0000000001", "QZ0000000002"];

fn entry(at: DateTime<Utc>, action: &str) -> AuditEntry {
    AuditEntry {
        at,
        actor_id: None,
        actor: "demo".into(),
        role: None,
        action: action.into(),
        target_kind: "demo".into(),
        target: "demo".into(),
        request_id: "demo".into(),
        detail: "demo containment".into(),
    }
}

fn ok<T>(a: Answer<T>) -> Result<T> {
    a.map_err(|r| anyhow!("demo containment refused: {}", r.error.en))
}

fn person(r: &Resident) -> Person {
    Person {
        resident_id: Some(r.id),
        name: r.name.clone(),
        id_number: None,
        phone: None,
        unit: Some(r.unit.clone()),
        address: String::new(),
        household_id: Some(r.household_id),
    }
}

struct Demo<'a> {
    store: &'a dyn Store,
    tz: DistrictTz,
    profile: std::sync::Arc<cordon_domain::policy::Profile>,
    user_id: Option<i64>,
    next_contact: i64,
}

impl Demo<'_> {
    fn act(&self, at: DateTime<Utc>, by: &str, action: &str) -> Act {
        Act {
            at,
            tz: self.tz.clone(),
            user_id: self.user_id,
            user: by.to_string(),
            profile: self.profile.clone(),
            audit: entry(at, action),
        }
    }

    /// Puts `people` on the queue as close contacts exposed at `exposure` and identified
    /// at `identified`; their contact ids.
    async fn enqueue(
        &mut self,
        people: &[&Resident],
        exposure: DateTime<Utc>,
        identified: DateTime<Utc>,
    ) -> Result<Vec<i64>> {
        let hours = i64::from(self.profile.quarantine.within_hours);
        let mut ids = Vec::new();
        let cands: Vec<_> = people
            .iter()
            .map(|r| {
                self.next_contact += 1;
                ids.push(self.next_contact);
                IsolationCandidate {
                    contact_id: self.next_contact,
                    person: person(r),
                    class: ContactClass::Close,
                    last_exposure: exposure,
                    identified_at: identified,
                    deadline: identified + Duration::hours(hours),
                }
            })
            .collect();
        ok(self.store.enqueue_isolation(cands, self.act(identified, "流调（演示）", "contacts.enqueue")).await?)?;
        Ok(ids)
    }

    async fn order(&self, contacts: &[i64], at: DateTime<Utc>) -> Result<Vec<i64>> {
        let reqs = contacts.iter().map(|&contact_id| OrderRequest::Contact { contact_id }).collect();
        let orders = ok(self.store.issue_orders(reqs, self.act(at, "指挥长（演示）", "orders.issue")).await?)?;
        Ok(orders.iter().map(|o| o.id).collect())
    }
}

/// Active households of `area`, by household id, members by id.
fn households(residents: &[Resident]) -> Vec<Vec<&Resident>> {
    let mut by: BTreeMap<i64, Vec<&Resident>> = BTreeMap::new();
    for r in residents.iter().filter(|r| r.status == ResidentStatus::Active) {
        by.entry(r.household_id).or_default().push(r);
    }
    by.into_values().collect()
}

/// `street`: where the people come from and the site stands; `keep_clear`: the demo
/// building, whose residents other demos (and the tests) expect under no order.
pub async fn seed(store: &dyn Store, district: &AreaCode, street: &AreaCode, keep_clear: &AreaCode) -> Result<()> {
    if !store.quarantine_sites(SiteQuery::Under(vec![district.clone()])).await?.is_empty() {
        return Ok(());
    }
    let profile = cordon_web::policy::active_profile(store).await.map_err(|e| anyhow!("{e:?}"))?;
    let Some(regime) = Category::CloseContact.regime(&profile).cloned() else { return Ok(()) };
    let tz = DistrictTz::default();
    let now = Utc::now();
    let today = tz.today(now);
    let at = |days_ago: u32, h: u32| {
        let d = today.checked_sub_days(chrono::Days::new(u64::from(days_ago))).unwrap_or(today);
        local_instant(d, NaiveTime::from_hms_opt(h, 0, 0).unwrap_or(NaiveTime::MIN), tz.offset())
    };
    let user = |name: &'static str| async move { store.user_by_username(name).await };
    let manager = user("site_manager").await?;
    let driver = user("transfer_dispatcher").await?;
    let commander = user("commander").await?;
    let mut demo = Demo {
        store,
        tz: tz.clone(),
        profile: profile.clone(),
        user_id: commander.map(|u| u.id),
        next_contact: 990_000,
    };

    // The site: four floors of single rooms and a floor of family rooms.
    let site = NewSite::new(
        "城北隔离酒店",
        SiteKind::Hotel,
        "城北大道88号",
        street.clone(),
        "赵经理",
        manager.as_ref().map(|u| u.id),
        None,
        &[Category::CloseContact, Category::SecondaryContact, Category::Arrival],
        now,
    )
    .map_err(|e| anyhow!(e.en))?;
    let mut rooms = Vec::new();
    for floor in 2..=5 {
        for n in 1..=8 {
            rooms.push(NewRoom::new(floor, &format!("{floor}{n:02}"), 1).map_err(|e| anyhow!(e.en))?);
        }
    }
    for n in 1..=4 {
        rooms.push(NewRoom::new(6, &format!("6{n:02}"), 3).map_err(|e| anyhow!(e.en))?);
    }
    let site = ok(store.open_site(site, rooms, demo.act(at(10, 9), "指挥长（演示）", "site.open")).await?)?;

    let near: Vec<Resident> = store
        .residents_under(std::slice::from_ref(street))
        .await?
        .into_iter()
        .filter(|r| !keep_clear.contains(&r.unit))
        .collect();
    let hh = households(&near);
    let singles: Vec<&Resident> = hh.iter().filter(|h| h.len() == 1).map(|h| h[0]).collect();
    let family = hh.iter().find(|h| h.len() >= 2 && h.len() <= 3).cloned().unwrap_or_default();
    let mut pool: Vec<&Resident> = singles.clone();
    if pool.len() < 6 {
        pool.extend(hh.iter().filter(|h| h.len() > 1).map(|h| h[0]));
    }
    let used: BTreeSet<i64> = family.iter().map(|r| r.id).collect();
    let pool: Vec<&Resident> = pool.into_iter().filter(|r| !used.contains(&r.id)).collect();
    if pool.len() < 6 || family.is_empty() {
        return Ok(());
    }

    // Two people in their rooms for a week, every test negative but the last one, whose
    // tube sampled today waits for the lab: residents the demo round left unsampled.
    let everyone = store.residents_under(std::slice::from_ref(district)).await?;
    let unsampled: Vec<&Resident> = everyone
        .iter()
        .filter(|r| r.status == ResidentStatus::Active)
        .enumerate()
        .filter(|(i, _)| i % 10 == 7)
        .map(|(_, r)| r)
        .filter(|r| street.contains(&r.unit) && !keep_clear.contains(&r.unit))
        .filter(|r| !used.contains(&r.id) && !pool.iter().any(|p| p.id == r.id))
        .collect();
    let mut long_stay: Vec<&Resident> = Vec::new();
    for r in unsampled {
        if long_stay.len() < 2 && !long_stay.iter().any(|x| x.household_id == r.household_id) {
            long_stay.push(r);
        }
    }
    let c = regime.centralised_days;
    if c > 0 && long_stay.len() == 2 {
        let exposed = at(c + 1, 20);
        let contacts = demo.enqueue(&long_stay, exposed, exposed + Duration::hours(2)).await?;
        let orders = demo.order(&contacts, at(c, 8)).await?;
        let vehicle = Vehicle::new("晋K12001", "王师傅（演示）", driver.as_ref().map(|u| u.id), "城北转运专班", 7)
            .map_err(|e| anyhow!(e.en))?;
        let run = ok(store
            .dispatch(
                DispatchRequest { order_ids: orders.clone(), vehicle, site_id: site.id },
                demo.act(at(c, 9), "调度员（演示）", "transfer.dispatch"),
            )
            .await?)?;
        for (i, r) in long_stay.iter().enumerate() {
            ok(store
                .confirm_pickup(
                    run.id,
                    PickupWho::Resident(r.id),
                    format!("demo-pick-{i}"),
                    demo.act(at(c, 10), "王师傅（演示）", "transfer.pickup"),
                )
                .await?)?;
        }
        ok(store
            .confirm_arrival(run.id, "demo-arrive-0".into(), demo.act(at(c, 11), "王师傅（演示）", "transfer.arrive"))
            .await?)?;
        // Every test but the last: negative, sampled on its day.
        let mut results = Vec::new();
        let last = regime.centralised_test_days.iter().max().copied().unwrap_or(0);
        for r in &long_stay {
            for d in regime.centralised_test_days.iter().filter(|d| **d != last) {
                let sampled = local_instant(
                    add_days(tz.today(exposed), *d),
                    NaiveTime::from_hms_opt(8, 0, 0).unwrap_or(NaiveTime::MIN),
                    tz.offset(),
                );
                results.push(PersonResult {
                    resident_id: r.id,
                    sampled_at: sampled,
                    result: TestResult::Negative,
                    pooled: false,
                    result_at: sampled + Duration::hours(10),
                });
            }
        }
        store
            .record_order_results(results, demo.act(now - Duration::hours(1), "实验室（演示）", "results.record"))
            .await?;
        // Today's single tubes of the last test, for the lab.
        if let Some(round) = store.rounds(1).await?.into_iter().next() {
            let pattern = BarcodePattern::default();
            let mut items = Vec::new();
            for (i, (r, code)) in long_stay.iter().zip(RELEASE_TUBES).enumerate() {
                let tube = pattern.parse(code).map_err(|e| anyhow!(e.en))?;
                let capacity = PoolCapacity::new(1).map_err(|e| anyhow!(e.en))?;
                items.push(ScanItem::Open { client_id: format!("qz-open-{i}"), tube: tube.clone(), capacity, at: now });
                items.push(ScanItem::Sample {
                    client_id: format!("qz-{i}"),
                    tube: tube.clone(),
                    person: ScanPerson::ResidentId(r.id),
                    at: now,
                });
                items.push(ScanItem::Seal { client_id: format!("qz-seal-{i}"), tube, at: now });
            }
            let batch =
                ScanBatch { batch_id: "demo-quarantine".into(), round_id: round.id, user_id: 0, scope: None, items };
            store.ingest_scans(batch, &entry(now, "scans.ingest")).await?;
        }
    }

    // A household on a run dispatched to the demo driver, not picked up yet.
    let exposed = now - Duration::hours(20);
    let contacts = demo.enqueue(&family, exposed, exposed + Duration::hours(3)).await?;
    let orders = demo.order(&contacts, now - Duration::hours(6)).await?;
    let vehicle = Vehicle::new("晋K12002", "王师傅（演示）", driver.as_ref().map(|u| u.id), "城北转运专班", 7)
        .map_err(|e| anyhow!(e.en))?;
    ok(store
        .dispatch(
            DispatchRequest { order_ids: orders, vehicle, site_id: site.id },
            demo.act(now - Duration::minutes(30), "调度员（演示）", "transfer.dispatch"),
        )
        .await?)?;

    // Three contacts ordered and waiting for a vehicle.
    let contacts = demo.enqueue(&pool[0..3], exposed, exposed + Duration::hours(4)).await?;
    demo.order(&contacts, now - Duration::hours(2)).await?;

    // Three contacts waiting in the queue for an order, the first past its deadline.
    demo.enqueue(&pool[3..4], now - Duration::hours(40), now - Duration::hours(30)).await?;
    demo.enqueue(&pool[4..6], now - Duration::hours(10), now - Duration::hours(2)).await?;
    eprintln!(
        "  隔离转运演示数据 / quarantine demo: site #{} with {} rooms",
        site.id,
        site_rooms(store, site.id).await?
    );
    Ok(())
}

async fn site_rooms(store: &dyn Store, id: i64) -> Result<usize> {
    Ok(store.rooms_of(id).await?.len())
}
