//! `/api/v1/notifications` and `/api/v1/notifications/live`: the server's notifications
//! (`crate::notifications`) as Prometheus 3 serves them to its UI, the active ones as a JSON
//! array (`list_json`) or as a Server-Sent Events stream (`live`).

use std::time::Duration;

use bytes::Bytes;
use http::{header, Response, StatusCode};

use crate::notifications::{Notification, Notifications};

/// How long a stream stays silent before a comment line goes out: it keeps proxies from
/// closing an idle stream and shows a client that left, so its subscription ends.
const KEEPALIVE: Duration = Duration::from_secs(30);

/// Prometheus' JSON form: `{"text":…,"date":RFC3339Nano,"active":…}`.
pub fn notification_json(n: &Notification) -> String {
    let mut out = String::from("{\"text\":");
    super::json::push_json_string(&mut out, n.text);
    out.push_str(",\"date\":");
    super::json::push_json_string(&mut out, &super::status::rfc3339_nano(n.date_ns));
    out.push_str(if n.active { ",\"active\":true}" } else { ",\"active\":false}" });
    out
}

/// The active notifications, a JSON array (the answer of `/api/v1/notifications`).
pub fn list_json(notifications: &Notifications) -> String {
    let items: Vec<String> = notifications.list().iter().map(notification_json).collect();
    format!("[{}]", items.join(","))
}

/// One Server-Sent Event carrying `n`.
fn event(n: &Notification) -> Bytes {
    Bytes::from(format!("data: {}\n\n", notification_json(n)))
}

/// `/api/v1/notifications/live`: a Server-Sent Events stream (`data: {json}` per update)
/// that starts with the active notifications and stays open until the client leaves or the
/// server shuts down, fed by a task on this executor; or a 204 when
/// `server.max_notification_subscribers` are already following.
pub fn live(notifications: &Notifications) -> Response<Bytes> {
    let Some(subscription) = notifications.subscribe() else {
        let mut full = Response::new(Bytes::new());
        *full.status_mut() = StatusCode::NO_CONTENT;
        return full;
    };
    let (chunks, body) = net::BodyStream::channel(4);
    glommio::spawn_local(async move {
        loop {
            let next = futures_lite::future::or(async { Some(subscription.recv().await) }, async {
                glommio::timer::sleep(KEEPALIVE).await;
                None
            })
            .await;
            let chunk = match next {
                Some(Ok(n)) => event(&n),
                // Shutdown ended the subscription: the stream ends after its last update.
                Some(Err(_)) => break,
                None => Bytes::from_static(b": keep-alive\n\n"),
            };
            if chunks.send(Ok(chunk)).await.is_err() {
                break;
            }
        }
    })
    .detach();
    let mut response = Response::new(Bytes::new());
    response.headers_mut().insert(header::CONTENT_TYPE, header::HeaderValue::from_static("text/event-stream"));
    response.headers_mut().insert(header::CACHE_CONTROL, header::HeaderValue::from_static("no-cache"));
    response.extensions_mut().insert(body);
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_is_prometheus_form() {
        let n = Notification { text: "a \"b\"", date_ns: 1_700_000_000_120_000_000, active: false };
        assert_eq!(notification_json(&n), r#"{"text":"a \"b\"","date":"2023-11-14T22:13:20.12Z","active":false}"#);
        assert_eq!(event(&n), Bytes::from(format!("data: {}\n\n", notification_json(&n))));
    }

    #[test]
    fn the_list_holds_the_active_ones() {
        let notifications = Notifications::new(1);
        assert_eq!(list_json(&notifications), "[]");
        notifications.add(crate::notifications::RELOAD_FAILED);
        let listed: serde_json::Value = serde_json::from_str(&list_json(&notifications)).unwrap();
        assert_eq!(listed[0]["text"], crate::notifications::RELOAD_FAILED);
        assert_eq!(listed[0]["active"], true);
    }
}
