//! The HTTP handlers, one module per group of GoTrue endpoints.

pub mod admin;
pub mod meta;
pub mod mfa;
pub mod otp;
pub mod paging;
pub mod signup;
pub mod token;
pub mod user;
pub mod verify;
