//! The operators' HTTP port: `/metrics` (Prometheus text format),
//! `/healthz` (the process is up) and `/readyz` (its store and bus answer).

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::http::StatusCode;
use axum::routing::get;
use metrics_exporter_prometheus::PrometheusHandle;
use tokio::net::TcpListener;

/// Whether the process can do its work now; `Err` says what is missing.
pub type Readiness = Arc<dyn Fn() -> Result<(), String> + Send + Sync>;

/// Serves the operators' endpoints on `listener` until the process ends.
pub async fn serve(listener: TcpListener, metrics: PrometheusHandle, ready: Readiness) -> std::io::Result<()> {
    let app = Router::new()
        .route("/metrics", get(move || std::future::ready(metrics.render())))
        .route("/healthz", get(|| std::future::ready("ok\n")))
        .route(
            "/readyz",
            get(move || {
                std::future::ready(match ready() {
                    Ok(()) => (StatusCode::OK, "ready\n".to_string()),
                    Err(why) => (StatusCode::SERVICE_UNAVAILABLE, format!("not ready: {why}\n")),
                })
            }),
        );
    axum::serve(listener, app).await
}

/// Binds `addr` and serves the endpoints in the background; returns the
/// address bound (`addr` may name port 0).
pub async fn spawn(addr: SocketAddr, metrics: PrometheusHandle, ready: Readiness) -> std::io::Result<SocketAddr> {
    let listener = TcpListener::bind(addr).await?;
    let bound = listener.local_addr()?;
    tokio::spawn(async move {
        if let Err(e) = serve(listener, metrics, ready).await {
            tracing::error!(error = %e, "the metrics port stopped");
        }
    });
    tracing::info!(%bound, "metrics on http://{bound}/metrics, health on /healthz and /readyz");
    Ok(bound)
}
