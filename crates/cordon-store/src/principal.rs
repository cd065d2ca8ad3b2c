//! Resolving a stored user into a [`Principal`]: the scope becomes area roots.

use crate::{RegistryStore, Result, StoreError, User};
use cordon_domain::authz::Principal;
use cordon_domain::role::UserScope;

/// Resolves the user's scope: an area scope is one root; a grid scope is the grid's
/// buildings. The label names the scope by its areas' names.
pub async fn principal_for(store: &dyn RegistryStore, user: &User) -> Result<Principal> {
    let (roots, label) = match &user.scope {
        UserScope::Area(code) => {
            let mut names = Vec::new();
            for c in code.lineage().iter().skip(1) {
                if let Some(a) = store.area(c).await? {
                    names.push(a.name);
                }
            }
            if names.is_empty() {
                if let Some(a) = store.area(code).await? {
                    names.push(a.name);
                }
            }
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
