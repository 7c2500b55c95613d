//! A small real HTTP/1.1 server on 127.0.0.1 for the toolchain tests: it
//! serves files from disk (the cached Node archives, pnpm's tarball) and
//! texts (checksum lists, registry documents) at the paths a test gives,
//! and logs every request, so a test asserts on what devrig asked for. One
//! path can be set to stall half-way through its body, to kill devrig in
//! the middle of a download.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};

enum Body {
    File(PathBuf),
    Text(Vec<u8>),
}

#[derive(Default)]
struct Shared {
    routes: Mutex<HashMap<String, Body>>,
    /// `GET /path` for every request, in arrival order.
    log: Mutex<Vec<String>>,
    /// The path whose body stops half-way, until released.
    stall: Mutex<Option<String>>,
    /// Set once a stalled response has sent its first half.
    stalled: AtomicBool,
    released: (Mutex<bool>, Condvar),
    stop: AtomicBool,
}

pub struct Server {
    port: u16,
    shared: Arc<Shared>,
}

impl Server {
    /// A server on a free port of 127.0.0.1, serving nothing yet.
    pub fn start() -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let shared = Arc::new(Shared::default());
        let accept = Arc::clone(&shared);
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                if accept.stop.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(stream) = stream else { continue };
                let shared = Arc::clone(&accept);
                std::thread::spawn(move || {
                    let _ = serve(stream, &shared);
                });
            }
        });
        Server { port, shared }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Serves the file `disk` at `path` (`/node/node.tar.xz`).
    pub fn file(&self, path: &str, disk: &Path) -> &Self {
        self.route(path, Body::File(disk.to_owned()))
    }

    /// Serves `text` at `path`.
    pub fn text(&self, path: &str, text: &str) -> &Self {
        self.route(path, Body::Text(text.as_bytes().to_vec()))
    }

    fn route(&self, path: &str, body: Body) -> &Self {
        self.shared
            .routes
            .lock()
            .expect("lock")
            .insert(path.to_owned(), body);
        self
    }

    /// Every request so far, `GET /path`.
    pub fn requests(&self) -> Vec<String> {
        self.shared.log.lock().expect("lock").clone()
    }

    /// From now on, the body of `path` stops after half its bytes until
    /// [`Server::release`].
    pub fn stall(&self, path: &str) {
        *self.shared.stall.lock().expect("lock") = Some(path.to_owned());
    }

    /// Whether a stalled response has sent its first half.
    pub fn stalled(&self) -> bool {
        self.shared.stalled.load(Ordering::SeqCst)
    }

    /// Ends the stall: the stalled response is cut off, later ones are whole.
    pub fn release(&self) {
        *self.shared.stall.lock().expect("lock") = None;
        let (lock, cvar) = &self.shared.released;
        *lock.lock().expect("lock") = true;
        cvar.notify_all();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.release();
        self.shared.stop.store(true, Ordering::SeqCst);
        // Wakes the accept loop so that it sees `stop`.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

fn serve(stream: TcpStream, shared: &Shared) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut request = String::new();
    reader.read_line(&mut request)?;
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header)? == 0 || header == "\r\n" || header == "\n" {
            break;
        }
    }
    let mut words = request.split_whitespace();
    let (method, path) = (words.next().unwrap_or(""), words.next().unwrap_or(""));
    let path = path.split('?').next().unwrap_or("").to_owned();
    shared
        .log
        .lock()
        .expect("lock")
        .push(format!("{method} {path}"));
    let mut out = stream;
    let body: Option<Vec<u8>> = match shared.routes.lock().expect("lock").get(&path) {
        Some(Body::Text(bytes)) => Some(bytes.clone()),
        Some(Body::File(disk)) => std::fs::read(disk).ok(),
        None => None,
    };
    let Some(body) = body else {
        let text = "not found\n";
        write!(
            out,
            "HTTP/1.1 404 Not Found\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{text}",
            text.len()
        )?;
        return Ok(());
    };
    write!(
        out,
        "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )?;
    let stall = shared.stall.lock().expect("lock").as_deref() == Some(path.as_str());
    if stall {
        let half = body.len() / 2;
        out.write_all(&body[..half])?;
        out.flush()?;
        shared.stalled.store(true, Ordering::SeqCst);
        let (lock, cvar) = &shared.released;
        let mut released = lock.lock().expect("lock");
        while !*released {
            released = cvar.wait(released).expect("wait");
        }
        // Cut off: the client sees a body shorter than announced.
        return Ok(());
    }
    for chunk in body.chunks(256 * 1024) {
        out.write_all(chunk)?;
    }
    out.flush()
}
