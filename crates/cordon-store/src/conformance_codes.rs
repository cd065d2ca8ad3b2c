//! Conformance cases of [`crate::CodesStore`]: what both backends must do with policy
//! settings, risk zones and the person state they feed, signing keys, checkpoints and
//! scans, venues and check-ins, and passes. Expected values come from the generated
//! district and the domain, never from a backend's output.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::AuditFilter;
use crate::Store;
use crate::codes::{NewCheckpoint, NewSigningKey, NewVenue, PolicySetting, Scan, ScanSubject, VenueKind};
use crate::conformance::load_district;
use chrono::{DateTime, Duration, TimeZone, Utc};
use cordon_domain::area::{AreaCode, AreaLevel};
use cordon_domain::audit::AuditEntry;
use cordon_domain::colour::{Colour, Direction};
use cordon_domain::pass::{Holder, NewPass};
use cordon_domain::token::SecretKey;
use cordon_domain::zone::{NewZone, ZoneLevel};

/// Runs every codes conformance case as its own `#[tokio::test]` (same `$make` as
/// [`crate::conformance_tests!`]).
#[macro_export]
macro_rules! codes_conformance_tests {
    ($make:path) => {
        $crate::codes_conformance_tests!(@cases $make;
            codes_policy_setting_round_trip,
            codes_zones_history_and_person_state,
            codes_signing_key_rotation,
            codes_checkpoints_guards_and_scans,
            codes_venue_visits_in_window,
            codes_passes_issue_and_revoke,
        );
    };
    (@cases $make:path; $($case:ident),* $(,)?) => {
        $(
            #[tokio::test]
            async fn $case() {
                let Some((store, _guard)) = $make().await else { return };
                $crate::conformance_codes::$case(&*store).await;
            }
        )*
    };
}

fn t(h: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2022, 4, 10, h, 0, 0).unwrap()
}

fn entry(action: &str, target: &str) -> AuditEntry {
    AuditEntry {
        at: t(0),
        actor_id: Some(1),
        actor: "commander".into(),
        role: None,
        action: action.into(),
        target_kind: "area".into(),
        target: target.into(),
        request_id: "r1".into(),
        detail: String::new(),
    }
}

async fn audited(store: &dyn Store, action: &str) -> usize {
    store.audit_log(&AuditFilter { action: Some(action.into()), limit: 100, ..Default::default() }).await.unwrap().len()
}

pub async fn codes_policy_setting_round_trip(store: &dyn Store) {
    assert_eq!(store.policy_setting().await.unwrap(), None);
    let s = PolicySetting {
        name: "measures-20".into(),
        source: "name = \"x\"\n".into(),
        updated_at: t(1),
        updated_by: "commander".into(),
    };
    store.set_policy(&s, &entry("policy.switch", "district")).await.unwrap();
    assert_eq!(store.policy_setting().await.unwrap(), Some(s.clone()));
    let s2 = PolicySetting { name: "protocol-9".into(), updated_at: t(2), ..s };
    store.set_policy(&s2, &entry("policy.switch", "district")).await.unwrap();
    assert_eq!(store.policy_setting().await.unwrap(), Some(s2));
    assert_eq!(audited(store, "policy.switch").await, 2);
}

