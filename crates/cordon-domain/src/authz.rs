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
    // ---- mass testing (issue 3) ----
    /// Create test rounds and sampling sites.
    ManageRounds,
    /// Scan tubes and people into samples (the sampler's page and device API).
    SampleResidents,
    /// Receive boxes and tubes at the lab, enter results.
    LabResults,
    /// Coverage counts per area (no personal data).
    ViewCoverage,
    /// Missed lists with names and phone numbers, reports to the community.
    ViewMissed,
    /// Door-knock tasks and their outcomes, exemptions.
    DoorKnock,
    /// Positive-pool alerts and the chase timeline.
    ViewChase,
    // ---- health codes, checkpoints, passes (issue 4) ----
    /// A resident's health code: colour, reasons and QR.
    ViewCode,
    /// Printable code cards for a building (masked names).
    PrintCodeCards,
    /// Switch the district's active policy profile.
    ManagePolicy,
    /// Designate risk zones.
    ManageZones,
    /// Create checkpoints and venues, assign guards.
    ManageCheckpoints,
    /// Scan codes and passes at a checkpoint (assigned guards).
    ScanCheckpoint,
    /// Record check-ins at a venue and read who was there.
    VenueCheckin,
    /// Issue, revoke and export passes.
    IssuePass,
    // ---- containment (issue 12): quarantine, transfer, zones on the clock ----
    /// The isolation queue, orders, sites' occupancy, transfers and their KPIs (read).
    ViewContainment,
    /// Put people on the isolation queue (arrivals from risk areas) and issue orders.
    IssueOrders,
    /// Dispatch vehicles for transfer requests (转运专班).
    DispatchTransfer,
    /// Confirm pickups and arrivals of a run one is assigned to drive.
    DriveTransfer,
    /// Run a quarantine site: rooms, assignment, health checks, release.
    ManageSite,
    /// Follow up people in home quarantine: health checks at the door.
    FollowHome,
    // ---- tracing (issue 11) ----
    /// Cases, investigations, contacts and their candidates (流调).
    TraceCases,
    /// Transmission chains, clusters and tracing KPIs.
    ViewChains,
    // ---- credentials (issue 10) ----
    /// Accounts and bearer tokens in scope: revoke a token, disable or enable an account,
    /// log a user out everywhere.
    ManageAccounts,
}

impl Action {
    pub const ALL: [Action; 32] = [
        Action::ViewAreaTree,
        Action::ViewRoster,
        Action::ViewResident,
        Action::SearchResidents,
        Action::EditResident,
        Action::ImportResidents,
        Action::ExportResidents,
        Action::ViewAudit,
        Action::ManageRounds,
        Action::SampleResidents,
        Action::LabResults,
        Action::ViewCoverage,
        Action::ViewMissed,
        Action::DoorKnock,
        Action::ViewChase,
        Action::ViewCode,
        Action::PrintCodeCards,
        Action::ManagePolicy,
        Action::ManageZones,
        Action::ManageCheckpoints,
        Action::ScanCheckpoint,
        Action::VenueCheckin,
        Action::IssuePass,
        Action::ViewContainment,
        Action::IssueOrders,
        Action::DispatchTransfer,
        Action::DriveTransfer,
        Action::ManageSite,
        Action::FollowHome,
        Action::TraceCases,
        Action::ViewChains,
        Action::ManageAccounts,
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
            Action::ManageRounds => "manage_rounds",
            Action::SampleResidents => "sample_residents",
            Action::LabResults => "lab_results",
            Action::ViewCoverage => "view_coverage",
            Action::ViewMissed => "view_missed",
            Action::DoorKnock => "door_knock",
            Action::ViewChase => "view_chase",
            Action::ViewCode => "view_code",
            Action::PrintCodeCards => "print_code_cards",
            Action::ManagePolicy => "manage_policy",
            Action::ManageZones => "manage_zones",
            Action::ManageCheckpoints => "manage_checkpoints",
            Action::ScanCheckpoint => "scan_checkpoint",
            Action::VenueCheckin => "venue_checkin",
            Action::IssuePass => "issue_pass",
            Action::ViewContainment => "view_containment",
            Action::IssueOrders => "issue_orders",
            Action::DispatchTransfer => "dispatch_transfer",
            Action::DriveTransfer => "drive_transfer",
            Action::ManageSite => "manage_site",
            Action::FollowHome => "follow_home",
            Action::TraceCases => "trace_cases",
            Action::ViewChains => "view_chains",
            Action::ManageAccounts => "manage_accounts",
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
            Action::ManageRounds => matches!(role, Commander),
            Action::SampleResidents => matches!(role, Sampler),
            Action::LabResults => matches!(role, LabTech),
            Action::ViewCoverage => {
                matches!(role, Commander | StreetOfficer | CommunityWorker | GridWorker | BuildingLeader | Tracer)
            }
            Action::ViewMissed => {
                matches!(role, Commander | StreetOfficer | CommunityWorker | GridWorker | BuildingLeader)
            }
            Action::DoorKnock => matches!(role, Commander | StreetOfficer | CommunityWorker | GridWorker | Volunteer),
            Action::ViewChase => matches!(role, Commander | Tracer),
            Action::ViewCode => {
                matches!(role, Commander | StreetOfficer | CommunityWorker | GridWorker | BuildingLeader | Tracer)
            }
            Action::PrintCodeCards => {
                matches!(role, Commander | StreetOfficer | CommunityWorker | GridWorker | BuildingLeader)
            }
            Action::ManagePolicy => matches!(role, Commander),
            Action::ManageZones => matches!(role, Commander),
            Action::ManageCheckpoints => matches!(role, Commander | StreetOfficer | CommunityWorker),
            Action::ScanCheckpoint => matches!(role, Commander | CheckpointGuard),
            Action::VenueCheckin => {
                matches!(role, Commander | StreetOfficer | CommunityWorker | Tracer | Volunteer | Sampler)
            }
            Action::IssuePass => matches!(role, Commander | StreetOfficer | CommunityWorker),
            Action::ViewContainment => {
                matches!(role, Commander | StreetOfficer | CommunityWorker | Tracer | TransferDispatcher | SiteManager)
            }
            Action::IssueOrders => matches!(role, Commander | Tracer | TransferDispatcher),
            Action::DispatchTransfer => matches!(role, Commander | TransferDispatcher),
            Action::DriveTransfer => matches!(role, TransferDispatcher),
            Action::ManageSite => matches!(role, Commander | SiteManager),
            Action::FollowHome => matches!(role, Commander | StreetOfficer | CommunityWorker | GridWorker),
            Action::TraceCases => matches!(role, Commander | Tracer),
            Action::ViewChains => matches!(role, Commander | Tracer),
            Action::ManageAccounts => matches!(role, Commander),
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
