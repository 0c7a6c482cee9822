//! The one naming rule for plugin names (from manifests and from `.wasm` file names) and
//! tenants: they become path parts, handler references, route segments and lock keys, so
//! they are short, plain and unambiguous.

/// Longest plugin or tenant name, in bytes.
pub const MAX_NAME_LEN: usize = 128;

/// Checks `text` as a plugin or tenant name (`what` names it in the error): 1 to
/// [`MAX_NAME_LEN`] ASCII letters, digits, `-` and `_`, starting with a letter or digit.
/// No dots (`name.export` is how remote engines address an export), slashes, spaces or
/// other characters.
pub fn check_name(what: &str, text: &str) -> Result<(), String> {
    if text.is_empty() {
        return Err(format!("{what} is empty"));
    }
    if text.len() > MAX_NAME_LEN {
        return Err(format!("{what} is {} bytes long, over the {MAX_NAME_LEN}-byte limit", text.len()));
    }
    if !text.starts_with(|c: char| c.is_ascii_alphanumeric()) {
        return Err(format!("{what} `{}` must start with a letter or digit", shown(text)));
    }
    if let Some(bad) = text.chars().find(|c| !(c.is_ascii_alphanumeric() || *c == '-' || *c == '_')) {
        return Err(format!("{what} `{}` contains {bad:?}: use only letters, digits, `-` and `_`", shown(text)));
    }
    Ok(())
}

/// `text` with control characters escaped, for an error message.
fn shown(text: &str) -> String {
    text.chars().flat_map(char::escape_debug).collect::<String>().chars().take(MAX_NAME_LEN + 16).collect()
}

#[cfg(test)]
mod tests {
    use super::check_name;

    #[test]
    fn names() {
        for ok in ["text-classifier", "echo_tool", "a", "T1", &"x".repeat(128)] {
            assert_eq!(check_name("name", ok), Ok(()), "{ok}");
        }
        for bad in ["", ".", "..", "../../x", "my plugin", "a.b", "-x", "_x", "a/b", "é", "a\nb", &"x".repeat(129)] {
            assert!(check_name("name", bad).is_err(), "{bad:?} should be refused");
        }
    }
}
