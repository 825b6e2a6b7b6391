//! Serving the gateway's HTTP as Hive Router's workers do: a current-thread runtime per core,
//! each serving the connections it is handed start to end.

use std::net::SocketAddr;
use std::time::Duration;

use super::Gateway;

impl Gateway {
    /// Serves on `listener` until `shutdown`, then ends its subscriptions (WebSockets close
    /// with `1001`, which drops their streams from the subgraphs) within seconds.
    ///
    /// It serves on `threads` threads, each a current-thread runtime serving the connections
    /// it is handed start to end, as Hive Router's workers do: the accepting task hands
    /// connections to the threads in turn, and no task moves between threads (tokio's
    /// work-stealing runtime spent an eighth more CPU per request here, `side_by_side` bench).
    pub async fn serve(
        self,
        listener: tokio::net::TcpListener,
        threads: usize,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let going_away = self.going_away.clone();
        self.watch_supergraph();
        let local = listener.local_addr()?;
        let app = self.router();
        let mut servers = Vec::new();
        let mut hands = Vec::new();
        for i in 0..threads.max(1) {
            let (hand, handed) = tokio::sync::mpsc::unbounded_channel();
            hands.push(hand);
            let app = app.clone();
            let (stopping, closing) = (going_away.clone(), going_away.clone());
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
            let (served, serving) = tokio::sync::oneshot::channel::<std::io::Result<()>>();
            servers.push(serving);
            std::thread::Builder::new().name(format!("gateway-http-{i}")).spawn(move || {
                let outcome = runtime.block_on(async move {
                    // `tap_io` only so that axum's connect info (the peer's address, which
                    // the rate limit keys anonymous clients on) applies to this listener.
                    let listener = axum::serve::ListenerExt::tap_io(Handed { handed, local }, |_| {});
                    let served = axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>())
                        .with_graceful_shutdown(async move { stopping.announced().await })
                        .await;
                    // Upgraded connections (WebSockets) are no longer axum's, and their tasks run
                    // on this runtime: dropping it before they said goodbye would cut them
                    // without their `1001`. So it stays (bounded) until they are closed.
                    closing.all_closed_by(tokio::time::Instant::now() + crate::going_away::STOP_WITHIN).await;
                    served
                });
                let _ = served.send(outcome);
            })?;
        }
        let stopping = going_away.clone();
        tokio::spawn(async move {
            let accepting = async {
                for hand in hands.iter().cycle() {
                    match listener.accept().await {
                        Ok((stream, peer)) => match stream.into_std() {
                            // A serving thread ends only when the server stops.
                            Ok(stream) => {
                                if hand.send((stream, peer)).is_err() {
                                    tracing::warn!(%peer, "a serving thread has ended; connection closed");
                                }
                            }
                            Err(error) => tracing::warn!(%error, "handing a connection over"),
                        },
                        // Out of descriptors and the like: as axum does, wait and go on.
                        Err(error) => {
                            tracing::warn!(%error, "accepting a connection");
                            tokio::time::sleep(Duration::from_millis(50)).await;
                        }
                    }
                }
            };
            tokio::select! { () = accepting => {}, () = stopping.announced() => {} }
        });
        tokio::spawn(going_away.after(shutdown));
        // Awaited, not joined: a caller whose runtime goes away (a test ending) is not held
        // by a thread still finishing its connections.
        let serving = async move {
            for serving in servers {
                serving.await.map_err(|_| std::io::Error::other("a server thread panicked"))??;
            }
            Ok::<_, std::io::Error>(())
        };
        going_away.serve(serving).await?;
        Ok(())
    }
}

/// The connections the accepting task hands one serving thread.
struct Handed {
    handed: tokio::sync::mpsc::UnboundedReceiver<(std::net::TcpStream, SocketAddr)>,
    local: SocketAddr,
}

impl axum::serve::Listener for Handed {
    type Io = tokio::net::TcpStream;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            let Some((stream, peer)) = self.handed.recv().await else {
                // The accepting task stopped: the server is stopping, and its graceful shutdown
                // ends this wait.
                return std::future::pending().await;
            };
            match tokio::net::TcpStream::from_std(stream) {
                Ok(stream) => return (stream, peer),
                Err(error) => tracing::warn!(%error, "taking a connection over"),
            }
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        Ok(self.local)
    }
}
