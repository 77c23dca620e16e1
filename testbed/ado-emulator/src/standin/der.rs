//! Just enough DER to pull the nine integers out of a PKCS#8-wrapped RSA private key
//! (aws-lc-rs exports keys only as PKCS#8; the agent's key file stores the raw parameters).

/// Reads one TLV at the start of `input`; returns (tag, contents, rest).
fn read_tlv(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = input.split_first()?;
    let (&first_len, mut rest) = rest.split_first()?;
    let len = if first_len < 0x80 {
        usize::from(first_len)
    } else {
        let count = usize::from(first_len & 0x7f);
        if count == 0 || count > 4 || rest.len() < count {
            return None;
        }
        let (len_bytes, after) = rest.split_at(count);
        rest = after;
        len_bytes
            .iter()
            .fold(0usize, |acc, byte| (acc << 8) | usize::from(*byte))
    };
    if rest.len() < len {
        return None;
    }
    let (contents, rest) = rest.split_at(len);
    Some((tag, contents, rest))
}

const TAG_INTEGER: u8 = 0x02;
const TAG_OCTET_STRING: u8 = 0x04;
const TAG_SEQUENCE: u8 = 0x30;

/// The integers of a PKCS#1 `RSAPrivateKey`, unsigned big-endian without leading zeros.
#[derive(Clone)]
pub struct RsaPrivateIntegers {
    /// n
    pub modulus: Vec<u8>,
    /// e
    pub public_exponent: Vec<u8>,
    /// d
    pub private_exponent: Vec<u8>,
    /// p
    pub prime1: Vec<u8>,
    /// q
    pub prime2: Vec<u8>,
    /// d mod (p-1)
    pub exponent1: Vec<u8>,
    /// d mod (q-1)
    pub exponent2: Vec<u8>,
    /// q^-1 mod p
    pub coefficient: Vec<u8>,
}

/// Extracts the RSA integers from a PKCS#8 v1 `PrivateKeyInfo`.
pub fn parse_pkcs8_rsa(pkcs8: &[u8]) -> Option<RsaPrivateIntegers> {
    let (tag, info, _) = read_tlv(pkcs8)?;
    if tag != TAG_SEQUENCE {
        return None;
    }
    let (tag, _version, rest) = read_tlv(info)?;
    if tag != TAG_INTEGER {
        return None;
    }
    let (tag, _algorithm, rest) = read_tlv(rest)?;
    if tag != TAG_SEQUENCE {
        return None;
    }
    let (tag, private_key, _) = read_tlv(rest)?;
    if tag != TAG_OCTET_STRING {
        return None;
    }
    let (tag, mut fields, _) = read_tlv(private_key)?;
    if tag != TAG_SEQUENCE {
        return None;
    }
    let mut integers = Vec::with_capacity(9);
    while !fields.is_empty() && integers.len() < 9 {
        let (tag, value, rest) = read_tlv(fields)?;
        if tag != TAG_INTEGER {
            return None;
        }
        integers.push(strip_leading_zeros(value).to_vec());
        fields = rest;
    }
    if integers.len() != 9 {
        return None;
    }
    let mut it = integers.into_iter().skip(1);
    Some(RsaPrivateIntegers {
        modulus: it.next()?,
        public_exponent: it.next()?,
        private_exponent: it.next()?,
        prime1: it.next()?,
        prime2: it.next()?,
        exponent1: it.next()?,
        exponent2: it.next()?,
        coefficient: it.next()?,
    })
}

/// DER integers carry a sign byte; RSA parameters are unsigned.
pub fn strip_leading_zeros(bytes: &[u8]) -> &[u8] {
    let first_nonzero = bytes.iter().position(|b| *b != 0).unwrap_or(bytes.len());
    &bytes[first_nonzero..]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_form_lengths_are_read() {
        let mut input = vec![0x04, 0x82, 0x01, 0x00];
        input.extend(std::iter::repeat_n(7u8, 256));
        let (tag, contents, rest) = read_tlv(&input).unwrap();
        assert_eq!(tag, 0x04);
        assert_eq!(contents.len(), 256);
        assert!(rest.is_empty());
    }

    #[test]
    fn truncated_input_is_rejected() {
        assert!(read_tlv(&[0x02, 0x05, 1, 2]).is_none());
        assert!(parse_pkcs8_rsa(&[0x30, 0x03, 0x02, 0x01, 0x00]).is_none());
    }
}
