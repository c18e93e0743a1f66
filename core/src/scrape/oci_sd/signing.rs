//! OCI's request signature (draft-cavage HTTP Signatures, as OCI's SDKs send it): a GET signs
//! `date`, `(request-target)` and `host` with the user's RSA API key (RSA-SHA256, PKCS#1 v1.5)
//! and carries it as `Authorization: Signature version="1",keyId="<tenancy>/<user>/<fingerprint>",…`.
//! Reads the key from PEM (PKCS#1 or PKCS#8); an encrypted key is refused, naming why.

use base64::Engine;
use ring::signature::{RsaKeyPair, RSA_PKCS1_SHA256};

/// The headers a GET signs, in the order they are signed.
const SIGNED_HEADERS_GET: &str = "date (request-target) host";

/// An API signing key and the id OCI knows it by.
pub struct SigningKey {
    /// `<tenancy OCID>/<user OCID>/<key fingerprint>`.
    key_id: String,
    pair: RsaKeyPair,
}

impl std::fmt::Debug for SigningKey {
    /// The key's id (the private key stays out of logs).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey").field("key_id", &self.key_id).finish_non_exhaustive()
    }
}

impl SigningKey {
    /// The key in `pem` (read from `shown`, for messages) for user `user` of `tenancy` whose
    /// key has `fingerprint`.
    pub fn new(tenancy: &str, user: &str, fingerprint: &str, pem: &str, shown: &str) -> Result<SigningKey, String> {
        let pair = read_key(pem).map_err(|e| format!("reading OCI key file {shown:?}: {e}"))?;
        Ok(SigningKey { key_id: format!("{tenancy}/{user}/{fingerprint}"), pair })
    }

