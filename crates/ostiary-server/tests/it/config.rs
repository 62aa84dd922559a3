//! Startup refusals and `check-config`, through the real binary.

use crate::support::{Scratch, stderr};

const SESSION_KEY: &str = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff\
                           00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";

fn production_serve(scratch: &Scratch, jwt_secret: Option<&str>) -> std::process::Output {
    let mut cmd = scratch.command(&["serve"]);
    cmd.env("OAUTH2_ENV", "production")
        .env("OAUTH2_ISSUER", "https://id.example.com")
        .env("OAUTH2_SESSION_KEY", SESSION_KEY)
        .env("OAUTH2_BIND", "127.0.0.1:0");
    if let Some(secret) = jwt_secret {
        cmd.env("OAUTH2_JWT_SECRET", secret);
    }
    cmd.output().expect("run ostiary serve")
}

#[test]
fn production_refuses_a_20_character_secret() {
    let scratch = Scratch::new();
    let out = production_serve(&scratch, Some("abcdefghijklmnopqrst"));
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains("OAUTH2_JWT_SECRET") && err.contains("openssl rand"),
        "{err}"
    );
}

#[test]
fn production_refuses_the_old_insecure_default() {
    let scratch = Scratch::new();
    let out = production_serve(
        &scratch,
        Some("insecure-default-for-testing-only-change-in-production"),
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("OAUTH2_JWT_SECRET"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn production_refuses_a_missing_secret_and_generates_no_file() {
    let scratch = Scratch::new();
    let out = production_serve(&scratch, None);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("OAUTH2_JWT_SECRET"));
    assert!(!crate::support::exists(
        &scratch.dir.path().join("ostiary.db.jwt-secret")
    ));
}

#[test]
fn production_refuses_malformed_session_key_and_http_issuer() {
    let scratch = Scratch::new();
    let secret = "0123456789abcdef0123456789abcdef";
    let out = scratch
        .command(&["serve"])
        .env("OAUTH2_ENV", "production")
        .env("OAUTH2_ISSUER", "https://id.example.com")
        .env("OAUTH2_JWT_SECRET", secret)
        .env("OAUTH2_SESSION_KEY", "not-hex")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("OAUTH2_SESSION_KEY"),
        "{}",
        stderr(&out)
    );

    let out = scratch
        .command(&["serve"])
        .env("OAUTH2_ENV", "production")
        .env("OAUTH2_ISSUER", "http://id.example.com")
        .env("OAUTH2_JWT_SECRET", secret)
        .env("OAUTH2_SESSION_KEY", SESSION_KEY)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("OAUTH2_ISSUER"), "{}", stderr(&out));
}

#[test]
fn check_config_prints_every_check_as_json() {
    let scratch = Scratch::new();
    let out = scratch
        .command(&["check-config"])
        .env("OAUTH2_ENV", "production")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["ok"], false);
    let failed: Vec<&str> = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["status"] == "fail")
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(failed, ["jwt_secret", "session_key", "issuer_https"]);

    let dev = scratch.json(&["check-config"]);
    assert_eq!(dev["ok"], true);
}

#[test]
fn config_file_is_read_and_environment_overrides_it() {
    let scratch = Scratch::new();
    let file = scratch.dir.path().join("ostiary.toml");
    std::fs::write(
        &file,
        "env = \"production\"\nissuer = \"https://file.example\"\n",
    )
    .unwrap();
    let path = file.to_str().unwrap();
    let out = scratch
        .command(&["--config", path, "check-config"])
        .output()
        .unwrap();
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["ok"], false, "production from the file");
    let out = scratch
        .command(&["--config", path, "check-config"])
        .env("OAUTH2_ENV", "development")
        .output()
        .unwrap();
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["ok"], true, "the environment overrides the file");

    std::fs::write(&file, "unknown_setting = 1\n").unwrap();
    let out = scratch
        .command(&["--config", path, "check-config"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("unknown_setting"));
}
