//! [`ResourceMetadata`]: the metadata document, derived from a layer and
//! its manager, as a tower service.

use std::{
    convert::Infallible,
    fmt,
    sync::Arc,
    task::{Context, Poll},
};

use http::{header, HeaderValue, Method, Request, Response, StatusCode};
use tower_service::Service;

use crate::{dpop::DpopMode, error::ConfigError, http::layer::SessionLayer};

/// The protected resource metadata document (RFC 9728 §2) as a tower
/// service: `GET` (and `HEAD`) answer `200 application/json`, public and
/// cacheable; any other method `405` with `Allow`. Built from a layer whose
/// manager has a [`ProtectedResource`](super::ProtectedResource): the trusted issuers become
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
