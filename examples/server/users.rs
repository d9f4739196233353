//! The demo's fixed users and the login form.

use super::*;

pub(crate) struct DemoUser {
    pub(crate) email: &'static str,
    pub(crate) password: &'static str,
    pub(crate) user_id: &'static str,
    pub(crate) role: &'static str,
    pub(crate) permissions: &'static [&'static str],
    pub(crate) name: &'static str,
}

pub(crate) const USERS: &[DemoUser] = &[
    DemoUser {
        email: "admin@example.com",
        password: "admin-password",
        user_id: "u-admin",
        role: "admin",
        permissions: &["contacts:read", "contacts:write", "admin"],
        name: "Ada Admin",
    },
    DemoUser {
        email: "sales@example.com",
        password: "sales-password",
        user_id: "u-sales",
        role: "sales",
        permissions: &["contacts:read"],
        name: "Sam Sales",
    },
];

/// SHA-256 of a credential: both sides of a comparison have the same
/// length, so comparing them says nothing about the stored one's length.
pub(crate) fn digest(text: &str) -> [u8; 32] {
    Sha256::digest(text.as_bytes()).into()
}

/// Compares two digests without stopping at the first difference.
pub(crate) fn same(a: &[u8; 32], b: &[u8; 32]) -> bool {
    std::hint::black_box(a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y))) == 0
}

/// The body of `POST /login`: a JSON object with string members `email`
/// and `password`. Other members are ignored (a login form may send more,
/// such as "remember me"); anything else is refused.
#[derive(Deserialize)]
pub(crate) struct Login {
    email: String,
    password: String,
}

impl Login {
    /// 400 when the body is not JSON; 422 when it is JSON but not an object
    /// with string `email` and `password` (serde alone would also take an
    /// array `[email, password]` for the struct).
    pub(crate) fn parse(body: &[u8]) -> Result<Self, (StatusCode, &'static str)> {
        let value: serde_json::Value = serde_json::from_slice(body)
            .map_err(|_| (StatusCode::BAD_REQUEST, "the body is not JSON"))?;
        if !value.is_object() {
            return Err((
                StatusCode::UNPROCESSABLE_ENTITY,
                "the body must be a JSON object {\"email\", \"password\"}",
            ));
        }
        Login::deserialize(value).map_err(|_| {
            (
                StatusCode::UNPROCESSABLE_ENTITY,
                "`email` and `password` must be strings",
            )
        })
    }

    /// The demo user these credentials name: the email compared after
    /// trimming and ASCII case folding, both compared in constant time over
    /// digests, every user checked (no early exit).
    pub(crate) fn user(&self) -> Option<&'static DemoUser> {
        let email = digest(&self.email.trim().to_ascii_lowercase());
        let password = digest(&self.password);
        let mut found = None;
        for user in USERS {
            if same(&digest(user.email), &email) & same(&digest(user.password), &password) {
                found = Some(user);
            }
        }
        found
    }
}