    /// The `Authorization` value of a GET of `path_and_query` sent to `host` (the `Host`
    /// header as sent) with `Date: <date>`.
    pub fn authorize_get(&self, host: &str, path_and_query: &str, date: &str) -> Result<String, String> {
        let signed = format!("date: {date}\n(request-target): get {path_and_query}\nhost: {host}");
        let mut signature = vec![0; self.pair.public().modulus_len()];
        self.pair.sign(&RSA_PKCS1_SHA256, &ring::rand::SystemRandom::new(), signed.as_bytes(), &mut signature).map_err(|_| "cannot sign the request with the OCI key".to_string())?;
        let signature = base64::engine::general_purpose::STANDARD.encode(signature);
        Ok(format!(r#"Signature version="1",headers="{SIGNED_HEADERS_GET}",keyId="{}",algorithm="rsa-sha256",signature="{signature}""#, self.key_id))
    }
}

/// The RSA private key in PEM text: PKCS#1 (`RSA PRIVATE KEY`) or PKCS#8 (`PRIVATE KEY`).
pub fn read_key(pem: &str) -> Result<RsaKeyPair, String> {
    let (label, headers, der) = pem_block(pem)?;
    let encrypted = label == "ENCRYPTED PRIVATE KEY" || headers.iter().any(|h| h.starts_with("Proc-Type") && h.contains("ENCRYPTED"));
    if encrypted {
        return Err("the key is encrypted; decrypting it (key_passphrase, key_passphrase_file) is not supported here: give an unencrypted key (`openssl rsa -in key.pem -out plain.pem`)".into());
    }
    match label.as_str() {
        "RSA PRIVATE KEY" => RsaKeyPair::from_der(&der).map_err(|e| format!("not a usable PKCS#1 RSA key: {e}")),
        "PRIVATE KEY" => RsaKeyPair::from_pkcs8(&der).map_err(|e| format!("not a usable PKCS#8 RSA key: {e}")),
        other => Err(format!("a PEM block {other:?}, not an RSA private key (RSA PRIVATE KEY or PRIVATE KEY)")),
    }
}

/// The first PEM block of `text`: its label, its RFC 1421 headers (`Proc-Type: …`) and its
/// decoded body.
fn pem_block(text: &str) -> Result<(String, Vec<String>, Vec<u8>), String> {
    let mut lines = text.lines().map(str::trim).skip_while(|l| !l.starts_with("-----BEGIN "));
    let begin = lines.next().ok_or("no PEM block (-----BEGIN …-----)")?;
    let label = begin.trim_start_matches("-----BEGIN ").trim_end_matches('-').to_string();
    let end = format!("-----END {label}-----");
    let (mut headers, mut body, mut ended) = (Vec::new(), String::new(), false);
    for line in lines {
        if line == end {
            ended = true;
            break;
        }
        if line.contains(':') {
            headers.push(line.to_string());
        } else {
            body.push_str(line);
        }
    }
    if !ended {
        return Err(format!("the PEM block {label:?} has no end ({end})"));
    }
    let der = base64::engine::general_purpose::STANDARD.decode(body).map_err(|e| format!("the PEM block {label:?} is not base64: {e}"))?;
    Ok((label, headers, der))
}

/// Milliseconds since the epoch as HTTP's date (RFC 7231's IMF-fixdate, always GMT):
/// `Thu, 05 Jan 2014 21:31:40 GMT`.
pub fn http_date(ms: i64) -> String {
    const WEEKDAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
    let seconds = ms.div_euclid(1000);
    // `YYYY-MM-DDTHH:MM:SS…`
    let text = crate::api::status::rfc3339(seconds * 1000);
    let field = |range: std::ops::Range<usize>| text.get(range).unwrap_or("");
    let month = field(5..7).parse::<usize>().ok().and_then(|m| MONTHS.get(m.wrapping_sub(1))).copied().unwrap_or("Jan");
    let weekday = WEEKDAYS[seconds.div_euclid(86_400).rem_euclid(7) as usize];
    format!("{weekday}, {} {month} {} {} GMT", field(8..10), field(0..4), field(11..19))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scrape::oci_sd::test_key;

    /// The signing string of OCI's documented GET example, signed by `openssl dgst -sha256
    /// -sign` with the test key: PKCS#1 v1.5 is deterministic, so ours must be the same bytes.
    const EXAMPLE_TARGET: &str = "/20160918/instances?availabilityDomain=Pjwf%3A%20PHX-AD-1&compartmentId=ocid1.compartment.oc1..aaaaaaaam3we6vgnherjq5q2idnccdflvjsnog7mlr6rtdb25gilchfeyjxa&displayName=TeamXInstances&volumeId=ocid1.volume.oc1.phx.abyhqljrgvttnlx73nmrwfaux7kcvzfs3s66izvxf2h4lgvyndsdsnoiwr5q";
    const EXAMPLE_SIGNATURE: &str = "mhZqsA1GceSNwiRtuP9QFkyBH0LY1TBtbY+kpvMx6pLZ0laO8sS6clDSpg9wfKj6x58tlm74e4+ELftMvhAx4/E21VNmVfYYbeqxrs5Hj4O0BYElEZIBcc3p3DPpEKzINWmP4NLiG2uKMCqEFHUFFYlNS7ADLhi6odRg/N3gQcC9RbPb+pKUwvt0mUzMYgcSsbAST4wfZ4C7VoW5/NBkaZhhXbqSFaHT0/NWlPV04YQCFQ81Zl0dZgRxwfQAtL2w0R/4DsPD+brJC/tlqZ+qEqqohxHakhqInbTGBmuvaqa5KrLr+Y6RXEIskvF8yy8G04PEwh98jp9Qqdp4FELa1Q==";

    #[test]
    fn a_get_is_signed_as_openssl_signs_it_from_either_pem_form() {
        for pem in [test_key::PKCS1_PEM, test_key::PKCS8_PEM] {
            let key = SigningKey::new("ocid1.tenancy.oc1..t", "ocid1.user.oc1..u", "20:3b:97:13", pem, "/k.pem").expect("a valid key");
            let authorization = key.authorize_get("iaas.us-phoenix-1.oraclecloud.com", EXAMPLE_TARGET, "Thu, 05 Jan 2014 21:31:40 GMT").expect("signed");
            assert_eq!(
                authorization,
                format!(r#"Signature version="1",headers="date (request-target) host",keyId="ocid1.tenancy.oc1..t/ocid1.user.oc1..u/20:3b:97:13",algorithm="rsa-sha256",signature="{EXAMPLE_SIGNATURE}""#)
            );
            assert!(!format!("{key:?}").contains("MII"), "{key:?}");
        }
    }

    #[test]
    fn bad_and_encrypted_keys_are_refused_naming_why() {
        for (pem, expected) in [
            (test_key::ENCRYPTED_PKCS1_PEM, "the key is encrypted"),
            (test_key::ENCRYPTED_PKCS8_PEM, "the key is encrypted"),
            ("", "no PEM block"),
            ("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n", "not an RSA private key"),
            ("-----BEGIN RSA PRIVATE KEY-----\nAAAA\n", "has no end"),
            ("-----BEGIN RSA PRIVATE KEY-----\n!!\n-----END RSA PRIVATE KEY-----", "not base64"),
            ("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----", "not a usable PKCS#8 RSA key"),
        ] {
            let error = read_key(pem).err().unwrap_or_else(|| panic!("{pem} read"));
            assert!(error.contains(expected), "{error}");
        }
    }

    #[test]
    fn dates_are_http_dates() {
        assert_eq!(http_date(1_388_957_500_000), "Sun, 05 Jan 2014 21:31:40 GMT");
        assert_eq!(http_date(0), "Thu, 01 Jan 1970 00:00:00 GMT");
        assert_eq!(http_date(1_733_356_800_999), "Thu, 05 Dec 2024 00:00:00 GMT");
        assert_eq!(http_date(951_782_400_000), "Tue, 29 Feb 2000 00:00:00 GMT");
    }
}
