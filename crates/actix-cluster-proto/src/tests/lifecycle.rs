//! The local member's lifecycle (`core/lifecycle.rs`): forming.

use super::solo::*;
use super::*;

#[test]
fn form_emits_events_about_self() {
    let mut s = Solo::new(Config::lan());
    assert_eq!(kinds(&s.take_events()), ["joined n0", "up n0", "leader n0"]);
    let me = s.core.member(&id(0, 1)).unwrap();
    assert_eq!(
        (me.status, me.incarnation, me.reachable),
        (Status::Up, 1, true)
    );
    assert_eq!(s.core.members().len(), 1);
}
