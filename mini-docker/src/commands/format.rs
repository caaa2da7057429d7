//! `--format` for `ps` and `inspect`: a small subset of Go's text/template
//! (the language of Docker's `--format`), enough for what scripts write:
//! - text, copied as it is;
//! - `{{.Field}}`, `{{.State.Pid}}`: a field, down a path of names, of the
//!   JSON the command would print (for `inspect`, one container's object);
//!   a string prints bare, a number or a boolean as JSON writes it, an
//!   object or a list as JSON (Go would print `map[...]`);
//! - `{{json .Field}}` and `{{json .}}`: the value as JSON.
//!
//! Anything else (pipelines, `range`, `if`, functions other than `json`,
//! `table`) is refused with the part that is not understood, and a field
//! the object does not have is an error, not an empty string: a script
//! should hear about a typo.

use serde_json::Value;

use crate::commands::Error;

/// One piece of a template.
#[derive(Debug, Clone, PartialEq)]
enum Piece {
    Text(String),
    /// `{{.A.B}}`, or `{{json .A.B}}` (`json` true); an empty path is `.`.
    Field {
        path: Vec<String>,
        json: bool,
    },
}

/// A parsed `--format` value.
#[derive(Debug, Clone)]
pub struct Template {
    source: String,
    pieces: Vec<Piece>,
}

impl Template {
    pub fn parse(source: &str) -> Result<Template, Error> {
        let refuse = |why: String| Error::Template(source.to_owned(), why);
        let mut pieces = Vec::new();
        let mut rest = source;
        while let Some(open) = rest.find("{{") {
            if open > 0 {
                pieces.push(Piece::Text(rest[..open].to_owned()));
            }
            let after = &rest[open + 2..];
            let close = after.find("}}").ok_or_else(|| refuse("unclosed {{".to_owned()))?;
            let action = after[..close].trim();
            let (json, field) = match action.strip_prefix("json ") {
                Some(field) => (true, field.trim()),
                None => (false, action),
            };
            let path = field.strip_prefix('.').ok_or_else(|| {
                refuse(format!("{{{{{action}}}}}: only {{{{.Field}}}} and {{{{json .Field}}}}"))
            })?;
            let path: Vec<String> = if path.is_empty() {
                Vec::new()
            } else {
                path.split('.').map(str::to_owned).collect()
            };
            let named = |name: &String| {
                !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
            };
            if !path.iter().all(named) {
                return Err(refuse(format!("{{{{{action}}}}}: not a field name")));
            }
            pieces.push(Piece::Field { path, json });
            rest = &after[close + 2..];
        }
        if !rest.is_empty() {
            pieces.push(Piece::Text(rest.to_owned()));
        }
        Ok(Template { source: source.to_owned(), pieces })
    }

    /// The template applied to `value`.
    pub fn render(&self, value: &Value) -> Result<String, Error> {
        let mut out = String::new();
        for piece in &self.pieces {
            match piece {
                Piece::Text(text) => out.push_str(text),
                Piece::Field { path, json } => {
                    let mut at = value;
                    for name in path {
                        at = at.get(name).ok_or_else(|| {
                            let why = format!("no field {:?} in .{}", name, path.join("."));
                            Error::Template(self.source.clone(), why)
                        })?;
                    }
                    match (at, json) {
                        (Value::String(s), false) => out.push_str(s),
                        (other, _) => out.push_str(&other.to_string()),
                    }
                }
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn fields_and_json() {
        let value =
            json!({ "ID": "abc", "State": { "Pid": 42, "Running": true }, "L": {"a": "b"} });
        let render =
            |t: &str| Template::parse(t).and_then(|t| t.render(&value)).map_err(|e| e.to_string());
        assert_eq!(render("{{.ID}} {{ .State.Pid }}"), Ok("abc 42".to_owned()));
        assert_eq!(render("{{.State.Running}}/{{json .ID}}"), Ok("true/\"abc\"".to_owned()));
        assert_eq!(render("{{json .L}}"), Ok("{\"a\":\"b\"}".to_owned()));
        assert_eq!(render("plain"), Ok("plain".to_owned()));
        for (bad, why) in [
            ("{{.Nope}}", "no field \"Nope\" in .Nope"),
            ("{{.State.Nope}}", "no field \"Nope\" in .State.Nope"),
            ("{{range .}}", "only {{.Field}} and {{json .Field}}"),
            ("{{.a b}}", "not a field name"),
            ("{{.ID", "unclosed {{"),
        ] {
            let e = render(bad).expect_err(bad);
            assert!(e.ends_with(why), "{bad}: {e}");
        }
    }
}
