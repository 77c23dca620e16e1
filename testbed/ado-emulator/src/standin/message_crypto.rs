//! Session message encryption (protocol §5): when the session carries an `encryptionKey`,
//! message bodies are base64(AES-CBC/PKCS7(JSON)) with the message's `iv`; the AES key itself
//! is RSA-OAEP-SHA1-encrypted to the agent's public key when `encrypted` is true.

use aws_lc_rs::cipher::{
    AES_128, AES_256, DecryptionContext, PaddedBlockDecryptingKey, UnboundCipherKey,
};
use aws_lc_rs::iv::FixedLength;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use super::error::StandinError;
use super::key::AgentKey;
use super::wire::EncryptionKey;

/// Decrypts the messages of one session.
pub struct MessageDecryptor {
    aes_key: Vec<u8>,
}

impl std::fmt::Debug for MessageDecryptor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MessageDecryptor").finish_non_exhaustive()
    }
}

impl MessageDecryptor {
    /// Unwraps the session key; `None` when the session has no key material.
    pub fn from_session(
        key: &EncryptionKey,
        agent_key: &AgentKey,
    ) -> Result<Option<Self>, StandinError> {
        let Some(value) = key.value.as_deref().filter(|value| !value.is_empty()) else {
            return Ok(None);
        };
        let raw = STANDARD
            .decode(value)
            .map_err(|_| StandinError::Key("session key is not base64".into()))?;
        let aes_key = if key.encrypted {
            agent_key.decrypt_oaep_sha1(&raw)?
        } else {
            raw
        };
        if !matches!(aes_key.len(), 16 | 32) {
            return Err(StandinError::Key(format!(
                "unsupported session key length {}",
                aes_key.len()
            )));
        }
        Ok(Some(Self { aes_key }))
    }

    /// Decrypts a message body with its IV (both base64).
    pub fn decrypt(&self, iv: &str, body: &str) -> Result<String, StandinError> {
        let iv: [u8; 16] = STANDARD
            .decode(iv)
            .ok()
            .and_then(|bytes| bytes.try_into().ok())
            .ok_or_else(|| StandinError::Key("message IV is not 16 base64 bytes".into()))?;
        let mut data = STANDARD
            .decode(body.trim())
            .map_err(|_| StandinError::Key("encrypted message body is not base64".into()))?;
        let algorithm = if self.aes_key.len() == 16 {
            &AES_128
        } else {
            &AES_256
        };
        let key = UnboundCipherKey::new(algorithm, &self.aes_key)
            .and_then(PaddedBlockDecryptingKey::cbc_pkcs7)
            .map_err(|_| StandinError::Key("session key rejected".into()))?;
        let plaintext = key
            .decrypt(&mut data, DecryptionContext::Iv128(FixedLength::from(iv)))
            .map_err(|_| StandinError::Key("message could not be decrypted".into()))?;
        String::from_utf8(plaintext.to_vec())
            .map_err(|_| StandinError::Key("decrypted message is not UTF-8".into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_lc_rs::cipher::PaddedBlockEncryptingKey;
    use aws_lc_rs::rsa::{OAEP_SHA1_MGF1SHA1, OaepPublicEncryptingKey, PublicEncryptingKey};

    /// What the server does: a random AES-256 key wrapped to the agent, a body encrypted with it.
    #[test]
    fn messages_encrypted_by_the_server_are_readable() {
        let agent_key = AgentKey::generate().unwrap();
        let aes_key = [7u8; 32];
        let public = PublicEncryptingKey::from_der(&agent_key.public_key_der().unwrap()).unwrap();
        let public = OaepPublicEncryptingKey::new(public).unwrap();
        let mut wrapped = vec![0u8; public.ciphertext_size()];
        let wrapped = public
            .encrypt(&OAEP_SHA1_MGF1SHA1, &aes_key, &mut wrapped, None)
            .unwrap()
            .to_vec();
        let session_key = EncryptionKey {
            encrypted: true,
            value: Some(STANDARD.encode(wrapped)),
        };
        let decryptor = MessageDecryptor::from_session(&session_key, &agent_key)
            .unwrap()
            .unwrap();

        let body = r#"{"jobId":"42"}"#;
        let cipher =
            PaddedBlockEncryptingKey::cbc_pkcs7(UnboundCipherKey::new(&AES_256, &aes_key).unwrap())
                .unwrap();
        let mut data = body.as_bytes().to_vec();
        let context = cipher.encrypt(&mut data).unwrap();
        let DecryptionContext::Iv128(iv) = context else {
            panic!("CBC uses a 128-bit IV")
        };
        let iv: &[u8] = iv.as_ref();
        let text = decryptor
            .decrypt(&STANDARD.encode(iv), &STANDARD.encode(&data))
            .unwrap();
        assert_eq!(text, body);
        let wrong_iv = decryptor.decrypt(&STANDARD.encode([0u8; 16]), &STANDARD.encode(&data));
        assert_ne!(wrong_iv.ok().as_deref(), Some(body));
    }

    #[test]
    fn a_session_without_key_material_means_plaintext() {
        let agent_key = AgentKey::generate().unwrap();
        let empty = EncryptionKey {
            encrypted: false,
            value: None,
        };
        assert!(
            MessageDecryptor::from_session(&empty, &agent_key)
                .unwrap()
                .is_none()
        );
    }
}
