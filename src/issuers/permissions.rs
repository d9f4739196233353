//! [`PermissionClaims`]: which claims of a token become the session's
//! permissions.

use std::fmt;

use serde_json::{Map, Value};

use crate::{error::ConfigError, error::VerifyError};

/// Which claims of a trusted issuer's tokens become the session's
/// permissions (what [`RequirePermissionLayer`](crate::RequirePermissionLayer)
/// checks), each with an optional prefix.
///
/// A claim is named by its exact name (`scope`, `cognito:groups`,
/// `https://example.com/roles`) or by a dotted path into nested objects
/// (`realm_access.roles`, `resource_access.my-api.roles`; a `*` segment
/// takes every member: `resource_access.*.roles`): the exact name is looked
/// up first, then the path. Its value is a space-separated string (OAuth
/// `scope`) or an array of strings; any other type refuses the token
/// (`401 invalid_token`), and an absent claim adds nothing. Values are kept
/// as they are, with the source's prefix in front (nothing is renamed
/// silently); duplicates are dropped, first one kept.
///
/// The default reads what the client was granted: `permissions` (Auth0's
/// RBAC), `scope` and `scp`, without prefixes. Roles are the user's, not
/// the client's: they count only when listed, and a role claim (one whose
/// last name is `roles` or `groups`: `roles`, `groups`, `realm_access.roles`,
/// `resource_access.*.roles`, `cognito:groups`, `https://example.com/roles`)
/// gets the prefix `role:` unless another is given
/// ([`claim_with_prefix`](Self::claim_with_prefix)): a role `admin` is
/// `role:admin`, never the scope `admin`.
///
/// ```
/// use tower_jwt_session::issuers::PermissionClaims;
///
/// let claims = serde_json::json!({
///     "scope": "orders:read orders:write",
///     "realm_access": {"roles": ["admin"]},
///     "resource_access": {"orders-api": {"roles": ["auditor"]}},
/// });
/// let mapping = PermissionClaims::empty()
///     .claim("scope")?
///     .claim("realm_access.roles")?                                  // role: by default
///     .claim_with_prefix("resource_access.orders-api.roles", "orders-api:")?;
/// assert_eq!(
///     mapping.permissions(claims.as_object().unwrap())?,
///     ["orders:read", "orders:write", "role:admin", "orders-api:auditor"],
/// );
/// // The default: granted scopes only.
/// assert_eq!(
///     PermissionClaims::default().permissions(claims.as_object().unwrap())?,
///     ["orders:read", "orders:write"],
/// );
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct PermissionClaims {
    sources: Vec<Source>,
}

#[derive(Clone, PartialEq, Eq)]
struct Source {
    name: String,
    path: Vec<String>,
    prefix: String,
}

/// The claims read by [`PermissionClaims::default`]: what the client was
/// granted, never the user's roles.
pub const DEFAULT_PERMISSION_CLAIMS: &str = "permissions scope scp";

/// The prefix a role claim's values get unless another is given.
pub const ROLE_PREFIX: &str = "role:";

/// Whether `name` names roles or groups (its last name, after `.`, `/` or
/// `:`, is `roles` or `groups`).
fn is_role_claim(name: &str) -> bool {
    let last = name.rsplit(['.', '/', ':']).next().unwrap_or(name);
    last == "roles" || last == "groups"
}

impl Default for PermissionClaims {
    fn default() -> Self {
        Self::parse(DEFAULT_PERMISSION_CLAIMS).unwrap_or_else(|_| Self::empty())
    }
}

impl PermissionClaims {
    /// No claim: sessions of the issuer have no permissions.
    pub fn empty() -> Self {
        Self {
            sources: Vec::new(),
        }
    }

    /// Reads a list of claim names or dotted paths separated by spaces or
    /// commas (the demo server's `SESSION_PERMISSION_CLAIMS`), each as
    /// [`claim`](Self::claim) takes it (role claims with `role:`).
    ///
    /// ```
    /// use tower_jwt_session::issuers::PermissionClaims;
    /// assert_eq!(PermissionClaims::parse("scope, realm_access.roles")?,
    ///            PermissionClaims::empty().claim("scope")?.claim("realm_access.roles")?);
    /// assert!(PermissionClaims::parse("scope realm_access..roles").is_err());
    /// # Ok::<(), tower_jwt_session::ConfigError>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`ConfigError::InvalidPermissionClaim`] for a path with an empty
    /// segment.
    pub fn parse(list: &str) -> Result<Self, ConfigError> {
        list.split(|c: char| c == ',' || c.is_whitespace())
            .filter(|s| !s.is_empty())
            .try_fold(Self::empty(), Self::claim)
    }

    /// Adds a claim (name or dotted path): its values as they are, or, for
    /// a role claim (last name `roles` or `groups`), with [`ROLE_PREFIX`].
    ///
    /// # Errors
    ///
    /// [`ConfigError::InvalidPermissionClaim`] for an empty name or a path
    /// with an empty segment.
    pub fn claim(self, path: &str) -> Result<Self, ConfigError> {
        let prefix = if is_role_claim(path) { ROLE_PREFIX } else { "" };
        self.claim_with_prefix(path, prefix)
    }

    /// Adds a claim (name or dotted path) whose values get `prefix` in
    /// front: `claim_with_prefix("roles", "role:")` turns `["admin"]` into
    /// `role:admin`.
    ///
    /// # Errors
    ///
    /// [`ConfigError::InvalidPermissionClaim`] for an empty name or a path
    /// with an empty segment.
    pub fn claim_with_prefix(mut self, path: &str, prefix: &str) -> Result<Self, ConfigError> {
        let segments: Vec<String> = path.split('.').map(str::to_owned).collect();
        if path.is_empty() || segments.iter().any(String::is_empty) {
            return Err(ConfigError::InvalidPermissionClaim(path.to_owned()));
        }
        self.sources.push(Source {
            name: path.to_owned(),
            path: segments,
            prefix: prefix.to_owned(),
        });
        Ok(self)
    }

