//! `metricstor certs --out DIR [--client NAME]... [--revoked NAME]...`: a development PKI for
//! trying mTLS: a CA, a server certificate for localhost/127.0.0.1/::1, one client
//! certificate per name (the name is its SAN and CN), and the CA's revocation list naming
//! the `--revoked` ones. Not for production: keys are written unencrypted.

use std::path::Path;

use rcgen::{BasicConstraints, CertificateParams, CertificateRevocationListParams, DnType, IsCa, KeyIdMethod, KeyPair, RevokedCertParams, SerialNumber};

fn write(dir: &Path, name: &str, contents: &str) -> Result<(), String> {
    let path = dir.join(name);
    std::fs::write(&path, contents).map_err(|e| format!("cannot write {}: {e}", path.display()))
}

/// Today's date (UTC): (year, month, day).
fn today() -> (i32, u8, u8) {
    let days = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs() / 86_400) as i64;
    let (year, month, day) = promql::format::civil_from_days(days);
    (year as i32, month as u8, day as u8)
}

/// Creates `ca.crt`, `ca.key`, `ca.crl`, `server.crt`, `server.key` and `<name>.crt`/`.key`
/// for each of `clients` and `revoked`; `ca.crl` names the `revoked` ones.
pub fn generate(dir: &Path, clients: &[String], revoked: &[String]) -> Result<(), String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let error = |e: rcgen::Error| format!("certificate generation failed: {e}");
    let ca_key = KeyPair::generate().map_err(error)?;
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).map_err(error)?;
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.distinguished_name.push(DnType::CommonName, "Metricstor development CA");
    let ca = ca_params.self_signed(&ca_key).map_err(error)?;
    write(dir, "ca.crt", &ca.pem())?;
    write(dir, "ca.key", &ca_key.serialize_pem())?;

    // Serial numbers in order of issue (the server's is 1), so that the list can name them.
    let mut serial = 0u64;
    let mut leaf = |sans: Vec<String>, cn: &str| -> Result<(String, String, u64), String> {
        serial += 1;
        let key = KeyPair::generate().map_err(error)?;
        let mut params = CertificateParams::new(sans).map_err(error)?;
        params.distinguished_name.push(DnType::CommonName, cn);
        params.serial_number = Some(SerialNumber::from(serial));
        let cert = params.signed_by(&key, &ca, &ca_key).map_err(error)?;
        Ok((cert.pem(), key.serialize_pem(), serial))
    };
    let (cert, key, _) = leaf(vec!["localhost".into(), "127.0.0.1".into(), "::1".into()], "metricstor")?;
    write(dir, "server.crt", &cert)?;
    write(dir, "server.key", &key)?;
    let mut revoked_serials = Vec::new();
    for (client, is_revoked) in clients.iter().map(|c| (c, false)).chain(revoked.iter().map(|c| (c, true))) {
        if client.is_empty() || client.contains(['/', '\\']) || client == "ca" || client == "server" {
            return Err(format!("invalid client name {client:?}"));
        }
        let (cert, key, serial) = leaf(vec![client.clone()], client)?;
        write(dir, &format!("{client}.crt"), &cert)?;
        write(dir, &format!("{client}.key"), &key)?;
        if is_revoked {
            revoked_serials.push(serial);
        }
    }
    let (year, month, day) = today();
    let crl = CertificateRevocationListParams {
        this_update: rcgen::date_time_ymd(year, month, day),
        next_update: rcgen::date_time_ymd(year + 10, month, day.min(28)),
        crl_number: SerialNumber::from(1u64),
        issuing_distribution_point: None,
        revoked_certs: revoked_serials
            .into_iter()
            .map(|serial| RevokedCertParams { serial_number: SerialNumber::from(serial), revocation_time: rcgen::date_time_ymd(year, month, day), reason_code: None, invalidity_date: None })
            .collect(),
        key_identifier_method: KeyIdMethod::Sha256,
    };
    write(dir, "ca.crl", &crl.signed_by(&ca, &ca_key).and_then(|list| list.pem()).map_err(error)?)?;
    Ok(())
}