pub async fn codes_zones_history_and_person_state(store: &dyn Store) {
    let d = load_district(store).await;
    let r = d.residents.iter().find(|r| r.status == cordon_domain::registry::ResidentStatus::Active).unwrap();
    let building = r.unit.parent().unwrap();
    let compound = building.parent().unwrap();
    let state = store.person_state(r.id, t(1), t(1).date_naive()).await.unwrap().unwrap();
    assert_eq!(state.zone, None);
    assert!(store.person_state(d.max_resident_id() + 1000, t(1), t(1).date_naive()).await.unwrap().is_none());

    let z1 = NewZone::new(building.clone(), ZoneLevel::Medium, "密接居住", t(2), "commander", t(2)).unwrap();
    let stored = store.designate_zone(&z1, &entry("zone.designate", building.as_str())).await.unwrap();
    assert_eq!((stored.level, stored.ends_at, stored.area.clone()), (ZoneLevel::Medium, None, building.clone()));
    // Not yet started at 1h; medium at 3h.
    assert_eq!(store.person_state(r.id, t(1), t(1).date_naive()).await.unwrap().unwrap().zone, None);
    let z = store.person_state(r.id, t(3), t(3).date_naive()).await.unwrap().unwrap().zone.unwrap();
    assert_eq!(
        (z.level, z.area.clone(), z.area_name.clone()),
        (ZoneLevel::Medium, building.clone(), d.name(&building))
    );
    // Upgrade the building to high: the medium designation ends, history has both.
    let z2 = NewZone::new(building.clone(), ZoneLevel::High, "确诊病例居住", t(4), "commander", t(4)).unwrap();
    store.designate_zone(&z2, &entry("zone.designate", building.as_str())).await.unwrap();
    let open = store.zones(&building, false, false).await.unwrap();
    assert_eq!(open.len(), 1);
    assert_eq!(open[0].level, ZoneLevel::High);
    let all = store.zones(&building, false, true).await.unwrap();
    assert_eq!(all.iter().map(|z| z.level).collect::<Vec<_>>(), vec![ZoneLevel::High, ZoneLevel::Medium]);
    assert_eq!(all[1].ends_at, Some(t(4)));
    assert_eq!(
        store.person_state(r.id, t(5), t(5).date_naive()).await.unwrap().unwrap().zone.unwrap().level,
        ZoneLevel::High
    );
    // The history still answers for the past.
    assert_eq!(
        store.person_state(r.id, t(3), t(3).date_naive()).await.unwrap().unwrap().zone.unwrap().level,
        ZoneLevel::Medium
    );
    // A compound designation lies above the building: visible with ancestors, and a
    // resident of another building of the compound follows it.
    let z3 = NewZone::new(compound.clone(), ZoneLevel::Medium, "周边", t(4), "commander", t(4)).unwrap();
    store.designate_zone(&z3, &entry("zone.designate", compound.as_str())).await.unwrap();
    assert_eq!(store.zones(&building, false, false).await.unwrap().len(), 1);
    assert_eq!(store.zones(&building, true, false).await.unwrap().len(), 2);
    assert_eq!(store.zones(&compound, false, false).await.unwrap().len(), 2);
    let neighbour = d.residents.iter().find(|x| compound.contains(&x.unit) && !building.contains(&x.unit));
    if let Some(n) = neighbour {
        assert_eq!(
            store.person_state(n.id, t(5), t(5).date_naive()).await.unwrap().unwrap().zone.unwrap().level,
            ZoneLevel::Medium
        );
    }
    // Lifting (low) ends the high designation.
    let z4 = NewZone::new(building.clone(), ZoneLevel::Low, "解封", t(6), "commander", t(6)).unwrap();
    store.designate_zone(&z4, &entry("zone.designate", building.as_str())).await.unwrap();
    let s = store.person_state(r.id, t(7), t(7).date_naive()).await.unwrap().unwrap();
    assert_eq!(s.zone.unwrap().level, ZoneLevel::Medium, "the compound's medium zone remains");
    assert_eq!(audited(store, "zone.designate").await, 4);
}

pub async fn codes_signing_key_rotation(store: &dyn Store) {
    assert!(store.current_signing_key().await.unwrap().is_none());
    let k1 = SecretKey::from_bytes([1; 32]);
    let r1 = store
        .add_signing_key(
            &NewSigningKey { district: "141102".into(), secret: k1.clone(), created_at: t(1) },
            &entry("keys.rotate", "1"),
        )
        .await
        .unwrap();
    assert_eq!(r1.public, k1.public_key());
    let (cur, secret) = store.current_signing_key().await.unwrap().unwrap();
    assert_eq!((cur.id, secret), (r1.id, k1.clone()));
    let k2 = SecretKey::from_bytes([2; 32]);
    let r2 = store
        .add_signing_key(
            &NewSigningKey { district: "141102".into(), secret: k2.clone(), created_at: t(2) },
            &entry("keys.rotate", "2"),
        )
        .await
        .unwrap();
    assert!(r2.id > r1.id);
    assert_eq!(store.current_signing_key().await.unwrap().unwrap().1, k2);
    let old = store.signing_key(r1.id).await.unwrap().unwrap();
    assert_eq!((old.retired_at, old.revoked_at, old.public), (Some(t(2)), None, k1.public_key()));
    store.revoke_signing_key(r1.id, t(3), &entry("keys.revoke", "1")).await.unwrap();
    assert_eq!(store.signing_key(r1.id).await.unwrap().unwrap().revoked_at, Some(t(3)));
    assert!(matches!(
        store.revoke_signing_key(9999, t(3), &entry("keys.revoke", "x")).await,
        Err(crate::StoreError::NotFound(_))
    ));
    let all = store.signing_keys().await.unwrap();
    assert_eq!(all.iter().map(|k| k.id).collect::<Vec<_>>(), vec![r2.id, r1.id]);
    assert_eq!(audited(store, "keys.rotate").await, 2);
}

