//! A throw-away certificate authority for tests: one CA, leaf certificates for the nodes.

use anyhow::{Context, Result};
use rcgen::{
    BasicConstraints, Certificate, CertificateParams, DistinguishedName, DnType,
    ExtendedKeyUsagePurpose, IsCa, KeyPair, KeyUsagePurpose,
};

/// A leaf certificate and its private key, both PEM.
#[derive(Clone, Debug)]
pub struct Issued {
    pub cert_pem: String,
    pub key_pem: String,
}

/// A test CA (ECDSA P-256) that can issue server/client certificates.
pub struct TestCa {
    cert: Certificate,
    key: KeyPair,
}

impl TestCa {
    /// A new CA with the given common name.
    pub fn new(common_name: &str) -> Result<Self> {
        let mut params = CertificateParams::new(Vec::<String>::new())?;
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, common_name);
        params.distinguished_name = dn;
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let key = KeyPair::generate().context("generating CA key")?;
        let cert = params.self_signed(&key).context("self-signing CA")?;
        Ok(TestCa { cert, key })
    }

    /// The CA certificate, PEM (what kubectl's `--certificate-authority` takes).
    pub fn cert_pem(&self) -> String {
        self.cert.pem()
    }

    /// Issues a leaf certificate usable as server and client certificate. `sans` are DNS names
    /// or IP literals.
    pub fn issue(&self, common_name: &str, sans: &[String]) -> Result<Issued> {
        let mut params = leaf_params(common_name, sans)?;
        params.use_authority_key_identifier_extension = true;
        let key = KeyPair::generate()?;
        let cert = params.signed_by(&key, &self.cert, &self.key)?;
        Ok(Issued {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        })
    }
}

fn leaf_params(common_name: &str, sans: &[String]) -> Result<CertificateParams> {
    let mut params = CertificateParams::new(sans.to_vec()).context("subject alt names")?;
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, common_name);
    params.distinguished_name = dn;
    params.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    params.extended_key_usages = vec![
        ExtendedKeyUsagePurpose::ServerAuth,
        ExtendedKeyUsagePurpose::ClientAuth,
    ];
    Ok(params)
}

/// A self-signed server certificate (used when the stand-in gets no `--cert`).
pub fn self_signed(common_name: &str, sans: &[String]) -> Result<Issued> {
    let params = leaf_params(common_name, sans)?;
    let key = KeyPair::generate()?;
    let cert = params.self_signed(&key)?;
    Ok(Issued {
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
    })
}
