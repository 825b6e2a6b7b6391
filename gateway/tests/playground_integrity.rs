//! GraphiQL's page loads React and GraphiQL from unpkg.com with Subresource Integrity: each
//! `integrity` must be the hash of that file in the npm package it names, or browsers refuse
//! to run it. Checked against the registry's tarballs (`npm pack`), so a version bump without
//! new hashes fails here rather than in an officer's browser.

use std::process::Command;

use base64::Engine as _;
use sha2::{Digest, Sha384};

const PAGE: &str = include_str!("../../playground/graphiql.html");

/// (package@version, path in the package, integrity) for each unpkg.com resource on the page.
fn resources() -> Vec<(String, String, String)> {
    let mut found = Vec::new();
    for (at, _) in PAGE.match_indices("https://unpkg.com/") {
        let rest = &PAGE[at + "https://unpkg.com/".len()..];
        let url = &rest[..rest.find('"').expect("a quoted URL")];
        let tag_end = rest.find('>').expect("the tag ends");
        let integrity = rest[..tag_end]
            .split("integrity=\"")
            .nth(1)
            .map(|v| v[..v.find('"').expect("quoted")].to_owned())
            .unwrap_or_else(|| panic!("{url} has no integrity attribute"));
        let split = url[1..].find('/').map(|i| i + 1).expect("package/path");
        found.push((url[..split].to_owned(), url[split + 1..].to_owned(), integrity));
    }
    found
}

#[test]
fn every_unpkg_resource_carries_the_hash_of_its_npm_file() {
    let resources = resources();
    assert_eq!(resources.len(), 4, "GraphiQL's CSS and script, React, ReactDOM");
    let dir = tempfile::tempdir().unwrap();
    for (package, path, integrity) in resources {
        let packed = Command::new("npm")
            .args(["pack", "--silent", &package])
            .current_dir(dir.path())
            .output()
            .expect("npm runs");
        assert!(packed.status.success(), "npm pack {package}: {}", String::from_utf8_lossy(&packed.stderr));
        let tarball = String::from_utf8(packed.stdout).unwrap().trim().lines().last().unwrap().to_owned();
        let unpacked = dir.path().join(&package);
        std::fs::create_dir_all(&unpacked).unwrap();
        let status =
            Command::new("tar").args(["xzf"]).arg(dir.path().join(&tarball)).arg("-C").arg(&unpacked).status().unwrap();
        assert!(status.success());
        let file = std::fs::read(unpacked.join("package").join(&path)).unwrap();
        let expected = format!("sha384-{}", base64::engine::general_purpose::STANDARD.encode(Sha384::digest(&file)));
        assert_eq!(integrity, expected, "{package}/{path}");
    }
}
