//! The admin CLI as operators run it: the real binary, JSON on stdout, exit code 1 on errors.

use crate::support::{Scratch, assert_success, contains, stderr};
use ostiary_core::user::Username;
use ostiary_store::Database;

#[test]
fn created_client_is_listed_without_secret_and_secret_is_not_in_the_database_file() {
    let scratch = Scratch::new();
    let created = scratch.json(&[
        "client",
        "create",
        "--name",
        "Billing",
        "--client-id",
        "billing",
        "--grant-type",
        "client_credentials",
        "--scope",
        "invoices:read invoices:write",
        "--audience",
        "https://api.example.com",
    ]);
    assert_eq!(created["client_id"], "billing");
    let secret = created["client_secret"]
        .as_str()
        .expect("secret shown once");
    assert_eq!(secret.len(), 43, "256-bit base64url secret");
    assert_eq!(
        created["scopes"],
        serde_json::json!(["invoices:read", "invoices:write"])
    );

    let listed = scratch.run(&["client", "list"]);
    crate::support::assert_success(&listed, &["client", "list"]);
    let list: serde_json::Value = serde_json::from_slice(&listed.stdout).unwrap();
    assert_eq!(list.as_array().unwrap().len(), 1);
    assert_eq!(list[0]["client_id"], "billing");
    assert_eq!(
        list[0]["grant_types"],
        serde_json::json!(["client_credentials"])
    );
    assert_eq!(list[0]["token_endpoint_auth_method"], "client_secret_basic");
    assert!(list[0].get("client_secret").is_none());
    assert!(!contains(&listed.stdout, secret.as_bytes()));

    let db = scratch.database_bytes();
    assert!(
        contains(&db, b"billing"),
        "control: the client row is in these bytes"
    );
    assert!(
        !contains(&db, secret.as_bytes()),
        "client secret found in the database file"
    );
}

#[test]
fn public_client_gets_no_secret() {
    let scratch = Scratch::new();
    let created = scratch.json(&[
        "client",
        "create",
        "--name",
        "SPA",
        "--public",
        "--redirect-uri",
        "http://127.0.0.1:3000/callback",
    ]);
    assert!(created.get("client_secret").is_none());
    assert_eq!(created["token_endpoint_auth_method"], "none");
    assert_eq!(created["public"], true);
    assert_eq!(
        created["grant_types"],
        serde_json::json!(["authorization_code", "refresh_token"])
    );
}

const EC_JWK: &str = r#"{"kty":"EC","crv":"P-256","kid":"k1",
    "x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
    "y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}"#;

