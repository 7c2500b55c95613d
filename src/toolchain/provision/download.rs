//! Getting a toolchain's files over HTTP(S): a body streamed to disk and
//! hashed on the way, with bounded retries, so a flaky network costs a few
//! seconds and a dead one a clear error instead of a hang.
//!
//! - **Retries.** [`ATTEMPTS`] attempts, waiting 0.5 s, 1 s, 2 s between
//!   them; a connection that fails, a read that stalls for
//!   [`READ_TIMEOUT`], a body cut short, a 5xx, 408 or 429 answer is tried
//!   again from the start. Any other 4xx is final at once: asking again
//!   will not make a missing file appear.
//! - **Proxies** come from the environment (`HTTPS_PROXY`, `ALL_PROXY`,
//!   `NO_PROXY`), as curl reads them, and certificates are checked against
//!   the system's trust store (`SSL_CERT_FILE`, `/etc/ssl/certs`, the macOS
//!   keychain), so a TLS-inspecting company proxy works as it does for curl.
//! - **Hashing** happens while the bytes arrive: the caller compares the
//!   digest before anything is unpacked.

use super::ProvisionError;
use sha2::{Digest, Sha256, Sha512};
use std::io::{Read, Write};
use std::path::Path;
use std::time::Duration;

/// How many times one file is asked for.
pub(crate) const ATTEMPTS: u32 = 4;

/// The wait before the second attempt; it doubles each time.
const FIRST_WAIT: Duration = Duration::from_millis(500);

/// A connection that takes longer is not coming.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(15);

/// A read that brings nothing for this long is a stalled transfer.
pub(crate) const READ_TIMEOUT: Duration = Duration::from_secs(30);

/// Which digest of the body the caller checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Algo {
    /// Node's `SHASUMS256.txt`, sentry-devenv's `_sha256` keys.
    Sha256,
    /// npm's `integrity` and corepack's `+sha512.` hashes.
    Sha512,
}

impl Algo {
    pub fn name(self) -> &'static str {
        match self {
            Algo::Sha256 => "sha256",
            Algo::Sha512 => "sha512",
        }
    }
}

/// What a download reports while it runs.
#[derive(Debug)]
pub(crate) enum Progress<'a> {
    /// An attempt got its answer: `total` bytes are coming, when known.
    Started { total: Option<u64> },
    /// `done` bytes arrived so far.
    Bytes { done: u64 },
    /// Attempt `attempt` of [`ATTEMPTS`] failed for `reason`; the next
    /// starts after `wait`.
    Retry {
        attempt: u32,
        reason: &'a str,
        wait: Duration,
    },
}

enum Hasher {
    Sha256(Sha256),
    Sha512(Sha512),
}

impl Hasher {
    fn new(algo: Algo) -> Hasher {
        match algo {
            Algo::Sha256 => Hasher::Sha256(Sha256::new()),
            Algo::Sha512 => Hasher::Sha512(Sha512::new()),
        }
    }

    fn update(&mut self, bytes: &[u8]) {
        match self {
            Hasher::Sha256(h) => h.update(bytes),
            Hasher::Sha512(h) => h.update(bytes),
        }
    }

    fn hex(self) -> String {
        let bytes: Vec<u8> = match self {
            Hasher::Sha256(h) => h.finalize().to_vec(),
            Hasher::Sha512(h) => h.finalize().to_vec(),
        };
        hex(&bytes)
    }
}

/// Lowercase hex of `bytes`.
pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .timeout_connect(Some(CONNECT_TIMEOUT))
        .timeout_per_read(Some(READ_TIMEOUT))
        .http_status_as_error(false)
        .user_agent(concat!("devrig/", env!("CARGO_PKG_VERSION")))
        .tls_config(
            ureq::tls::TlsConfig::builder()
                .root_certs(ureq::tls::RootCerts::PlatformVerifier)
                .build(),
        )
        .build()
        .new_agent()
}

/// Why one attempt failed, and whether another may do better.
struct Failure {
    reason: String,
    again: bool,
}

impl From<ureq::Error> for Failure {
    fn from(e: ureq::Error) -> Self {
        let reason = match &e {
            ureq::Error::Io(io) => io.to_string(),
            ureq::Error::HostNotFound => "host not found".to_owned(),
            ureq::Error::ConnectionFailed => "connection failed".to_owned(),
            ureq::Error::Timeout(_) => "timed out".to_owned(),
            other => other.to_string(),
        };
        let again = !matches!(
            e,
            ureq::Error::BadUri(_) | ureq::Error::InvalidProxyUrl | ureq::Error::TooManyRedirects
        );
        Failure { reason, again }
    }
}

