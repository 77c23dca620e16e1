//! moto's instance-metadata service (`/latest/api/token`, `/latest/meta-data/…` on moto_server's
//! own port) behind a strict IMDSv2 relay, so the SDK default chain's instance-role path can run
//! against it.
//!
//! moto answers the token `PUT` without the `X-aws-ec2-metadata-token-ttl-seconds` header, which
//! the Rust SDK requires ("token response did not contain a TTL header"); the relay adds that one
//! header. It is stricter than moto in what a real instance enforces with `http_tokens =
//! required`: a token `PUT` must ask for a TTL, and a metadata `GET` without the token moto issued
//! is refused with 401. Everything else (the credentials themselves) is moto's answer.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};

const TTL_HEADER: &str = "x-aws-ec2-metadata-token-ttl-seconds";
const TOKEN_HEADER: &str = "x-aws-ec2-metadata-token";

/// The relay; stops when dropped.
pub struct Imds {
    /// `http://127.0.0.1:<port>`, for `AWS_EC2_METADATA_SERVICE_ENDPOINT`.
    pub url: String,
    /// Metadata reads that carried a valid IMDSv2 token.
    pub token_reads: Arc<AtomicUsize>,
    /// Requests refused for lacking a token or a TTL.
    pub refused: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Imds {
    fn drop(&mut self) {
        self.task.abort();
    }
}

struct Request {
    method: String,
    path: String,
    headers: Vec<(String, String)>,
}

impl Request {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }
}

impl Imds {
    /// Relays to moto at `moto_url` (must be on a tokio runtime).
    pub async fn start(moto_url: &str) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let token_reads = Arc::new(AtomicUsize::new(0));
        let refused = Arc::new(AtomicUsize::new(0));
        let state = (moto_url.to_owned(), token_reads.clone(), refused.clone());
        let task = tokio::spawn(async move {
            let client = reqwest::Client::new();
            let issued: Arc<std::sync::Mutex<Vec<String>>> = Arc::default();
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let (moto, reads, refused) = state.clone();
                let (client, issued) = (client.clone(), issued.clone());
                tokio::spawn(async move {
                    let _ = serve(stream, &client, &moto, &issued, &reads, &refused).await;
                });
            }
        });
        Self {
            url,
            token_reads,
            refused,
            task,
        }
    }
}

async fn serve(
    mut stream: TcpStream,
    client: &reqwest::Client,
    moto: &str,
    issued: &std::sync::Mutex<Vec<String>>,
    reads: &AtomicUsize,
    refused: &AtomicUsize,
) -> std::io::Result<()> {
    let Some(request) = read_request(&mut stream).await? else {
        return Ok(());
    };
    let is_token = request.path == "/latest/api/token";
    if is_token && (request.method != "PUT" || request.header(TTL_HEADER).is_none()) {
        refused.fetch_add(1, Ordering::Relaxed);
        return respond(&mut stream, 400, &[], b"token requests are PUT with a TTL").await;
    }
    if !is_token {
        let known = request
            .header(TOKEN_HEADER)
            .is_some_and(|token| issued.lock().unwrap().iter().any(|t| t == token));
        if !known {
            refused.fetch_add(1, Ordering::Relaxed);
            return respond(&mut stream, 401, &[], b"IMDSv2 token required").await;
        }
        reads.fetch_add(1, Ordering::Relaxed);
    }
    let method = reqwest::Method::from_bytes(request.method.as_bytes()).unwrap();
    let answer = client
        .request(method, format!("{moto}{}", request.path))
        .send()
        .await
        .map_err(std::io::Error::other)?;
    let status = answer.status().as_u16();
    let body = answer.bytes().await.map_err(std::io::Error::other)?;
    if is_token {
        issued
            .lock()
            .unwrap()
            .push(String::from_utf8_lossy(&body).into_owned());
        let ttl = request.header(TTL_HEADER).unwrap_or("21600").to_owned();
        return respond(&mut stream, status, &[(TTL_HEADER, &ttl)], &body).await;
    }
    respond(&mut stream, status, &[], &body).await
}

/// Reads one request head (and ignores any body: IMDS requests have none).
async fn read_request(stream: &mut TcpStream) -> std::io::Result<Option<Request>> {
    let mut buffer = Vec::new();
    let mut chunk = [0u8; 4096];
    while !buffer.windows(4).any(|window| window == b"\r\n\r\n") {
        let read = stream.read(&mut chunk).await?;
        if read == 0 {
            return Ok(None);
        }
        buffer.extend_from_slice(&chunk[..read]);
    }
    let text = String::from_utf8_lossy(&buffer);
    let mut lines = text.split("\r\n");
    let mut first = lines.next().unwrap_or_default().split_whitespace();
    let (method, path) = (
        first.next().unwrap_or_default().to_owned(),
        first.next().unwrap_or_default().to_owned(),
    );
    let headers = lines
        .take_while(|line| !line.is_empty())
        .filter_map(|line| line.split_once(':'))
        .map(|(key, value)| (key.trim().to_owned(), value.trim().to_owned()))
        .collect();
    Ok(Some(Request {
        method,
        path,
        headers,
    }))
}

async fn respond(
    stream: &mut TcpStream,
    status: u16,
    headers: &[(&str, &str)],
    body: &[u8],
) -> std::io::Result<()> {
    let mut head = format!(
        "HTTP/1.1 {status} X\r\ncontent-length: {}\r\nconnection: close\r\n",
        body.len()
    );
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).await?;
    stream.write_all(body).await?;
    stream.shutdown().await
}