fn private_jwks() -> String {
    let private = EC_JWK.replace(
        r#""kty""#,
        r#""d":"jpsQnnGQmL-YBIffH1136cspYG6-0iY7X1fCE9-E9LI","kty""#,
    );
    format!(r#"{{"keys":[{private}]}}"#)
}

#[test]
fn a_key_client_is_created_with_its_keys_and_shown_without_a_secret() {
    let scratch = Scratch::new();
    let jwks = format!(r#"{{"keys":[{EC_JWK}]}}"#);
    let created = scratch.json(&[
        "client",
        "create",
        "--name",
        "Svc",
        "--client-id",
        "svc",
        "--jwks",
        &jwks,
        "--require-dpop",
    ]);
    assert_eq!(created["token_endpoint_auth_method"], "private_key_jwt");
    assert!(created.get("client_secret").is_none(), "{created}");
    let shown = scratch.json(&["client", "show", "svc"]);
    assert_eq!(shown["jwks"]["keys"][0]["kid"], "k1");
    assert_eq!(shown["dpop_bound_access_tokens"], true);
    assert!(shown.get("client_secret").is_none());
    let rotate = scratch.run(&["client", "rotate-secret", "svc"]);
    assert_eq!(rotate.status.code(), Some(1));
    assert!(
        stderr(&rotate).contains("private_key_jwt"),
        "{}",
        stderr(&rotate)
    );

    let by_uri = scratch.json(&[
        "client",
        "create",
        "--name",
        "Remote",
        "--client-id",
        "remote",
        "--jwks-uri",
        "https://keys.example.com/jwks.json",
    ]);
    assert_eq!(by_uri["jwks_uri"], "https://keys.example.com/jwks.json");
    let missing = scratch.run(&["client", "show", "nobody"]);
    assert_eq!(missing.status.code(), Some(1));
    assert!(stderr(&missing).contains("not found"));
}

#[test]
fn rotate_secret_and_delete() {
    let scratch = Scratch::new();
    let created = scratch.json(&["client", "create", "--name", "Svc", "--client-id", "svc"]);
    let rotated = scratch.json(&["client", "rotate-secret", "svc"]);
    assert_eq!(rotated["client_id"], "svc");
    assert_ne!(rotated["client_secret"], created["client_secret"]);
    assert_eq!(scratch.json(&["client", "delete", "svc"])["deleted"], "svc");
    assert_eq!(scratch.json(&["client", "list"]), serde_json::json!([]));

    let again = scratch.run(&["client", "delete", "svc"]);
    assert_eq!(again.status.code(), Some(1));
    assert!(stderr(&again).contains("not found"), "{}", stderr(&again));
}

#[test]
fn rotate_secret_may_keep_the_old_one_for_a_while() {
    let scratch = Scratch::new();
    scratch.json(&["client", "create", "--name", "Svc", "--client-id", "svc"]);
    let rotated = scratch.json(&["client", "rotate-secret", "svc", "--keep-old", "2h"]);
    let until = rotated["previous_secret_expires_at"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        scratch.json(&["client", "show", "svc"])["previous_secret_expires_at"],
        until.as_str()
    );
    let plain = scratch.json(&["client", "rotate-secret", "svc"]);
    assert!(plain["previous_secret_expires_at"].is_null());
    assert!(
        scratch
            .json(&["client", "show", "svc"])
            .get("previous_secret_expires_at")
            .is_none()
    );
    for (bad, expected) in [("8d", "7 days"), ("12x", "s, m, h or d")] {
        let out = scratch.run(&["client", "rotate-secret", "svc", "--keep-old", bad]);
        assert_eq!(out.status.code(), Some(1), "{bad}");
        assert!(stderr(&out).contains(expected), "{bad}: {}", stderr(&out));
    }
}

#[tokio::test]
async fn a_client_is_updated_under_the_rules_of_create_and_keeps_its_id_and_secret() {
    let scratch = Scratch::new();
    let created = scratch.json(&[
        "client",
        "create",
        "--name",
        "Web",
        "--client-id",
        "web",
        "--redirect-uri",
        "https://app.example.com/cb",
        "--scope",
        "openid",
        "--audience",
        "https://api.example.com",
        "--access-token-lifetime",
        "300",
    ]);
    scratch.json(&[
        "client",
        "create",
        "--name",
        "SPA",
        "--client-id",
        "spa",
        "--public",
        "--redirect-uri",
        "https://spa.example.com/cb",
    ]);
    let db = Database::open(&scratch.database_url(), 1).await.unwrap();
    let id = ostiary_core::client::ClientId::parse("web").unwrap();
    let secret_hash = |db: &Database| {
        let store = db.store();
        let id = id.clone();
        async move { store.find_client(&id).await.unwrap().unwrap().secret_hash }
    };
    let hash_before = secret_hash(&db).await;

    let updated = scratch.json(&[
        "client",
        "update",
        "web",
        "--name",
        "Web, renamed",
        "--redirect-uri",
        "https://new.example.com/cb",
        "--redirect-uri",
        "https://new.example.com/cb2",
        "--scope",
        "openid profile",
        "--clear",
        "audiences",
        "--access-token-lifetime",
        "0",
        "--require-par",
        "true",
    ]);
    assert_eq!(updated["client_id"], "web");
    assert_eq!(updated["name"], "Web, renamed");
    assert_eq!(
        updated["redirect_uris"],
        serde_json::json!(["https://new.example.com/cb", "https://new.example.com/cb2"])
    );
    assert_eq!(updated["scopes"], serde_json::json!(["openid", "profile"]));
    assert_eq!(updated["audiences"], serde_json::json!([]));
    assert!(
        updated.get("access_token_lifetime").is_none(),
        "the server's"
    );
    assert_eq!(updated["require_pushed_authorization_requests"], true);
    assert_eq!(
        updated["grant_types"], created["grant_types"],
        "not given: kept"
    );
    assert_eq!(scratch.json(&["client", "show", "web"]), updated);
    assert_eq!(secret_hash(&db).await, hash_before, "the secret stays");

    for bad in [
        &["client", "update", "web", "--grant-type", "refresh_token"][..],
        &["client", "update", "web", "--name", " "],
        &["client", "update", "web", "--redirect-uri", "not a uri"],
        &[
            "client", "update", "web", "--clear", "scopes", "--scope", "openid",
        ],
        &[
            "client",
            "update",
            "web",
            "--access-token-lifetime",
            "86401",
        ],
        &["client", "update", "web", "--id-token-alg", "HS256"],
        &["client", "update", "nobody", "--name", "x"],
        &["client", "update", "web"],
        &["client", "update", "web", "--clear", "redirect-uris"],
        &[
            "client",
            "update",
            "spa",
            "--grant-type",
            "client_credentials",
        ],
    ] {
        assert_eq!(scratch.run(bad).status.code(), Some(1), "{bad:?}");
    }
    assert_eq!(
        scratch.json(&["client", "show", "web"]),
        updated,
        "nothing changed"
    );
    let events = scratch.run(&["audit", "list", "--type", "client.updated"]);
    assert_eq!(String::from_utf8(events.stdout).unwrap().lines().count(), 1);
}

#[test]
fn deleting_twice_says_not_found() {
    let scratch = Scratch::new();
    scratch.json(&["client", "create", "--name", "Svc", "--client-id", "svc"]);
    scratch.json(&["client", "delete", "svc"]);
    let again = scratch.run(&["client", "delete", "svc"]);
    assert_eq!(again.status.code(), Some(1));
    assert!(stderr(&again).contains("not found"), "{}", stderr(&again));
}

#[test]
fn bad_client_input_is_refused_with_exit_1_and_nothing_written() {
    let scratch = Scratch::new();
    let private = private_jwks();
    let cases: &[(&[&str], &str)] = &[
        (
            &["--grant-type", "password"],
            "password grant is not offered",
        ),
        (&["--grant-type", "magic"], "unknown grant type"),
        // Refresh tokens come only from the grants of users.
        (
            &["--grant-type", "refresh_token"],
            "refresh_token is only useful with authorization_code or the device_code grant",
        ),
        (
            &["--redirect-uri", "https://app.example.com/cb#frag"],
            "fragment",
        ),
        (&["--redirect-uri", "javascript:alert(1)"], "not allowed"),
        (&["--client-id", "has space"], "client_id"),
        // A URL would stand in for whoever serves that client ID metadata document.
        (
            &["--client-id", "https://app.example.com/client.json"],
            "reserved for client ID metadata documents",
        ),
        (&["--scope", "bad\"scope"], "scope"),
        (
            &["--public", "--grant-type", "client_credentials"],
            "confidential",
        ),
        (&["--grant-type", "authorization_code"], "redirect-uri"),
        (
            &["--token-endpoint-auth-method", "client_secret_jwt"],
            "not offered",
        ),
        (
            &["--token-endpoint-auth-method", "private_key_jwt"],
            "--jwks or --jwks-uri",
        ),
        (
            &["--jwks", r#"{"keys":[{"kty":"oct","k":"c2VjcmV0"}]}"#],
            "jwks",
        ),
        (
            &["--jwks", &private],
            "private members: register only the public keys",
        ),
        (&["--jwks-uri", "http://keys.example.com/jwks"], "https"),
    ];
    for (extra, expected) in cases {
        let mut args = vec!["client", "create", "--name", "Bad"];
        args.extend_from_slice(extra);
        let out = scratch.run(&args);
        assert_eq!(
            out.status.code(),
            Some(1),
            "{args:?} should fail with exit 1"
        );
        assert!(out.stdout.is_empty(), "{args:?} printed to stdout");
        assert!(
            stderr(&out).contains(expected),
            "{args:?}: {}",
            stderr(&out)
        );
    }
    assert_eq!(scratch.json(&["client", "list"]), serde_json::json!([]));
}

#[test]
fn production_refuses_plain_http_redirect_uris_but_allows_loopback() {
    let scratch = Scratch::new();
    let mut cmd = scratch.command(&[
        "client",
        "create",
        "--name",
        "X",
        "--redirect-uri",
        "http://app.example.com/cb",
    ]);
    let out = cmd.env("OAUTH2_ENV", "production").output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("loopback"), "{}", stderr(&out));
    let mut cmd = scratch.command(&[
        "client",
        "create",
        "--name",
        "X",
        "--redirect-uri",
        "http://127.0.0.1:8400/cb",
    ]);
    assert!(
        cmd.env("OAUTH2_ENV", "production")
            .output()
            .unwrap()
            .status
            .success()
    );
}

#[test]
fn user_create_reads_the_password_from_stdin_and_stores_only_a_hash() {
    let scratch = Scratch::new();
    let password = "a long passphrase nobody guesses";
    let out = scratch.run_with_stdin(
        &[
            "user",
            "create",
            "--username",
            "Alice",
            "--email",
            "alice@example.com",
            "--password-stdin",
        ],
        &format!("{password}\n"),
    );
    crate::support::assert_success(&out, &["user", "create"]);
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["username"], "alice");
    assert_eq!(json["user_id"].as_str().unwrap().len(), 36);
    let db = scratch.database_bytes();
    assert!(
        contains(&db, b"$argon2id$v=19$m=19456,t=2,p=1$"),
        "OWASP-strength Argon2id"
    );
    assert!(!contains(&db, password.as_bytes()));

    let taken = scratch.run_with_stdin(
        &["user", "create", "--username", "ALICE", "--password-stdin"],
        password,
    );
    assert_eq!(taken.status.code(), Some(1));
    assert!(stderr(&taken).contains("already taken"));
}

#[tokio::test]
async fn bad_user_input_is_refused_with_exit_1_and_nothing_written() {
    let scratch = Scratch::new();
    let cases: &[(&[&str], &str, &str)] = &[
        (
            &["--username", "dave", "--password-stdin"],
            "",
            "must not be empty",
        ),
        (
            &["--username", "dave", "--password-stdin"],
            "\n",
            "must not be empty",
        ),
        (
            &["--username", "dave", "--password-stdin"],
            "short",
            "at least 8",
        ),
        // RFC 8265 OpaqueString refuses control characters (the trailing newline aside).
        (
            &["--username", "dave", "--password-stdin"],
            "long enough\u{7}pw\n",
            "only printable characters",
        ),
        (
            &["--username", "dave", "--password-stdin"],
            "long enough\npw",
            "only printable characters",
        ),
        (
            &["--username", "da ve", "--password-stdin"],
            "long enough pw",
            "username",
        ),
        (
            &["--username", "dave", "--email", "nope", "--password-stdin"],
            "long enough pw",
            "email",
        ),
        (
            &["--username", "dave"],
            "long enough pw",
            "--password-stdin",
        ),
    ];
    for (extra, stdin, expected) in cases {
        let mut args = vec!["user", "create"];
        args.extend_from_slice(extra);
        let out = scratch.run_with_stdin(&args, stdin);
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        assert!(
            stderr(&out).contains(expected),
            "{args:?}: {}",
            stderr(&out)
        );
    }
    let db = Database::open(&scratch.database_url(), 1).await.unwrap();
    db.migrate().await.unwrap();
    let dave = Username::parse("dave").unwrap();
    assert!(
        db.store()
            .find_user_by_username(&dave)
            .await
            .unwrap()
            .is_none()
    );
}

#[tokio::test]
async fn user_disable_marks_the_account() {
    let scratch = Scratch::new();
    let out = scratch.run_with_stdin(
        &["user", "create", "--username", "erin", "--password-stdin"],
        "long enough pw",
    );
    crate::support::assert_success(&out, &["user", "create"]);
    assert_eq!(scratch.json(&["user", "disable", "erin"])["disabled"], true);
    let db = Database::open(&scratch.database_url(), 1).await.unwrap();
    let erin = Username::parse("erin").unwrap();
    assert!(
        db.store()
            .find_user_by_username(&erin)
            .await
            .unwrap()
            .unwrap()
            .disabled
    );
    assert_eq!(
        scratch.run(&["user", "disable", "nobody"]).status.code(),
        Some(1)
    );
}

#[tokio::test]
async fn users_are_listed_shown_enabled_and_given_new_passwords() {
    let scratch = Scratch::new();
    for name in ["frank", "erin"] {
        let out = scratch.run_with_stdin(
            &["user", "create", "--username", name, "--password-stdin"],
            "the first passphrase",
        );
        assert_success(&out, &["user", "create"]);
    }
    let listed = scratch.run(&["user", "list"]);
    assert_success(&listed, &["user", "list"]);
    assert!(!contains(&listed.stdout, b"argon2"), "no password hash");
    let names = |json: &serde_json::Value| -> Vec<String> {
        json["users"]
            .as_array()
            .unwrap()
            .iter()
            .map(|u| u["username"].as_str().unwrap().to_owned())
            .collect()
    };
    let listed: serde_json::Value = serde_json::from_slice(&listed.stdout).unwrap();
    assert_eq!(names(&listed), ["erin", "frank"]);
    let page = scratch.json(&["user", "list", "--limit", "1"]);
    assert_eq!(names(&page), ["erin"]);
    let next = scratch.json(&["user", "list", "--after", "erin", "--limit", "1"]);
    assert_eq!(names(&next), ["frank"]);
    assert_eq!(
        scratch.run(&["user", "list", "--limit", "0"]).status.code(),
        Some(1)
    );

    let shown = scratch.json(&["user", "show", "erin"]);
    assert_eq!(shown["username"], "erin");
    assert_eq!(shown["disabled"], false);
    assert!(shown["created_at"].is_string());
    assert!(shown.get("password_hash").is_none());
    scratch.json(&["user", "disable", "erin"]);
    assert_eq!(scratch.json(&["user", "show", "erin"])["disabled"], true);
    assert_eq!(scratch.json(&["user", "enable", "erin"])["disabled"], false);
    assert_eq!(scratch.json(&["user", "show", "erin"])["disabled"], false);

    // A browser signed in as erin, which the new password must sign out.
    let db = Database::open(&scratch.database_url(), 1).await.unwrap();
    let erin_id = db
        .store()
        .find_user_by_username(&Username::parse("erin").unwrap())
        .await
        .unwrap()
        .unwrap()
        .id;
    let now = time::OffsetDateTime::now_utc()
        .replace_nanosecond(0)
        .unwrap();
    let signed_in = ostiary_core::session::Session {
        id_hash: ostiary_core::secret::SecretHash::of("erin's cookie"),
        sid: "sid-erin".into(),
        user_id: erin_id,
        auth_time: now,
        mfa: false,
        last_seen: now,
        expires_at: now + time::Duration::hours(1),
    };
    db.store().insert_session(&signed_in).await.unwrap();

    let new_password = "the second passphrase";
    let set = scratch.run_with_stdin(
        &["user", "set-password", "erin", "--password-stdin"],
        &format!("{new_password}\n"),
    );
    assert_success(&set, &["user", "set-password"]);
    assert_eq!(
        db.store().find_session(&signed_in.id_hash).await.unwrap(),
        None,
        "signed out"
    );
    let erin = db
        .store()
        .find_user_by_username(&Username::parse("erin").unwrap())
        .await
        .unwrap()
        .unwrap();
    let hasher = ostiary_core::password::PasswordHasher::new(Default::default()).unwrap();
    assert!(hasher.verify(new_password, &erin.password_hash));
    assert!(!hasher.verify("the first passphrase", &erin.password_hash));
    assert!(!contains(
        &scratch.database_bytes(),
        new_password.as_bytes()
    ));
    for (args, stdin) in [
        (
            &["user", "set-password", "nobody", "--password-stdin"][..],
            "long enough pw",
        ),
        (
            &["user", "set-password", "erin", "--password-stdin"][..],
            "short",
        ),
        (&["user", "set-password", "erin"][..], "long enough pw"),
        (&["user", "enable", "nobody"][..], ""),
        (&["user", "show", "nobody"][..], ""),
    ] {
        assert_eq!(
            scratch.run_with_stdin(args, stdin).status.code(),
            Some(1),
            "{args:?}"
        );
    }
    let events = |event: &str| {
        let out = scratch.run(&["audit", "list", "--type", event]);
        assert_success(&out, &["audit", "list"]);
        String::from_utf8(out.stdout).unwrap().lines().count()
    };
    assert_eq!(events("user.enabled"), 1);
    assert_eq!(events("user.password_set"), 1);
}

#[test]
fn version_completions_and_the_manual_page_need_no_configuration() {
    let scratch = Scratch::new();
    // A configuration that would refuse every command that reads it.
    let version = scratch
        .command(&["--version"])
        .env("OAUTH2_BIND", "not an address")
        .output()
        .unwrap();
    assert_success(&version, &["--version"]);
    let version = String::from_utf8(version.stdout).unwrap();
    let commit = version
        .trim()
        .strip_suffix(')')
        .and_then(|v| v.split_once("(commit "))
        .map(|(_, commit)| commit.to_owned())
        .unwrap_or_else(|| panic!("{version}"));
    let head = std::process::Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .ok()
        .filter(|out| out.status.success())
        .map(|out| String::from_utf8_lossy(&out.stdout).trim().to_owned());
    match head {
        // Built from this checkout: its commit (build.rs reruns when HEAD moves).
        Some(head) => assert_eq!(commit, head, "{version}"),
        None => assert_eq!(commit, "unknown", "{version}"),
    }
    for shell in ["bash", "zsh", "fish"] {
        let out = scratch
            .command(&["completions", shell])
            .env("OAUTH2_BIND", "not an address")
            .output()
            .unwrap();
        assert_success(&out, &["completions", shell]);
        assert!(contains(&out.stdout, b"set-password"), "{shell}");
    }
    let man = scratch.run(&["man"]);
    assert_success(&man, &["man"]);
    assert!(contains(&man.stdout, b".TH ostiary"));
    assert_eq!(scratch.run(&["completions", "tcsh"]).status.code(), Some(1));
}

/// The annotated example configuration names every setting and passes `check-config` as a
/// production configuration, its secrets given as files.
#[test]
fn the_example_configuration_is_complete_and_passes_check_config() {
    let example = concat!(env!("CARGO_MANIFEST_DIR"), "/../../ostiary.example.toml");
    let text = std::fs::read_to_string(example).unwrap();
    use ostiary_server::config::SETTINGS;
    for setting in SETTINGS {
        let (secret, unset, setting) = (
            setting.secret,
            setting.default_value().is_none(),
            setting.name,
        );
        // Secrets are named in the comments (they belong in the environment or files); the
        // database URL has a value as long as it holds no password. A setting whose default
        // depends on the deployment may be shown commented out.
        let named = if secret && setting != "database_url" {
            text.lines()
                .any(|l| l.starts_with('#') && l.contains(setting))
        } else {
            text.lines().any(|l| {
                l.starts_with(&format!("{setting} ="))
                    || (unset && l.starts_with(&format!("# {setting} =")))
            })
        };
        assert!(named, "{setting} is missing from ostiary.example.toml");
    }
    let scratch = Scratch::new();
    let jwt = scratch.dir.path().join("jwt");
    std::fs::write(&jwt, format!("{}\n", "7f".repeat(32))).unwrap();
    let session = scratch.dir.path().join("session");
    std::fs::write(&session, format!("{}\n", "a5".repeat(64))).unwrap();
    let out = scratch
        .command(&["--config", example, "check-config"])
        // The example's own database URL, not the scratch one.
        .env_remove("OAUTH2_DATABASE_URL")
        .env("OAUTH2_JWT_SECRET_FILE", &jwt)
        .env("OAUTH2_SESSION_KEY_FILE", &session)
        .output()
        .unwrap();
    assert_success(&out, &["check-config"]);
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["ok"], true, "{report}");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(!text.contains(&"7f".repeat(32)) && !text.contains(&"a5".repeat(64)));
}

