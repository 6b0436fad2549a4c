//! Writing a kubeconfig that points kube-rs and kubectl at the emulator.

use std::path::Path;

use crate::error::{Error, Result};

/// The kubeconfig text for `server_url` (plain `http://...`) with bearer `token`. The token
/// is how the emulator tells clients apart in its byte counters.
pub fn kubeconfig_yaml(server_url: &str, token: &str) -> String {
    // Values are JSON-quoted, which is valid YAML, so odd tokens cannot break the document.
    let q = |s: &str| serde_json::to_string(s).unwrap_or_else(|_| "\"\"".into());
    format!(
        "apiVersion: v1
kind: Config
clusters:
- name: kube-emulator
  cluster:
    server: {server}
contexts:
- name: kube-emulator
  context:
    cluster: kube-emulator
    user: kube-emulator
    namespace: default
current-context: kube-emulator
users:
- name: kube-emulator
  user:
    token: {token}
",
        server = q(server_url),
        token = q(token),
    )
}

/// Writes [`kubeconfig_yaml`] to `path`.
pub fn write_kubeconfig(path: impl AsRef<Path>, server_url: &str, token: &str) -> Result<()> {
    let path = path.as_ref();
    std::fs::write(path, kubeconfig_yaml(server_url, token)).map_err(|source| Error::File {
        path: path.to_path_buf(),
        source,
    })
}
