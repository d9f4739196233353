//! One issuer's introspection at run time: the cache first, then one
//! request per token however many requests wait for it (single flight),
//! at most [`MAX_IN_FLIGHT`] under way, the whole within the timeout.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::Duration,
};

use serde_json::{Map, Value};
use tokio::sync::{OnceCell, Semaphore};

use super::{
    cache::{Answers, Cached, TokenDigest},
    client::Client,
    Introspection, INACTIVE_TTL, MAX_IN_FLIGHT,
};
use crate::{
    error::{ConfigError, IntrospectionError, VerifyError},
    jwt::claims::SessionData,
    metrics,
};

/// The outcome of one request, shared by every request that waited for it.
type Outcome = Result<SessionData, Arc<VerifyError>>;

pub(crate) struct Introspector {
    client: Client,
    answers: Answers,
    timeout: Duration,
    flights: Mutex<HashMap<TokenDigest, Arc<OnceCell<Outcome>>>>,
    permits: Semaphore,
}

impl Introspector {
    pub(crate) fn new(issuer: &str, config: &Introspection) -> Result<Self, ConfigError> {
        if config.capacity == 0 {
            return Err(ConfigError::Introspection(
                "a cache capacity of zero".to_owned(),
            ));
        }
        Ok(Self {
            client: Client::new(issuer, config)?,
            answers: Answers::new(config.capacity, config.cache_ttl, INACTIVE_TTL),
            timeout: config.timeout,
            flights: Mutex::new(HashMap::new()),
            permits: Semaphore::new(MAX_IN_FLIGHT),
        })
    }

    /// The cached answer for the token of `digest`: its session, or
    /// [`VerifyError::Inactive`]; `None` when the endpoint must be asked.
    pub(crate) fn cached(&self, digest: &TokenDigest) -> Option<Result<SessionData, VerifyError>> {
        let cached = self.answers.get(digest);
        metrics::introspection_cache(cached.is_some());
        match cached? {
            Cached::Active(session) => Some(Ok(session)),
            Cached::Inactive => Some(Err(VerifyError::Inactive)),
        }
    }

    /// Asks the endpoint about `token` (the cache consulted first), and
    /// judges an active answer with `admit`, which returns the session and
    /// the time it stays valid until (microseconds). Concurrent calls for
    /// the same token share one request.
    pub(crate) async fn introspect<F>(
        &self,
        token: &str,
        digest: TokenDigest,
        admit: F,
    ) -> Result<SessionData, VerifyError>
    where
        F: FnOnce(Map<String, Value>) -> Result<(SessionData, i64), VerifyError>,
    {
        if let Some(cached) = self.cached(&digest) {
            return cached;
        }
        let flight = Flight::join(&self.flights, digest);
        let outcome = flight
            .cell
            .get_or_init(|| async { self.ask(token, digest, admit).await.map_err(Arc::new) })
            .await
            .clone();
        drop(flight);
        outcome.map_err(|e| again(&e))
    }

    /// One request, within the timeout (the wait for a place included),
    /// its answer judged and kept.
    async fn ask<F>(
        &self,
        token: &str,
        digest: TokenDigest,
        admit: F,
    ) -> Result<SessionData, VerifyError>
    where
        F: FnOnce(Map<String, Value>) -> Result<(SessionData, i64), VerifyError>,
    {
        let answer = tokio::time::timeout(self.timeout, async {
            let _permit = self.permits.acquire().await;
            self.client.ask(token).await
        })
        .await
        .unwrap_or(Err(IntrospectionError::Timeout(self.timeout)));
        let answer = match answer {
            Ok(answer) => answer,
            Err(err) => {
                metrics::introspection("error");
                tracing::warn!(error = %err, "introspection failed: the token's state is unknown");
                return Err(VerifyError::Introspection(err));
            }
        };
        if answer.get("active") != Some(&Value::Bool(true)) {
            metrics::introspection("inactive");
            self.answers.keep_inactive(digest);
            return Err(VerifyError::Inactive);
        }
        match admit(answer) {
            Ok((session, until)) => {
                metrics::introspection("active");
                self.answers.keep_active(digest, &session, until);
                Ok(session)
            }
            Err(err) => {
                // Active, but not for this server (audience, issuer, type):
                // the same answer would come again.
                metrics::introspection("refused");
                tracing::debug!(reason = %err, "introspected token refused");
                if err.is_client_error() {
                    self.answers.keep_inactive(digest);
                }
                Err(err)
            }
        }
    }
}

/// One request's place in a flight: the shared cell, and the map's entry
/// for it, taken out when the last request of the flight is done or gone
/// (a client that hangs up mid-flight leaves nothing behind).
struct Flight<'a> {
    flights: &'a Mutex<HashMap<TokenDigest, Arc<OnceCell<Outcome>>>>,
    digest: TokenDigest,
    cell: Arc<OnceCell<Outcome>>,
}

impl<'a> Flight<'a> {
    fn join(
        flights: &'a Mutex<HashMap<TokenDigest, Arc<OnceCell<Outcome>>>>,
        digest: TokenDigest,
    ) -> Self {
        let cell = flights
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(digest)
            .or_default()
            .clone();
        Self {
            flights,
            digest,
            cell,
        }
    }
}

impl Drop for Flight<'_> {
    fn drop(&mut self) {
        let mut flights = self.flights.lock().unwrap_or_else(|e| e.into_inner());
        // The map's reference and this one: nobody else waits on it.
        let last = Arc::strong_count(&self.cell) <= 2;
        let ours = flights
            .get(&self.digest)
            .is_some_and(|f| Arc::ptr_eq(f, &self.cell));
        if ours && (last || self.cell.initialized()) {
            flights.remove(&self.digest);
        }
    }
}

/// The refusal a waiting request gets from the request it waited for.
fn again(err: &VerifyError) -> VerifyError {
    match err {
        VerifyError::Introspection(e) => VerifyError::Introspection(e.clone()),
        VerifyError::Inactive => VerifyError::Inactive,
        VerifyError::Expired => VerifyError::Expired,
        VerifyError::NotYetValid => VerifyError::NotYetValid,
        VerifyError::InvalidIssuer => VerifyError::InvalidIssuer,
        VerifyError::InvalidAudience => VerifyError::InvalidAudience,
        VerifyError::WrongType => VerifyError::WrongType,
        VerifyError::MissingClaim(name) => VerifyError::MissingClaim(name),
        other => VerifyError::InvalidClaims(other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use std::{collections::HashMap, sync::Mutex};

    use super::Flight;

    #[test]
    fn a_flight_leaves_no_entry_behind_even_when_its_requests_hang_up() {
        let flights = Mutex::new(HashMap::new());
        let first = Flight::join(&flights, [7; 32]);
        let second = Flight::join(&flights, [7; 32]);
        assert!(std::sync::Arc::ptr_eq(&first.cell, &second.cell));
        // The first request gives up (its client hung up): the second still
        // waits on the same flight.
        drop(first);
        assert_eq!(flights.lock().unwrap().len(), 1);
        drop(second);
        assert!(flights.lock().unwrap().is_empty());
    }
}
