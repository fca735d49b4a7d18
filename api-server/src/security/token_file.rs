//! Kubernetes' static token file (`--token-auth-file`): CSV lines `token,user,uid,"group1,group2"`.

use std::collections::HashMap;

use super::authn::Identity;

/// A static token file could not be read or parsed.
#[derive(Debug, thiserror::Error)]
pub enum TokenFileError {
    #[error("{path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("token file line {line}: {reason}")]
    Parse { line: usize, reason: String },
}

/// Parses Kubernetes' static token CSV: `token,user,uid[,"group1,group2"]`, one per line; blank
/// lines and lines starting with `#` are skipped.
pub fn parse_token_file(text: &str) -> Result<HashMap<String, Identity>, TokenFileError> {
    let mut tokens = HashMap::new();
    for (index, raw) in text.lines().enumerate() {
        let line = index + 1;
        let err = |reason: String| TokenFileError::Parse { line, reason };
        if raw.trim().is_empty() || raw.trim_start().starts_with('#') {
            continue;
        }
        let fields = split_csv(raw).map_err(err)?;
        if fields.len() < 3 {
            return Err(err(format!(
                "expected at least 3 columns (token,user,uid), got {}",
                fields.len()
            )));
        }
        let (token, user) = (fields[0].trim(), fields[1].trim());
        if token.is_empty() {
            return Err(err("column 1 (token) is empty".into()));
        }
        if user.is_empty() {
            return Err(err("column 2 (user) is empty".into()));
        }
        let groups = fields
            .get(3)
            .map(|g| {
                g.split(',')
                    .map(str::trim)
                    .filter(|g| !g.is_empty())
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_else(Vec::new);
        let mut identity = Identity::new(user, groups);
        identity.uid = fields[2].trim().to_string();
        if tokens.insert(token.to_string(), identity).is_some() {
            return Err(err("duplicate token (column 1)".into()));
        }
    }
    Ok(tokens)
}

/// Splits one CSV record (RFC 4180 quoting: `"a,b"` and `""` for a literal quote).
fn split_csv(line: &str) -> Result<Vec<String>, String> {
    let mut fields = vec![String::new()];
    let mut chars = line.chars().peekable();
    let mut quoted = false;
    while let Some(c) = chars.next() {
        let field = fields.last_mut().expect("fields is never empty");
        match (c, quoted) {
            ('"', true) if chars.peek() == Some(&'"') => {
                chars.next();
                field.push('"');
            }
            ('"', true) => quoted = false,
            ('"', false) if field.trim().is_empty() => {
                field.clear();
                quoted = true;
            }
            (',', false) => fields.push(String::new()),
            (c, _) => field.push(c),
        }
    }
    if quoted {
        return Err("unterminated quoted field".into());
    }
    Ok(fields)
}
