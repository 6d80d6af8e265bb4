//! A LISTEN connection that turns notifications on one channel into wake-ups of a task.
//! It reconnects (with a bounded backoff) when the connection drops, and wakes the task once
//! after each (re)connect, so nothing notified while it was away is left waiting for the
//! fallback poll.

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use tokio::sync::{watch, Notify};
use tokio_postgres::AsyncMessage;

/// LISTEN on `channel` until `stop` turns true, calling `wake.notify_one()` per notification.
pub async fn listen(
    url: String,
    channel: &'static str,
    wake: Arc<Notify>,
    mut stop: watch::Receiver<bool>,
) {
    let mut backoff = Duration::from_millis(100);
    while !*stop.borrow() {
        let session = async {
            let (client, mut conn) = basalt_pg::pool::connect_raw(&url).await?;
            let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<()>();
            let driver = tokio::spawn(async move {
                let mut stream = futures::stream::poll_fn(move |cx| conn.poll_message(cx));
                while let Some(msg) = stream.next().await {
                    match msg {
                        Ok(AsyncMessage::Notification(_)) => {
                            if tx.send(()).is_err() {
                                break;
                            }
                        }
                        Ok(_) => {}
                        Err(_) => break,
                    }
                }
            });
            client.batch_execute(&format!("LISTEN {channel}")).await?;
            wake.notify_one();
            while rx.recv().await.is_some() {
                wake.notify_one();
            }
            driver.abort();
            Ok::<(), tokio_postgres::Error>(())
        };
        tokio::select! {
            r = session => {
                if let Err(e) = r {
                    tracing::debug!(error = %e, channel, "listen connection failed");
                } else {
                    backoff = Duration::from_millis(100);
                }
            }
            _ = stop.changed() => return,
        }
        tokio::select! {
            _ = tokio::time::sleep(backoff) => {}
            _ = stop.changed() => return,
        }
        backoff = (backoff * 2).min(Duration::from_secs(5));
    }
}
