//! The agent's RSA key: generation, the `.credentials_rsaparams` file format, and RS256 signing.

use std::fmt;

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rsa::{KeyPair, KeyPairComponents, KeySize, PublicKeyComponents};
use aws_lc_rs::signature::{KeyPair as _, RSA_PKCS1_SHA256};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Serialize};

use super::der::{self, RsaPrivateIntegers};
use super::error::StandinError;
use super::wire::PublicKey;

/// A 2048-bit RSA key pair, as `RSAFileKeyManager` keeps it.
pub struct AgentKey {
    pair: KeyPair,
    integers: RsaPrivateIntegers,
}

impl fmt::Debug for AgentKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AgentKey").finish_non_exhaustive()
    }
}

/// `.credentials_rsaparams` on Linux (`RSAParametersSerializable`): .NET `RSAParameters`, base64.
#[derive(Serialize, Deserialize)]
pub struct RsaParamsFile {
    /// Always empty on Linux.
    #[serde(rename = "ContainerName", default)]
    pub container_name: String,
    /// Always false on Linux.
    #[serde(rename = "UseCng", default)]
    pub use_cng: bool,
    d: String,
    dp: String,
    dq: String,
    exponent: String,
    #[serde(rename = "inverseQ")]
    inverse_q: String,
    modulus: String,
    p: String,
    q: String,
}

impl AgentKey {
    /// Generates a fresh 2048-bit key.
    pub fn generate() -> Result<Self, StandinError> {
        let pair = KeyPair::generate(KeySize::Rsa2048)
            .map_err(|_| StandinError::Key("key generation failed".into()))?;
        let pkcs8 = pair
            .as_der()
            .map_err(|_| StandinError::Key("cannot export generated key".into()))?;
        let integers = der::parse_pkcs8_rsa(pkcs8.as_ref())
            .ok_or_else(|| StandinError::Key("cannot parse generated key".into()))?;
        Ok(Self { pair, integers })
    }

    /// The public half as the server wants it: base64 of big-endian bytes.
    pub fn public_key(&self) -> PublicKey {
        let public = self.pair.public_key();
        PublicKey {
            exponent: STANDARD.encode(public.exponent().big_endian_without_leading_zero()),
            modulus: STANDARD.encode(public.modulus().big_endian_without_leading_zero()),
        }
    }

    /// Signs `message` with RSASSA-PKCS1-v1_5 / SHA-256 (JWT `RS256`).
    pub fn sign_rs256(&self, message: &[u8]) -> Result<Vec<u8>, StandinError> {
        let rng = aws_lc_rs::rand::SystemRandom::new();
        let mut signature = vec![0u8; self.pair.public_modulus_len()];
        self.pair
            .sign(&RSA_PKCS1_SHA256, &rng, message, &mut signature)
            .map_err(|_| StandinError::Key("signing failed".into()))?;
        Ok(signature)
    }

    /// Decrypts an RSA-OAEP (SHA-1, MGF1-SHA-1) ciphertext: how Azure DevOps wraps a session's
    /// message key for the agent.
    pub fn decrypt_oaep_sha1(&self, ciphertext: &[u8]) -> Result<Vec<u8>, StandinError> {
        use aws_lc_rs::rsa::{OAEP_SHA1_MGF1SHA1, OaepPrivateDecryptingKey, PrivateDecryptingKey};
        let pkcs8 = self
            .pair
            .as_der()
            .map_err(|_| StandinError::Key("cannot export key".into()))?;
        let unusable = |_| StandinError::Key("key unusable for decryption".into());
        let private = PrivateDecryptingKey::from_pkcs8(pkcs8.as_ref())
            .map_err(|_| StandinError::Key("key unusable for decryption".into()))?;
        let private = OaepPrivateDecryptingKey::new(private).map_err(unusable)?;
        let mut plaintext = vec![0u8; private.min_output_size()];
        let len = private
            .decrypt(&OAEP_SHA1_MGF1SHA1, ciphertext, &mut plaintext, None)
            .map_err(|_| StandinError::Key("session key could not be decrypted".into()))?
            .len();
        plaintext.truncate(len);
        Ok(plaintext)
    }

    /// The public key as X.509 `SubjectPublicKeyInfo` DER (for tests that encrypt to the agent).
    pub fn public_key_der(&self) -> Result<Vec<u8>, StandinError> {
        self.pair
            .public_key()
            .as_der()
            .map(|der| der.as_ref().to_vec())
            .map_err(|_| StandinError::Key("cannot export public key".into()))
    }

