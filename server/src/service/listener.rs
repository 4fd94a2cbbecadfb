//! Accepting connections: HTTP/1.1 and HTTP/2 with a header-read timeout (which also closes
//! idle keep-alive connections and connections that never send a byte), a request timeout,
//! and a limit on open connections, so that slow or idle clients cannot hold the service's
//! sockets.
//!
//! The protocol is told from the connection's first bytes, peeked and left unread (hyper-util's
//! `auto` builder reads them and hands them back first, so each connection's first read returned
//! 24 bytes and hyper grew its read buffer from 8 to 16 KB to read the rest: 3.7 KB of memory
//! per idle event stream, see docs/PERFORMANCE.md, P8).

use std::net::SocketAddr;
use std::pin::{Pin, pin};
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{ConnectInfo, Request};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use hyper::server::conn::{http1, http2};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulConnection;
use hyper_util::service::TowerToHyperService;
use tapprove_protocol::api::ErrorCode;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, watch};
use tower::ServiceExt as _;

use crate::error::ApiError;

/// Limits of the HTTP server.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    /// Time a client has to send a request's headers, and the longest idle keep-alive.
    pub header_read_timeout: Duration,
    /// Open connections at most; more are closed on accept.
    pub max_connections: usize,
}

/// Ends a request that takes longer than `limit` with `503` (the client may retry). Long-polls
/// last at most 30 s; event streams return their response at once and are not cut.
pub(crate) async fn request_timeout(limit: Duration, request: Request, next: Next) -> Response {
    match tokio::time::timeout(limit, next.run(request)).await {
        Ok(response) => response,
        Err(_) => ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            ErrorCode::Internal,
            "The service took too long to answer this request; try again.",
        )
        .into_response(),
    }
}

/// The HTTP/2 connection preface (RFC 9113, section 3.4): a client speaking HTTP/2 over plain
/// TCP (prior knowledge) starts with it.
const H2_PREFACE: &[u8; 24] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// How long to wait before peeking again while only a part of the preface has arrived (peeking
/// returns at once while unread bytes wait).
const PREFACE_RETRY: Duration = Duration::from_millis(5);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Protocol {
    Http1,
    Http2,
}

/// The protocol a new connection speaks, from its first bytes, which stay unread. `None` when
/// the client closes, fails, or has not sent a telling byte within `limit`.
async fn protocol(socket: &TcpStream, limit: Duration) -> Option<Protocol> {
    let telling = async {
        let mut first = [0u8; H2_PREFACE.len()];
        loop {
            let n = socket.peek(&mut first).await.ok()?;
            if n == 0 {
                return None;
            }
            if first[..n] != H2_PREFACE[..n] {
                return Some(Protocol::Http1);
            }
            if n == H2_PREFACE.len() {
                return Some(Protocol::Http2);
            }
            tokio::time::sleep(PREFACE_RETRY).await;
        }
    };
    tokio::time::timeout(limit, telling).await.ok().flatten()
}

/// Serves one connection until it ends; on `stop`, lets its current request finish. Takes the
/// connection pinned where it was made: moved in by value, it would be stored twice in the
/// connection's task (as the argument and as the pinned local).
async fn run<C: GracefulConnection>(mut connection: Pin<&mut C>, mut stop: watch::Receiver<bool>) {
    tokio::select! {
        _ = connection.as_mut() => {}
        _ = crate::domain::bus::stopped(&mut stop) => {
            connection.as_mut().graceful_shutdown();
            let _ = connection.await;
        }
    }
}

/// Serves `app` on `listener` until `stop` turns true, then lets open connections finish
/// their current request.
pub(crate) async fn serve(
    listener: TcpListener,
    app: Router,
    limits: Limits,
    mut stop: watch::Receiver<bool>,
) {
    let mut h1 = http1::Builder::new();
    h1.timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout);
    let mut h2 = http2::Builder::new(TokioExecutor::new());
    h2.timer(TokioTimer::new())
        .keep_alive_interval(Some(limits.header_read_timeout));
    let builders = Arc::new((h1, h2));
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let mut connections = tokio::task::JoinSet::new();
    loop {
        let (socket, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of descriptors and the like: back off instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = crate::domain::bus::stopped(&mut stop) => break,
        };
        let Ok(slot) = Arc::clone(&slots).try_acquire_owned() else {
            tracing::warn!(%peer, "connection limit reached; closing a new connection");
            drop(socket);
            continue;
        };
        let _ = socket.set_nodelay(true);
        let service =
            app.clone()
                .map_request(move |mut request: Request<hyper::body::Incoming>| {
                    request
                        .extensions_mut()
                        .insert(ConnectInfo::<SocketAddr>(peer));
                    request
                });
        let builders = Arc::clone(&builders);
        let stop = stop.clone();
        connections.spawn(async move {
            let (h1, h2) = &*builders;
            let service = TowerToHyperService::new(service);
            match protocol(&socket, limits.header_read_timeout).await {
                Some(Protocol::Http1) => {
                    let connection = pin!(h1.serve_connection(TokioIo::new(socket), service));
                    run(connection, stop).await;
                }
                Some(Protocol::Http2) => {
                    // Boxed: a task is as large as its largest branch, and most connections
                    // (every idle event stream) are HTTP/1.1.
                    let mut connection =
                        Box::pin(h2.serve_connection(TokioIo::new(socket), service));
                    run(connection.as_mut(), stop).await;
                }
                None => {}
            }
            drop(slot);
        });
        // Reap finished connection tasks as we go.
        while connections.try_join_next().is_some() {}
    }
    while connections.join_next().await.is_some() {}
}