pub async fn codes_checkpoints_guards_and_scans(store: &dyn Store) {
    let d = load_district(store).await;
    let compounds = d.level(AreaLevel::Compound);
    let (c1, c2) = (compounds[0].code.clone(), compounds[compounds.len() - 1].code.clone());
    let gate = store
        .create_checkpoint(&NewCheckpoint::new("东门", c1.clone(), t(1)).unwrap(), &entry("checkpoint.create", ""))
        .await
        .unwrap();
    let border = store
        .create_checkpoint(&NewCheckpoint::new("区界", d.district(), t(1)).unwrap(), &entry("checkpoint.create", ""))
        .await
        .unwrap();
    let other = store
        .create_checkpoint(&NewCheckpoint::new("西门", c2.clone(), t(1)).unwrap(), &entry("checkpoint.create", ""))
        .await
        .unwrap();
    assert!(border.is_border() && !gate.is_border());
    assert!(NewCheckpoint::new("x", d.residents[0].unit.clone(), t(1)).is_err());
    let user = store
        .create_user(&crate::NewUser {
            username: "guard1".into(),
            display_name: "g".into(),
            role: cordon_domain::Role::CheckpointGuard,
            scope: cordon_domain::UserScope::Area(c1.clone()),
            password_hash: "x".into(),
            created_at: t(0),
        })
        .await
        .unwrap();
    store.assign_guard(gate.id, user.id, &entry("checkpoint.assign", "")).await.unwrap();
    store.assign_guard(gate.id, user.id, &entry("checkpoint.assign", "")).await.unwrap();
    assert!(store.assign_guard(9999, user.id, &entry("checkpoint.assign", "")).await.is_err());
    assert_eq!(store.checkpoint(gate.id).await.unwrap().unwrap().guards, vec![user.id]);
    assert_eq!(
        store.checkpoints_of_guard(user.id).await.unwrap().iter().map(|c| c.id).collect::<Vec<_>>(),
        vec![gate.id]
    );
    assert_eq!(
        store.checkpoints_under(std::slice::from_ref(&c1)).await.unwrap().iter().map(|c| c.id).collect::<Vec<_>>(),
        vec![gate.id]
    );
    assert_eq!(
        store.checkpoints_under(&[d.district()]).await.unwrap().iter().map(|c| c.id).collect::<Vec<_>>(),
        vec![gate.id, border.id, other.id]
    );
    let r = &d.residents[0];
    let scan = |at: u32, who: Option<i64>, allowed: bool, code: &str| Scan {
        checkpoint_id: gate.id,
        at: t(at),
        direction: if at.is_multiple_of(2) { Direction::In } else { Direction::Out },
        subject: if who.is_some() { ScanSubject::Person } else { ScanSubject::Invalid },
        resident_id: who,
        pass_id: None,
        colour: who.map(|_| Colour::Green),
        allowed,
        code: code.into(),
        guard_id: Some(user.id),
    };
    let ids = store
        .record_scans(&[
            scan(2, Some(r.id), true, "green"),
            scan(3, None, false, "token_forged"),
            scan(4, Some(r.id), true, "green"),
        ])
        .await
        .unwrap();
    assert_eq!(ids.len(), 3);
    let recent = store.recent_scans(gate.id, 2).await.unwrap();
    assert_eq!(recent.iter().map(|s| s.id).collect::<Vec<_>>(), vec![ids[2], ids[1]]);
    assert_eq!(recent[1].scan, scan(3, None, false, "token_forged"));
    assert_eq!(recent[0].scan.direction, Direction::In);
    let of_person = store.scans_of_person(r.id, t(2), t(4)).await.unwrap();
    assert_eq!(of_person.iter().map(|s| s.id).collect::<Vec<_>>(), vec![ids[0]]);
    assert!(store.recent_scans(other.id, 10).await.unwrap().is_empty());
}

