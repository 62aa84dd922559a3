//! A stand-in for PgBouncer where a connection starts, for [`super::TcpProxy`]: the startup
//! parameters it refuses, worded as PgBouncer words them. Only the start is imitated; the rest
//! of the connection is passed through to PostgreSQL as it is.

use std::sync::Mutex;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// How the pooler reads the startup packet's `options`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PoolerOptions {
    /// PgBouncer before 1.20: `options` is one more parameter it does not track, refused as
    /// "unsupported startup parameter: options".
    Refused,
    /// PgBouncer 1.20 and later: each `-c name=value` in it is read and refused, as
    /// "unsupported startup parameter in options: NAME", unless PgBouncer tracks it.
    Parsed,
}

/// One connection's start, as the pooler saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Startup {
    /// The `options` parameter, if the packet had one.
    pub options: Option<String>,
    /// The refusal's message; `None` when the connection was passed through.
    pub refused: Option<String>,
}

/// The startup parameters PgBouncer tracks by default (compared without case, as it does).
const TRACKED: [&str; 7] = [
    "user",
    "database",
    "DateStyle",
    "client_encoding",
    "TimeZone",
    "standard_conforming_strings",
    "application_name",
];

/// The protocol version of a startup packet (3.0), and the request codes of SSLRequest and
/// GSSENCRequest (PostgreSQL's protocol, "Message Formats").
const PROTOCOL_3: u32 = 196_608;
const ENCRYPTION_REQUESTS: [u32; 2] = [80_877_103, 80_877_104];
/// PostgreSQL's own limit on a startup packet, in bytes.
const MAX_STARTUP: u32 = 10_000;

/// The pooler's side of a connection's start: declines encryption (`N`), reads the startup
/// packet, records it in `startups`, and refuses it (a FATAL `ErrorResponse`, 08P01) when a
/// parameter is not tracked. The packet to pass on, or `None` once refused or broken.
pub(super) async fn start(
    inbound: &mut TcpStream,
    rules: PoolerOptions,
    startups: &Mutex<Vec<Startup>>,
) -> Option<Vec<u8>> {
    let packet = loop {
        let length = inbound.read_u32().await.ok()?;
        if !(8..=MAX_STARTUP).contains(&length) {
            return None;
        }
        let mut body = vec![0; usize::try_from(length - 4).ok()?];
        inbound.read_exact(&mut body).await.ok()?;
        let code = u32::from_be_bytes(body.get(..4)?.try_into().ok()?);
        if ENCRYPTION_REQUESTS.contains(&code) {
            inbound.write_all(b"N").await.ok()?;
            continue;
        }
        if code != PROTOCOL_3 {
            return None;
        }
        let mut whole = length.to_be_bytes().to_vec();
        whole.extend_from_slice(&body);
        break whole;
    };
    // After the length and the version: name, value, ..., each NUL-terminated, then a NUL.
    let texts: Vec<String> = packet
        .get(8..)?
        .split(|byte| *byte == 0)
        .map(|text| String::from_utf8_lossy(text).into_owned())
        .collect();
    let parameters: Vec<(&str, &str)> = texts
        .chunks_exact(2)
        .map(|pair| (pair[0].as_str(), pair[1].as_str()))
        .filter(|(name, _)| !name.is_empty())
        .collect();
    let refused = refusal(&parameters, rules);
    let options = parameters
        .iter()
        .find(|(name, _)| *name == "options")
        .map(|(_, value)| (*value).to_owned());
    super::lock(startups).push(Startup {
        options,
        refused: refused.clone(),
    });
    match refused {
        None => Some(packet),
        Some(message) => {
            let _ = inbound.write_all(&error_response(&message)).await;
            None
        }
    }
}

/// PgBouncer's refusal of `parameters`, if any: the first one it does not track.
fn refusal(parameters: &[(&str, &str)], rules: PoolerOptions) -> Option<String> {
    let tracked = |name: &str| TRACKED.iter().any(|t| t.eq_ignore_ascii_case(name));
    for (name, value) in parameters {
        if tracked(name) {
            continue;
        }
        if *name == "options" && rules == PoolerOptions::Parsed {
            let mut words = value.split_whitespace();
            while let Some(word) = words.next() {
                let setting = match word.strip_prefix("-c") {
                    Some("") => words.next().unwrap_or_default(),
                    Some(setting) => setting,
                    None => word,
                };
                let setting = setting.split('=').next().unwrap_or_default();
                if !tracked(setting) {
                    return Some(format!(
                        "unsupported startup parameter in options: {setting}"
                    ));
                }
            }
            continue;
        }
        return Some(format!("unsupported startup parameter: {name}"));
    }
    None
}

/// A FATAL `ErrorResponse` with SQLSTATE 08P01 (protocol violation) and `message`.
fn error_response(message: &str) -> Vec<u8> {
    let mut fields = Vec::new();
    for (kind, text) in [
        (b'S', "FATAL"),
        (b'V', "FATAL"),
        (b'C', "08P01"),
        (b'M', message),
    ] {
        fields.push(kind);
        fields.extend_from_slice(text.as_bytes());
        fields.push(0);
    }
    fields.push(0);
    let length = u32::try_from(fields.len() + 4).unwrap_or(u32::MAX);
    let mut response = vec![b'E'];
    response.extend_from_slice(&length.to_be_bytes());
    response.extend_from_slice(&fields);
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    const SQLX: [(&str, &str); 3] = [
        ("DateStyle", "ISO, MDY"),
        ("client_encoding", "UTF8"),
        ("TimeZone", "UTC"),
    ];

    #[test]
    fn tracked_parameters_pass_and_others_are_refused_as_pgbouncer_words_it() {
        assert_eq!(refusal(&SQLX, PoolerOptions::Refused), None);
        let floats = [SQLX[0], ("extra_float_digits", "2")];
        assert_eq!(
            refusal(&floats, PoolerOptions::Parsed).as_deref(),
            Some("unsupported startup parameter: extra_float_digits")
        );
        let tuned = [SQLX[0], ("options", "-c TimeZone=UTC -cenable_seqscan=off")];
        assert_eq!(
            refusal(&tuned, PoolerOptions::Refused).as_deref(),
            Some("unsupported startup parameter: options")
        );
        assert_eq!(
            refusal(&tuned, PoolerOptions::Parsed).as_deref(),
            Some("unsupported startup parameter in options: enable_seqscan")
        );
        let zoned = [("options", "-c timezone=UTC")];
        assert_eq!(refusal(&zoned, PoolerOptions::Parsed), None);
    }
}
