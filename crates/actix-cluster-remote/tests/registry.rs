//! The cluster registry between loopback nodes.

mod common;

use common::*;

fn members_listed(node: &Node) -> usize {
    listed(node).len()
}

#[test]
fn listings_converge_and_shrink_on_stop_deregister_leave_and_kill() {
    let _g = serial();
    let mut nodes = cluster(4, Some(7));
    let mut actors = Vec::new();
    for node in &nodes {
        let (r, addr) = echo(node, 0);
        let reg = r.clone();
        node.run(move |remote| async move { remote.register(&ECHO, &reg) });
        actors.push((r, addr));
    }
    for node in &nodes {
        wait_until("4 listed everywhere", || members_listed(node) == 4);
    }
    // The actor on n2 stops: it leaves every listing.
    actors[1].1.do_send(Stop);
    for node in &nodes {
        wait_until("3 listed after a stop", || members_listed(node) == 3);
    }
    // n3 deregisters its actor.
    let reg = actors[2].0.clone();
    nodes[2].run(move |remote| async move { remote.deregister(&ECHO, &reg) });
    for node in &nodes {
        wait_until("2 listed after a deregister", || members_listed(node) == 2);
    }
    // n4 leaves, then n1 is the only one listed on n1.
    nodes.pop().expect("n4").stop();
    wait_until("1 listed after a leave", || members_listed(&nodes[0]) == 1);
    // The services map names the members that list a key.
    let services = nodes[0].run(|r| async move {
        r.actor()
            .send(actix_cluster_remote::GetServices {
                include_unreachable: false,
            })
            .await
            .unwrap()
    });
    assert_eq!(services["echo"].len(), 1);
}

#[test]
fn a_killed_members_registrations_leave_after_its_down() {
    let _g = serial();
    let mut nodes = cluster(3, Some(7));
    for node in &nodes {
        let (r, _addr) = echo(node, 0);
        node.run(move |remote| async move {
            // The actor must outlive this closure: keep it served.
            remote.register(&ECHO, &r);
            std::mem::forget(_addr);
        });
    }
    for node in &nodes {
        wait_until("3 listed", || members_listed(node) == 3);
    }
    nodes.pop().expect("n3").kill();
    for node in &nodes {
        wait_until("2 listed after the kill", || members_listed(node) == 2);
    }
}

#[test]
fn a_subscriber_gets_the_listing_at_once_then_every_change() {
    use std::sync::{Arc, Mutex};

    use actix::prelude::*;
    use actix_cluster_remote::Listing;

    struct Sub(Arc<Mutex<Vec<usize>>>);
    impl Actor for Sub {
        type Context = Context<Self>;
    }
    impl Handler<Listing<Ping>> for Sub {
        type Result = ();
        fn handle(&mut self, l: Listing<Ping>, _: &mut Context<Self>) {
            self.0.lock().unwrap().push(l.actors.len());
        }
    }

    let _g = serial();
    let nodes = cluster(2, Some(7));
    let sizes = Arc::new(Mutex::new(Vec::new()));
    {
        let sizes = sizes.clone();
        nodes[0].run(move |r| async move { r.subscribe(&ECHO, Sub(sizes).start().recipient()) });
    }
    wait_until("the first listing", || !sizes.lock().unwrap().is_empty());
    let (r, addr) = echo(&nodes[1], 0);
    nodes[1].run(move |remote| async move { remote.register(&ECHO, &r) });
    wait_until("a listing of one", || {
        sizes.lock().unwrap().last() == Some(&1)
    });
    addr.do_send(Stop);
    wait_until("a listing of none", || {
        sizes.lock().unwrap().last() == Some(&0)
    });
    assert_eq!(*sizes.lock().unwrap(), vec![0, 1, 0]);
}

#[test]
fn a_slow_subscriber_misses_steps_but_never_the_last_listing() {
    use std::sync::{Arc, Mutex};

    use actix::prelude::*;
    use actix_cluster_remote::Listing;

    /// A mailbox of one: most listings of a burst find it full.
    struct Slow(Arc<Mutex<Vec<usize>>>);
    impl Actor for Slow {
        type Context = Context<Self>;
        fn started(&mut self, ctx: &mut Context<Self>) {
            ctx.set_mailbox_capacity(1);
        }
    }
    impl Handler<Listing<Ping>> for Slow {
        type Result = ();
        fn handle(&mut self, l: Listing<Ping>, _: &mut Context<Self>) {
            self.0.lock().unwrap().push(l.actors.len());
        }
    }

    let _g = serial();
    let nodes = cluster(1, Some(7));
    let sizes = Arc::new(Mutex::new(Vec::new()));
    {
        let sizes = sizes.clone();
        nodes[0].run(move |r| async move {
            r.subscribe(&ECHO, Slow(sizes).start().recipient());
            // A burst of registrations in one go: the listing changes ten
            // times before the subscriber reads any.
            for _ in 0..10 {
                let a = r.serve::<Ping, _>(Echo { add: 0 }.start());
                r.register(&ECHO, &a);
            }
        });
    }
    wait_until("the listing of ten", || {
        sizes.lock().unwrap().last() == Some(&10)
    });
}
