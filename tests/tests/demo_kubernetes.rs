//! The Kubernetes manifests under `docker/kubernetes/` validate offline against
//! the Kubernetes JSON schemas (the `kubernetes-validate` Python package, which
//! ships them; `pip install -r tests/requirements.txt`), and say what the demo
//! needs: probes on /readyz and /healthz, a grace period to leave in.

use std::path::PathBuf;
use std::process::Command;

use actix_cluster_tests::demo::TempDir;
use actix_cluster_tests::etcd::repo_root;

const KUBERNETES_VERSION: &str = "1.30.0";

fn manifests() -> Vec<PathBuf> {
    let dir = repo_root().join("docker/kubernetes");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .collect();
    files.sort();
    files
}

/// Runs the validator; `Err` carries its output.
fn validate(files: &[PathBuf]) -> Result<String, String> {
    let out = Command::new("python3")
        .args([
            "-m",
            "kubernetes_validate",
            "--strict",
            "-k",
            KUBERNETES_VERSION,
        ])
        .args(files)
        .output()
        .expect("python3 runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        !text.contains("No module named"),
        "the Python package kubernetes-validate is missing: pip install -r tests/requirements.txt\n{text}"
    );
    if out.status.success() {
        Ok(text)
    } else {
        Err(text)
    }
}

#[test]
fn manifests_validate_against_the_kubernetes_schemas() {
    let files = manifests();
    let names: Vec<String> = files
        .iter()
        .map(|f| f.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    for needed in ["backend.yaml", "etcd.yaml", "frontend.yaml"] {
        assert!(
            names.iter().any(|n| n == needed),
            "{needed} missing: {names:?}"
        );
    }
    let report = validate(&files).unwrap_or_else(|e| panic!("invalid manifests:\n{e}"));
    for kind in [
        "deployment/cluster-monitor-frontend",
        "deployment/cluster-monitor-backend",
        "service/cluster-monitor",
        "statefulset/etcd",
        "service/etcd",
    ] {
        assert!(report.contains(kind), "{kind} not validated:\n{report}");
    }
}

#[test]
fn the_validator_rejects_a_broken_manifest() {
    let dir = TempDir::new("k8s");
    let good = std::fs::read_to_string(repo_root().join("docker/kubernetes/backend.yaml")).unwrap();
    let bad = good.replacen(
        "terminationGracePeriodSeconds: 20",
        "terminationGracePeriod: 20",
        1,
    );
    assert_ne!(good, bad);
    let path = dir.0.join("broken.yaml");
    std::fs::write(&path, bad).unwrap();
    assert!(
        validate(&[path]).is_err(),
        "a misspelt field passed validation"
    );
}

#[test]
fn nodes_have_probes_and_time_to_leave() {
    for file in ["frontend.yaml", "backend.yaml"] {
        let text =
            std::fs::read_to_string(repo_root().join("docker/kubernetes").join(file)).unwrap();
        for needed in [
            "readinessProbe:",
            "path: /readyz",
            "livenessProbe:",
            "path: /healthz",
            "terminationGracePeriodSeconds:",
            "ETCD_ENDPOINTS",
            "CLUSTER_ADVERTISE",
        ] {
            assert!(text.contains(needed), "{file} lacks {needed}");
        }
    }
}
