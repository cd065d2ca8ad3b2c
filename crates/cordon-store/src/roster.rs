//! Re-importing a roster (花名册): the difference between a file's rows and the register,
//! as a pure plan that a backend writes in one transaction
//! ([`crate::RegistryStore::apply_roster`]).
//!
//! A community office keeps its roster in a spreadsheet, exports it, edits it and sends
//! it back. A row whose ID number is registered is the same person: it updates them
//! (name, phone, unit and room, flags; a moved-out person comes back). A row with an
//! unknown ID number adds a resident. An active resident of a unit the file covers who is
//! not in the file has moved out. Everything else is unchanged.
//!
//! Owns the rules of that comparison; must never read or write a database, nor decide
//! who may import (the caller authorizes and passes its scope).

use cordon_domain::area::AreaCode;
use cordon_domain::audit::AuditEntry;
use cordon_domain::id_number::IdNumber;
use cordon_domain::registry::{NewResident, Resident, ResidentStatus};
use serde::Serialize;
use std::collections::{HashMap, HashSet};

/// A good row of the file: its spreadsheet row number and the person it describes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RosterRow {
    pub row: usize,
    pub resident: NewResident,
}

/// What the plan needs from the register, fetched by the caller in bulk.
#[derive(Debug, Clone, Default)]
pub struct RosterFacts {
    /// The registered residents (any status) whose ID number is in the file, wherever
    /// they live.
    pub by_id_number: Vec<Resident>,
    /// The active residents of the units the file's good rows name (candidates for
    /// "moved out").
    pub in_units: Vec<Resident>,
}

/// The units whose residents [`RosterFacts::in_units`] must hold: the units the good rows
/// name, sorted.
pub fn roster_units(rows: &[RosterRow]) -> Vec<AreaCode> {
    let set: HashSet<&AreaCode> = rows.iter().map(|r| &r.resident.unit).collect();
    let mut units: Vec<AreaCode> = set.into_iter().cloned().collect();
    units.sort();
    units
}

/// What changed in a person, in the words of the diff report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ChangedField {
    Name,
    Phone,
    /// Unit or room: the person moved to another household.
    Place,
    Flags,
    /// Was moved out, is in the roster again.
    Returned,
}

impl ChangedField {
    pub fn code(self) -> &'static str {
        match self {
            ChangedField::Name => "name",
            ChangedField::Phone => "phone",
            ChangedField::Place => "place",
            ChangedField::Flags => "flags",
            ChangedField::Returned => "returned",
        }
    }
}

/// One registered person the file changes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RosterChange {
    pub row: usize,
    pub before: Resident,
    pub after: NewResident,
    pub fields: Vec<ChangedField>,
}

/// A row the plan cannot apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RosterRefusal {
    /// The ID number is registered to a person outside the importer's scope: moving
    /// them in is their own community's business (and where they live is not this
    /// importer's).
    RegisteredElsewhere,
}

/// The diff of a file against the register.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RosterPlan {
    pub added: Vec<RosterRow>,
    pub changed: Vec<RosterChange>,
    pub unchanged: usize,
    /// Active residents of a covered unit whose ID number is nowhere in the file,
    /// ordered by unit, room, id.
    pub moved_out: Vec<Resident>,
    pub refused: Vec<(usize, RosterRefusal)>,
}

/// The plan's writes, as a backend takes them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RosterWrite {
    /// Registered like [`crate::RegistryStore::register_residents`] does.
    pub added: Vec<NewResident>,
    /// `(resident id, new values)`: household found or created from (unit, room), the
    /// status set to active.
    pub updated: Vec<(i64, NewResident)>,
    /// Resident ids whose status becomes moved out (only if still active).
    pub moved_out: Vec<i64>,
}

impl RosterPlan {
    /// Nothing to write.
    pub fn is_empty(&self) -> bool {
        self.added.is_empty() && self.changed.is_empty() && self.moved_out.is_empty()
    }

    pub fn write(&self) -> RosterWrite {
        RosterWrite {
            added: self.added.iter().map(|r| r.resident.clone()).collect(),
            updated: self.changed.iter().map(|c| (c.before.id, c.after.clone())).collect(),
            moved_out: self.moved_out.iter().map(|r| r.id).collect(),
        }
    }

    /// A short, stable digest of what the plan would write: the preview shows it, the
    /// apply sends it back, and a different plan at apply time (the file or the register
    /// changed in between) is shown again instead of written. FNV-1a, so it is the same
    /// on every instance and every build.
    pub fn fingerprint(&self) -> String {
        let mut h = Fnv::default();
        for r in &self.added {
            h.str("a");
            h.str(r.resident.id_number.as_str());
            h.str(r.resident.unit.as_str());
            h.str(&r.resident.room);
        }
        for c in &self.changed {
            h.str("c");
            h.u64(c.before.id as u64);
            for f in &c.fields {
                h.str(f.code());
            }
            h.str(c.after.unit.as_str());
            h.str(&c.after.room);
            h.str(c.after.name.as_str());
            h.str(c.after.phone.as_ref().map(|p| p.as_str()).unwrap_or(""));
            h.str(&format!("{:?}", c.after.flags));
        }
        for r in &self.moved_out {
            h.str("m");
            h.u64(r.id as u64);
        }
        h.str("u");
        h.u64(self.unchanged as u64);
        format!("{:016x}", h.0)
    }

