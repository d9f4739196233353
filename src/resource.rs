//! Protected Resource Metadata (RFC 9728): how an OAuth client that got a
//! `401` finds out which authorization servers issue tokens for this API,
//! which scopes exist, and whether tokens must be DPoP-bound.
//!
//! Give the manager a [`ProtectedResource`] (the resource identifier: the
//! base URL the API is served under). Then:
//!
//! - every challenge the [`SessionLayer`] and
//!   [`RequirePermissionLayer`](crate::RequirePermissionLayer) write carries
//!   `resource_metadata="<URL of the document>"` (401 and 403, `Bearer` and
//!   `DPoP` alike);
//! - trusted issuers' tokens must name the resource in `aud` (RFC 8707
//!   resource indicators; scheme and host compare case-insensitively), unless
//!   a trusted issuer was given its own audience;
//! - [`ResourceMetadata`] serves the document, as a tower service, at the
//!   path-inserted well-known location (RFC 9728 §3.1:
//!   `https://api.example.com/v1` → `/.well-known/oauth-protected-resource/v1`).
//!   Mount it beside the layer, not behind it: the document is public.
//!
//! ```
//! use axum::{routing::get, Router};
//! use tower_jwt_session::{
//!     issuers::TrustedIssuer,
//!     resource::{ProtectedResource, ResourceMetadata},
//!     Algorithm, SessionLayer, SessionManager,
//! };
//!
//! # fn main() -> Result<(), tower_jwt_session::ConfigError> {
//! let manager = SessionManager::verify_only()
//!     .with_trusted_issuer(TrustedIssuer::with_secret(
//!         "https://idp.example.com", Algorithm::HS256, "a secret of the identity provider, 32+ bytes"))
//!     .with_protected_resource(
//!         ProtectedResource::new("https://api.example.com/v1")?
//!             .with_scopes_supported(["files:read", "files:write"]),
//!     )
//!     .build()?;
//! let layer = SessionLayer::new(manager);
//! let metadata = ResourceMetadata::for_layer(&layer)?;
//! let path = metadata.path().to_owned();
//! assert_eq!(path, "/.well-known/oauth-protected-resource/v1");
//! let app: Router = Router::new()
//!     .route("/files", get(|| async { "files" }))
//!     .layer(layer)
//!     .route_service(&path, metadata);
//! # let _ = app;
//! # Ok(())
//! # }
//! ```

use std::{
    convert::Infallible,
    fmt,
    sync::Arc,
    task::{Context, Poll},
};

use http::{header, HeaderValue, Method, Request, Response, StatusCode, Uri};
use tower_service::Service;

use crate::{dpop::DpopMode, error::ConfigError, http::layer::SessionLayer};

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
    metadata_path: Arc<str>,
    metadata_url: Arc<str>,
    scopes: Vec<String>,
    name: Option<String>,
    documentation: Option<String>,
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

    /// Where the document is served on this server (RFC 9728 §3.1).
    pub fn metadata_path(&self) -> &str {
        &self.metadata_path
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

/// The protected resource metadata document (RFC 9728 §2) as a tower
/// service: `GET` (and `HEAD`) answer `200 application/json`, public and
/// cacheable; any other method `405` with `Allow`. Built from a layer whose
/// manager has a [`ProtectedResource`]: the trusted issuers become
/// `authorization_servers`, the layer's DPoP settings the `dpop_*` fields.
#[derive(Clone)]
pub struct ResourceMetadata {
    path: Arc<str>,
    document: Arc<str>,
}

impl ResourceMetadata {
    /// The document for `layer`'s resource.
    ///
    /// # Errors
    ///
    /// [`ConfigError::NoProtectedResource`] when the layer's manager was
    /// built without [`with_protected_resource`](crate::SessionManagerBuilder::with_protected_resource).
    pub fn for_layer<M>(layer: &SessionLayer<M>) -> Result<Self, ConfigError> {
        let manager = layer.manager();
        let resource = manager
            .protected_resource()
            .ok_or(ConfigError::NoProtectedResource)?;
        let mut doc = serde_json::Map::new();
        doc.insert("resource".into(), resource.resource().into());
        let servers: Vec<&str> = manager.authorization_servers().collect();
        if !servers.is_empty() {
            doc.insert("authorization_servers".into(), servers.into());
        }
        doc.insert("bearer_methods_supported".into(), vec!["header"].into());
        if !resource.scopes.is_empty() {
            doc.insert("scopes_supported".into(), resource.scopes.clone().into());
        }
        if let Some(dpop) = layer.dpop().filter(|d| d.mode() != DpopMode::Off) {
            let algs: Vec<&str> = crate::dpop::DPOP_ALGS.split(' ').collect();
            doc.insert("dpop_signing_alg_values_supported".into(), algs.into());
            doc.insert(
                "dpop_bound_access_tokens_required".into(),
                (dpop.mode() == DpopMode::Required).into(),
            );
        }
        if let Some(name) = &resource.name {
            doc.insert("resource_name".into(), name.clone().into());
        }
        if let Some(url) = &resource.documentation {
            doc.insert("resource_documentation".into(), url.clone().into());
        }
        Ok(Self {
            path: resource.metadata_path.clone(),
            document: serde_json::Value::Object(doc).to_string().into(),
        })
    }

    /// The path to mount the service at.
    pub fn path(&self) -> &str {
        &self.path
    }
}

impl fmt::Debug for ResourceMetadata {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResourceMetadata")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl<B> Service<Request<B>> for ResourceMetadata {
    type Response = Response<String>;
    type Error = Infallible;
    type Future = std::future::Ready<Result<Self::Response, Infallible>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        let (status, body) = match *req.method() {
            Method::GET => (StatusCode::OK, self.document.to_string()),
            Method::HEAD => (StatusCode::OK, String::new()),
            _ => (StatusCode::METHOD_NOT_ALLOWED, String::new()),
        };
        let mut res = Response::new(body);
        *res.status_mut() = status;
        let headers = res.headers_mut();
        if status == StatusCode::OK {
            headers.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            headers.insert(
                header::CACHE_CONTROL,
                HeaderValue::from_static("public, max-age=3600"),
            );
            headers.insert(
                header::ACCESS_CONTROL_ALLOW_ORIGIN,
                HeaderValue::from_static("*"),
            );
        } else {
            headers.insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
        }
        std::future::ready(Ok(res))
    }
}
