//! TLS for tests: a private CA that no system trusts, a `localhost` certificate it signed, and
//! a proxy that terminates TLS with it in front of a plain-HTTP server (the emulator), so a
//! client can be shown to trust the CA only when it is told to.

use std::net::SocketAddr;
use std::sync::Arc;

use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

/// Failure to make the CA, the certificate or the listener.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// rcgen refused.
    #[error("certificate: {0}")]
    Certificate(#[from] rcgen::Error),
    /// rustls refused the certificate or key.
    #[error("TLS configuration: {0}")]
    Config(#[from] rustls::Error),
    /// The listener could not be bound.
    #[error("binding 127.0.0.1:0: {0}")]
    Bind(#[from] std::io::Error),
}

/// A private CA and the `localhost` server certificate it signed.
pub struct PrivateCa {
    /// The CA certificate, PEM: what a client is told to trust.
    pub ca_pem: String,
    /// The server certificate (DER).
    pub server_cert: CertificateDer<'static>,
    /// The server certificate's key.
    pub server_key: PrivateKeyDer<'static>,
}

impl PrivateCa {
    /// A fresh CA named `common_name` and a `localhost` certificate.
    pub fn new(common_name: &str) -> Result<Self, TlsError> {
        let mut ca_params = CertificateParams::new(Vec::<String>::new())?;
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(DnType::CommonName, common_name);
        let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate()?)?;
        let server_key = KeyPair::generate()?;
        let server =
            CertificateParams::new(vec!["localhost".to_owned()])?.signed_by(&server_key, &ca)?;
        Ok(Self {
            ca_pem: ca.pem(),
            server_cert: server.der().clone(),
            server_key: PrivatePkcs8KeyDer::from(server_key.serialize_der()).into(),
        })
    }

    /// A TLS acceptor serving the `localhost` certificate.
    pub fn acceptor(&self) -> Result<TlsAcceptor, TlsError> {
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .with_no_client_auth()
            .with_single_cert(vec![self.server_cert.clone()], self.server_key.clone_key())?;
        Ok(TlsAcceptor::from(Arc::new(config)))
    }

    /// Terminates TLS on a fresh 127.0.0.1 port and relays the bytes to `backend`; returns
    /// the port. Clients that do not trust the CA abort the handshake and are dropped.
    pub async fn proxy(&self, backend: SocketAddr) -> Result<u16, TlsError> {
        let acceptor = self.acceptor()?;
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let port = listener.local_addr()?.port();
        tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    let Ok(mut tls) = acceptor.accept(tcp).await else {
                        return;
                    };
                    let Ok(mut upstream) = TcpStream::connect(backend).await else {
                        return;
                    };
                    let _ = tokio::io::copy_bidirectional(&mut tls, &mut upstream).await;
                });
            }
        });
        Ok(port)
    }
}
