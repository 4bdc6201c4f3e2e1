//! Death watch between loopback nodes: exactly one `Terminated` per watch.

mod common;

use actix_cluster::DownReason;
use actix_cluster_remote::TerminatedReason;
use common::*;

fn reasons(
    seen: &std::sync::Mutex<Vec<actix_cluster_remote::Terminated>>,
) -> Vec<TerminatedReason> {
    seen.lock().unwrap().iter().map(|t| t.reason).collect()
}

#[test]
fn terminated_exactly_once_for_a_stop_and_then_for_a_leave() {
    let _g = serial();
    let mut nodes = cluster(2, Some(7));
    let (a1, addr1) = echo(&nodes[1], 0);
    let (a2, _addr2) = echo(&nodes[1], 0);
    let (seen1, _) = watch(&nodes[0], &a1);
    let (seen2, _) = watch(&nodes[0], &a2);
    addr1.do_send(Stop);
    wait_until("Terminated for the stopped actor", || {
        seen1.lock().unwrap().len() == 1
    });
    assert_eq!(seen1.lock().unwrap()[0].reference, *a1.addr());
    nodes.pop().expect("n2").stop();
    wait_until("Terminated for the leave", || {
        seen2.lock().unwrap().len() == 1
    });
    assert_eq!(
        reasons(&seen2),
        [TerminatedReason::MemberDown(DownReason::Left)]
    );
    // The member's Down did not fire the first watch a second time.
    assert_eq!(reasons(&seen1), [TerminatedReason::Stopped]);
    // Watching an actor of the member that left answers at once, saying so.
    let (again, _) = watch(&nodes[0], &a2);
    wait_until("Terminated at once", || again.lock().unwrap().len() == 1);
    assert_eq!(
        reasons(&again),
        [TerminatedReason::MemberDown(DownReason::Left)]
    );
}

#[test]
fn terminated_once_for_a_killed_member_and_at_once_when_already_gone() {
    let _g = serial();
    // Three, so that the survivors are a majority and the downing decision
    // downs the killed one (two alone are a tie the lower address wins).
    let mut nodes = cluster(3, Some(7));
    let (a, _addr) = echo(&nodes[2], 0);
    std::mem::forget(_addr);
    let (seen, _) = watch(&nodes[0], &a);
    nodes.pop().expect("n3").kill();
    wait_until("Terminated for the kill", || {
        seen.lock().unwrap().len() == 1
    });
    assert_eq!(
        reasons(&seen),
        [TerminatedReason::MemberDown(DownReason::Failed)]
    );
    // Watching it again answers at once.
    let (again, _) = watch(&nodes[0], &a);
    wait_until("Terminated at once", || again.lock().unwrap().len() == 1);
    assert_eq!(seen.lock().unwrap().len(), 1);
}

#[test]
fn a_local_watch_and_an_unwatch() {
    let _g = serial();
    let nodes = cluster(2, Some(7));
    let (local, local_addr) = echo(&nodes[0], 0);
    let (remote, remote_addr) = echo(&nodes[1], 0);
    let (seen_local, _) = watch(&nodes[0], &local);
    let (seen_unwatched, id) = watch(&nodes[0], &remote);
    nodes[0].run(move |r| async move { r.unwatch(id) });
    // A third watch on the same remote actor tells when its stop got here.
    let (seen_remote, _) = watch(&nodes[0], &remote);
    local_addr.do_send(Stop);
    remote_addr.do_send(Stop);
    wait_until("local Terminated", || seen_local.lock().unwrap().len() == 1);
    wait_until("remote Terminated", || {
        seen_remote.lock().unwrap().len() == 1
    });
    assert!(
        seen_unwatched.lock().unwrap().is_empty(),
        "an unwatched watch fired"
    );
}
