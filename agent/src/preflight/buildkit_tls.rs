//! The remote BuildKit (`spec.buildkit.mode: remote`) answers over mutual TLS with the pod's
//! client certificate: TCP, a TLS handshake that presents the certificate from
//! `AZP_BUILDKIT_TLS_DIR` and verifies the server against its CA, ALPN `h2`, and an HTTP/2
//! SETTINGS frame in answer to the client preface (a refused client certificate fails here).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

use super::{Check, CheckResult};

/// HTTP/2 connection preface followed by an empty SETTINGS frame (RFC 9113 §3.4).
const CLIENT_PREFACE: &[u8] =
    b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00";
/// Frame type of SETTINGS.
const SETTINGS_FRAME: u8 = 0x4;

/// The `buildkit` check for a `tcp://` address with a client certificate directory.
pub struct BuildkitTlsCheck {
    /// `tcp://host:port`.
    pub address: String,
    /// `ca.crt`/`tls.crt`/`tls.key` or `ca.pem`/`cert.pem`/`key.pem` (buildctl's `--tlsdir`).
    pub tls_dir: PathBuf,
    /// How long the handshake and the answer may take.
    pub answer_timeout: Duration,
}

/// The first of `names` that exists in `dir`.
fn pick(dir: &Path, names: [&str; 2]) -> Result<PathBuf, String> {
    names
        .iter()
        .map(|name| dir.join(name))
        .find(|path| path.exists())
        .ok_or_else(|| {
            format!(
                "{} has neither {} nor {}",
                dir.display(),
                names[0],
                names[1]
            )
        })
}

fn client_config(dir: &Path) -> Result<rustls::ClientConfig, String> {
    let ca = pick(dir, ["ca.crt", "ca.pem"])?;
    let cert = pick(dir, ["tls.crt", "cert.pem"])?;
    let key = pick(dir, ["tls.key", "key.pem"])?;
    let mut roots = rustls::RootCertStore::empty();
    for der in CertificateDer::pem_file_iter(&ca).map_err(|e| format!("{}: {e}", ca.display()))? {
        roots
            .add(der.map_err(|e| format!("{}: {e}", ca.display()))?)
            .map_err(|e| format!("{}: {e}", ca.display()))?;
    }
    let chain = CertificateDer::pem_file_iter(&cert)
        .map_err(|e| format!("{}: {e}", cert.display()))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("{}: {e}", cert.display()))?;
    let key = PrivateKeyDer::from_pem_file(&key).map_err(|e| format!("{}: {e}", key.display()))?;
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_client_auth_cert(chain, key)
        .map_err(|e| format!("client certificate: {e}"))?;
    config.alpn_protocols = vec![b"h2".to_vec()];
    Ok(config)
}

async fn answers(address: &str, dir: &Path) -> Result<(), String> {
    let host_port = address
        .strip_prefix("tcp://")
        .ok_or_else(|| format!("{address} is not tcp://host:port"))?;
    let host = host_port
        .rsplit_once(':')
        .map_or(host_port, |(host, _)| host)
        .trim_start_matches('[')
        .trim_end_matches(']');
    let server_name =
        ServerName::try_from(host.to_owned()).map_err(|e| format!("server name {host}: {e}"))?;
    let connector = tokio_rustls::TlsConnector::from(Arc::new(client_config(dir)?));
    let tcp = tokio::net::TcpStream::connect(host_port)
        .await
        .map_err(|e| format!("cannot connect: {e}"))?;
    let mut tls = connector
        .connect(server_name, tcp)
        .await
        .map_err(|e| format!("TLS handshake failed: {e}"))?;
    if tls.get_ref().1.alpn_protocol() != Some(b"h2".as_slice()) {
        return Err("the server did not agree to HTTP/2 (ALPN h2)".into());
    }
    tls.write_all(CLIENT_PREFACE)
        .await
        .map_err(|e| format!("write failed: {e}"))?;
    let mut header = [0u8; 9];
    tls.read_exact(&mut header)
        .await
        .map_err(|e| format!("no HTTP/2 answer (client certificate refused?): {e}"))?;
    if header[3] == SETTINGS_FRAME {
        Ok(())
    } else {
        Err("the server does not speak HTTP/2".into())
    }
}

impl Check for BuildkitTlsCheck {
    fn name(&self) -> &'static str {
        "buildkit"
    }

    fn run(&self) -> BoxFuture<'_, CheckResult> {
        Box::pin(async move {
            let fix = "check spec.buildkit.remote.address, that the buildkitd Service is reachable from the pod (NetworkPolicy), and that the Secret spec.buildkit.remote.clientSecretName holds a client certificate the daemon's CA signed";
            match tokio::time::timeout(self.answer_timeout, answers(&self.address, &self.tls_dir))
                .await
            {
                Ok(Ok(())) => {
                    CheckResult::pass(format!("{} answers HTTP/2 over mutual TLS", self.address))
                }
                Ok(Err(error)) => CheckResult::fail(format!("{}: {error}", self.address), fix),
                Err(_) => CheckResult::fail(
                    format!(
                        "{}: no answer within {} ms",
                        self.address,
                        self.answer_timeout.as_millis()
                    ),
                    fix,
                ),
            }
        })
    }
}
