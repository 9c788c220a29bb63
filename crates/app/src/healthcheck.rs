//! `strata healthcheck`: the container HEALTHCHECK of an image without a
//! shell or curl. It asks this machine's server for `/health` (or
//! `/health/ready`) on the configured port and exits 0 only on a 200.

use std::time::Duration;

use anyhow::{Context, bail};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::config::Settings;

/// The whole exchange, connect to last byte.
const TIMEOUT: Duration = Duration::from_secs(3);
/// More than any status line and headers of the probes; the body is not read.
const HEAD_MAX: usize = 4096;

/// Where the local server listens: its own address, except that a wildcard
/// bind is reached on loopback.
fn target(settings: &Settings) -> (String, u16) {
    let host = match settings.server.host.as_str() {
        "0.0.0.0" | "" => "127.0.0.1",
        "::" | "[::]" => "::1",
        other => other,
    };
    (
        host.trim_matches(['[', ']']).to_owned(),
        settings.server.port,
    )
}

/// # Errors
/// No answer within 3 s, or a status other than 200.
pub async fn run(settings: &Settings, ready: bool) -> anyhow::Result<()> {
    let path = if ready { "/health/ready" } else { "/health" };
    let (host, port) = target(settings);
    let status = tokio::time::timeout(TIMEOUT, probe(&host, port, path))
        .await
        .with_context(|| format!("no answer from {host}:{port}{path} within {TIMEOUT:?}"))??;
    if status != 200 {
        bail!("{host}:{port}{path} answered {status}");
    }
    Ok(())
}

async fn probe(host: &str, port: u16, path: &str) -> anyhow::Result<u16> {
    let mut stream = TcpStream::connect((host, port))
        .await
        .with_context(|| format!("cannot connect to {host}:{port}"))?;
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nUser-Agent: strata-healthcheck\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).await?;
    let mut head = Vec::with_capacity(256);
    let mut buf = [0_u8; 512];
    // The status line is all that matters; stop once it is complete.
    while !head.contains(&b'\n') && head.len() < HEAD_MAX {
        let n = stream.read(&mut buf).await?;
        if n == 0 {
            break;
        }
        head.extend_from_slice(&buf[..n]);
    }
    status_of(&head).context("not an HTTP answer")
}

/// The status code of an `HTTP/1.x NNN …` status line.
fn status_of(head: &[u8]) -> Option<u16> {
    let line = head.split(|b| *b == b'\n').next()?;
    let line = std::str::from_utf8(line).ok()?;
    let mut parts = line.split_whitespace();
    parts.next().filter(|v| v.starts_with("HTTP/1."))?;
    parts.next()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_status_line_is_read_and_anything_else_refused() {
        assert_eq!(
            status_of(b"HTTP/1.1 200 OK\r\ncontent-length: 2"),
            Some(200)
        );
        assert_eq!(
            status_of(b"HTTP/1.0 503 Service Unavailable\r\n"),
            Some(503)
        );
        assert_eq!(status_of(b"SSH-2.0-OpenSSH\r\n"), None);
        assert_eq!(status_of(b""), None);
        assert_eq!(status_of(b"HTTP/1.1 abc\r\n"), None);
    }
}