/// One GET of `url`, its body given to `sink` chunk by chunk.
fn attempt(
    agent: &ureq::Agent,
    url: &str,
    progress: &mut dyn FnMut(Progress<'_>),
    sink: &mut dyn FnMut(&[u8]) -> std::io::Result<()>,
) -> Result<(), Failure> {
    let response = agent.get(url).call()?;
    let status = response.status();
    if !status.is_success() {
        let code = status.as_u16();
        return Err(Failure {
            reason: format!(
                "the server answered {code} {}",
                status.canonical_reason().unwrap_or("")
            )
            .trim_end()
            .to_owned(),
            again: code >= 500 || code == 408 || code == 429,
        });
    }
    let mut body = response.into_body();
    let total = body.content_length();
    progress(Progress::Started { total });
    let mut reader = body.with_config().limit(u64::MAX).reader();
    let mut buf = vec![0u8; 256 * 1024];
    let mut done = 0u64;
    loop {
        let n = reader.read(&mut buf).map_err(|e| Failure {
            reason: format!("the transfer broke after {done} bytes: {e}"),
            again: true,
        })?;
        if n == 0 {
            break;
        }
        sink(&buf[..n]).map_err(|e| Failure {
            reason: format!("cannot write the download: {e}"),
            again: false,
        })?;
        done += n as u64;
        progress(Progress::Bytes { done });
    }
    if let Some(total) = total
        && done < total
    {
        return Err(Failure {
            reason: format!("the transfer ended after {done} of {total} bytes"),
            again: true,
        });
    }
    Ok(())
}

/// Runs `attempt` up to [`ATTEMPTS`] times, `reset` before each retry.
fn with_retries(
    url: &str,
    progress: &mut dyn FnMut(Progress<'_>),
    reset: &mut dyn FnMut() -> std::io::Result<()>,
    sink: &mut dyn FnMut(&[u8]) -> std::io::Result<()>,
) -> Result<(), ProvisionError> {
    let agent = agent();
    let mut wait = FIRST_WAIT;
    for number in 1..=ATTEMPTS {
        match attempt(&agent, url, progress, sink) {
            Ok(()) => return Ok(()),
            Err(failure) if failure.again && number < ATTEMPTS => {
                progress(Progress::Retry {
                    attempt: number,
                    reason: &failure.reason,
                    wait,
                });
                std::thread::sleep(wait);
                wait *= 2;
                reset().map_err(|source| ProvisionError::Io {
                    action: "restart the download into",
                    path: url.into(),
                    source,
                })?;
            }
            Err(failure) => {
                return Err(ProvisionError::Download {
                    url: url.to_owned(),
                    attempts: number,
                    reason: failure.reason,
                });
            }
        }
    }
    unreachable!("the last attempt returns")
}

/// Downloads `url` into the new file `dest` and returns the hex digest of
/// what was written.
pub(crate) fn to_file(
    url: &str,
    dest: &Path,
    algo: Algo,
    progress: &mut dyn FnMut(Progress<'_>),
) -> Result<String, ProvisionError> {
    let io = |action: &'static str| {
        move |source| ProvisionError::Io {
            action,
            path: dest.to_owned(),
            source,
        }
    };
    let file = std::cell::RefCell::new(std::fs::File::create(dest).map_err(io("create"))?);
    let hasher = std::cell::RefCell::new(Hasher::new(algo));
    with_retries(
        url,
        progress,
        &mut || {
            *hasher.borrow_mut() = Hasher::new(algo);
            let mut f = file.borrow_mut();
            f.set_len(0)?;
            std::io::Seek::rewind(&mut *f)
        },
        &mut |bytes| {
            hasher.borrow_mut().update(bytes);
            file.borrow_mut().write_all(bytes)
        },
    )?;
    file.into_inner().sync_all().map_err(io("write"))?;
    Ok(hasher.into_inner().hex())
}

/// The body of `url` as text (an index, a checksum list, a registry
/// document), with the same retries. Progress other than retries is not
/// reported: these are small.
pub(crate) fn text(
    url: &str,
    on_retry: &mut dyn FnMut(Progress<'_>),
) -> Result<String, ProvisionError> {
    let body = std::cell::RefCell::new(Vec::new());
    let mut progress = |p: Progress<'_>| {
        if matches!(p, Progress::Retry { .. }) {
            on_retry(p);
        }
    };
    with_retries(
        url,
        &mut progress,
        &mut || {
            body.borrow_mut().clear();
            Ok(())
        },
        &mut |bytes| {
            body.borrow_mut().extend_from_slice(bytes);
            Ok(())
        },
    )?;
    String::from_utf8(body.into_inner()).map_err(|_| ProvisionError::Download {
        url: url.to_owned(),
        attempts: 1,
        reason: "the answer is not UTF-8 text".to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_digests() {
        let mut h = Hasher::new(Algo::Sha256);
        h.update(b"abc");
        assert_eq!(
            h.hex(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn a_refused_connection_is_retried_then_named() {
        // Port 1 on loopback: nothing listens there, every attempt is refused.
        let dir = tempfile::tempdir().unwrap();
        let mut retries = Vec::new();
        let err = to_file(
            "http://127.0.0.1:1/node.tar.gz",
            &dir.path().join("f"),
            Algo::Sha256,
            &mut |p| {
                if let Progress::Retry { attempt, wait, .. } = p {
                    retries.push((attempt, wait));
                }
            },
        )
        .unwrap_err();
        assert_eq!(
            retries,
            [
                (1, Duration::from_millis(500)),
                (2, Duration::from_secs(1)),
                (3, Duration::from_secs(2))
            ]
        );
        let ProvisionError::Download { url, attempts, .. } = &err else {
            panic!("{err:?}")
        };
        assert_eq!(
            (url.as_str(), *attempts),
            ("http://127.0.0.1:1/node.tar.gz", 4)
        );
    }
}
