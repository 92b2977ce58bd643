//! rsync over gateways (placeholder declarations for this branch; the
//! driver's version of this file replaces it).

#[allow(dead_code)] // Nothing uses them before the driver lands.
pub(crate) mod delta;
#[allow(dead_code)]
pub(crate) mod filter;
#[allow(dead_code)]
pub(crate) mod walk;
