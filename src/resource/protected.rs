//! [`ProtectedResource`]: this API's resource identifier and what its
//! metadata document lists; where the document lives.

use std::{fmt, sync::Arc};

use http::Uri;

use crate::error::ConfigError;

/// The well-known path segment of RFC 9728 §3.
const WELL_KNOWN: &str = "/.well-known/oauth-protected-resource";

/// This API as an OAuth protected resource: its identifier, and what its
/// metadata document lists beyond what the manager and layer already know.
///
/// ```
/// use tower_jwt_session::resource::ProtectedResource;
///
/// let resource = ProtectedResource::new("https://API.example.com/mcp")?;
/// assert_eq!(
///     resource.metadata_url(),
///     "https://API.example.com/.well-known/oauth-protected-resource/mcp"
/// );
/// assert!(resource.is_named_by("https://api.example.com/mcp"));
/// assert!(!resource.is_named_by("https://api.example.com/MCP"));
/// assert!(ProtectedResource::new("https://api.example.com/?tenant=1").is_err());
/// assert!(ProtectedResource::new("ftp://api.example.com").is_err());
/// # Ok::<(), tower_jwt_session::ConfigError>(())
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct ProtectedResource {
    resource: Arc<str>,
    /// `scheme://authority`, lowercased, for comparing audiences.
    origin_lower: Box<str>,
    /// The path after the authority (`""` for none).
    path: Box<str>,
    pub(super) metadata_path: Arc<str>,
    metadata_url: Arc<str>,
    pub(super) scopes: Vec<String>,
    pub(super) name: Option<String>,
    pub(super) documentation: Option<String>,
}

impl ProtectedResource {
    /// The resource identifier: an `https` URL (or `http`, for loopback
    /// demos) without query or fragment, the base URL the routes are served
    /// under as clients see it.
    ///
    /// # Errors
    ///
    /// [`ConfigError::InvalidResource`] naming what is wrong.
    pub fn new(resource: impl Into<String>) -> Result<Self, ConfigError> {
        let resource = resource.into();
        let bad = |reason: &str| ConfigError::InvalidResource {
            resource: resource.clone(),
            reason: reason.to_owned(),
        };
        if resource.contains('#') {
            return Err(bad("a resource identifier has no fragment"));
        }
        if resource.contains('?') {
            return Err(bad("a resource identifier has no query"));
        }
        if !resource
            .bytes()
            .all(|b| b.is_ascii_graphic() && b != b'"' && b != b'\\')
        {
            return Err(bad(
                "only visible ASCII characters, without quotes or backslashes",
            ));
        }
        let uri: Uri = resource.parse().map_err(|_| bad("not a URL"))?;
        let scheme = uri.scheme_str().map(str::to_ascii_lowercase);
        if !matches!(scheme.as_deref(), Some("https" | "http")) {
            return Err(bad("not an http(s) URL"));
        }
        let authority = uri
            .authority()
            .filter(|a| !a.host().is_empty() && !a.as_str().contains('@'))
            .ok_or_else(|| bad("no host (or user information in it)"))?;
        let origin = format!(
            "{}://{}",
            uri.scheme_str().unwrap_or(""),
            authority.as_str()
        );
        let path = uri.path().trim_end_matches('/');
        let metadata_path: Arc<str> = format!("{WELL_KNOWN}{path}").into();
        Ok(Self {
            metadata_url: format!("{origin}{metadata_path}").into(),
            origin_lower: origin.to_ascii_lowercase().into(),
            path: path.into(),
            metadata_path,
            resource: resource.into(),
            scopes: Vec::new(),
            name: None,
            documentation: None,
        })
    }

    /// Lists `scopes` in the document (`scopes_supported`).
    #[must_use]
    pub fn with_scopes_supported<I, S>(mut self, scopes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.scopes = scopes.into_iter().map(Into::into).collect();
        self
    }

    /// A human-readable name in the document (`resource_name`).
    #[must_use]
    pub fn with_resource_name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// A page for developers in the document (`resource_documentation`).
    #[must_use]
    pub fn with_resource_documentation(mut self, url: impl Into<String>) -> Self {
        self.documentation = Some(url.into());
        self
    }

    /// The resource identifier, exactly as given.
    pub fn resource(&self) -> &str {
        &self.resource
    }

    /// The document's absolute URL, as challenges name it.
    pub fn metadata_url(&self) -> &str {
        &self.metadata_url
    }

    /// Whether an `aud` value names this resource: scheme and host compare
    /// case-insensitively, the rest exactly (a terminating `/` aside).
    pub fn is_named_by(&self, audience: &str) -> bool {
        let Some(rest) = audience
            .get(..self.origin_lower.len())
            .filter(|origin| origin.eq_ignore_ascii_case(&self.origin_lower))
            .map(|_| &audience[self.origin_lower.len()..])
        else {
            return false;
        };
        rest.trim_end_matches('/') == &*self.path
    }

    pub(crate) fn metadata_url_shared(&self) -> Arc<str> {
        self.metadata_url.clone()
    }
}

impl fmt::Debug for ProtectedResource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProtectedResource")
            .field("resource", &self.resource)
            .field("scopes_supported", &self.scopes)
            .finish_non_exhaustive()
    }
}