#[test]
fn oauth2_log_format_json_makes_every_log_line_json() {
    let scratch = Scratch::new();
    let out = scratch
        .command(&["serve"])
        .env("OAUTH2_ENV", "production")
        .env("OAUTH2_LOG_FORMAT", "json")
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(1),
        "production without secrets refuses"
    );
    let logged: Vec<serde_json::Value> = stderr(&out)
        .lines()
        .filter(|l| !l.starts_with("error:"))
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l}: {e}")))
        .collect();
    assert!(
        logged
            .iter()
            .any(|l| l["check"] == "jwt_secret" && l["level"] == "ERROR")
    );
    let bad = scratch
        .command(&["client", "list"])
        .env("OAUTH2_LOG_FORMAT", "yaml")
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(1));
}

#[test]
fn usage_errors_exit_1_and_help_exits_0() {
    let scratch = Scratch::new();
    assert_eq!(scratch.run(&["frobnicate"]).status.code(), Some(1));
    assert_eq!(scratch.run(&["client", "create"]).status.code(), Some(1));
    let help = scratch.run(&["--help"]);
    assert_eq!(help.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&help.stdout).contains("serve"));
}

#[test]
fn migrate_prints_json_and_seeds_no_credentials() {
    let scratch = Scratch::new();
    assert_eq!(scratch.json(&["migrate"])["migrated"], true);
    assert_eq!(scratch.json(&["client", "list"]), serde_json::json!([]));
}