pub async fn codes_venue_visits_in_window(store: &dyn Store) {
    let d = load_district(store).await;
    let community = d.level(AreaLevel::Community)[0].code.clone();
    let v = store
        .create_venue(
            &NewVenue::new("惠民超市", VenueKind::Shop, community.clone(), t(0)).unwrap(),
            &entry("venue.create", ""),
        )
        .await
        .unwrap();
    let w = store
        .create_venue(
            &NewVenue::new("采样点", VenueKind::SamplingSite, community.clone(), t(0)).unwrap(),
            &entry("venue.create", ""),
        )
        .await
        .unwrap();
    assert_eq!(store.venue(v.id).await.unwrap().unwrap(), v);
    assert_eq!(store.venues_under(std::slice::from_ref(&community)).await.unwrap(), vec![v.clone(), w.clone()]);
    assert!(store.venues_under(&[AreaCode::parse("141102999").unwrap()]).await.unwrap().is_empty());
    let (a, b) = (d.residents[0].id, d.residents[1].id);
    for (venue, who, h) in [(v.id, a, 1), (v.id, b, 2), (w.id, a, 2), (v.id, a, 3), (v.id, b, 5)] {
        store.record_checkin(venue, who, t(h)).await.unwrap();
    }
    let got: Vec<(i64, DateTime<Utc>)> =
        store.venue_visits(v.id, t(2), t(5)).await.unwrap().iter().map(|c| (c.resident_id, c.at)).collect();
    assert_eq!(got, vec![(b, t(2)), (a, t(3))]);
    assert!(store.venue_visits(v.id, t(6), t(7)).await.unwrap().is_empty());
}

pub async fn codes_passes_issue_and_revoke(store: &dyn Store) {
    let d = load_district(store).await;
    let community = d.level(AreaLevel::Community)[0].code.clone();
    let r = &d.residents[0];
    let person = NewPass {
        holder: Holder::Person(r.id),
        holder_label: r.name.masked(),
        purpose: "医护人员".into(),
        scope: vec![community.clone(), d.district()],
        valid_from: t(1),
        valid_until: t(1) + Duration::days(3),
        issuer_id: 1,
        issuer: "commander".into(),
        issued_at: t(1),
        issuer_roots: vec![d.district()],
    }
    .check(31)
    .unwrap();
    let p = store.issue_pass(&person, &entry("pass.issue", "")).await.unwrap();
    assert_eq!(
        (p.holder.clone(), p.scope.clone(), p.revoked_at),
        (Holder::Person(r.id), vec![community.clone(), d.district()], None)
    );
    // The holder must live in the issuer's scope: refused as no such resident, nothing written.
    let elsewhere =
        d.level(AreaLevel::Community).iter().map(|a| a.code.clone()).find(|c| !c.contains(&r.unit)).unwrap();
    let outside = NewPass { issuer_roots: vec![elsewhere.clone()], scope: vec![elsewhere], ..person.clone() };
    let refused = store.issue_pass(&outside, &entry("pass.issue", "")).await;
    assert!(matches!(refused, Err(crate::StoreError::NotFound("resident"))), "{refused:?}");
    assert_eq!(store.passes(10).await.unwrap().len(), 1, "nothing written");
    let vehicle =
        NewPass { holder: Holder::Vehicle("晋K12345".into()), holder_label: "晋K12345".into(), ..person.clone() };
    let v = store.issue_pass(&vehicle, &entry("pass.issue", "")).await.unwrap();
    assert_eq!(store.pass(v.id).await.unwrap().unwrap(), v);
    assert_eq!(store.passes(10).await.unwrap().iter().map(|p| p.id).collect::<Vec<_>>(), vec![v.id, p.id]);
    assert_eq!(store.passes_of_person(r.id, t(2)).await.unwrap(), vec![p.clone()]);
    assert!(store.passes_of_person(r.id, t(0)).await.unwrap().is_empty());
    let revoked = store.revoke_pass(p.id, t(3), "commander", "岗位调整", &entry("pass.revoke", "")).await.unwrap();
    assert_eq!((revoked.revoked_at, revoked.revoke_reason.as_deref()), (Some(t(3)), Some("岗位调整")));
    // A second revocation keeps the first.
    let again = store.revoke_pass(p.id, t(4), "other", "x", &entry("pass.revoke", "")).await.unwrap();
    assert_eq!((again.revoked_at, again.revoked_by.as_deref()), (Some(t(3)), Some("commander")));
    assert!(store.passes_of_person(r.id, t(4)).await.unwrap().is_empty());
    assert!(matches!(
        store.revoke_pass(9999, t(4), "c", "x", &entry("pass.revoke", "")).await,
        Err(crate::StoreError::NotFound(_))
    ));
    let issued = store
        .audit_log(&AuditFilter { action: Some("pass.issue".into()), limit: 10, ..Default::default() })
        .await
        .unwrap();
    assert_eq!(issued.len(), 2);
    assert!(issued.iter().any(|e| e.entry.target == p.id.to_string()));
}
