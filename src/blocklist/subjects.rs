//! Whose watermark a key names: the server's own users and each trusted
//! issuer's subjects, in key spaces that are disjoint by construction.
//!
//! A log-out-everywhere watermark is stored under a text key. The server's
//! own users are keyed by their user id; a trusted issuer's subjects by a
//! public tag of the issuer (12 base64url characters) and one separator:
//!
//! | key | whose |
//! | --- | --- |
//! | `{tag}~{sub}` | every token of the issuer's subject `sub` |
//! | `{tag}^{sub}` | the tokens of `sub` that carry no `sid` |
//! | `{tag}!{email}` | every token of the issuer carrying the `email` claim |
//! | the user id, or `#` + the user id | the server's own user |
//!
//! A user id that could be read as an issuer's key (12 base64url
//! characters, then `~`, `^` or `!`), or that starts with `#`, is stored
//! with a `#` in front. So no user id, whatever the application lets its
//! users choose, names an issuer's subject, and two user ids never share a
//! key. Every other user id (e-mail addresses, UUIDs, numbers) is its own
//! key, as in earlier versions.

use std::borrow::Cow;

/// The length of an issuer's tag.
pub(crate) const TAG_LEN: usize = 12;

/// The separators that follow an issuer's tag.
const SEPARATORS: [u8; 3] = [b'~', b'^', b'!'];

/// The watermark key of the server's own user `user_id`.
#[inline]
pub(crate) fn own_user(user_id: &str) -> Cow<'_, str> {
    let b = user_id.as_bytes();
    let reads_as_issuer = b.len() > TAG_LEN
        && SEPARATORS.contains(&b[TAG_LEN])
        && b[..TAG_LEN]
            .iter()
            .all(|c| c.is_ascii_alphanumeric() || *c == b'-' || *c == b'_');
    if reads_as_issuer || b.first() == Some(&b'#') {
        Cow::Owned(format!("#{user_id}"))
    } else {
        Cow::Borrowed(user_id)
    }
}

/// The watermark key of every token of `tag`'s subject `sub`.
pub(crate) fn issuer_subject(tag: &str, sub: &str) -> String {
    debug_assert_eq!(tag.len(), TAG_LEN);
    format!("{tag}~{sub}")
}

/// The watermark key of the tokens of `tag`'s subject `sub` that carry no
/// `sid`.
pub(crate) fn issuer_sessionless(tag: &str, sub: &str) -> String {
    debug_assert_eq!(tag.len(), TAG_LEN);
    format!("{tag}^{sub}")
}

/// The watermark key of the tokens of `tag` carrying the claim `email`.
pub(crate) fn issuer_email(tag: &str, email: &str) -> String {
    debug_assert_eq!(tag.len(), TAG_LEN);
    format!("{tag}!{email}")
}

#[cfg(test)]
mod tests {
    use super::*;

    const TAG: &str = "AbCdEfGh-_12";

    #[test]
    fn ordinary_user_ids_are_their_own_key() {
        for id in [
            "u-1",
            "ada@example.com",
            "550e8400-e29b-41d4-a716-446655440000",
            "42",
            "",
            "AbCdEfGh-_12",
            "AbCdEfGh-_12x~",
            "AbCdEfGh-_1~ada",
        ] {
            assert!(matches!(own_user(id), Cow::Borrowed(k) if k == id), "{id}");
        }
    }

    #[test]
    fn no_user_id_names_an_issuers_subject() {
        for (sep, key) in [
            ('~', issuer_subject(TAG, "ada")),
            ('^', issuer_sessionless(TAG, "ada")),
            ('!', issuer_email(TAG, "ada")),
        ] {
            let id = format!("{TAG}{sep}ada");
            assert_eq!(id, key);
            assert_ne!(own_user(&id), key.as_str());
            assert_eq!(own_user(&id), format!("#{id}"));
        }
    }

    #[test]
    fn escaped_and_plain_user_ids_never_share_a_key() {
        // `#x` is escaped to `##x`, never equal to the plain `#x`'s key.
        assert_eq!(own_user("#x"), "##x");
        assert_eq!(own_user("x"), "x");
        let escaped = format!("{TAG}~ada");
        assert_ne!(own_user(&escaped), own_user(&format!("#{escaped}")));
    }
}
