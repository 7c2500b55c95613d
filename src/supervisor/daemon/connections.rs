//! The supervisor's control socket: one JSON request line per connection,
//! handed to the loop, and its one JSON answer line written back.

use super::Incoming;
use crate::supervisor::protocol::{Request, Response};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::UnixStream;
use tokio::sync::{mpsc, oneshot};

/// One request on one connection: read a line, hand it to the loop, write
/// the answer back.
pub async fn connection(
    stream: UnixStream,
    requests: mpsc::Sender<Incoming>,
    answered: mpsc::Sender<()>,
) {
    let (read, mut write) = stream.into_split();
    let mut line = String::new();
    if BufReader::new(read).read_line(&mut line).await.is_err() {
        return;
    }
    let (response, shutdown) = match serde_json::from_str::<Request>(&line) {
        Ok(request) => {
            let shutdown = matches!(request, Request::Shutdown);
            let (tx, rx) = oneshot::channel();
            if requests.send((request, tx)).await.is_err() {
                return;
            }
            match rx.await {
                Ok(response) => (response, shutdown),
                Err(_) => return,
            }
        }
        Err(e) => (
            Response::Error {
                message: format!("not a request: {e}"),
            },
            false,
        ),
    };
    let mut text = serde_json::to_vec(&response).expect("responses serialize");
    text.push(b'\n');
    let _ = write.write_all(&text).await;
    let _ = write.flush().await;
    if shutdown {
        let _ = answered.send(()).await;
    }
}
