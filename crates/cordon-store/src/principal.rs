//! Resolving a stored user into a [`Principal`]: the scope becomes area roots.

use crate::{RegistryStore, Result, StoreError, User};
use cordon_domain::area::{Area, AreaCode};
use cordon_domain::authz::Principal;
use cordon_domain::role::UserScope;

/// The areas whose names label an area scope: the lineage below the district, or the
/// district itself for a district scope. Empty for a grid scope (its label comes from the
/// grid).
pub fn label_areas(scope: &UserScope) -> Vec<AreaCode> {
    match scope {
        UserScope::Area(code) => {
            let lineage = code.lineage();
            match lineage.get(1..) {
                Some(below) if !below.is_empty() => below.to_vec(),
                _ => vec![code.clone()],
            }
        }
        UserScope::Grid(_) => Vec::new(),
    }
}

/// Resolves the user's scope: an area scope is one root; a grid scope is the grid's
/// buildings. The label names the scope by its areas' names.
pub async fn principal_for(store: &dyn RegistryStore, user: &User) -> Result<Principal> {
    // One read, as this runs on every request.
    let areas = store.areas(&label_areas(&user.scope)).await?;
    principal_with_areas(store, user, areas).await
}

/// [`principal_for`] when the areas of [`label_areas`] were already read (with the user,
/// in one read: [`crate::CredentialsStore::bearer_facts`]).
pub async fn principal_with_areas(store: &dyn RegistryStore, user: &User, areas: Vec<Area>) -> Result<Principal> {
    let (roots, label) = match &user.scope {
        UserScope::Area(code) => {
            let names: Vec<String> = areas.into_iter().map(|a| a.name).collect();
            (vec![code.clone()], names.join(" / "))
        }
        UserScope::Grid(id) => {
            let grid = store.grid(*id).await?.ok_or(StoreError::NotFound("grid"))?;
            let community = store.area(&grid.community).await?.map(|a| a.name).unwrap_or_default();
            (grid.buildings.clone(), format!("{community} / {}", grid.name))
        }
    };
    Ok(Principal { user_id: user.id, username: user.username.clone(), role: user.role, roots, scope_label: label })
}
