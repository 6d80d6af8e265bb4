//! The Dockerfile at the repository root copies the binary this crate builds (docker itself does
//! not run here): its COPY source is the release path of the `basalt` binary, and the image runs
//! as a non-root user with a HEALTHCHECK on the liveness endpoint.
#![allow(clippy::unwrap_used)]

use std::path::Path;

#[test]
fn the_dockerfile_copies_the_binary_the_build_produces() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let dockerfile = std::fs::read_to_string(root.join("Dockerfile")).unwrap();
    let copy: Vec<&str> = dockerfile
        .lines()
        .find(|l| l.starts_with("COPY "))
        .unwrap()
        .split_whitespace()
        .collect();
    assert_eq!(copy[1], "target/release/basalt", "{copy:?}");
    // The binary this test runs against is the same target, in the debug profile.
    let built = Path::new(env!("CARGO_BIN_EXE_basalt"));
    assert_eq!(built.file_name().unwrap(), "basalt");
    let profile_dir = built.parent().unwrap();
    assert_eq!(profile_dir.file_name().unwrap(), "debug");
    // In the default target directory, that is `target/debug/basalt` beside the release one.
    if std::env::var_os("CARGO_TARGET_DIR").is_none() {
        let target = profile_dir.parent().unwrap().canonicalize().unwrap();
        assert_eq!(target, root.join("target").canonicalize().unwrap());
    }
    // …and [[bin]] names it basalt.
    let manifest = include_str!("../Cargo.toml");
    assert!(
        manifest.contains("[[bin]]\nname = \"basalt\""),
        "{manifest}"
    );
    // The build context lets exactly that file in.
    let ignore = std::fs::read_to_string(root.join(".dockerignore")).unwrap();
    assert!(ignore.lines().any(|l| l == "!target/release/basalt"));

    let user = dockerfile
        .lines()
        .find_map(|l| l.strip_prefix("USER "))
        .unwrap()
        .trim();
    assert!(user != "root" && user != "0", "{user}");
    let health = dockerfile
        .lines()
        .position(|l| l.starts_with("HEALTHCHECK"))
        .unwrap();
    assert!(dockerfile
        .lines()
        .nth(health + 1)
        .unwrap()
        .contains("/health/live"));
    assert!(dockerfile.contains("ENTRYPOINT [\"/usr/local/bin/basalt\"]"));
}
