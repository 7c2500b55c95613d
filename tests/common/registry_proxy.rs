//! A registry in front of the test bed's (`MIRROR`) that decides, request
//! by request, to relay it, answer it itself, or hold it open: a registry
//! that fails some pulls, or one whose pull hangs mid-way, for the tests
//! of what devrig does then.

use super::docker::MIRROR;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::Duration;

/// What the proxy does with one request.
pub enum Verdict {
    /// Pass it on to the test bed's registry, and its answer back.
    Relay,
    /// Answer with these bytes (a whole HTTP response) and close.
    Respond(&'static [u8]),
    /// Keep the connection open, unanswered, until the client goes away
    /// (bounded: two minutes).
    Hold,
}

/// Starts the proxy on a free port of 127.0.0.1; `verdict` is given each
/// request's first line (`GET /v2/library/redis/manifests/7 HTTP/1.1`).
/// Returns the port.
pub fn registry_proxy(verdict: impl Fn(&str) -> Verdict + Send + Sync + 'static) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let verdict = std::sync::Arc::new(verdict);
    std::thread::spawn(move || {
        for client in listener.incoming().flatten() {
            let verdict = verdict.clone();
            std::thread::spawn(move || serve(client, &*verdict));
        }
    });
    port
}

fn serve(mut client: TcpStream, verdict: &dyn Fn(&str) -> Verdict) {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        match client.read(&mut byte) {
            Ok(1) => head.push(byte[0]),
            _ => return,
        }
        // dockerd tries TLS first; refusing it makes it fall back to http.
        if head.first() == Some(&0x16) {
            return;
        }
    }
    let line = String::from_utf8_lossy(&head)
        .lines()
        .next()
        .unwrap_or_default()
        .to_owned();
    match verdict(&line) {
        Verdict::Relay => {}
        Verdict::Respond(response) => {
            let _ = client.write_all(response);
            return;
        }
        Verdict::Hold => {
            let _ = client.set_read_timeout(Some(Duration::from_secs(120)));
            let _ = client.read(&mut [0u8; 1]);
            return;
        }
    }
    let Ok(mut upstream) = TcpStream::connect(MIRROR) else {
        return;
    };
    if upstream.write_all(&head).is_err() {
        return;
    }
    let (mut c2, mut u2) = (
        client.try_clone().expect("clone"),
        upstream.try_clone().expect("clone"),
    );
    std::thread::spawn(move || {
        let _ = std::io::copy(&mut c2, &mut u2);
        let _ = u2.shutdown(std::net::Shutdown::Write);
    });
    let _ = std::io::copy(&mut upstream, &mut client);
}
