//! A minimal HTTP/1.1 keep-alive client for the benchmarks' load generators: requests are
//! pre-built bytes, responses are read to their `content-length`. Made for 127.0.0.1 and
//! for measuring the server, not for anything else (no chunked bodies, no TLS).

use anyhow::{Context, Result, bail};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

pub struct Conn {
    reader: BufReader<TcpStream>,
}

impl Conn {
    pub async fn connect(addr: &str) -> Result<Conn> {
        let s = TcpStream::connect(addr).await?;
        s.set_nodelay(true)?;
        Ok(Conn { reader: BufReader::new(s) })
    }

    /// Sends one request and reads the whole response: (status, body).
    pub async fn round_trip(&mut self, request: &[u8]) -> Result<(u16, Vec<u8>)> {
        self.reader.get_mut().write_all(request).await?;
        let mut line = String::new();
        self.reader.read_line(&mut line).await?;
        let status: u16 = line.split_whitespace().nth(1).context("no status line")?.parse()?;
        let mut length = None;
        loop {
            line.clear();
            self.reader.read_line(&mut line).await?;
            let l = line.trim_end();
            if l.is_empty() {
                break;
            }
            if let Some((_, v)) = l.split_once(':').filter(|(k, _)| k.eq_ignore_ascii_case("content-length")) {
                length = Some(v.trim().parse::<usize>()?);
            }
        }
        let Some(n) = length else { bail!("response without content-length") };
        let mut body = vec![0u8; n];
        self.reader.read_exact(&mut body).await?;
        Ok((status, body))
    }
}
