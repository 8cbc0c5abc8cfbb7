//! The admin surface. Today: bearer-token authentication for the `/api/*` admin endpoints.
//! Sessions, CSRF and the maud pages arrive with the admin step.

pub mod auth;
pub mod page;
