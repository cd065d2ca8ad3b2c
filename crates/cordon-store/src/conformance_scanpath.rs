//! Conformance cases of the scan path: [`crate::RegistryStore::areas`] (a principal's
//! lineage in one read), [`crate::CodesStore::scan_context`] (it must return exactly what
//! the individual reads return), and the group-committed scan log (concurrent callers
//! each get their own ids, every record is stored once). Expected values come from the
//! generated district and the individual methods, never from the method under test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::Store;
use crate::codes::{NewSigningKey, PersonContext, PolicySetting, Scan, ScanContext, ScanSubject};
use crate::conformance::{code, load_district};
use chrono::{DateTime, Duration, TimeZone, Utc};
use cordon_domain::area::AreaLevel;
use cordon_domain::audit::AuditEntry;
use cordon_domain::colour::{Colour, Direction};
use cordon_domain::pass::{Holder, NewPass};
use cordon_domain::registry::ResidentStatus;
use cordon_domain::token::{SecretKey, SubjectKind};
use cordon_domain::zone::{NewZone, ZoneLevel};
use std::sync::Arc;

/// Runs every scan-path case as its own `#[tokio::test]` (same `$make` as
/// [`crate::conformance_tests!`]).
#[macro_export]
macro_rules! scanpath_conformance_tests {
    ($make:path) => {
        $crate::scanpath_conformance_tests!(@cases $make;
            scanpath_areas_in_order,
            scanpath_context_equals_individual_reads,
            scanpath_concurrent_scans_each_get_their_ids,
        );
    };
    (@cases $make:path; $($case:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                let Some((store, _guard)) = $make().await else { return };
                $crate::conformance_scanpath::$case(store.clone()).await;
            }
        )*
    };
}

fn t(h: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2022, 4, 10, h, 0, 0).unwrap()
}

fn entry(action: &str) -> AuditEntry {
    AuditEntry {
        at: t(0),
        actor_id: Some(1),
        actor: "commander".into(),
        role: None,
        action: action.into(),
        target_kind: "area".into(),
        target: String::new(),
        request_id: "r1".into(),
        detail: String::new(),
    }
}

pub async fn scanpath_areas_in_order(store: Arc<dyn Store>) {
    let d = load_district(store.as_ref()).await;
    let unit = d.residents[0].unit.clone();
    let mut wanted = unit.lineage();
    // A code that does not exist is left out; the order of the question is kept.
    wanted.insert(2, code("141102999"));
    wanted.reverse();
    let got = store.areas(&wanted).await.unwrap();
    let expected: Vec<(String, String)> =
        unit.lineage().iter().rev().map(|c| (c.as_str().to_string(), d.name(c))).collect();
    assert_eq!(got.iter().map(|a| (a.code.as_str().to_string(), a.name.clone())).collect::<Vec<_>>(), expected);
    assert!(store.areas(&[]).await.unwrap().is_empty());

    // A bearer token's user with the areas labelling their scope, in one call.
    let compound = unit.parent().unwrap().parent().unwrap();
    assert_eq!(compound.level(), AreaLevel::Compound);
    for (name, scope) in [
        ("scan_guard", cordon_domain::UserScope::Area(compound.clone())),
        ("scan_district", cordon_domain::UserScope::Area(d.district())),
        ("scan_grid", cordon_domain::UserScope::Grid(d.grids[0].id)),
    ] {
        let user = store
            .create_user(&crate::NewUser {
                username: name.into(),
                display_name: "g".into(),
                role: cordon_domain::Role::CheckpointGuard,
                scope: scope.clone(),
                password_hash: "x".into(),
                created_at: t(0),
            })
            .await
            .unwrap();
        let hash = format!("hash-of-{name}");
        store.create_api_token(&hash, user.id, "device", t(0)).await.unwrap();
        let f = store.bearer_facts(&hash).await.unwrap().unwrap();
        let (u, areas) = (f.user, f.areas);
        assert_eq!(u, user);
        let expected: Vec<String> = crate::label_areas(&scope).iter().map(|c| d.name(c)).collect();
        assert_eq!(areas.into_iter().map(|a| a.name).collect::<Vec<_>>(), expected);
        // The principal built from it is the one principal_for builds.
        let areas = store.bearer_facts(&hash).await.unwrap().unwrap().areas;
        assert_eq!(
            crate::principal_with_areas(store.as_ref(), &user, areas).await.unwrap(),
            crate::principal_for(store.as_ref(), &user).await.unwrap()
        );
    }
    assert_eq!(crate::label_areas(&cordon_domain::UserScope::Area(compound.clone())), compound.lineage()[1..].to_vec());
    assert!(store.bearer_facts("no such hash").await.unwrap().is_none());
}

