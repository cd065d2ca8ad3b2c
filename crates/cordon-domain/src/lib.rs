//! Cordon's domain: the entities of a district's outbreak response, the rules they obey
//! and the checks that make a value trustworthy once it exists.
//!
//! This crate must never do IO: no SQL, no HTTP, no files, no clock reads. Anything that
//! depends on time takes `now`/`today` as an argument; anything random takes a seed.
//! Values such as [`IdNumber`], [`Phone`] and [`AreaCode`] are parsed once at the edge and
//! are valid for as long as they are held ("parse, don't validate").
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

pub mod area;
pub mod audit;
pub mod authz;
pub mod clock;
pub mod colour;
pub mod containment;
pub mod error;
pub mod id_number;
pub mod name;
pub mod pass;
pub mod phone;
pub mod policy;
pub mod regime;
pub mod registry;
pub mod role;
pub mod security;
pub mod synth;
pub mod testing;
pub mod token;
pub mod tracing;
pub mod zone;

pub use area::{Area, AreaCode, AreaLevel};

pub use error::{Denied, FieldError};
pub use id_number::{IdNumber, Sex};
pub use name::PersonName;
pub use phone::Phone;

pub use authz::{Action, Principal, authorize};
pub use role::{Role, UserScope};
