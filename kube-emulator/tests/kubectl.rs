//! kubectl smoke test. kubectl must be installed at /usr/bin/kubectl (or $KUBECTL): a missing
//! kubectl fails the test rather than skipping it.

mod common;

use std::path::{Path, PathBuf};

use common::Server;
use kube_emulator::{Emulator, GeneratedCluster, write_kubeconfig};

fn kubectl_path() -> PathBuf {
    let p = std::env::var_os("KUBECTL")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/kubectl"));
    assert!(
        p.exists(),
        "kubectl not found at {} (set KUBECTL)",
        p.display()
    );
    p
}

async fn kubectl(home: &Path, kubeconfig: &Path, args: &[&str]) -> (bool, String, String) {
    let out = tokio::process::Command::new(kubectl_path())
        .arg("--kubeconfig")
        .arg(kubeconfig)
        .arg("--cache-dir")
        .arg(home.join("cache"))
        .args(args)
        .env("HOME", home)
        .env_remove("KUBECONFIG")
        .output()
        .await
        .expect("run kubectl");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_get_create_delete() {
    let cluster = GeneratedCluster::new(4, 5, 11);
    let s = Server::start(Emulator::with_cluster(&cluster)).await;
    let dir = tempfile::tempdir().unwrap();
    let kc = dir.path().join("kubeconfig");
    write_kubeconfig(&kc, &s.handle.url(), "kubectl-user").unwrap();
    let home = dir.path();

    let (ok, out, err) = kubectl(home, &kc, &["get", "pods", "-A"]).await;
    assert!(ok, "{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert!(
        lines[0].starts_with("NAMESPACE") && lines[0].contains("STATUS"),
        "{out}"
    );
    assert_eq!(lines.len(), 1 + 20, "{out}");

    let (ok, out, err) = kubectl(home, &kc, &["get", "nodes"]).await;
    assert!(ok, "{err}");
    assert_eq!(out.lines().count(), 1 + 4, "{out}");
    assert!(out.contains("control-plane"), "{out}");

    let (ok, out, err) = kubectl(home, &kc, &["get", "deploy", "-A", "-o", "json"]).await;
    assert!(ok, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let items = v["items"].as_array().unwrap();
    assert_eq!(items.len(), s.emu.count("deployments").unwrap());
    assert_eq!(items[0]["kind"], "Deployment");

    let (ok, out, err) = kubectl(home, &kc, &["get", "rs,ns", "-A", "--chunk-size=2"]).await;
    assert!(ok, "{err}");
    assert!(
        out.contains("replicaset.apps/") && out.contains("namespace/kube-system"),
        "{out}"
    );

    let manifest = dir.path().join("cm.yaml");
    std::fs::write(
        &manifest,
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: from-kubectl\n  namespace: default\ndata:\n  k: v\n",
    )
    .unwrap();
    let m = manifest.to_str().unwrap();
    let (ok, out, err) = kubectl(home, &kc, &["create", "--validate=false", "-f", m]).await;
    assert!(ok, "{err}");
    assert!(out.contains("configmap/from-kubectl created"), "{out}");
    assert!(
        s.emu
            .get("configmaps", Some("default"), "from-kubectl")
            .unwrap()
            .is_some()
    );
    let (ok, _, err) = kubectl(home, &kc, &["label", "configmap", "from-kubectl", "x=y"]).await;
    assert!(ok, "{err}");
    let (ok, out, err) = kubectl(
        home,
        &kc,
        &[
            "get",
            "cm",
            "from-kubectl",
            "-o",
            "jsonpath={.metadata.labels.x}",
        ],
    )
    .await;
    assert!(ok, "{err}");
    assert_eq!(out, "y");
    let (ok, out, err) = kubectl(home, &kc, &["delete", "-f", m]).await;
    assert!(ok, "{err}");
    assert!(out.contains("deleted"), "{out}");
    let (ok, _, err) = kubectl(home, &kc, &["get", "cm", "from-kubectl"]).await;
    assert!(!ok && err.contains("NotFound"), "{err}");

    // client-go only sends credentials over TLS, so kubectl counts as anonymous here.
    let stats = s.emu.stats();
    assert!(stats.get("anonymous", "pods").list_requests >= 1);
}
