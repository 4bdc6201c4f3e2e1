//! The base image build takes its Debian mirror from the host's apt
//! configuration (`docker/base/build-base.sh --print-mirror` prints the
//! mirror and the security mirror it would use; nothing is built).

use std::path::Path;
use std::process::Command;

use actix_cluster_tests::demo::TempDir;

/// The two mirrors the script picks with `apt_dir` as the host's /etc/apt and
/// the given environment.
fn picked(apt_dir: &Path, env: &[(&str, &str)]) -> Vec<String> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docker/base/build-base.sh");
    let out = Command::new("bash")
        .arg(script)
        .arg("--print-mirror")
        .env("APT_DIR", apt_dir)
        .env_remove("DEBIAN_MIRROR")
        .env_remove("DEBIAN_SECURITY_MIRROR")
        .envs(env.iter().copied())
        .output()
        .expect("bash runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_owned)
        .collect()
}

fn write(dir: &Path, name: &str, text: &str) {
    let path = dir.join(name);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

#[test]
fn without_apt_sources_the_default_mirror_is_used() {
    let apt = TempDir::new("apt-none");
    assert_eq!(
        picked(&apt.0, &[]),
        [
            "http://deb.debian.org/debian",
            "http://deb.debian.org/debian-security"
        ]
    );
}

#[test]
fn a_one_line_sources_list_gives_its_mirrors() {
    let apt = TempDir::new("apt-list");
    write(
        &apt.0,
        "sources.list",
        "# deb http://commented.example/debian bookworm main\n\
         deb-src http://source.example/debian bookworm main\n\
         deb [arch=amd64 signed-by=/k.gpg] http://mirror.example/debian/ bookworm main\n\
         deb http://mirror.example/debian-security bookworm-security main\n",
    );
    assert_eq!(
        picked(&apt.0, &[]),
        [
            "http://mirror.example/debian",
            "http://mirror.example/debian-security"
        ]
    );
}

#[test]
fn deb822_sources_give_the_enabled_debian_mirror() {
    let apt = TempDir::new("apt-deb822");
    write(
        &apt.0,
        "sources.list.d/other.sources",
        "Types: deb\nURIs: https://vendor.example/apt\nSuites: nodistro\nComponents: main\n",
    );
    write(
        &apt.0,
        "sources.list.d/debian.sources",
        "Types: deb\nEnabled: no\nURIs: http://off.example/debian\nSuites: bookworm\n\n\
         Types: deb\n# a comment\nURIs: http://local.example/debian\n\
         Suites: bookworm bookworm-updates\nComponents: main\n",
    );
    assert_eq!(
        picked(&apt.0, &[]),
        [
            "http://local.example/debian",
            "http://deb.debian.org/debian-security"
        ]
    );
}

#[test]
fn debian_mirror_overrides_the_host() {
    let apt = TempDir::new("apt-override");
    write(
        &apt.0,
        "sources.list",
        "deb http://mirror.example/debian bookworm main\n",
    );
    assert_eq!(
        picked(&apt.0, &[("DEBIAN_MIRROR", "http://given.example/debian")])[0],
        "http://given.example/debian"
    );
}