#[test]
fn keys_commands_list_rotate_and_revoke() {
    let scratch = Scratch::new();
    assert_eq!(scratch.json(&["keys", "list"]), serde_json::json!([]));
    let first = scratch.json(&["keys", "rotate", "--alg", "EdDSA"]);
    assert_eq!(first["alg"], "EdDSA");
    let second = scratch.json(&["keys", "rotate", "--alg", "EdDSA"]);
    let listed = scratch.json(&["keys", "list"]);
    let find = |kid: &serde_json::Value| {
        listed
            .as_array()
            .unwrap()
            .iter()
            .find(|k| &k["kid"] == kid)
            .unwrap()
            .clone()
    };
    assert_eq!(find(&first["kid"])["state"], "retired");
    assert!(find(&first["kid"])["publish_until"].is_string());
    assert_eq!(find(&second["kid"])["state"], "active");
    let revoked = scratch.json(&["keys", "revoke", first["kid"].as_str().unwrap()]);
    assert_eq!(revoked["state"], "revoked");
    assert!(!String::from_utf8_lossy(&scratch.run(&["keys", "list"]).stdout).contains("sealed"));

    // Every algorithm at once: three new active keys, the EdDSA one replacing `second`.
    let all = scratch.json(&["keys", "rotate", "--all"]);
    let algs: Vec<&str> = all
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["alg"].as_str().unwrap())
        .collect();
    assert_eq!(algs, ["ES256", "RS256", "EdDSA"]);
    let listed = scratch.json(&["keys", "list"]);
    let active: Vec<&serde_json::Value> = listed
        .as_array()
        .unwrap()
        .iter()
        .filter(|k| k["state"] == "active")
        .map(|k| &k["kid"])
        .collect();
    assert_eq!(active.len(), 3);
    for key in all.as_array().unwrap() {
        assert!(active.contains(&&key["kid"]));
    }

    for bad in [
        &["keys", "rotate", "--alg", "HS256"][..],
        &["keys", "rotate", "--alg", "none"],
        &["keys", "rotate", "--all", "--alg", "RS256"],
        &["keys", "revoke", "nope"],
    ] {
        let out = scratch.run(bad);
        assert_eq!(out.status.code(), Some(1), "{bad:?}");
    }
}

