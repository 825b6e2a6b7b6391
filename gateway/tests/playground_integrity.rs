//! GraphiQL's page loads React and GraphiQL from the node itself (`/assets/…`, files under
//! `playground/assets`), with Subresource Integrity. Checked here: the page names nothing on
//! another origin; each `integrity` is the hash of the file served under that name, or browsers
//! refuse to run it; and each file is byte for byte the file of the npm package
//! `playground/assets/SOURCES.json` names, in the registry tarball whose integrity it pins
//! (`npm pack`), so a vendored file cannot drift from its package unnoticed.

use std::collections::HashMap;
use std::path::Path;
use std::process::Command;

use base64::Engine as _;
use serde_json::Value;
use sha2::{Digest, Sha384};

const PAGE: &str = include_str!("../../playground/graphiql.html");

fn assets_dir() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../playground/assets"))
}

fn sri(bytes: &[u8]) -> String {
    format!("sha384-{}", base64::engine::general_purpose::STANDARD.encode(Sha384::digest(bytes)))
}

/// (file name under /assets/, integrity) of every `src` or `href` on the page.
fn resources() -> Vec<(String, String)> {
    let mut found = Vec::new();
    for attribute in ["src=\"", "href=\""] {
        for (at, _) in PAGE.match_indices(attribute) {
            let rest = &PAGE[at + attribute.len()..];
            let url = &rest[..rest.find('"').expect("a quoted URL")];
            let name = url.strip_prefix("/assets/").unwrap_or_else(|| panic!("{url} is not served by the node"));
            let tag_end = rest.find('>').expect("the tag ends");
            let integrity = rest[..tag_end]
                .split("integrity=\"")
                .nth(1)
                .map(|v| v[..v.find('"').expect("quoted")].to_owned())
                .unwrap_or_else(|| panic!("{url} has no integrity attribute"));
            found.push((name.to_owned(), integrity));
        }
    }
    found
}

#[test]
fn the_page_loads_only_its_own_assets_each_with_its_hash() {
    assert!(!PAGE.contains("https://") && !PAGE.contains("http://"), "no other origin on the page");
    let resources = resources();
    assert_eq!(resources.len(), 4, "GraphiQL's CSS and script, React, ReactDOM: {resources:?}");
    for (name, integrity) in resources {
        let file = std::fs::read(assets_dir().join(&name)).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(integrity, sri(&file), "{name}");
    }
}

#[test]
fn every_asset_is_the_file_of_the_npm_package_it_names() {
    let sources: Value = serde_json::from_slice(&std::fs::read(assets_dir().join("SOURCES.json")).unwrap()).unwrap();
    let sources = sources["files"].as_array().expect("files");
    let served: Vec<String> = std::fs::read_dir(assets_dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|name| name != "SOURCES.json")
        .collect();
    assert_eq!(served.len(), sources.len(), "every file has its source: {served:?}");
    let dir = tempfile::tempdir().unwrap();
    let mut unpacked: HashMap<String, std::path::PathBuf> = HashMap::new();
    for source in sources {
        let (file, package, tarball, path) = (
            source["file"].as_str().unwrap(),
            source["package"].as_str().unwrap(),
            source["tarball"].as_str().unwrap(),
            source["path"].as_str().unwrap(),
        );
        if !unpacked.contains_key(package) {
            // npm checks the tarball against the registry's integrity; its own must be the pinned one.
            let packed = Command::new("npm")
                .args(["pack", "--json", package])
                .current_dir(dir.path())
                .output()
                .expect("npm runs");
            assert!(packed.status.success(), "npm pack {package}: {}", String::from_utf8_lossy(&packed.stderr));
            let report: Value = serde_json::from_slice(&packed.stdout).expect("npm pack --json");
            assert_eq!(report[0]["integrity"], tarball, "{package}: the registry's tarball is the pinned one");
            let into = dir.path().join(package);
            std::fs::create_dir_all(&into).unwrap();
            let archive = dir.path().join(report[0]["filename"].as_str().expect("filename"));
            let status = Command::new("tar").arg("xzf").arg(&archive).arg("-C").arg(&into).status().unwrap();
            assert!(status.success());
            unpacked.insert(package.to_owned(), into);
        }
        let original = std::fs::read(unpacked[package].join(path)).unwrap_or_else(|e| panic!("{package}/{path}: {e}"));
        let vendored = std::fs::read(assets_dir().join(file)).unwrap();
        assert!(original == vendored, "{file} is byte for byte {package}/{path}");
    }
}
