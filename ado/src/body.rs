//! Reading answer bodies within a size limit, and decoding a large JSON body while it arrives.
//!
//! A job-request list repeats every matching agent for every job: with 1,000 queued jobs and
//! 2,000 agents it is hundreds of MiB of JSON of which the operator keeps a few MiB. Buffering
//! it whole before decoding would hold body and result at once, so [`decode_streamed`] hands
//! the body's chunks, as they arrive, to `serde_json::from_reader` running on a blocking thread
//! (serde_json has no push parser; a bounded channel is the sync bridge). At most
//! [`CHUNKS_IN_FLIGHT`] chunks are held at any time, and the count of bytes read is checked
//! against the limit before each chunk is passed on.

use std::io::{self, BufReader, Read};

use serde::de::DeserializeOwned;
use tokio::sync::mpsc;

/// Chunks queued between the network reader and the decoder: enough to keep both busy,
/// small enough that the body never piles up (a chunk is at most a few tens of KiB).
const CHUNKS_IN_FLIGHT: usize = 8;

/// Why a body could not be read or decoded.
#[derive(Debug)]
pub(crate) enum BodyError {
    /// The body (or its declared `Content-Length`) exceeds the limit; `read` bytes were read.
    TooLarge {
        /// The limit in bytes.
        limit: u64,
        /// How many bytes were read (or declared) when the limit was crossed.
        read: u64,
    },
    /// The connection failed or timed out while reading.
    Read(reqwest::Error),
    /// The body is not JSON of the expected shape.
    Decode(String),
    /// A success answer whose body is not JSON (a sign-in page).
    NotJson,
}

/// Reads the whole body, refusing more than `limit` bytes (checked on `Content-Length` first,
/// then on every chunk, so an oversized answer is dropped without being held).
pub(crate) async fn read_limited(
    mut response: reqwest::Response,
    limit: Option<u64>,
) -> Result<Vec<u8>, BodyError> {
    let Some(limit) = limit else {
        return Ok(response.bytes().await.map_err(BodyError::Read)?.to_vec());
    };
    check_declared_length(&response, limit)?;
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(BodyError::Read)? {
        let read = (body.len() + chunk.len()) as u64;
        if read > limit {
            return Err(BodyError::TooLarge { limit, read });
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// Decodes a success answer's JSON body as it arrives, refusing more than `limit` bytes.
///
/// A body whose first non-blank byte is not `{` or `[` is [`BodyError::NotJson`] (the HTML
/// sign-in page Azure DevOps serves with 200 to an expired credential), like the buffered path.
pub(crate) async fn decode_streamed<T>(
    mut response: reqwest::Response,
    limit: u64,
) -> Result<T, BodyError>
where
    T: DeserializeOwned + Send + 'static,
{
    check_declared_length(&response, limit)?;
    let (sender, receiver) = mpsc::channel(CHUNKS_IN_FLIGHT);
    let decoder = tokio::task::spawn_blocking(move || {
        serde_json::from_reader::<_, T>(BufReader::new(ChannelReader::new(receiver)))
            .map_err(|err| err.to_string())
    });
    let mut read = 0u64;
    let mut looked_at_first_byte = false;
    let outcome = loop {
        let chunk = match response.chunk().await {
            Ok(Some(chunk)) => chunk,
            Ok(None) => break Ok(()),
            Err(err) => break Err(BodyError::Read(err)),
        };
        read += chunk.len() as u64;
        if read > limit {
            break Err(BodyError::TooLarge { limit, read });
        }
        if !looked_at_first_byte {
            match chunk.iter().find(|byte| !byte.is_ascii_whitespace()) {
                Some(b'{' | b'[') => looked_at_first_byte = true,
                Some(_) => break Err(BodyError::NotJson),
                None => {}
            }
        }
        // A closed channel means the decoder already failed: its error is the answer.
        if sender.send(chunk).await.is_err() {
            break Ok(());
        }
    };
    // Dropping the sender ends the decoder's input; after an early stop it fails on the
    // truncated JSON, and the reason for stopping is what is reported.
    drop(sender);
    let decoded = decoder
        .await
        .map_err(|err| BodyError::Decode(format!("the decoder stopped: {err}")))?;
    outcome?;
    decoded.map_err(BodyError::Decode)
}

fn check_declared_length(response: &reqwest::Response, limit: u64) -> Result<(), BodyError> {
    match response.content_length() {
        Some(declared) if declared > limit => Err(BodyError::TooLarge {
            limit,
            read: declared,
        }),
        _ => Ok(()),
    }
}

/// A blocking [`Read`] over chunks sent from the async side; end of input when the sender is
/// dropped.
struct ChannelReader<B> {
    receiver: mpsc::Receiver<B>,
    current: B,
    offset: usize,
}

impl<B: AsRef<[u8]> + Default> ChannelReader<B> {
    fn new(receiver: mpsc::Receiver<B>) -> Self {
        Self {
            receiver,
            current: B::default(),
            offset: 0,
        }
    }
}

impl<B: AsRef<[u8]> + Default> Read for ChannelReader<B> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.offset >= self.current.as_ref().len() {
            match self.receiver.blocking_recv() {
                Some(next) => {
                    self.current = next;
                    self.offset = 0;
                }
                None => return Ok(0),
            }
        }
        let rest = &self.current.as_ref()[self.offset..];
        let n = rest.len().min(buf.len());
        buf[..n].copy_from_slice(&rest[..n]);
        self.offset += n;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn decoding_from_odd_sized_chunks_equals_decoding_the_whole_body_and_skips_unknown_fields() {
        #[derive(Debug, PartialEq, serde::Deserialize)]
        struct Kept {
            id: i32,
            tags: Vec<String>,
        }
        let body = r#"{"id": 7, "unknown": {"deep": [1, {"x": "y\"z"}], "n": null},
                       "tags": ["é", "a\u00e9"], "trailing": [[], {}]}"#;
        let whole: Kept = serde_json::from_str(body).unwrap();
        assert_eq!(
            whole,
            Kept {
                id: 7,
                tags: vec!["é".into(), "aé".into()]
            }
        );
        for size in [1, 2, 3, 7, 64] {
            let (sender, receiver) = mpsc::channel::<Vec<u8>>(body.len());
            for chunk in body.as_bytes().chunks(size) {
                sender.try_send(chunk.to_vec()).unwrap();
            }
            drop(sender);
            let streamed: Kept =
                serde_json::from_reader(BufReader::new(ChannelReader::new(receiver))).unwrap();
            assert_eq!(streamed, whole, "chunks of {size} bytes");
        }
    }

    #[test]
    fn the_channel_reader_joins_chunks_in_order_and_ends_when_the_sender_is_gone() {
        let (sender, receiver) = mpsc::channel::<Vec<u8>>(4);
        sender.try_send(b"{\"a\":".to_vec()).unwrap();
        sender.try_send(Vec::new()).unwrap();
        sender.try_send(b" [1, 2]}".to_vec()).unwrap();
        drop(sender);
        let mut text = String::new();
        ChannelReader::new(receiver)
            .read_to_string(&mut text)
            .unwrap();
        assert_eq!(text, "{\"a\": [1, 2]}");
    }
}
