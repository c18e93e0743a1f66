//! `metricstor certs --out DIR [--client NAME]...`: a development PKI for trying mTLS: a CA,
//! a server certificate for localhost/127.0.0.1/::1, and one client certificate per name
//! (the name is its SAN and CN). Not for production: keys are written unencrypted.

use std::path::Path;

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair};

fn write(dir: &Path, name: &str, contents: &str) -> Result<(), String> {
    let path = dir.join(name);
    std::fs::write(&path, contents).map_err(|e| format!("cannot write {}: {e}", path.display()))
}

/// Creates `ca.crt`, `ca.key`, `server.crt`, `server.key` and `<client>.crt`/`.key` in `dir`.
pub fn generate(dir: &Path, clients: &[String]) -> Result<(), String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let error = |e: rcgen::Error| format!("certificate generation failed: {e}");
    let ca_key = KeyPair::generate().map_err(error)?;
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).map_err(error)?;
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.distinguished_name.push(DnType::CommonName, "Metricstor development CA");
    let ca = ca_params.self_signed(&ca_key).map_err(error)?;
    write(dir, "ca.crt", &ca.pem())?;
    write(dir, "ca.key", &ca_key.serialize_pem())?;

    let leaf = |sans: Vec<String>, cn: &str| -> Result<(String, String), String> {
        let key = KeyPair::generate().map_err(error)?;
        let mut params = CertificateParams::new(sans).map_err(error)?;
        params.distinguished_name.push(DnType::CommonName, cn);
        let cert = params.signed_by(&key, &ca, &ca_key).map_err(error)?;
        Ok((cert.pem(), key.serialize_pem()))
    };
    let (cert, key) = leaf(vec!["localhost".into(), "127.0.0.1".into(), "::1".into()], "metricstor")?;
    write(dir, "server.crt", &cert)?;
    write(dir, "server.key", &key)?;
    for client in clients {
        if client.is_empty() || client.contains(['/', '\\']) {
            return Err(format!("invalid client name {client:?}"));
        }
        let (cert, key) = leaf(vec![client.clone()], client)?;
        write(dir, &format!("{client}.crt"), &cert)?;
        write(dir, &format!("{client}.key"), &key)?;
    }
    Ok(())
}
