//! The deployment files, run: the binary started the way `deploy/ostiary.service` and the
//! `Dockerfile` start it (their environment, credentials, working directory and command),
//! ready at `/readyz` and to `ostiary healthcheck`, then stopping cleanly on SIGTERM.

use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

use crate::support::{free_port, wait_until_up};

const REPO: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");
const BIN: &str = env!("CARGO_BIN_EXE_ostiary");
const JWT_SECRET: &str = "7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f";

fn session_key() -> String {
    "a5".repeat(64)
}

fn repo_file(path: &str) -> String {
    std::fs::read_to_string(Path::new(REPO).join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// `KEY=VALUE` pairs, split at the first `=`.
fn assignment(text: &str) -> (String, String) {
    let (key, value) = text
        .split_once('=')
        .unwrap_or_else(|| panic!("not KEY=VALUE: {text}"));
    assert!(
        !value.starts_with('"'),
        "quoted values are not read by this test: {text}"
    );
    (key.trim().to_owned(), value.trim().to_owned())
}

/// The directives of a unit's `[Service]` section, in order.
fn service_directives(unit: &str) -> Vec<(String, String)> {
    let mut section = "";
    let mut directives = Vec::new();
    for line in unit.lines().map(str::trim) {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if line.starts_with('[') {
            section = line;
            continue;
        }
        if section == "[Service]" {
            directives.push(assignment(line));
        }
    }
    directives
}

/// A scratch host: a state directory and a credentials directory, with the two secrets.
struct Host {
    _dir: tempfile::TempDir,
    state: PathBuf,
    credentials: PathBuf,
}

impl Host {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("state");
        let credentials = dir.path().join("credentials");
        for path in [&state, &credentials] {
            std::fs::DirBuilder::new().mode(0o700).create(path).unwrap();
        }
        std::fs::write(credentials.join("jwt_secret"), format!("{JWT_SECRET}\n")).unwrap();
        std::fs::write(credentials.join("session_key"), session_key()).unwrap();
        Self {
            _dir: dir,
            state,
            credentials,
        }
    }

    /// The binary with only `env` (and `PATH`), in the state directory.
    fn command(&self, args: &[String], env: &[(String, String)]) -> Command {
        let mut command = Command::new(BIN);
        command
            .args(args)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .envs(env.iter().map(|(k, v)| (k, v)))
            .current_dir(&self.state)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        command
    }
}

/// Starts `command`, waits for `/healthz` at `base`, and checks `/readyz`.
async fn start_ready(mut command: Command, base: &str) -> Child {
    let mut child = command.spawn().unwrap();
    let client = reqwest::Client::new();
    wait_until_up(&client, base, &mut child).await;
    let ready = client.get(format!("{base}/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), 200);
    child
}

/// SIGTERM, as systemd and Docker stop a service: the server drains and exits 0.
fn stop(child: Child) -> Output {
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "exit after SIGTERM: {}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

fn healthcheck_report(out: &Output) -> serde_json::Value {
    assert!(
        out.status.success(),
        "healthcheck: {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[tokio::test]
async fn the_systemd_unit_runs_a_ready_production_server() {
    let directives = service_directives(&repo_file("deploy/ostiary.service"));
    let values = |key: &str| -> Vec<&str> {
        directives
            .iter()
            .filter(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
            .collect()
    };
    let host = Host::new();
    // What systemd provides: /var/lib/<StateDirectory> and %d, the credentials directory.
    let var_lib = format!("/var/lib/{}", values("StateDirectory")[0]);
    let state = host.state.display().to_string();
    let credentials = host.credentials.display().to_string();
    let substitute = |v: &str| v.replace("%d", &credentials).replace(&var_lib, &state);
    for credential in values("LoadCredential") {
        let (name, source) = credential.split_once(':').unwrap();
        assert_eq!(source, format!("/etc/ostiary/credentials/{name}"));
        assert!(host.credentials.join(name).exists(), "credential {name}");
    }
    assert_eq!(substitute(values("WorkingDirectory")[0]), state);
    assert_eq!(values("EnvironmentFile"), ["/etc/ostiary/ostiary.env"]);
    // Environment= first; the environment file's lines override it, as in systemd.
    let mut env: Vec<(String, String)> =
        values("Environment").into_iter().map(assignment).collect();
    env.extend(
        repo_file("deploy/ostiary.env")
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .map(assignment),
    );
    let mut env: Vec<(String, String)> =
        env.into_iter().map(|(k, v)| (k, substitute(&v))).collect();
    assert!(env.contains(&("OAUTH2_ENV".into(), "production".into())));
    // The unit's fixed ports would collide with other tests: free ones instead.
    let port = free_port();
    env.retain(|(k, _)| k != "OAUTH2_BIND" && k != "OAUTH2_METRICS_BIND");
    env.push(("OAUTH2_BIND".into(), format!("127.0.0.1:{port}")));
    env.push(("OAUTH2_METRICS_BIND".into(), "127.0.0.1:0".into()));

    let exec: Vec<String> = values("ExecStart")[0]
        .split_whitespace()
        .map(str::to_owned)
        .collect();
    assert_eq!(exec[0], "/usr/local/bin/ostiary");
    let base = format!("http://127.0.0.1:{port}");
    let server = start_ready(host.command(&exec[1..], &env), &base).await;

    let report = healthcheck_report(
        &host
            .command(&["healthcheck".into()], &env)
            .output()
            .unwrap(),
    );
    assert_eq!(report["ready"], true);
    assert_eq!(report["url"], format!("{base}/readyz"));

    let output = stop(server);
    // The database and the audit journal are in the state directory; the root secret came
    // from its credential, so no development secret file was written.
    assert!(host.state.join("ostiary.db").exists());
    assert!(host.state.join("ostiary.db.audit-journal").is_dir());
    assert!(!host.state.join("ostiary.db.jwt-secret").exists());
    let logs = String::from_utf8_lossy(&output.stderr);
    assert!(!logs.contains(JWT_SECRET) && !logs.contains(&session_key()));
}

/// The instructions of the Dockerfile's last stage: (instruction, arguments), continuation
/// lines joined.
fn final_stage(dockerfile: &str) -> Vec<(String, String)> {
    let mut instructions = Vec::new();
    let mut current = String::new();
    for line in dockerfile.lines() {
        let line = line.trim();
        if line.starts_with('#') || (line.is_empty() && current.is_empty()) {
            continue;
        }
        current.push_str(line.trim_end_matches('\\').trim());
        current.push(' ');
        if line.ends_with('\\') {
            continue;
        }
        let text = std::mem::take(&mut current);
        let (instruction, args) = text.trim().split_once(' ').unwrap_or((text.trim(), ""));
        if instruction == "FROM" {
            instructions.clear();
        }
        instructions.push((instruction.to_owned(), args.trim().to_owned()));
    }
    instructions
}

fn exec_form(args: &str) -> Vec<String> {
    serde_json::from_str(args).unwrap_or_else(|e| panic!("{args}: {e}"))
}

#[tokio::test]
async fn the_container_image_runs_a_ready_server_and_its_healthcheck_passes() {
    let stage = final_stage(&repo_file("Dockerfile"));
    let one = |instruction: &str| -> &str {
        let found: Vec<&str> = stage
            .iter()
            .filter(|(i, _)| i == instruction)
            .map(|(_, a)| a.as_str())
            .collect();
        assert_eq!(found.len(), 1, "{instruction}: {found:?}");
        found[0]
    };
    assert!(one("FROM").contains("distroless"), "{}", one("FROM"));
    assert_ne!(one("USER").split(':').next(), Some("0"));
    assert_eq!(one("WORKDIR"), "/var/lib/ostiary");
    assert_eq!(one("VOLUME"), "[\"/var/lib/ostiary\"]");
    let host = Host::new();
    let mut env: Vec<(String, String)> = stage
        .iter()
        .filter(|(i, _)| i == "ENV")
        .flat_map(|(_, args)| args.split_whitespace().map(assignment))
        .collect();
    assert!(env.contains(&("OAUTH2_ENV".into(), "production".into())));
    // The image listens on every address; the test on a free port, its metrics likewise.
    let port = free_port();
    for (key, value) in &mut env {
        if key == "OAUTH2_BIND" || key == "OAUTH2_METRICS_BIND" {
            assert!(value.starts_with("0.0.0.0:"), "{key}={value}");
        }
        match key.as_str() {
            "OAUTH2_BIND" => *value = format!("0.0.0.0:{port}"),
            "OAUTH2_METRICS_BIND" => *value = "127.0.0.1:0".into(),
            _ => {}
        }
    }
    // What an operator adds with `docker run -e` (docs/deployment.md), secrets as files.
    for (key, value) in [
        ("OAUTH2_ISSUER", "https://id.example.com".to_owned()),
        (
            "OAUTH2_JWT_SECRET_FILE",
            host.credentials.join("jwt_secret").display().to_string(),
        ),
        (
            "OAUTH2_SESSION_KEY_FILE",
            host.credentials.join("session_key").display().to_string(),
        ),
    ] {
        env.push((key.into(), value));
    }
    let mut command = exec_form(one("ENTRYPOINT"));
    command.extend(exec_form(one("CMD")));
    assert_eq!(command[0], "ostiary");
    let base = format!("http://127.0.0.1:{port}");
    let server = start_ready(host.command(&command[1..], &env), &base).await;
    // The database is the default sqlite://ostiary.db, in the working directory: the volume.
    assert!(host.state.join("ostiary.db").exists());

    let healthcheck = one("HEALTHCHECK");
    let probe = exec_form(&healthcheck[healthcheck.find("CMD ").unwrap() + 4..]);
    assert_eq!(probe[0], "ostiary");
    let report = healthcheck_report(&host.command(&probe[1..], &env).output().unwrap());
    assert_eq!(report["ready"], true);
    assert_eq!(report["url"], format!("{base}/readyz"));
    stop(server);

    // Nothing listening: the health check fails, naming what it asked.
    let down = host.command(&probe[1..], &env).output().unwrap();
    assert_eq!(down.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&down.stderr);
    assert!(stderr.contains(&format!("{base}/readyz")), "{stderr}");
}

#[test]
fn healthcheck_reports_a_server_that_is_not_ready() {
    let host = Host::new();
    // A listener that answers every request with 503, as /readyz does without its database.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/readyz", listener.local_addr().unwrap());
    let answer = std::thread::spawn(move || {
        use std::io::{Read, Write};
        let (mut socket, _) = listener.accept().unwrap();
        let mut request = [0u8; 1024];
        let _ = socket.read(&mut request).unwrap();
        socket
            .write_all(b"HTTP/1.1 503 Service Unavailable\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
            .unwrap();
    });
    let out = host
        .command(&["healthcheck".into(), "--url".into(), url.clone()], &[])
        .output()
        .unwrap();
    answer.join().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["ready"], false);
    assert_eq!(report["status"], 503);
    assert_eq!(report["url"], url);
}
