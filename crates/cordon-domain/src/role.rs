//! The thirteen roles of SPEC and what each is bound to.

use crate::area::AreaCode;
use crate::error::FieldError;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Commander,
    StreetOfficer,
    CommunityWorker,
    GridWorker,
    BuildingLeader,
    Sampler,
    LabTech,
    Tracer,
    TransferDispatcher,
    SiteManager,
    CheckpointGuard,
    SupplyOfficer,
    Volunteer,
}

impl Role {
    pub const ALL: [Role; 13] = [
        Role::Commander,
        Role::StreetOfficer,
        Role::CommunityWorker,
        Role::GridWorker,
        Role::BuildingLeader,
        Role::Sampler,
        Role::LabTech,
        Role::Tracer,
        Role::TransferDispatcher,
        Role::SiteManager,
        Role::CheckpointGuard,
        Role::SupplyOfficer,
        Role::Volunteer,
    ];

    pub fn code(self) -> &'static str {
        match self {
            Role::Commander => "commander",
            Role::StreetOfficer => "street_officer",
            Role::CommunityWorker => "community_worker",
            Role::GridWorker => "grid_worker",
            Role::BuildingLeader => "building_leader",
            Role::Sampler => "sampler",
            Role::LabTech => "lab_tech",
            Role::Tracer => "tracer",
            Role::TransferDispatcher => "transfer_dispatcher",
            Role::SiteManager => "site_manager",
            Role::CheckpointGuard => "checkpoint_guard",
            Role::SupplyOfficer => "supply_officer",
            Role::Volunteer => "volunteer",
        }
    }

    pub fn zh(self) -> &'static str {
        match self {
            Role::Commander => "指挥部",
            Role::StreetOfficer => "街道干部",
            Role::CommunityWorker => "社区工作者",
            Role::GridWorker => "网格员",
            Role::BuildingLeader => "楼长",
            Role::Sampler => "采样员",
            Role::LabTech => "检测机构",
            Role::Tracer => "流调员",
            Role::TransferDispatcher => "转运专班",
            Role::SiteManager => "隔离点负责人",
            Role::CheckpointGuard => "卡口值守",
            Role::SupplyOfficer => "物资保障",
            Role::Volunteer => "志愿者",
        }
    }

    pub fn en(self) -> &'static str {
        match self {
            Role::Commander => "Commander",
            Role::StreetOfficer => "Street officer",
            Role::CommunityWorker => "Community worker",
            Role::GridWorker => "Grid worker",
            Role::BuildingLeader => "Building leader",
            Role::Sampler => "Sampler",
            Role::LabTech => "Lab technician",
            Role::Tracer => "Tracer",
            Role::TransferDispatcher => "Transfer dispatcher",
            Role::SiteManager => "Quarantine site manager",
            Role::CheckpointGuard => "Checkpoint guard",
            Role::SupplyOfficer => "Supply officer",
            Role::Volunteer => "Volunteer",
        }
    }

    pub fn parse(s: &str) -> Result<Role, FieldError> {
        Role::ALL.into_iter().find(|r| r.code() == s.trim()).ok_or_else(|| {
            FieldError::new("role_unknown", "role", format!("未知角色：{s}"), format!("unknown role: {s}"))
        })
    }

    /// The level of area a user of this role is bound to. District-wide roles are bound
    /// to the district; a grid worker is bound to a grid (a set of buildings).
    pub fn scope_level(self) -> ScopeKind {
        use crate::area::AreaLevel::*;
        match self {
            Role::Commander
            | Role::LabTech
            | Role::Tracer
            | Role::TransferDispatcher
            | Role::SupplyOfficer
            | Role::SiteManager => ScopeKind::Area(District),
            Role::StreetOfficer => ScopeKind::Area(Street),
            Role::CommunityWorker | Role::Volunteer | Role::Sampler => ScopeKind::Area(Community),
            Role::CheckpointGuard => ScopeKind::Area(Compound),
            Role::BuildingLeader => ScopeKind::Area(Building),
            Role::GridWorker => ScopeKind::Grid,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScopeKind {
    Area(crate::area::AreaLevel),
    Grid,
}

/// What a user account is bound to, as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind", content = "ref")]
pub enum UserScope {
    Area(AreaCode),
    Grid(i64),
}

impl UserScope {
    /// Checks that the scope fits the role (a 楼长 is bound to a building, and so on).
    pub fn check_for(&self, role: Role) -> Result<(), FieldError> {
        let ok = match (role.scope_level(), self) {
            (ScopeKind::Area(level), UserScope::Area(code)) => code.level() == level,
            (ScopeKind::Grid, UserScope::Grid(_)) => true,
            _ => false,
        };
        if ok {
            Ok(())
        } else {
            let want = match role.scope_level() {
                ScopeKind::Area(l) => format!("{} ({})", l.zh(), l.as_str()),
                ScopeKind::Grid => "网格 (grid)".to_string(),
            };
            Err(FieldError::new(
                "scope_level",
                "scope",
                format!("{}的管辖范围应为{want}", role.zh()),
                format!("a {} must be bound to a {want}", role.en().to_lowercase()),
            ))
        }
    }
}
