//! `azp-agent-standin buildkitd --socket PATH [--start-delay-ms N]`: a stand-in for the
//! BuildKit sidecar's *socket*, for the sandbox, where no real buildkitd runs per pod.
//!
//! After the delay (real buildkitd needs a moment to set up its worker before it listens) it
//! binds a Unix socket at PATH and answers every connection the way a gRPC server starts: it
//! reads the HTTP/2 client preface and sends an empty SETTINGS frame. That is all `azp-agent`'s
//! preflight and the sandbox's startup probe look at. It runs no builds; tests that build use
//! the real BuildKit.

use std::io::{Read as _, Write as _};
use std::os::unix::net::UnixListener;
use std::path::PathBuf;
use std::time::Duration;

use super::console;

/// HTTP/2 client preface (RFC 9113 §3.4).
const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
/// An empty SETTINGS frame.
const SETTINGS: &[u8] = b"\x00\x00\x00\x04\x00\x00\x00\x00\x00";
const USAGE: &str = "usage: azp-agent-standin buildkitd --socket PATH [--start-delay-ms N]";

/// Runs until killed; returns an exit code only on a usage or bind error.
pub fn run(args: &[String]) -> i32 {
    let mut socket: Option<PathBuf> = None;
    let mut delay = Duration::ZERO;
    let mut rest = args.iter();
    while let Some(flag) = rest.next() {
        match (flag.as_str(), rest.next()) {
            ("--socket", Some(path)) => socket = Some(PathBuf::from(path)),
            ("--start-delay-ms", Some(ms)) => match ms.parse() {
                Ok(ms) => delay = Duration::from_millis(ms),
                Err(_) => {
                    console::error(USAGE);
                    return 1;
                }
            },
            _ => {
                console::error(USAGE);
                return 1;
            }
        }
    }
    let Some(socket) = socket else {
        console::error(USAGE);
        return 1;
    };
    std::thread::sleep(delay);
    // A socket file left by an earlier run of this container would make bind fail.
    let _ = std::fs::remove_file(&socket);
    let listener = match UnixListener::bind(&socket) {
        Ok(listener) => listener,
        Err(err) => {
            console::error(&format!("cannot listen on {}: {err}", socket.display()));
            return 1;
        }
    };
    console::info(&format!("listening on unix://{}", socket.display()));
    for stream in listener.incoming().flatten() {
        std::thread::spawn(move || {
            let mut stream = stream;
            let mut preface = [0u8; PREFACE.len()];
            if stream.read_exact(&mut preface).is_err() || preface != PREFACE {
                return;
            }
            let _ = stream.write_all(SETTINGS);
            // Hold the connection until the client closes it, as a gRPC server would.
            let mut sink = [0u8; 512];
            while matches!(stream.read(&mut sink), Ok(n) if n > 0) {}
        });
    }
    0
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::net::UnixStream;

    #[test]
    fn it_listens_after_the_delay_and_answers_the_http2_preface() {
        let dir = tempfile::tempdir().unwrap();
        let socket = dir.path().join("buildkitd.sock");
        let args = vec![
            "--socket".to_owned(),
            socket.display().to_string(),
            "--start-delay-ms".to_owned(),
            "300".to_owned(),
        ];
        std::thread::spawn(move || run(&args));
        assert!(
            UnixStream::connect(&socket).is_err(),
            "not before the delay"
        );
        let started = std::time::Instant::now();
        let mut stream = loop {
            if let Ok(stream) = UnixStream::connect(&socket) {
                break stream;
            }
            assert!(started.elapsed() < Duration::from_secs(5));
            std::thread::sleep(Duration::from_millis(20));
        };
        stream.write_all(PREFACE).unwrap();
        stream.write_all(SETTINGS).unwrap();
        let mut answer = [0u8; 9];
        stream.read_exact(&mut answer).unwrap();
        assert_eq!(answer[3], 0x4, "a SETTINGS frame");
        assert_eq!(run(&["--bogus".to_owned()]), 1);
    }
}
