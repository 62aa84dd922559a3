//! The configuration reference (`docs/configuration.md`), rendered as Markdown from the table
//! of settings by `ostiary config-reference`.

use std::fmt::{self, Write};

use super::settings::{DefaultValue, SETTINGS, Setting};
use super::sources::env_var;

/// How the reference is regenerated; named in the file and in the test that compares it.
pub const REGENERATE: &str = "cargo run -q -- config-reference > docs/configuration.md";

/// The whole reference as Markdown.
pub fn render_reference() -> String {
    let mut out = String::new();
    // Writing into a String cannot fail.
    let _ = write_reference(&mut out);
    out
}

fn write_reference(out: &mut String) -> fmt::Result {
    writeln!(out, "# Configuration reference")?;
    writeln!(out)?;
    writeln!(
        out,
        "<!-- Generated from crates/ostiary-server/src/config/settings.rs by `ostiary \
         config-reference`; do not edit. Regenerate with: {REGENERATE} -->"
    )?;
    writeln!(out)?;
    out.push_str(INTRODUCTION);
    writeln!(out)?;
    writeln!(out, "| variable | file | default |")?;
    writeln!(out, "|---|---|---|")?;
    for setting in SETTINGS {
        let var = env_var(setting.name);
        writeln!(
            out,
            "| [`{var}`](#{}) | `{}` | {} |",
            var.to_ascii_lowercase(),
            setting.name,
            default_text(setting)
        )?;
    }
    let mut section = "";
    for setting in SETTINGS {
        if setting.section != section {
            section = setting.section;
            writeln!(out)?;
            writeln!(out, "## {section}")?;
        }
        write_setting(out, setting)?;
    }
    Ok(())
}

fn write_setting(out: &mut String, setting: &Setting) -> fmt::Result {
    let var = env_var(setting.name);
    writeln!(out)?;
    writeln!(out, "### `{var}`")?;
    writeln!(out)?;
    writeln!(out, "{}", setting.doc)?;
    writeln!(out)?;
    writeln!(out, "- file: `{}`", setting.name)?;
    writeln!(out, "- values: {}", setting.values)?;
    writeln!(out, "- default: {}", default_text(setting))?;
    if setting.secret {
        writeln!(
            out,
            "- secret: or from the file `{var}_FILE` names; never in the configuration file"
        )?;
    }
    Ok(())
}

fn default_text(setting: &Setting) -> String {
    match setting.default {
        DefaultValue::Value(value) => format!("`{value}`"),
        DefaultValue::Unset(text) => text.to_owned(),
    }
}

const INTRODUCTION: &str = "\
Each setting is taken from, in order of precedence: its environment variable (`OAUTH2_` and \
the name in capitals), the TOML file given with `--config PATH` (by its name: `issuer = \
\"https://id.example.com\"`; a table joins its name to its keys with `_`, so `[http]` with \
`body_limit_bytes` is `http_body_limit_bytes`), and its default. Unknown names in the file \
are refused. Values are strings, numbers or booleans; lists are comma- or space-separated.

A secret (marked below) may instead be read from a file: `OAUTH2_JWT_SECRET_FILE=PATH` and so \
on (a container secret, a systemd credential), the whole file less one trailing newline; \
setting both the variable and its `_FILE` is refused. Secrets belong in the environment or in \
such files, never in the configuration file.

`ostiary check-config` runs the startup checks (the production checklist) and prints them as \
JSON; `serve` refuses to start when one fails. `ostiary.example.toml` is an annotated \
production configuration that passes them. Two more variables are not settings of the \
server: `OAUTH2_LOG_FORMAT` (`text` or `json`, also `--log-format`) and `RUST_LOG` (the log \
level: `info` for `serve`, `warn` for other commands).
";

#[cfg(test)]
mod tests {
    use super::*;

    /// docs/configuration.md is what `ostiary config-reference` prints.
    #[test]
    fn docs_configuration_md_is_up_to_date() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/configuration.md");
        let committed = std::fs::read_to_string(path).unwrap_or_default();
        assert!(
            committed == render_reference(),
            "docs/configuration.md differs from the settings table; regenerate it with: \
             {REGENERATE}"
        );
    }

    #[test]
    fn the_reference_names_every_setting_and_stays_a_valid_table() {
        let reference = render_reference();
        for setting in SETTINGS {
            let var = env_var(setting.name);
            assert!(reference.contains(&format!("### `{var}`")), "{var}");
            // A `|` would split a row of the summary table.
            assert!(!default_text(setting).contains('|'), "{var}");
        }
    }
}