/// A new `OAUTH2_JWT_SECRET` offline: `keys reseal` with the old one as previous moves every
/// key (audited), after which the new secret alone opens them and the old one alone does not.
#[test]
fn keys_reseal_moves_every_key_to_the_new_root_secret() {
    let scratch = Scratch::new();
    let (old, new) = (
        "the-old-root-secret-of-the-cli-test",
        "the-new-root-secret-of-the-cli-test",
    );
    let with = |secret: &str, previous: Option<&str>, args: &[&str]| {
        let mut cmd = scratch.command(args);
        cmd.env("OAUTH2_JWT_SECRET", secret);
        if let Some(previous) = previous {
            cmd.env("OAUTH2_JWT_SECRET_PREVIOUS", previous);
        }
        cmd.output().unwrap()
    };
    let rotated = with(old, None, &["keys", "rotate", "--alg", "ES256"]);
    assert_success(&rotated, &["keys", "rotate"]);
    let kid = serde_json::from_slice::<serde_json::Value>(&rotated.stdout).unwrap()["kid"].clone();
    let reseal = |secret: &str, previous: Option<&str>| {
        let out = with(secret, previous, &["keys", "reseal"]);
        assert_success(&out, &["keys", "reseal"]);
        serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap()
    };
    assert_eq!(reseal(new, None)["unopenable"], serde_json::json!([kid]));

    let done = reseal(new, Some(old));
    assert_eq!(done["resealed"], serde_json::json!([kid]));
    assert_eq!(done["unopenable"], serde_json::json!([]));
    assert_eq!(
        reseal(new, Some(old))["resealed"],
        serde_json::json!([]),
        "idempotent"
    );
    let finished = reseal(new, None);
    assert_eq!(finished["unopenable"], serde_json::json!([]));
    assert_eq!(
        finished["finished"],
        serde_json::json!([kid]),
        "the old sealing goes"
    );
    assert_eq!(reseal(old, None)["unopenable"], serde_json::json!([kid]));
    let events = scratch.json(&["audit", "list", "--type", "key.resealed"]);
    assert_eq!(events["subject"], kid, "{events}");

    let malformed = with(new, Some("short"), &["keys", "reseal"]);
    assert_eq!(malformed.status.code(), Some(1));
    assert!(
        stderr(&malformed).contains("OAUTH2_JWT_SECRET_PREVIOUS entry 1"),
        "{}",
        stderr(&malformed)
    );
}