pub async fn scanpath_context_equals_individual_reads(store: Arc<dyn Store>) {
    let store = store.as_ref();
    let d = load_district(store).await;
    let r = d.residents.iter().find(|r| r.status == ResidentStatus::Active).unwrap();
    let building = r.unit.parent().unwrap();
    let key = store
        .add_signing_key(
            &NewSigningKey { district: "141102".into(), secret: SecretKey::from_bytes([7; 32]), created_at: t(0) },
            &entry("key.rotate"),
        )
        .await
        .unwrap();
    store
        .set_policy(
            &PolicySetting { name: "p".into(), source: "x".into(), updated_at: t(0), updated_by: "c".into() },
            &entry("policy.switch"),
        )
        .await
        .unwrap();
    let z = NewZone::new(building.clone(), ZoneLevel::High, "cluster", t(1), "commander", t(1)).unwrap();
    store.designate_zone(&z, &entry("zone.designate")).await.unwrap();
    let person_pass = NewPass {
        holder: Holder::Person(r.id),
        holder_label: r.name.masked(),
        purpose: "医护人员".into(),
        scope: vec![d.district()],
        valid_from: t(1),
        valid_until: t(1) + Duration::days(3),
        issuer_id: 1,
        issuer: "commander".into(),
        issued_at: t(1),
        issuer_roots: vec![d.district()],
    }
    .check(31)
    .unwrap();
    let pp = store.issue_pass(&person_pass, &entry("pass.issue")).await.unwrap();
    let vehicle =
        NewPass {
            holder: Holder::Vehicle("晋K12345".into()), holder_label: "晋K12345".into(), ..person_pass.clone()
        };
    let vp = store.issue_pass(&vehicle, &entry("pass.issue")).await.unwrap();
    let now = t(2);

    let person = PersonContext {
        resident: store.resident(r.id).await.unwrap().unwrap(),
        state: store.person_state(r.id, now, now.date_naive()).await.unwrap().unwrap(),
        passes: store.passes_of_person(r.id, now).await.unwrap(),
    };
    assert_eq!(person.state.zone.as_ref().map(|z| z.level), Some(ZoneLevel::High), "the zone reaches the state");
    assert_eq!(person.passes.len(), 1);
    let policy = store.policy_setting().await.unwrap();
    let signing = store.signing_key(key.id).await.unwrap();

    // A person's token.
    assert_eq!(
        store.scan_context(None, key.id, SubjectKind::Person, r.id, now, now.date_naive()).await.unwrap(),
        ScanContext {
            checkpoint: None,
            key: signing.clone(),
            pass: None,
            person: Some(person.clone()),
            policy: policy.clone()
        }
    );
    // A person's pass: the pass and its holder.
    assert_eq!(
        store.scan_context(None, key.id, SubjectKind::Pass, pp.id, now, now.date_naive()).await.unwrap(),
        ScanContext {
            checkpoint: None,
            key: signing.clone(),
            pass: Some(pp.clone()),
            person: Some(person.clone()),
            policy: policy.clone()
        }
    );
    // A vehicle pass: no person.
    assert_eq!(
        store.scan_context(None, key.id, SubjectKind::Pass, vp.id, now, now.date_naive()).await.unwrap(),
        ScanContext {
            checkpoint: None,
            key: signing.clone(),
            pass: Some(vp.clone()),
            person: None,
            policy: policy.clone()
        }
    );
    // Unknown key, unknown resident, unknown pass.
    let none = store
        .scan_context(None, key.id + 100, SubjectKind::Person, d.max_resident_id() + 1, now, now.date_naive())
        .await
        .unwrap();
    assert_eq!(none, ScanContext { checkpoint: None, key: None, pass: None, person: None, policy: policy.clone() });
    let none = store.scan_context(None, key.id, SubjectKind::Pass, vp.id + 100, now, now.date_naive()).await.unwrap();
    assert_eq!(
        none,
        ScanContext { checkpoint: None, key: signing.clone(), pass: None, person: None, policy: policy.clone() }
    );
    // At another time the passes and zones of that time are read.
    let before = store.scan_context(None, key.id, SubjectKind::Person, r.id, t(0), t(0).date_naive()).await.unwrap();
    let p = before.person.unwrap();
    assert!(p.passes.is_empty() && p.state.zone.is_none());
    // The checkpoint, when asked for, comes in the same read.
    let compound = building.parent().unwrap();
    let gate = store
        .create_checkpoint(
            &crate::codes::NewCheckpoint::new("北门", compound, t(0)).unwrap(),
            &entry("checkpoint.create"),
        )
        .await
        .unwrap();
    let with_gate =
        store.scan_context(Some(gate.id), key.id, SubjectKind::Person, r.id, now, now.date_naive()).await.unwrap();
    assert_eq!(with_gate.checkpoint, store.checkpoint(gate.id).await.unwrap());
    assert!(with_gate.checkpoint.is_some());
    assert_eq!(with_gate.person, Some(person.clone()));
    let no_gate =
        store.scan_context(Some(gate.id + 100), key.id, SubjectKind::Pass, vp.id, now, now.date_naive()).await.unwrap();
    assert_eq!(no_gate.checkpoint, None);
    assert_eq!(no_gate.pass, Some(vp.clone()));
    // A revoked key is read as revoked.
    store.revoke_signing_key(key.id, t(1), &entry("key.revoke")).await.unwrap();
    let revoked = store.scan_context(None, key.id, SubjectKind::Person, r.id, now, now.date_naive()).await.unwrap();
    assert_eq!(revoked.key.and_then(|k| k.revoked_at), Some(t(1)));
}

