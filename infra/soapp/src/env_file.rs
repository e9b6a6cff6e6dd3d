//! `--env-file FILE`: a deployment's variables as `KEY=VALUE` lines (an `export ` prefix, quotes
//! around the value, blank lines and `#` comments allowed), read the same way by every command;
//! the process environment fills in what the file does not name.

use std::collections::HashMap;
use std::path::Path;

/// The file's variables, or why it cannot be read.
pub fn read(path: &Path) -> Result<HashMap<String, String>, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let mut vars = HashMap::new();
    for line in text.lines().map(str::trim) {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if let Some((k, v)) = line.trim_start_matches("export ").split_once('=') {
            vars.insert(k.trim().to_owned(), v.trim().trim_matches('"').to_owned());
        }
    }
    Ok(vars)
}

/// The file's variables (none without a file) over the environment.
pub fn lookup(vars: &HashMap<String, String>, name: &str) -> Option<String> {
    vars.get(name).cloned().or_else(|| std::env::var(name).ok())
}

/// [`read`] when a file is given, nothing otherwise.
pub fn read_optional(path: Option<&Path>) -> Result<HashMap<String, String>, String> {
    path.map_or_else(|| Ok(HashMap::new()), read)
}
