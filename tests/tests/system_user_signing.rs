//! The system-user signature checked against an independent implementation: OpenSSL.
//!
//! RSASSA-PKCS1-v1_5 is deterministic, so our signature over `{system_token}.{yyyyMMddHHmm}` must be
//! byte-for-byte what `openssl dgst -sha256 -sign` produces with the same key, and
//! `openssl dgst -verify` must accept it. The key is read as PKCS#8 PEM, PKCS#1 PEM and the RSA XML
//! the SuperOffice Developer Portal hands out.

use std::path::Path;
use std::process::Command;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use superoffice::Secret;
use superoffice::clock::from_unix_seconds;
use superoffice::system_user::{SystemUserKey, sign_system_token};

fn openssl(args: &[&str], dir: &Path) -> Vec<u8> {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap_or_else(|e| panic!("this test needs the openssl command line tool: {e}"));
    assert!(
        out.status.success(),
        "openssl {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// `openssl rsa -text` prints each component as colon-separated hex; collect them as bytes.
fn components(text: &str) -> std::collections::HashMap<String, Vec<u8>> {
    let mut out = std::collections::HashMap::new();
    let mut current: Option<String> = None;
    let mut hex = String::new();
    let flush = |name: &Option<String>,
                 hex: &mut String,
                 out: &mut std::collections::HashMap<String, Vec<u8>>| {
        if let Some(n) = name {
            let bytes: Vec<u8> = hex
                .split(':')
                .filter(|h| !h.is_empty())
                .map(|h| u8::from_str_radix(h, 16).unwrap())
                .collect();
            let first = bytes.iter().position(|b| *b != 0).unwrap_or(0);
            out.insert(n.clone(), bytes[first..].to_vec());
        }
        hex.clear();
    };
    for line in text.lines() {
        if line.starts_with("publicExponent") {
            flush(&current, &mut hex, &mut out);
            current = None;
            let value: u64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
            let bytes = value.to_be_bytes();
            let first = bytes.iter().position(|b| *b != 0).unwrap();
            out.insert("publicExponent".into(), bytes[first..].to_vec());
        } else if !line.starts_with(' ') && line.ends_with(':') {
            flush(&current, &mut hex, &mut out);
            current = Some(line.trim_end_matches(':').to_owned());
        } else if current.is_some() {
            hex.push_str(line.trim());
        }
    }
    flush(&current, &mut hex, &mut out);
    out
}

#[test]
fn our_system_user_signature_is_exactly_openssls() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    openssl(
        &[
            "genpkey",
            "-algorithm",
            "RSA",
            "-pkeyopt",
            "rsa_keygen_bits:2048",
            "-out",
            "key.pem",
        ],
        d,
    );
    openssl(
        &[
            "rsa",
            "-in",
            "key.pem",
            "-traditional",
            "-out",
            "key-pkcs1.pem",
        ],
        d,
    );
    openssl(&["pkey", "-in", "key.pem", "-pubout", "-out", "pub.pem"], d);

    // 2020-02-14T07:26:47Z, the moment of SuperOffice's documented example claims.
    let at = from_unix_seconds(1_581_665_207);
    let token = Secret::new("SuperOffice DevNet Node OIDC-8k8Q7DmBgo");

    let text =
        String::from_utf8(openssl(&["rsa", "-in", "key.pem", "-text", "-noout"], d)).unwrap();
    let c = components(&text);
    let b64 = |name: &str| STANDARD.encode(&c[name]);
    let xml = format!(
        "<RSAKeyValue><Modulus>{}</Modulus><Exponent>{}</Exponent><P>{}</P><Q>{}</Q><DP>{}</DP><DQ>{}</DQ><InverseQ>{}</InverseQ><D>{}</D></RSAKeyValue>",
        b64("modulus"),
        b64("publicExponent"),
        b64("prime1"),
        b64("prime2"),
        b64("exponent1"),
        b64("exponent2"),
        b64("coefficient"),
        b64("privateExponent"),
    );

    let mut signatures = Vec::new();
    for (form, bytes) in [
        ("PKCS#8 PEM", std::fs::read(d.join("key.pem")).unwrap()),
        (
            "PKCS#1 PEM",
            std::fs::read(d.join("key-pkcs1.pem")).unwrap(),
        ),
        ("RSA XML", xml.into_bytes()),
    ] {
        let key = SystemUserKey::from_bytes(&bytes).unwrap_or_else(|e| panic!("{form}: {e}"));
        assert_eq!(key.bits(), 2048, "{form}");
        let signed = sign_system_token(&key, &token, at).unwrap();
        let (data, sig) = signed.expose().rsplit_once('.').unwrap();
        assert_eq!(
            data, "SuperOffice DevNet Node OIDC-8k8Q7DmBgo.202002140726",
            "{form}"
        );
        signatures.push(STANDARD.decode(sig).unwrap());
    }
    assert!(
        signatures.windows(2).all(|w| w[0] == w[1]),
        "all three key forms sign alike"
    );

    std::fs::write(
        d.join("data.txt"),
        "SuperOffice DevNet Node OIDC-8k8Q7DmBgo.202002140726",
    )
    .unwrap();
    std::fs::write(d.join("sig.bin"), &signatures[0]).unwrap();
    let verified = openssl(
        &[
            "dgst",
            "-sha256",
            "-verify",
            "pub.pem",
            "-signature",
            "sig.bin",
            "data.txt",
        ],
        d,
    );
    assert_eq!(String::from_utf8_lossy(&verified).trim(), "Verified OK");

    let theirs = openssl(&["dgst", "-sha256", "-sign", "key.pem", "data.txt"], d);
    assert_eq!(
        theirs, signatures[0],
        "PKCS#1 v1.5 is deterministic: identical bytes"
    );
}
