//! Configuration (`config.rs`, `Core::new`): validation names the field.

use std::collections::BTreeMap;
use std::time::Duration;

use super::*;
use crate::ConfigError;

#[test]
fn config_validation_names_the_field() {
    for c in [
        Config::lan(),
        Config::wan(),
        Config::local(),
        Config::default(),
    ] {
        assert_eq!(c.validate(), Ok(()));
    }
    type Break = fn(&mut Config);
    let bad: [(Break, &str); 10] = [
        (|c| c.cluster_name = String::new(), "cluster_name"),
        (|c| c.cluster_name = "x".repeat(65), "cluster_name"),
        (
            |c| c.probe_timeout = Duration::from_secs(1),
            "probe_timeout",
        ),
        (|c| c.probe_interval = Duration::ZERO, "probe_interval"),
        (|c| c.gossip_interval = Duration::ZERO, "gossip_interval"),
        (|c| c.max_datagram_size = 100, "max_datagram_size"),
        (|c| c.max_frame_size = 10, "max_frame_size"),
        (|c| c.suspicion_mult = 0, "suspicion_mult"),
        (|c| c.gossip_nodes = 0, "gossip_nodes"),
        (|c| c.tombstone_period = Duration::ZERO, "tombstone_period"),
    ];
    for (change, field) in bad {
        let mut c = Config::lan();
        change(&mut c);
        let err = c.validate().unwrap_err();
        assert_eq!(err.field, field);
        assert!(err.to_string().contains(field), "{err}");
    }
}

#[test]
fn core_new_names_the_field() {
    let mut l = local(0, 1);
    l.metadata = BTreeMap::from([("k".to_owned(), "v".repeat(600))]);
    let e: ConfigError = Core::new(l, Config::lan(), 0).unwrap_err();
    assert_eq!(e.field, "local.metadata");
    let mut l = local(0, 1);
    l.roles = (0..20).map(|i| format!("r{i}")).collect();
    assert_eq!(
        Core::new(l, Config::lan(), 0).unwrap_err().field,
        "local.roles"
    );
    let mut l = local(0, 1);
    l.id = MemberId::new(l.id.name.clone(), ([127, 0, 0, 1], 0).into(), 1);
    assert_eq!(
        Core::new(l, Config::lan(), 0).unwrap_err().field,
        "local.id.addr"
    );
    let cfg = Config {
        cluster_name: String::new(),
        ..Config::lan()
    };
    assert_eq!(
        Core::new(local(0, 1), cfg, 0).unwrap_err().field,
        "cluster_name"
    );
}

#[test]
fn the_push_pull_period_grows_with_the_state_beyond_4096_members() {
    let c = Config::lan();
    let s = Duration::from_secs;
    assert_eq!(c.push_pull_period(10), s(60));
    assert_eq!(c.push_pull_period(100), s(180));
    assert_eq!(c.push_pull_period(1000), s(360));
    assert_eq!(c.push_pull_period(2000), s(420));
    // The two terms meet at 4,096; above, the period follows N, so that
    // the full states' bytes per member and second stay flat.
    assert_eq!(c.push_pull_period(4096), s(480));
    assert_eq!(c.push_pull_period(5000), s(600));
    assert_eq!(c.push_pull_period(10_000), s(1200));
    assert_eq!(c.push_pull_period(20_000), s(2400));
}
