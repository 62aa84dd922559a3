//! The redirect back to the client (RFC 6749 4.1.2 and 4.1.2.1) with `iss` (RFC 9207).

use url::Url;

use crate::error::OAuthError;

/// The client's redirect URI with the response parameters appended, form-encoded (so `&`,
/// `#` and non-ASCII characters in `state` arrive exactly as sent). `None` only if the URI no
/// longer parses, which registration prevents.
pub fn redirect_url(
    redirect_uri: &str,
    issuer: &str,
    state: Option<&str>,
    outcome: Result<&str, &OAuthError>,
) -> Option<String> {
    let mut url = Url::parse(redirect_uri).ok()?;
    {
        let mut query = url.query_pairs_mut();
        match outcome {
            Ok(code) => {
                query.append_pair("code", code);
            }
            Err(error) => {
                query.append_pair("error", error.code().as_str());
                query.append_pair("error_description", error.description());
            }
        }
        if let Some(state) = state {
            query.append_pair("state", state);
        }
        query.append_pair("iss", issuer);
    }
    Some(url.into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorCode;

    fn pairs(url: &str) -> Vec<(String, String)> {
        Url::parse(url)
            .unwrap()
            .query_pairs()
            .into_owned()
            .collect()
    }

    #[test]
    fn state_round_trips_and_existing_query_is_kept() {
        let state = "a&b=c#d é ✓+%";
        let url = redirect_url(
            "https://app.example/cb?x=1",
            "https://id.example",
            Some(state),
            Ok("the-code"),
        )
        .unwrap();
        assert!(!url.contains('#'), "{url}");
        assert_eq!(
            pairs(&url),
            [
                ("x", "1"),
                ("code", "the-code"),
                ("state", state),
                ("iss", "https://id.example")
            ]
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
        );
    }

    #[test]
    fn errors_carry_code_and_description() {
        let error = OAuthError::new(ErrorCode::AccessDenied, "the user said no");
        let url = redirect_url(
            "com.example.app:/cb",
            "https://id.example",
            None,
            Err(&error),
        )
        .unwrap();
        let pairs = pairs(&url);
        assert_eq!(pairs[0], ("error".into(), "access_denied".into()));
        assert!(pairs.iter().all(|(k, _)| k != "state"));
    }
}
