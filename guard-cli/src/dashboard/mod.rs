//! `guard dashboard`: a read-only web page that follows an audit file live.
//!
//! The page shows attacker-written text, so it is served like a security product: a strict
//! Content-Security-Policy with no inline script (the JavaScript is its own file and inserts
//! every string with `textContent`), `nosniff`, no framing, a Host-header check against DNS
//! rebinding, GET-only endpoints, and a loopback listen address unless the operator says
//! otherwise.

mod follow;
mod host;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use futures_util::stream::{self, Stream};
use tokio::sync::broadcast;

use follow::Feed;

/// Arguments of `guard dashboard`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The audit file (JSON Lines) to follow; it may not exist yet.
    #[arg(long)]
    audit: PathBuf,
    /// Address to serve on (an IP address and port; port 0 picks a free one).
    #[arg(long, default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// Allow a listen address other than loopback: the page then shows attack texts and
    /// pseudonyms to anyone who can reach the address.
    #[arg(long)]
    allow_non_loopback: bool,
}

/// Events kept in memory and sent to a newly connected page.
const BACKLOG: usize = 10_000;
/// How often the file is polled for new lines.
const POLL: Duration = Duration::from_millis(200);

const INDEX_HTML: &str = include_str!("assets/index.html");
const APP_JS: &str = include_str!("assets/app.js");
const APP_CSS: &str = include_str!("assets/app.css");

const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; \
                   connect-src 'self'; base-uri 'none'; form-action 'none'; \
                   frame-ancestors 'none'";

#[derive(Clone)]
struct AppState {
    feed: Arc<Feed>,
    hosts: Arc<host::Allowed>,
}

pub fn run(args: Args) -> ExitCode {
    if !args.listen.ip().is_loopback() && !args.allow_non_loopback {
        eprintln!(
            "guard dashboard: refusing to listen on non-loopback address {}: the page shows \
             attack texts; pass --allow-non-loopback to do it anyway",
            args.listen
        );
        return ExitCode::from(2);
    }
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("guard dashboard: cannot start the runtime: {e}");
            return ExitCode::from(2);
        }
    };
    match runtime.block_on(serve(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("guard dashboard: {message}");
            ExitCode::from(2)
        }
    }
}

async fn serve(args: Args) -> Result<(), String> {
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", args.listen))?;
    let local = listener
        .local_addr()
        .map_err(|e| format!("cannot read the listen address: {e}"))?;
    let feed = Arc::new(Feed::new(BACKLOG));
    tokio::spawn(follow::follow(args.audit.clone(), Arc::clone(&feed), POLL));

    let state = AppState {
        feed,
        hosts: Arc::new(host::Allowed::new(local)),
    };
    let app = Router::new()
        .route("/", get(index))
        .route("/app.js", get(app_js))
        .route("/app.css", get(app_css))
        .route("/api/events", get(events))
        .route("/api/stream", get(stream_events))
        .fallback(not_found)
        .layer(middleware::from_fn_with_state(state.clone(), protect))
        .with_state(state);

    // The test harness and scripts read the address from this line (port 0 picks one).
    println!("guard dashboard: listening on http://{local}/");
    eprintln!(
        "guard dashboard: following {} on http://{local}/",
        args.audit.display()
    );
    axum::serve(listener, app)
        .await
        .map_err(|e| format!("server error: {e}"))
}

/// Every request: Host check first, then the security headers on whatever the answer is.
async fn protect(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let host_ok = request
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .is_some_and(|h| state.hosts.permits(h));
    let mut response = if !host_ok {
        (StatusCode::MISDIRECTED_REQUEST, "unexpected Host header\n").into_response()
    } else if request.method() != axum::http::Method::GET
        && request.method() != axum::http::Method::HEAD
    {
        (StatusCode::METHOD_NOT_ALLOWED, "read-only\n").into_response()
    } else {
        next.run(request).await
    };
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(
        "cross-origin-opener-policy",
        HeaderValue::from_static("same-origin"),
    );
    headers.insert(
        "cross-origin-resource-policy",
        HeaderValue::from_static("same-origin"),
    );
    response
}

fn asset(content_type: &'static str, body: &'static str) -> Response {
    ([(header::CONTENT_TYPE, content_type)], body).into_response()
}

async fn index() -> Response {
    asset("text/html; charset=utf-8", INDEX_HTML)
}

async fn app_js() -> Response {
    asset("text/javascript; charset=utf-8", APP_JS)
}

async fn app_css() -> Response {
    asset("text/css; charset=utf-8", APP_CSS)
}

async fn not_found() -> Response {
    (StatusCode::NOT_FOUND, "not found\n").into_response()
}

/// A snapshot: `{"epoch", "events": [...]}` with each event's `seq`, for scripts and tests.
async fn events(State(state): State<AppState>) -> Response {
    let (lines, _) = state.feed.snapshot_after(0);
    let mut body = format!(r#"{{"epoch":"{}","events":["#, state.feed.epoch());
    for (i, line) in lines.iter().enumerate() {
        if i > 0 {
            body.push(',');
        }
        body.push_str(&line.json);
    }
    body.push_str("]}");
    (
        [(header::CONTENT_TYPE, "application/json; charset=utf-8")],
        body,
    )
        .into_response()
}

enum Step {
    Hello,
    Backlog,
    Live,
}

/// Server-sent events: a `hello` naming this run's epoch, the backlog after `Last-Event-ID`,
/// then every new event as it is read from the file.
async fn stream_events(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let after = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or(0);
    let (backlog, receiver) = state.feed.snapshot_after(after);
    let epoch = state.feed.epoch().to_owned();
    let init = (
        Step::Hello,
        backlog
            .into_iter()
            .collect::<std::collections::VecDeque<_>>(),
        receiver,
        epoch,
    );
    let events = stream::unfold(init, |(step, mut backlog, mut rx, epoch)| async move {
        match step {
            Step::Hello => {
                let hello = Event::default()
                    .event("hello")
                    .data(format!(r#"{{"epoch":"{epoch}"}}"#));
                Some((Ok(hello), (Step::Backlog, backlog, rx, epoch)))
            }
            Step::Backlog => match backlog.pop_front() {
                Some(line) => Some((Ok(line.event()), (Step::Backlog, backlog, rx, epoch))),
                None => next_live(&mut rx)
                    .await
                    .map(|ev| (Ok(ev), (Step::Live, backlog, rx, epoch))),
            },
            Step::Live => next_live(&mut rx)
                .await
                .map(|ev| (Ok(ev), (Step::Live, backlog, rx, epoch))),
        }
    });
    Sse::new(events).keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
}

/// The next live event; a page that fell behind is told to reload its state.
async fn next_live(rx: &mut broadcast::Receiver<Arc<follow::Line>>) -> Option<Event> {
    match rx.recv().await {
        Ok(line) => Some(line.event()),
        Err(broadcast::error::RecvError::Lagged(_)) => {
            Some(Event::default().event("lagged").data("{}"))
        }
        Err(broadcast::error::RecvError::Closed) => None,
    }
}
