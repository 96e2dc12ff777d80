//! The files embedded at build time (see `build.rs`): schemas, scenarios and profiles.

include!(concat!(env!("OUT_DIR"), "/embedded.rs"));

/// The contents of an embedded schema file, by its path relative to `schemas/`.
pub fn schema(relative: &str) -> Option<&'static str> {
    SCHEMAS
        .iter()
        .find(|(p, _)| *p == relative)
        .map(|(_, c)| *c)
}

/// The contents of an embedded profile, by file name with or without extension (`sandbox-daraja`).
pub fn profile(name: &str) -> Option<(&'static str, &'static str)> {
    PROFILES
        .iter()
        .find(|(p, _)| *p == name || p.rsplit_once('.').is_some_and(|(stem, _)| stem == name))
        .copied()
}