pub async fn scanpath_concurrent_scans_each_get_their_ids(store: Arc<dyn Store>) {
    let d = load_district(store.as_ref()).await;
    let compound = d.level(AreaLevel::Compound)[0].code.clone();
    let gate = store
        .create_checkpoint(
            &crate::codes::NewCheckpoint::new("东门", compound, t(1)).unwrap(),
            &entry("checkpoint.create"),
        )
        .await
        .unwrap();
    let scan = |i: usize| Scan {
        checkpoint_id: gate.id,
        at: t(1) + Duration::seconds(i as i64),
        direction: if i.is_multiple_of(2) { Direction::In } else { Direction::Out },
        subject: ScanSubject::Person,
        resident_id: Some(d.residents[i % d.residents.len()].id),
        pass_id: None,
        colour: Some(Colour::Green),
        allowed: true,
        code: format!("c{i}"),
        guard_id: None,
    };
    // 60 callers at once, every fifth with a device batch of three.
    let mut tasks = Vec::new();
    for k in 0..60usize {
        let store = store.clone();
        let batch: Vec<Scan> =
            if k % 5 == 0 { (0..3).map(|j| scan(1000 + k * 3 + j)).collect() } else { vec![scan(k)] };
        tasks.push(tokio::spawn(async move {
            let ids = store.record_scans(&batch).await.unwrap();
            (batch, ids)
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        let (batch, ids) = t.await.unwrap();
        assert_eq!(ids.len(), batch.len());
        assert!(ids.windows(2).all(|w| w[0] < w[1]), "a batch's ids ascend in its order");
        all.extend(batch.into_iter().zip(ids));
    }
    let mut ids: Vec<i64> = all.iter().map(|(_, id)| *id).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), 84, "every record has its own id");
    let stored = store.recent_scans(gate.id, 1000).await.unwrap();
    assert_eq!(stored.len(), 84, "every record stored exactly once");
    for (s, id) in &all {
        let rec = stored.iter().find(|r| r.id == *id).unwrap();
        assert_eq!(&rec.scan, s, "the id answered is the record's own");
    }
}
