//! OAuth scope tokens (RFC 6749 §3.3): what a scope may contain, so that
//! it can be named in a `WWW-Authenticate` challenge's quoted `scope`.

/// Whether `token` is one scope token: non-empty, visible ASCII other than
/// `"` and `\` (`%x21 / %x23-5B / %x5D-7E`).
pub(crate) fn is_scope_token(token: &str) -> bool {
    !token.is_empty()
        && token
            .bytes()
            .all(|b| b == 0x21 || (0x23..=0x5b).contains(&b) || (0x5d..=0x7e).contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scope_tokens_are_visible_ascii_without_quote_or_backslash() {
        for good in [
            "files:read",
            "mcp:tools",
            "a!#[]~",
            "https://api.example.com/x",
        ] {
            assert!(is_scope_token(good), "{good}");
        }
        for bad in ["", "a b", "say\"", "back\\slash", "é", "tab\t"] {
            assert!(!is_scope_token(bad), "{bad:?}");
        }
    }
}
