//! The files `ipam.etcd` names: the TLS material and the password.

use std::path::Path;

use super::super::PoolError;
use crate::config::pools::EtcdConfig;

fn read_file(what: &str, path: &Path) -> Result<Vec<u8>, PoolError> {
    std::fs::read(path).map_err(|e| {
        PoolError::Config(format!(
            "ipam.etcd.{what}: cannot read {}: {e}",
            path.display()
        ))
    })
}

#[cfg(feature = "etcd-tls")]
pub(super) fn tls_config(cfg: &EtcdConfig) -> Result<ureq::tls::TlsConfig, PoolError> {
    use ureq::tls::{Certificate, ClientCert, PemItem, PrivateKey, RootCerts, TlsConfig};
    let certs = |what: &str, path: &Path| -> Result<Vec<Certificate<'static>>, PoolError> {
        let pem = read_file(what, path)?;
        let mut out = Vec::new();
        for item in ureq::tls::parse_pem(&pem) {
            match item {
                Ok(PemItem::Certificate(c)) => out.push(c),
                Ok(_) => {}
                Err(e) => {
                    return Err(PoolError::Config(format!(
                        "ipam.etcd.{what}: {}: not PEM: {e}",
                        path.display()
                    )));
                }
            }
        }
        if out.is_empty() {
            return Err(PoolError::Config(format!(
                "ipam.etcd.{what}: {} holds no PEM certificate",
                path.display()
            )));
        }
        Ok(out)
    };
    let mut builder = TlsConfig::builder();
    if let Some(ca) = &cfg.ca_file {
        builder = builder.root_certs(RootCerts::new_with_certs(&certs("caFile", ca)?));
    }
    match (&cfg.cert_file, &cfg.key_file) {
        (Some(cert), Some(key)) => {
            let chain = certs("certFile", cert)?;
            let pem = read_file("keyFile", key)?;
            let key = PrivateKey::from_pem(&pem).map_err(|e| {
                PoolError::Config(format!(
                    "ipam.etcd.keyFile: {}: no usable PEM private key: {e}",
                    key.display()
                ))
            })?;
            builder = builder.client_cert(Some(ClientCert::new_with_certs(&chain, key)));
        }
        (None, None) => {}
        _ => {
            return Err(PoolError::Config(
                "ipam.etcd: certFile and keyFile go together: set both or neither".into(),
            ));
        }
    }
    Ok(builder.build())
}

/// The user and password of `ipam.etcd.username`/`passwordFile`, if set.
///
/// # Errors
/// [`PoolError::Config`] when only one is set or the file is unusable.
pub(super) fn password(cfg: &EtcdConfig) -> Result<Option<(String, String)>, PoolError> {
    match (&cfg.username, &cfg.password_file) {
        (Some(user), Some(file)) => {
            let pw = read_file("passwordFile", file)?;
            let pw = String::from_utf8(pw).map_err(|_| {
                PoolError::Config(format!(
                    "ipam.etcd.passwordFile: {} is not UTF-8",
                    file.display()
                ))
            })?;
            Ok(Some((
                user.clone(),
                pw.trim_end_matches(['\r', '\n']).to_owned(),
            )))
        }
        (None, None) => Ok(None),
        _ => Err(PoolError::Config(
            "ipam.etcd: username and passwordFile go together: set both or neither".into(),
        )),
    }
}