    /// The file representation. .NET's `ImportParameters` wants the CRT values padded to half
    /// the modulus length and `d` to the full length, so they are padded the same way here.
    pub fn to_params_file(&self) -> RsaParamsFile {
        let n_len = self.integers.modulus.len();
        let half = n_len.div_ceil(2);
        let encode = |bytes: &[u8], len: usize| STANDARD.encode(left_pad(bytes, len));
        RsaParamsFile {
            container_name: String::new(),
            use_cng: false,
            d: encode(&self.integers.private_exponent, n_len),
            dp: encode(&self.integers.exponent1, half),
            dq: encode(&self.integers.exponent2, half),
            exponent: STANDARD.encode(&self.integers.public_exponent),
            inverse_q: encode(&self.integers.coefficient, half),
            modulus: STANDARD.encode(&self.integers.modulus),
            p: encode(&self.integers.prime1, half),
            q: encode(&self.integers.prime2, half),
        }
    }

    /// Loads a key from its file representation.
    pub fn from_params_file(file: &RsaParamsFile) -> Result<Self, StandinError> {
        let decode = |name: &str, value: &str| {
            STANDARD
                .decode(value)
                .map_err(|_| StandinError::Key(format!("field {name} is not base64")))
        };
        let integers = RsaPrivateIntegers {
            modulus: der::strip_leading_zeros(&decode("modulus", &file.modulus)?).to_vec(),
            public_exponent: der::strip_leading_zeros(&decode("exponent", &file.exponent)?)
                .to_vec(),
            private_exponent: decode("d", &file.d)?,
            prime1: decode("p", &file.p)?,
            prime2: decode("q", &file.q)?,
            exponent1: decode("dp", &file.dp)?,
            exponent2: decode("dq", &file.dq)?,
            coefficient: decode("inverseQ", &file.inverse_q)?,
        };
        let components = KeyPairComponents {
            public_key: PublicKeyComponents {
                n: integers.modulus.as_slice(),
                e: integers.public_exponent.as_slice(),
            },
            d: integers.private_exponent.as_slice(),
            p: integers.prime1.as_slice(),
            q: integers.prime2.as_slice(),
            dP: integers.exponent1.as_slice(),
            dQ: integers.exponent2.as_slice(),
            qInv: integers.coefficient.as_slice(),
        };
        let pair = KeyPair::from_components(&components)
            .map_err(|err| StandinError::Key(format!("key file rejected: {err}")))?;
        Ok(Self { pair, integers })
    }
}

fn left_pad(bytes: &[u8], len: usize) -> Vec<u8> {
    let mut padded = vec![0u8; len.saturating_sub(bytes.len())];
    padded.extend_from_slice(bytes);
    padded
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_lc_rs::signature::RSA_PKCS1_2048_8192_SHA256;

    #[test]
    fn key_survives_the_params_file_and_signatures_verify_with_the_published_key() {
        let key = AgentKey::generate().unwrap();
        let json = serde_json::to_string(&key.to_params_file()).unwrap();
        for field in [
            "\"d\"",
            "\"dp\"",
            "\"dq\"",
            "\"exponent\"",
            "\"inverseQ\"",
            "\"modulus\"",
            "\"p\"",
            "\"q\"",
        ] {
            assert!(json.contains(field), "missing {field}");
        }
        let reloaded = AgentKey::from_params_file(&serde_json::from_str(&json).unwrap()).unwrap();

        let published = key.public_key();
        let modulus = STANDARD.decode(&published.modulus).unwrap();
        assert_eq!(modulus.len(), 256, "2048-bit modulus");
        assert_eq!(STANDARD.decode(&published.exponent).unwrap(), vec![1, 0, 1]);

        let message = b"header.claims";
        let signature = reloaded.sign_rs256(message).unwrap();
        let public = PublicKeyComponents {
            n: modulus,
            e: STANDARD.decode(&published.exponent).unwrap(),
        };
        public
            .verify(&RSA_PKCS1_2048_8192_SHA256, message, &signature)
            .unwrap();
        assert!(
            public
                .verify(&RSA_PKCS1_2048_8192_SHA256, b"tampered", &signature)
                .is_err()
        );
    }
}
