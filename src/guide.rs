//! Guides: how the crate fits an application, one page a topic, each from
//! code that compiles (their examples run as tests). The same pages are in
//! the repository's `guide/` folder.
//!
//! | page | for |
//! | --- | --- |
//! | [`demo_server`] | walking the demo API with curl; its variables |
//! | [`layer`] | handlers, optional sessions, permissions, refusals, settings, cookies, metrics and logs, testing your application, the verified-token cache |
//! | [`keys`] | rotating the secret, asymmetric keys, verify-only services, JWKS |
//! | [`identity_providers`] | trusted issuers, permissions, and the receivers of their logouts (beside `SessionLayer`, never behind it) |
//! | [`dpop`] | binding tokens to a key (RFC 9449) |
//! | [`protected_resource`] | found by any OAuth client: Protected Resource Metadata (RFC 9728), audiences, scope challenges; protecting an MCP server |
//! | [`several_servers`] | Redis (single, Sentinel, Cluster), the replica in each server's memory, outages |
//! | [`security`] | what is checked and why; wire compatibility with the seed |

#[doc = include_str!("../guide/demo-server.md")]
pub mod demo_server {}

#[doc = include_str!("../guide/layer.md")]
pub mod layer {}

#[doc = include_str!("../guide/keys.md")]
pub mod keys {}

#[doc = include_str!("../guide/identity-providers.md")]
pub mod identity_providers {}

#[doc = include_str!("../guide/dpop.md")]
pub mod dpop {}

#[doc = include_str!("../guide/protected-resource.md")]
pub mod protected_resource {}

#[doc = include_str!("../guide/several-servers.md")]
pub mod several_servers {}

#[doc = include_str!("../guide/security.md")]
pub mod security {}
