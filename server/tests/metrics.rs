//! `/metrics` over loopback HTTP: served on its own listener (not on the API port), in
//! Prometheus text that a Prometheus parser reads, with the counts of what really happened.

mod common;

use common::*;
use serde_json::json;
use tapprove_protocol::Decision;

/// Scrapes `/metrics` and parses it like Prometheus does.
async fn scrape(h: &Harness) -> prometheus_parse::Scrape {
    let addr = h
        .service
        .as_ref()
        .and_then(|s| s.metrics_addr())
        .expect("metrics listener");
    let r = h
        .http
        .get(format!("http://{addr}/metrics"))
        .send()
        .await
        .expect("scrape");
    assert_eq!(r.status().as_u16(), 200);
    let content_type = r.headers()["content-type"].to_str().expect("ct").to_owned();
    assert!(
        content_type.starts_with("application/openmetrics-text"),
        "{content_type}"
    );
    let text = r.text().await.expect("body");
    for secret in [h.api_key(), PAIRING_CODE, "alice"] {
        assert!(!text.contains(secret), "{secret:?} in the metrics");
    }
    let lines = text.lines().map(|l| Ok(l.to_owned()));
    prometheus_parse::Scrape::parse(lines).expect("Prometheus text format")
}

/// The value of `name` with exactly these labels (0 when absent, as Prometheus reads it).
fn value(s: &prometheus_parse::Scrape, name: &str, labels: &[(&str, &str)]) -> f64 {
    let found = s.samples.iter().find(|x| {
        x.metric == name
            && labels.iter().all(|(k, v)| x.labels.get(k) == Some(*v))
            && x.labels.iter().count() == labels.len()
    });
    match found.map(|x| &x.value) {
        Some(prometheus_parse::Value::Counter(v) | prometheus_parse::Value::Gauge(v)) => *v,
        Some(prometheus_parse::Value::Untyped(v)) => *v,
        Some(other) => panic!("{name}: unexpected {other:?}"),
        None => 0.0,
    }
}

fn histogram_count(s: &prometheus_parse::Scrape, name: &str) -> u64 {
    s.samples
        .iter()
        .find_map(|x| match (&x.value, x.metric == name) {
            (prometheus_parse::Value::Histogram(buckets), true) => {
                buckets.last().map(|b| b.count as u64)
            }
            _ => None,
        })
        .unwrap_or(0)
}

#[tokio::test]
async fn metrics_count_sessions_decisions_pairings_refusals_and_streams() {
    let h = Harness::start_with(|c| {
        c.metrics_listen = Some("127.0.0.1:0".parse().expect("addr"));
        c.limits.sessions_per_minute = 2;
    })
    .await;

    // Not on the public API port.
    let on_api = h.http.get(h.url("/metrics")).send().await.expect("send");
    assert_eq!(on_api.status().as_u16(), 404);

    let before = scrape(&h).await;
    assert_eq!(
        value(
            &before,
            "tapprove_sessions_created_total",
            &[("presence", "choose")]
        ),
        0.0
    );

    let device = h.pair("alice").await;
    let events = device.events(&h).await;
    let s = scrape(&h).await;
    assert_eq!(
        value(&s, "tapprove_pairings_total", &[("outcome", "paired")]),
        1.0
    );
    assert_eq!(value(&s, "tapprove_event_streams_open", &[]), 1.0);

    // One login approved, one denied.
    let first = h.login("alice").await;
    let c = device
        .challenge_for(&h, first["id"].as_str().expect("id"))
        .await;
    let code = first["presence_code"].as_str().expect("code").to_owned();
    let (status, _) = device
        .answer(&h, &c, Decision::Approve, Some(&code), None)
        .await;
    assert_eq!(status.as_u16(), 200);
    let second = h.login("alice").await;
    let c = device
        .challenge_for(&h, second["id"].as_str().expect("id"))
        .await;
    let (status, _) = device
        .answer(
            &h,
            &c,
            Decision::Deny,
            None,
            Some(tapprove_protocol::DenyReason::Cancelled),
        )
        .await;
    assert_eq!(status.as_u16(), 200);
    // More logins until the budget (2 per minute here) refuses one.
    let mut created = 2.0;
    loop {
        let (status, _) = h
            .create_session(json!({"user": "alice", "notification": {"title": "t", "body": "b"}}))
            .await;
        match status.as_u16() {
            201 => created += 1.0,
            429 => break,
            other => panic!("create: {other}"),
        }
        assert!(created < 10.0, "the budget never refused");
    }

    let s = scrape(&h).await;
    assert_eq!(
        value(
            &s,
            "tapprove_sessions_created_total",
            &[("presence", "choose")]
        ),
        created
    );
    assert_eq!(
        value(
            &s,
            "tapprove_sessions_decided_total",
            &[("status", "accepted"), ("reason", "approved")]
        ),
        1.0
    );
    assert_eq!(
        value(
            &s,
            "tapprove_sessions_decided_total",
            &[("status", "rejected"), ("reason", "user_denied")]
        ),
        1.0
    );
    assert_eq!(histogram_count(&s, "tapprove_decision_seconds"), 2);
    assert_eq!(
        value(
            &s,
            "tapprove_rate_limited_total",
            &[("limit", "sessions_per_minute")]
        ),
        1.0
    );
    assert!(
        histogram_count(&s, "tapprove_db_wait_seconds") > 10,
        "every statement waits for a connection"
    );

    drop(events);
    let mut open = 1.0;
    for _ in 0..50 {
        open = value(&scrape(&h).await, "tapprove_event_streams_open", &[]);
        if open == 0.0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(open, 0.0, "a closed stream is no longer counted");
}

#[tokio::test]
async fn without_metrics_listen_there_is_no_metrics_listener() {
    let h = Harness::start().await;
    assert!(
        h.service
            .as_ref()
            .expect("running")
            .metrics_addr()
            .is_none()
    );
}
