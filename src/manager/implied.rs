//! Scope implication declared by the application: a broader scope stands
//! for narrower ones (`files:write` implies `files:read`), applied to every
//! verified token's permissions, once per token. Never guessed from names.

use std::collections::HashMap;

use crate::{error::ConfigError, scope::is_scope_token};

/// The declared implications, closed under transitivity at build time
/// (`files:admin` → `files:write` → `files:read`).
#[derive(Debug, Clone, Default)]
pub(crate) struct ImpliedScopes(HashMap<String, Vec<String>>);

impl ImpliedScopes {
    /// Checks every scope and closes the relation.
    pub(crate) fn build(declared: Vec<(String, Vec<String>)>) -> Result<Self, ConfigError> {
        let mut direct: HashMap<String, Vec<String>> = HashMap::new();
        for (broader, narrower) in declared {
            for scope in std::iter::once(&broader).chain(&narrower) {
                if !is_scope_token(scope) {
                    return Err(ConfigError::InvalidPermission(scope.clone()));
                }
            }
            let entry = direct.entry(broader).or_default();
            for n in narrower {
                if !entry.contains(&n) {
                    entry.push(n);
                }
            }
        }
        let mut closed = HashMap::with_capacity(direct.len());
        for broader in direct.keys() {
            let mut all: Vec<String> = Vec::new();
            let mut todo: Vec<&String> = direct[broader].iter().collect();
            while let Some(scope) = todo.pop() {
                if scope == broader || all.contains(scope) {
                    continue;
                }
                all.push(scope.clone());
                if let Some(more) = direct.get(scope) {
                    todo.extend(more);
                }
            }
            closed.insert(broader.clone(), all);
        }
        Ok(Self(closed))
    }

    /// Adds to `permissions` every scope the ones there imply.
    pub(crate) fn extend(&self, permissions: &mut Vec<String>) {
        if self.0.is_empty() {
            return;
        }
        let held = permissions.len();
        for i in 0..held {
            if let Some(implied) = self.0.get(&permissions[i]) {
                for scope in implied {
                    if !permissions.contains(scope) {
                        permissions.push(scope.clone());
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scopes(declared: &[(&str, &[&str])]) -> ImpliedScopes {
        ImpliedScopes::build(
            declared
                .iter()
                .map(|(b, n)| (b.to_string(), n.iter().map(|s| s.to_string()).collect()))
                .collect(),
        )
        .unwrap()
    }

    #[test]
    fn implication_is_transitive_and_adds_each_scope_once() {
        let implied = scopes(&[
            ("files:admin", &["files:write"]),
            ("files:write", &["files:read"]),
            ("files:read", &["files:admin"]), // a cycle ends
        ]);
        let mut held = vec!["files:write".to_owned(), "other".to_owned()];
        implied.extend(&mut held);
        assert_eq!(held, ["files:write", "other", "files:read", "files:admin"]);
        let mut held = vec!["other".to_owned()];
        implied.extend(&mut held);
        assert_eq!(held, ["other"], "nothing is guessed");
    }

    #[test]
    fn a_scope_that_cannot_be_a_scope_token_is_refused() {
        for bad in ["", "has space", "quote\"", "back\\slash"] {
            let err = ImpliedScopes::build(vec![("ok".into(), vec![bad.into()])]).unwrap_err();
            assert_eq!(err, ConfigError::InvalidPermission(bad.into()));
        }
    }
}