/// Incident response: `tokens revoke-all --rotate-keys` gives every algorithm a new key and
/// revokes every old one (gone from the JWKS, so offline validators reject what it signed);
/// without the flag the keys stay.
#[test]
fn revoke_all_with_rotate_keys_replaces_and_revokes_the_signing_keys() {
    let scratch = Scratch::new();
    let es = scratch.json(&["keys", "rotate", "--alg", "ES256"]);
    let rs = scratch.json(&["keys", "rotate", "--alg", "RS256"]);
    let plain = scratch.json(&["tokens", "revoke-all"]);
    assert!(plain.get("keys_created").is_none(), "{plain}");
    let out = scratch.json(&["tokens", "revoke-all", "--rotate-keys"]);
    let created: Vec<&str> = out["keys_created"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k.as_str().unwrap())
        .collect();
    assert_eq!(created.len(), 2, "{out}");
    let revoked = out["keys_revoked"].as_array().unwrap();
    assert!(
        revoked.contains(&es["kid"]) && revoked.contains(&rs["kid"]),
        "{out}"
    );
    let listed = scratch.json(&["keys", "list"]);
    for key in listed.as_array().unwrap() {
        let kid = key["kid"].as_str().unwrap();
        let expected = if created.contains(&kid) {
            "active"
        } else {
            "revoked"
        };
        assert_eq!(key["state"], expected, "{listed}");
    }
}

