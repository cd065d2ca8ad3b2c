//! `cordon demo`: a generated district in an embedded SQLite file and one account per
//! role, printed, so a new user can log in as anyone within a minute.

use anyhow::{Context, Result};
use cordon_domain::area::AreaCode;
use cordon_domain::role::{Role, ScopeKind};
use cordon_domain::synth;
use cordon_store::Store;
use std::sync::Arc;

/// Password of the demo account for `role`. Printed on every start: this is a demo.
pub fn demo_password(role: Role) -> String {
    format!("cordon-{}", role.code().replace('_', "-"))
}

pub async fn prepare(url: &str, population: u64, seed: u64) -> Result<Arc<dyn Store>> {
    let store = crate::cli::open_store(url).await?;
    prepare_store(store.as_ref(), url, population, seed).await?;
    crate::demo_zones::seed(store.as_ref(), &AreaCode::parse(synth::DISTRICT_CODE).map_err(|e| anyhow::anyhow!(e.en))?)
        .await?;
    Ok(store)
}

/// The demo on a store already opened (either backend): migrates it, generates the
/// district and the testing and codes data once, and makes the accounts; `label` names the
/// database in what is printed.
pub async fn prepare_store(store: &dyn Store, label: &str, population: u64, seed: u64) -> Result<()> {
    store.migrate().await?;
    let district = AreaCode::parse(synth::DISTRICT_CODE).map_err(|e| anyhow::anyhow!(e.en))?;
    if store.area(&district).await?.is_none() {
        eprintln!("生成演示辖区 / generating the demo district ({population} residents, seed {seed}) …");
        let started = std::time::Instant::now();
        let s = crate::cli::generate(store, population, seed).await?;
        eprintln!(
            "  {} residents, {} households, {} grids in {:.1}s",
            s.residents,
            s.households,
            s.grids,
            started.elapsed().as_secs_f64()
        );
    }
    crate::demo_testing::seed(store, &district).await?;
    let scopes = demo_scopes(store, &district).await?;
    println!("\n演示账号 / demo accounts ({label}):");
    println!("  {:<22} {:<24} role 角色 · scope 范围", "username 用户名", "password 密码");
    for role in Role::ALL {
        let username = role.code();
        let password = demo_password(role);
        let scope = scopes.for_role(role)?;
        if store.user_by_username(username).await?.is_none() {
            crate::cli::add_user(
                store,
                username,
                role.code(),
                &scope,
                Some(&format!("{}（演示）", role.zh())),
                &password,
            )
            .await?;
        }
        println!("  {:<22} {:<24} {} · {}", username, password, role.zh(), scope);
    }
    crate::codes_cli::demo_data(store, &scopes.compound, &scopes.community).await?;
    crate::credentials_cli::demo_tokens(store).await?;
    crate::demo_containment::seed(store, &scopes.district, &scopes.street, &scopes.building).await?;
    println!();
    Ok(())
}

struct DemoScopes {
    district: AreaCode,
    street: AreaCode,
    community: AreaCode,
    compound: AreaCode,
    building: AreaCode,
    grid: i64,
}

impl DemoScopes {
    fn for_role(&self, role: Role) -> Result<String> {
        use cordon_domain::area::AreaLevel::*;
        Ok(match role.scope_level() {
            ScopeKind::Grid => self.grid.to_string(),
            ScopeKind::Area(District) => self.district.to_string(),
            ScopeKind::Area(Street) => self.street.to_string(),
            ScopeKind::Area(Community) => self.community.to_string(),
            ScopeKind::Area(Compound) => self.compound.to_string(),
            ScopeKind::Area(Building) => self.building.to_string(),
            ScopeKind::Area(Unit) => anyhow::bail!("no role is bound to a unit"),
        })
    }
}

/// The first street, community, compound and building of the district, and the grid that
/// holds that building: the demo's accounts all look at the same corner of it.
async fn demo_scopes(store: &dyn Store, district: &AreaCode) -> Result<DemoScopes> {
    let first = |v: Vec<cordon_store::AreaSummary>| v.into_iter().next().map(|s| s.area.code);
    let street = first(store.children(district).await?).context("district has no streets")?;
    let community = first(store.children(&street).await?).context("street has no communities")?;
    let compound = first(store.children(&community).await?).context("community has no compounds")?;
    let building = first(store.children(&compound).await?).context("compound has no buildings")?;
    let grids = store.grids_under(&community).await?;
    let grid = grids
        .iter()
        .find(|g| g.buildings.contains(&building))
        .or(grids.first())
        .map(|g| g.id)
        .context("community has no grids")?;
    Ok(DemoScopes { district: district.clone(), street, community, compound, building, grid })
}
