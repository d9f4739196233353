//! A small HTTP client over loopback, and what it answers.
#![allow(dead_code, unreachable_pub)]

use super::*;

/// One HTTP answer.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Reply {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("body is not JSON ({e}): {:?}", self.body))
    }

    pub fn challenge(&self) -> Option<&str> {
        self.headers
            .get("www-authenticate")
            .map(|v| v.to_str().unwrap())
    }
}

pub struct Http {
    client: Client<hyper_util::client::legacy::connect::HttpConnector, Full<Bytes>>,
    base: String,
}

impl Http {
    pub fn new(addr: &str) -> Self {
        Self {
            client: Client::builder(TokioExecutor::new()).build_http(),
            base: format!("http://{addr}"),
        }
    }

    pub async fn send(
        &self,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        body: &str,
    ) -> Reply {
        let mut req = Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.base));
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let req = req.body(Full::new(Bytes::from(body.to_owned()))).unwrap();
        let res = tokio::time::timeout(Duration::from_secs(10), self.client.request(req))
            .await
            .expect("no answer within 10 s")
            .expect("request failed");
        let (parts, body) = res.into_parts();
        let body = body.collect().await.unwrap().to_bytes();
        Reply {
            status: parts.status,
            headers: parts.headers,
            body,
        }
    }

    pub async fn get(&self, path: &str, token: Option<&str>) -> Reply {
        let auth = token.map(|t| format!("Bearer {t}"));
        let headers: Vec<(&str, &str)> = auth
            .as_deref()
            .map(|a| vec![("authorization", a)])
            .unwrap_or_default();
        self.send(Method::GET, path, &headers, "").await
    }

    pub async fn post(&self, path: &str, token: Option<&str>, body: &str) -> Reply {
        let auth = token.map(|t| format!("Bearer {t}"));
        let mut headers: Vec<(&str, &str)> = vec![("content-type", "application/json")];
        if let Some(a) = auth.as_deref() {
            headers.push(("authorization", a));
        }
        self.send(Method::POST, path, &headers, body).await
    }

    /// `POST /backchannel-logout` with `logout_token` (a form body).
    pub async fn back_channel_logout(&self, logout_token: &str) -> Reply {
        self.send(
            Method::POST,
            "/backchannel-logout",
            &[("content-type", "application/x-www-form-urlencoded")],
            &format!("logout_token={logout_token}"),
        )
        .await
    }

    /// Logs in as a demo user and returns (token, expiresAt).
    pub async fn login(&self, email: &str, password: &str) -> (String, i64) {
        let r = self
            .post(
                "/login",
                None,
                &json!({"email": email, "password": password}).to_string(),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
        let j = r.json();
        (
            j["token"].as_str().unwrap().to_owned(),
            j["expiresAt"].as_i64().unwrap(),
        )
    }
}

/// Decodes a token's payload without checking it.
pub fn payload(token: &str) -> Value {
    let p = token.split('.').nth(1).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(p).unwrap()).unwrap()
}
