//! `--tls-config` validates as exporter-toolkit does: the same web configurations are accepted
//! and refused by `promtool check web-config` (exporter-toolkit itself) and by ours, and the
//! few deliberate differences (SECURITY.md) are pinned here.

use std::path::Path;
use std::process::Command;

use kube_state_otel::http::web_config::WebSettings;

mod harness;
use harness::which;

mod pki;
use pki::TestCa;

/// `promtool check web-config`'s verdict, with what it said.
fn promtool(path: &Path) -> (bool, String) {
    let output = Command::new(which("promtool"))
        .args(["check", "web-config"])
        .arg(path)
        .output()
        .expect("promtool runs");
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.success(), said)
}

/// The certificate files the cases name, beside them.
fn files(dir: &Path) {
    let ca = TestCa::new();
    let server = ca.issue(&["localhost"]);
    let other = ca.issue(&["other"]);
    for (name, text) in [
        ("tls.crt", server.cert_pem()),
        ("tls.key", server.key_pem()),
        ("other.key", other.key_pem()),
        ("ca.crt", ca.pem()),
        ("garbage.pem", "not a certificate\n".to_string()),
    ] {
        std::fs::write(dir.join(name), text).expect("written");
    }
}

const TLS: &str = "tls_server_config:\n  cert_file: tls.crt\n  key_file: tls.key\n";

fn cases() -> Vec<(&'static str, String)> {
    let hash = bcrypt::hash("secret", 4).expect("bcrypt");
    let tls = |extra: &str| format!("{TLS}{extra}");
    vec![
        ("empty", String::new()),
        ("tls", tls("")),
        ("cert only", "tls_server_config:\n  cert_file: tls.crt\n".into()),
        ("key only", "tls_server_config:\n  key_file: tls.key\n".into()),
        (
            "missing cert file",
            "tls_server_config:\n  cert_file: nope.crt\n  key_file: tls.key\n".into(),
        ),
        (
            "key of another certificate",
            "tls_server_config:\n  cert_file: tls.crt\n  key_file: other.key\n".into(),
        ),
        ("unknown key", tls("  certfile: x\n")),
        ("unknown section", "tls_config: {}\n".into()),
        ("bogus client auth", tls("  client_auth_type: Bogus\n")),
        ("client CA without auth type", tls("  client_ca_file: ca.crt\n")),
        (
            "verified client certs",
            tls("  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: ca.crt\n"),
        ),
        ("any client cert", tls("  client_auth_type: RequireAnyClientCert\n")),
        ("request client cert", tls("  client_auth_type: RequestClientCert\n")),
        ("TLS 1.3 only", tls("  min_version: TLS13\n")),
        ("unknown version", tls("  min_version: TLS14\n")),
        (
            "an ECDHE suite",
            tls("  cipher_suites: [TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256]\n"),
        ),
        ("unknown suite", tls("  cipher_suites: [TLS_FAKE_SUITE]\n")),
        ("curves", tls("  curve_preferences: [CurveP256, X25519]\n")),
        ("unknown curve", tls("  curve_preferences: [CurveFake]\n")),
        ("prefer server suites", tls("  prefer_server_cipher_suites: false\n")),
        (
            "headers",
            "http_server_config:\n  headers:\n    X-Frame-Options: deny\n    Strict-Transport-Security: max-age=31536000\n".into(),
        ),
        (
            "a header not allowed",
            "http_server_config:\n  headers:\n    Server: x\n".into(),
        ),
        (
            "a value not allowed",
            "http_server_config:\n  headers:\n    X-Content-Type-Options: sniff\n".into(),
        ),
        ("no http2", "http_server_config:\n  http2: false\n".into()),
        ("users", format!("basic_auth_users:\n  alice: '{hash}'\n")),
        ("a plain password", "basic_auth_users:\n  alice: secret\n".into()),
        (
            "users with TLS",
            tls(&format!("basic_auth_users:\n  alice: '{hash}'\n")),
        ),
    ]
}

#[test]
fn we_accept_and_refuse_what_exporter_toolkit_does() {
    let dir = tempfile::tempdir().expect("temp dir");
    files(dir.path());
    let mut disagreements = Vec::new();
    for (name, text) in cases() {
        let path = dir.path().join("web.yml");
        std::fs::write(&path, &text).expect("written");
        let (theirs, said) = promtool(&path);
        let ours = WebSettings::load(&path);
        if theirs != ours.is_ok() {
            disagreements.push(format!(
                "{name}: promtool {theirs} ({said}), ours {:?}\n{text}",
                ours.err().map(|e| e.to_string())
            ));
        }
    }
    assert!(
        disagreements.is_empty(),
        "{}",
        disagreements.join("\n---\n")
    );
}

/// Where rustls cannot do what Go does, or where the setting could not work, we refuse what
/// exporter-toolkit accepts (SECURITY.md).
#[test]
fn the_deliberate_differences_are_refusals_with_reasons() {
    let dir = tempfile::tempdir().expect("temp dir");
    files(dir.path());
    for (text, reason) in [
        (
            format!("{TLS}  min_version: TLS10\n  max_version: TLS11\n"),
            "no TLS version left to serve",
        ),
        (
            format!("{TLS}  min_version: TLS13\n  max_version: TLS12\n"),
            "min_version is above max_version",
        ),
        (
            format!("{TLS}  curve_preferences: [CurveP521]\n"),
            "none of the curves is supported",
        ),
        (
            format!(
                "{TLS}  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: garbage.pem\n"
            ),
            "no PEM certificate",
        ),
    ] {
        let path = dir.path().join("web.yml");
        std::fs::write(&path, &text).expect("written");
        let (theirs, said) = promtool(&path);
        assert!(
            theirs,
            "promtool refuses it too, no difference left: {said}\n{text}"
        );
        match WebSettings::load(&path) {
            Ok(_) => panic!("accepted:\n{text}"),
            Err(error) => assert!(error.to_string().contains(reason), "{error}"),
        }
    }
}