    /// The permissions `claims` grant, in the order of the sources.
    ///
    /// # Errors
    ///
    /// [`VerifyError::InvalidClaims`] when a named claim is neither a string
    /// nor an array of strings.
    pub fn permissions(&self, claims: &Map<String, Value>) -> Result<Vec<String>, VerifyError> {
        let mut out: Vec<String> = Vec::new();
        let mut push = |p: String| {
            if !out.contains(&p) {
                out.push(p);
            }
        };
        for source in &self.sources {
            let values = match claims.get(&source.name) {
                Some(value) => vec![value],
                None => {
                    let mut found = Vec::new();
                    if let Some((first, rest)) = source.path.split_first() {
                        if let Some(top) = claims.get(first) {
                            walk(top, rest, &mut found);
                        }
                    }
                    found
                }
            };
            let wrong = || {
                VerifyError::InvalidClaims(format!(
                    "`{}` must be a space-separated string or an array of strings",
                    source.name
                ))
            };
            for value in values {
                match value {
                    Value::Null => {}
                    Value::String(s) => s
                        .split_ascii_whitespace()
                        .for_each(|p| push(format!("{}{p}", source.prefix))),
                    Value::Array(items) => {
                        for item in items {
                            let p = item.as_str().ok_or_else(wrong)?;
                            if !p.is_empty() {
                                push(format!("{}{p}", source.prefix));
                            }
                        }
                    }
                    _ => return Err(wrong()),
                }
            }
        }
        Ok(out)
    }
}

/// The values at `path` below `value`; a `*` segment takes every member of
/// an object. A path through anything but an object finds nothing.
fn walk<'v>(value: &'v Value, path: &[String], found: &mut Vec<&'v Value>) {
    let Some((segment, rest)) = path.split_first() else {
        found.push(value);
        return;
    };
    let Some(object) = value.as_object() else {
        return;
    };
    if segment == "*" {
        for member in object.values() {
            walk(member, rest, found);
        }
    } else if let Some(member) = object.get(segment) {
        walk(member, rest, found);
    }
}

impl fmt::Debug for PermissionClaims {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(
                self.sources
                    .iter()
                    .map(|s| format!("{}{}", s.prefix, s.name)),
            )
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn perms(mapping: &PermissionClaims, claims: Value) -> Result<Vec<String>, VerifyError> {
        mapping.permissions(claims.as_object().unwrap())
    }

    #[test]
    fn the_default_reads_what_the_client_was_granted_never_roles() {
        let all = perms(
            &PermissionClaims::default(),
            json!({
                "permissions": ["a"], "scope": "b c", "scp": ["d"], "roles": ["e", "a"],
                "realm_access": {"roles": ["f"]}, "other": ["x"]
            }),
        )
        .unwrap();
        assert_eq!(all, ["a", "b", "c", "d"]);
        assert!(perms(&PermissionClaims::default(), json!({}))
            .unwrap()
            .is_empty());
    }

    #[test]
    fn role_claims_are_prefixed_unless_told_otherwise() {
        let mapping = PermissionClaims::parse(
            "scope roles groups realm_access.roles resource_access.*.roles cognito:groups",
        )
        .unwrap();
        let got = perms(
            &mapping,
            json!({
                "scope": "admin", "roles": ["admin"], "groups": ["g"],
                "realm_access": {"roles": ["r"]},
                "resource_access": {"api": {"roles": ["x"]}, "web": {"roles": ["y"]}},
                "cognito:groups": ["c"],
            }),
        )
        .unwrap();
        assert_eq!(
            got,
            [
                "admin",
                "role:admin",
                "role:g",
                "role:r",
                "role:x",
                "role:y",
                "role:c"
            ]
        );
        let plain = PermissionClaims::empty()
            .claim_with_prefix("roles", "")
            .unwrap();
        assert_eq!(
            perms(&plain, json!({"roles": ["admin"]})).unwrap(),
            ["admin"]
        );
        assert!(is_role_claim("https://example.com/roles"));
        assert!(!is_role_claim("scope") && !is_role_claim("permissions"));
    }

    #[test]
    fn exact_names_win_over_paths_and_may_hold_dots() {
        let mapping = PermissionClaims::empty()
            .claim("https://example.com/roles")
            .unwrap()
            .claim("cognito:groups")
            .unwrap();
        let got = perms(
            &mapping,
            json!({"https://example.com/roles": ["r"], "cognito:groups": ["g"]}),
        )
        .unwrap();
        assert_eq!(got, ["role:r", "role:g"]);
    }

    #[test]
    fn wrong_types_refuse_the_token() {
        let mapping = PermissionClaims::parse("scope realm_access.roles").unwrap();
        for bad in [
            json!({"scope": 5}),
            json!({"scope": ["a", 5]}),
            json!({"scope": {"a": 1}}),
            json!({"realm_access": {"roles": true}}),
        ] {
            assert!(
                matches!(
                    perms(&mapping, bad.clone()),
                    Err(VerifyError::InvalidClaims(_))
                ),
                "{bad}"
            );
        }
        // A path through a non-object is simply absent.
        assert!(perms(&mapping, json!({"realm_access": "x"}))
            .unwrap()
            .is_empty());
    }

    #[test]
    fn bad_paths_are_configuration_errors() {
        for bad in ["", ".", "a.", ".a", "a..b"] {
            assert!(PermissionClaims::empty().claim(bad).is_err(), "{bad:?}");
        }
    }
}