/// Generated client ids and key ids are base64url: they may start with `-`.
#[test]
fn ids_starting_with_a_hyphen_are_arguments_not_flags() {
    let scratch = Scratch::new();
    scratch.json(&["client", "create", "--name", "Dash", "--client-id", "-dash"]);
    assert_eq!(
        scratch.json(&["client", "rotate-secret", "-dash"])["client_id"],
        "-dash"
    );
    assert_eq!(
        scratch.json(&["client", "delete", "-dash"])["deleted"],
        "-dash"
    );
    let out = scratch.run(&["keys", "revoke", "-not-a-key"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("no signing key -not-a-key"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn registration_tokens_are_created_listed_and_revoked_and_stored_as_hashes() {
    let scratch = Scratch::new();
    let created = scratch.json(&[
        "registration-token",
        "create",
        "--expires",
        "2h",
        "--max-uses",
        "3",
    ]);
    let token = created["registration_token"].as_str().expect("shown once");
    assert_eq!(token.len(), 43, "256-bit base64url token");
    assert_eq!(created["max_uses"], 3);
    assert_eq!(created["uses"], 0);
    let id = created["token_id"].as_str().unwrap().to_owned();
    let created_at = time::OffsetDateTime::parse(
        created["created_at"].as_str().unwrap(),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap();
    let expires_at = time::OffsetDateTime::parse(
        created["expires_at"].as_str().unwrap(),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap();
    assert_eq!(expires_at - created_at, time::Duration::hours(2));
    assert!(!contains(&scratch.database_bytes(), token.as_bytes()));

    let listed = scratch.json(&["registration-token", "list"]);
    assert_eq!(listed.as_array().unwrap().len(), 1);
    assert_eq!(listed[0]["token_id"], id.as_str());
    assert!(listed[0].get("registration_token").is_none());

    assert_eq!(
        scratch.json(&["registration-token", "revoke", &id])["revoked"],
        id.as_str()
    );
    assert_eq!(
        scratch.json(&["registration-token", "list"]),
        serde_json::json!([])
    );
    let again = scratch.run(&["registration-token", "revoke", &id]);
    assert_eq!(again.status.code(), Some(1));
    assert!(stderr(&again).contains("not found"), "{}", stderr(&again));

    for bad in [
        &["registration-token", "create", "--max-uses", "0"][..],
        &["registration-token", "create", "--expires", "366d"][..],
        &["registration-token", "create", "--expires", "soon"][..],
    ] {
        let out = scratch.run(bad);
        assert_eq!(out.status.code(), Some(1), "{bad:?}");
    }
    assert_eq!(
        scratch.json(&["registration-token", "list"]),
        serde_json::json!([])
    );
}

#[test]
fn impersonation_is_an_operators_choice_for_token_exchange_clients() {
    let scratch = Scratch::new();
    let exchange = "urn:ietf:params:oauth:grant-type:token-exchange";
    let created = scratch.json(&[
        "client",
        "create",
        "--name",
        "Twin",
        "--client-id",
        "twin",
        "--grant-type",
        exchange,
        "--allow-impersonation",
    ]);
    assert_eq!(created["impersonation"], true);
    let updated = scratch.json(&["client", "update", "twin", "--allow-impersonation", "false"]);
    assert_eq!(updated["impersonation"], false);
    let plain = scratch.json(&[
        "client",
        "create",
        "--name",
        "Plain",
        "--client-id",
        "plain",
    ]);
    assert_eq!(plain["impersonation"], false);
    let refused = scratch.run(&[
        "client",
        "create",
        "--name",
        "Flag",
        "--allow-impersonation",
    ]);
    assert_eq!(refused.status.code(), Some(1));
    assert!(
        stderr(&refused).contains("token-exchange"),
        "{}",
        stderr(&refused)
    );
}
