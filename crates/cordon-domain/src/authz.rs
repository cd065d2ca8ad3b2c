//! The one authorization function every route calls.
//!
//! Two questions, in order: may this role do this kind of thing at all, and is the
//! target inside the principal's subtree of the area tree? A building leader's subtree
//! is one building; a grid worker's is the buildings of the grid; a commander's is the
//! district.

use crate::area::AreaCode;
use crate::error::Denied;
use crate::role::Role;
use serde::Serialize;

/// A logged-in user with the scope resolved to area roots.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Principal {
    pub user_id: i64,
    pub username: String,
    pub role: Role,
    /// Area subtrees this user may see: one code for most roles, the grid's buildings for
    /// a grid worker. Never empty for a usable account.
    pub roots: Vec<AreaCode>,
    /// Human label of the scope ("滨河街道 / 凤山社区").
    pub scope_label: String,
}

impl Principal {
    pub fn covers(&self, code: &AreaCode) -> bool {
        self.roots.iter().any(|r| r.contains(code))
    }

    /// True when `code` is an ancestor of one of the roots (so the principal may see that
    /// node exists, e.g. in breadcrumbs, but not what lies beside its own subtree).
    pub fn is_above(&self, code: &AreaCode) -> bool {
        self.roots.iter().any(|r| code.contains(r) && code != r)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// Area tree with counts (no personal data).
    ViewAreaTree,
    /// A building's households, members and phone numbers.
    ViewRoster,
    /// One resident's full record.
    ViewResident,
    /// Search residents by name, ID number or phone.
    SearchResidents,
    /// Corrections: moved out, temporary visitor, phone change, add a visitor.
    EditResident,
    ImportResidents,
    ExportResidents,
    ViewAudit,
}

impl Action {
    pub const ALL: [Action; 8] = [
        Action::ViewAreaTree,
        Action::ViewRoster,
        Action::ViewResident,
        Action::SearchResidents,
        Action::EditResident,
        Action::ImportResidents,
        Action::ExportResidents,
        Action::ViewAudit,
    ];

    pub fn code(self) -> &'static str {
        match self {
            Action::ViewAreaTree => "view_area_tree",
            Action::ViewRoster => "view_roster",
            Action::ViewResident => "view_resident",
            Action::SearchResidents => "search_residents",
            Action::EditResident => "edit_resident",
            Action::ImportResidents => "import_residents",
            Action::ExportResidents => "export_residents",
            Action::ViewAudit => "view_audit",
        }
    }

    /// The role table. Personal data (rosters, details, search) is for the people who
    /// keep the registry and for tracers; gate guards, samplers and the rest see counts.
    pub fn allowed(self, role: Role) -> bool {
        use Role::*;
        match self {
            Action::ViewAreaTree => true,
            Action::ViewRoster | Action::EditResident => {
                matches!(role, Commander | StreetOfficer | CommunityWorker | GridWorker | BuildingLeader)
            }
            Action::ViewResident | Action::SearchResidents => {
                matches!(role, Commander | StreetOfficer | CommunityWorker | GridWorker | BuildingLeader | Tracer)
            }
            Action::ImportResidents | Action::ExportResidents => {
                matches!(role, Commander | StreetOfficer | CommunityWorker)
            }
            Action::ViewAudit => matches!(role, Commander),
        }
    }
}

/// May `who` do `action` on the area `target` (or at all, when there is no target)?
pub fn authorize(who: &Principal, action: Action, target: Option<&AreaCode>) -> Result<(), Denied> {
    if !action.allowed(who.role) {
        return Err(Denied::role(action.code()));
    }
    match target {
        Some(code) if !who.covers(code) => Err(Denied::scope(action.code())),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(role: Role, root: &str) -> Principal {
        Principal {
            user_id: 1,
            username: "u".into(),
            role,
            roots: vec![AreaCode::parse(root).unwrap()],
            scope_label: String::new(),
        }
    }

    #[test]
    fn building_leader_sees_one_building() {
        let who = p(Role::BuildingLeader, "141102001001001001");
        let mine = AreaCode::parse("14110200100100100102").unwrap();
        let other = AreaCode::parse("141102001001001002").unwrap();
        assert!(authorize(&who, Action::ViewRoster, Some(&mine)).is_ok());
        assert_eq!(authorize(&who, Action::ViewRoster, Some(&other)).unwrap_err().code, "forbidden_scope");
        assert_eq!(authorize(&who, Action::ViewAudit, None).unwrap_err().code, "forbidden_role");
        assert!(who.is_above(&AreaCode::parse("141102").unwrap()));
    }

    #[test]
    fn guard_sees_no_rosters() {
        let who = p(Role::CheckpointGuard, "141102001001001");
        let b = AreaCode::parse("141102001001001001").unwrap();
        assert_eq!(authorize(&who, Action::ViewRoster, Some(&b)).unwrap_err().code, "forbidden_role");
        assert!(authorize(&who, Action::ViewAreaTree, Some(&b)).is_ok());
    }
}