    /// One `resident.update` entry per changed person and per person moved out, made
    /// from `template` (actor, time, request): the summary entry of the import is the
    /// caller's. No personal identifier in any detail.
    pub fn audit_entries(&self, template: &AuditEntry) -> Vec<AuditEntry> {
        let entry = |id: i64, detail: String| AuditEntry {
            action: "resident.update".into(),
            target_kind: "resident".into(),
            target: id.to_string(),
            detail,
            ..template.clone()
        };
        let mut out = Vec::with_capacity(self.changed.len() + self.moved_out.len());
        for c in &self.changed {
            let fields: Vec<&str> = c.fields.iter().map(|f| f.code()).collect();
            out.push(entry(c.before.id, format!("roster import: {}", fields.join(", "))));
        }
        for r in &self.moved_out {
            out.push(entry(r.id, "roster import: status -> moved_out".into()));
        }
        out
    }
}

#[derive(Clone, Copy)]
struct Fnv(u64);

impl Default for Fnv {
    fn default() -> Fnv {
        Fnv(0xcbf2_9ce4_8422_2325)
    }
}

impl Fnv {
    fn bytes(&mut self, b: &[u8]) {
        for x in b {
            self.0 ^= u64::from(*x);
            self.0 = self.0.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    fn str(&mut self, s: &str) {
        self.bytes(s.as_bytes());
        self.bytes(&[0xff]);
    }
    fn u64(&mut self, n: u64) {
        self.bytes(&n.to_le_bytes());
    }
}

/// The diff of `rows` against `facts` for an importer whose scope is `roots`.
///
/// `listed` holds every ID number the file names, including those of rows with errors:
/// a person whose row is bad is still in the roster and must not be taken for moved out.
/// With `move_out_absent` false, nobody is moved out (a file of newcomers only).
pub fn plan_roster(
    rows: Vec<RosterRow>,
    facts: &RosterFacts,
    roots: &[AreaCode],
    listed: &HashSet<IdNumber>,
    move_out_absent: bool,
) -> RosterPlan {
    let registered: HashMap<&IdNumber, &Resident> = facts.by_id_number.iter().map(|r| (&r.id_number, r)).collect();
    let in_scope = |unit: &AreaCode| roots.iter().any(|r| r.contains(unit));
    let covered: HashSet<AreaCode> = rows.iter().map(|r| r.resident.unit.clone()).collect();
    let mut plan = RosterPlan::default();
    for row in rows {
        let Some(before) = registered.get(&row.resident.id_number) else {
            plan.added.push(row);
            continue;
        };
        if !in_scope(&before.unit) {
            plan.refused.push((row.row, RosterRefusal::RegisteredElsewhere));
            continue;
        }
        let after = &row.resident;
        let mut fields = Vec::new();
        if before.name != after.name {
            fields.push(ChangedField::Name);
        }
        if before.phone != after.phone {
            fields.push(ChangedField::Phone);
        }
        if before.unit != after.unit || before.room != after.room {
            fields.push(ChangedField::Place);
        }
        if before.flags != after.flags {
            fields.push(ChangedField::Flags);
        }
        if before.status == ResidentStatus::MovedOut {
            fields.push(ChangedField::Returned);
        }
        if fields.is_empty() {
            plan.unchanged += 1;
        } else {
            plan.changed.push(RosterChange { row: row.row, before: (*before).clone(), after: row.resident, fields });
        }
    }
    if move_out_absent {
        let mut gone: Vec<Resident> = facts
            .in_units
            .iter()
            .filter(|r| {
                r.status == ResidentStatus::Active
                    && !listed.contains(&r.id_number)
                    && covered.contains(&r.unit)
                    && in_scope(&r.unit)
            })
            .cloned()
            .collect();
        gone.sort_by(|a, b| (&a.unit, &a.room, a.id).cmp(&(&b.unit, &b.room, b.id)));
        gone.dedup_by_key(|r| r.id);
        plan.moved_out = gone;
    }
    plan
}

#[cfg(test)]
mod tests {
    use super::*;
    use cordon_domain::name::PersonName;
    use cordon_domain::phone::Phone;
    use cordon_domain::registry::ResidentFlags;

    fn unit(n: u32) -> AreaCode {
        AreaCode::parse(&format!("141102001001001001{n:02}")).unwrap()
    }

    fn idn(seq: u32) -> IdNumber {
        IdNumber::from_parts(141102, chrono::NaiveDate::from_ymd_opt(1980, 1, 1).unwrap(), seq).unwrap()
    }

    fn resident(id: i64, seq: u32, u: u32, room: &str) -> Resident {
        Resident {
            id,
            household_id: id,
            unit: unit(u),
            room: room.into(),
            name: PersonName::parse("张三").unwrap(),
            id_number: idn(seq),
            phone: Some(Phone::parse("13812345678").unwrap()),
            flags: ResidentFlags::default(),
            status: ResidentStatus::Active,
        }
    }

    fn row(n: usize, r: &Resident) -> RosterRow {
        RosterRow {
            row: n,
            resident: NewResident {
                unit: r.unit.clone(),
                room: r.room.clone(),
                name: r.name.clone(),
                id_number: r.id_number.clone(),
                phone: r.phone.clone(),
                flags: r.flags,
            },
        }
    }

    #[test]
    fn added_changed_unchanged_moved_out_refused() {
        let a = resident(1, 1, 1, "101");
        let b = resident(2, 2, 1, "102");
        let c = resident(3, 3, 1, "103");
        let gone = resident(4, 4, 1, "104");
        let other_unit = resident(5, 5, 2, "201");
        let mut back = resident(6, 6, 1, "105");
        back.status = ResidentStatus::MovedOut;
        let mut elsewhere = resident(7, 7, 1, "101");
        elsewhere.unit = AreaCode::parse("14110200200100100101").unwrap();
        let newcomer = resident(0, 8, 1, "106");

        let mut b2 = row(3, &b);
        b2.resident.phone = None;
        b2.resident.flags.bedridden = true;
        let mut c2 = row(4, &c);
        c2.resident.unit = unit(3);
        let rows = vec![row(2, &a), b2, c2, row(5, &back), row(6, &elsewhere), row(7, &newcomer)];
        let listed: HashSet<IdNumber> = rows.iter().map(|r| r.resident.id_number.clone()).collect();
        let facts = RosterFacts {
            by_id_number: vec![a.clone(), b.clone(), c.clone(), back.clone(), elsewhere.clone()],
            in_units: vec![a.clone(), b.clone(), c.clone(), gone.clone(), other_unit.clone()],
        };
        let roots = [AreaCode::parse("141102001").unwrap()];
        let plan = plan_roster(rows.clone(), &facts, &roots, &listed, true);
        assert_eq!(plan.added.len(), 1);
        assert_eq!(plan.added[0].row, 7);
        assert_eq!(plan.unchanged, 1);
        let changed: Vec<(i64, Vec<ChangedField>)> =
            plan.changed.iter().map(|c| (c.before.id, c.fields.clone())).collect();
        assert_eq!(
            changed,
            vec![
                (2, vec![ChangedField::Phone, ChangedField::Flags]),
                (3, vec![ChangedField::Place]),
                (6, vec![ChangedField::Returned]),
            ]
        );
        // Unit 2 is not in the file: its resident stays.
        assert_eq!(plan.moved_out.iter().map(|r| r.id).collect::<Vec<_>>(), vec![4]);
        assert_eq!(plan.refused, vec![(6, RosterRefusal::RegisteredElsewhere)]);

        let w = plan.write();
        assert_eq!((w.added.len(), w.updated.len(), w.moved_out), (1, 3, vec![4]));
        let audit = plan.audit_entries(&AuditEntry {
            at: chrono::Utc::now(),
            actor_id: Some(1),
            actor: "w".into(),
            role: None,
            action: "residents.import".into(),
            target_kind: "area".into(),
            target: "141102001".into(),
            request_id: "r".into(),
            detail: String::new(),
        });
        assert_eq!(audit.len(), 4);
        assert!(audit.iter().all(|e| e.action == "resident.update" && e.target_kind == "resident"));
        assert_eq!(audit[0].detail, "roster import: phone, flags");

        // Without moving out, the absent stay; the fingerprint follows the plan.
        let keep = plan_roster(rows.clone(), &facts, &roots, &listed, false);
        assert!(keep.moved_out.is_empty());
        assert_ne!(keep.fingerprint(), plan.fingerprint());
        assert_eq!(plan_roster(rows, &facts, &roots, &listed, true).fingerprint(), plan.fingerprint());
    }

    #[test]
    fn a_listed_person_with_a_bad_row_is_not_moved_out() {
        let a = resident(1, 1, 1, "101");
        let b = resident(2, 2, 1, "102");
        let listed: HashSet<IdNumber> = [a.id_number.clone(), b.id_number.clone()].into();
        let facts = RosterFacts { by_id_number: vec![a.clone()], in_units: vec![a.clone(), b.clone()] };
        let plan = plan_roster(vec![row(2, &a)], &facts, &[unit(1)], &listed, true);
        assert!(plan.moved_out.is_empty());
        assert!(plan.is_empty());
        assert_eq!(plan.unchanged, 1);
    }
}
