//! Puts the commit the binary was built from into `ostiary --version` (`OSTIARY_COMMIT`):
//! the variable itself when set (a packager's), else `git rev-parse` when this crate is part
//! of the checkout git reports, else `unknown`.

use std::path::Path;
use std::process::Command;

fn git(args: &[&str]) -> Option<String> {
    let dir = std::env::var("CARGO_MANIFEST_DIR").ok()?;
    let out = Command::new("git")
        .current_dir(dir)
        .args(args)
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8(out.stdout).ok())
        .flatten()
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
}

fn main() {
    println!("cargo:rerun-if-env-changed=OSTIARY_COMMIT");
    if let Ok(commit) = std::env::var("OSTIARY_COMMIT") {
        println!("cargo:rustc-env=OSTIARY_COMMIT={commit}");
        return;
    }
    // A source tree unpacked inside some other repository is not that repository's commit.
    let ours = git(&["ls-files", "--error-unmatch", "build.rs"]).is_some();
    let commit = ours
        .then(|| git(&["rev-parse", "--short=12", "HEAD"]))
        .flatten()
        .unwrap_or_else(|| "unknown".into());
    println!("cargo:rustc-env=OSTIARY_COMMIT={commit}");
    if !ours {
        return;
    }
    // Built again when the checkout moves to another commit; only paths that exist (cargo
    // treats a missing one as changed, and would rebuild every time).
    let mut watched = vec!["HEAD".to_owned(), "packed-refs".to_owned()];
    if let Some(branch) = git(&["symbolic-ref", "-q", "HEAD"]) {
        watched.push(branch);
    }
    for name in watched {
        if let Some(path) = git(&["rev-parse", "--path-format=absolute", "--git-path", &name])
            && Path::new(&path).exists()
        {
            println!("cargo:rerun-if-changed={path}");
        }
    }
}
