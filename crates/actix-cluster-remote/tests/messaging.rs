//! Tell, ask and references between loopback nodes.

mod common;

use std::sync::{Arc, Mutex};

use actix::prelude::*;
use actix_cluster_remote::{AskError, RemoteRef};
use common::*;

#[test]
fn tell_and_ask_both_ways_between_keyed_nodes() {
    let _g = serial();
    let nodes = cluster(2, Some(7));
    let refs: Vec<RemoteRef<Ping>> = nodes
        .iter()
        .enumerate()
        .map(|(i, n)| {
            n.run(move |r| async move {
                r.serve(
                    Echo {
                        add: 100 * i as u64,
                    }
                    .start(),
                )
            })
        })
        .collect();
    for (from, to) in [(0, 1), (1, 0), (0, 0)] {
        let target = refs[to].clone();
        let answer = nodes[from].run(move |r| async move { r.ask(&target, Ping(5)).await });
        assert_eq!(answer, Ok(5 + 100 * to as u64), "ask from n{from} to n{to}");
    }
    let stats = nodes[0].remote.stats();
    assert!(stats.sent_messages >= 1 && stats.received_messages >= 1);
}

#[test]
fn a_hundred_thousand_tells_arrive_in_order() {
    let _g = serial();
    let nodes = cluster(2, Some(7));
    let seen = Arc::new(Mutex::new(Vec::new()));
    let target = {
        let seen = seen.clone();
        nodes[1].run(move |r| async move {
            let remote = r.clone();
            r.serve::<Numbered, _>(Collector { seen, remote }.start())
        })
    };
    const N: u64 = 100_000;
    nodes[0].run(move |r| async move {
        let mut i = 0;
        while i < N {
            match r.tell(&target, Numbered(i)) {
                Ok(()) => i += 1,
                // The lane is bounded: back off and resend the same number.
                Err(AskError::QueueFull) => {
                    actix_rt::time::sleep(std::time::Duration::from_millis(1)).await
                }
                Err(e) => panic!("tell {i}: {e}"),
            }
        }
    });
    wait_until("every tell", || seen.lock().unwrap().len() as u64 == N);
    let seen = seen.lock().unwrap();
    assert!(seen.iter().copied().eq(0..N), "tells arrived out of order");
}

#[test]
fn a_reference_sent_inside_a_message_is_usable_by_its_receiver() {
    let _g = serial();
    let nodes = cluster(2, Some(7));
    let seen = Arc::new(Mutex::new(Vec::new()));
    let collector = {
        let seen = seen.clone();
        nodes[0].run(move |r| async move {
            let remote = r.clone();
            r.serve::<Numbered, _>(Collector { seen, remote }.start())
        })
    };
    let counter: RemoteRef<CountTo> = nodes[1].run(move |r| async move {
        let remote = r.clone();
        let seen = Arc::new(Mutex::new(Vec::new()));
        r.serve::<CountTo, _>(Collector { seen, remote }.start())
    });
    nodes[0]
        .run(move |r| async move {
            r.tell(
                &counter,
                CountTo {
                    reply_to: collector,
                    n: 10,
                },
            )
        })
        .unwrap();
    wait_until("ten numbers back", || seen.lock().unwrap().len() == 10);
    assert_eq!(*seen.lock().unwrap(), (0..10).collect::<Vec<_>>());
}

#[test]
fn a_function_served_for_tells_gets_them_in_order_refuses_asks_and_goes_when_dead() {
    use std::sync::atomic::{AtomicBool, Ordering};

    let _g = serial();
    let nodes = cluster(2, Some(7));
    let seen: Arc<Mutex<Vec<(u64, bool)>>> = Arc::default();
    let alive = Arc::new(AtomicBool::new(true));
    let target = {
        let (seen, alive) = (seen.clone(), alive.clone());
        nodes[1].run(move |r| async move {
            r.serve_tells::<Numbered, _, _>(
                move || alive.load(Ordering::Relaxed),
                move |Numbered(n), local| {
                    seen.lock().unwrap().push((n, local));
                    None
                },
            )
        })
    };
    // From the other member, then from its own: each in order, each marked.
    let t = target.clone();
    nodes[0].run(move |r| async move {
        for i in 0..100 {
            r.tell(&t, Numbered(i)).expect("queued");
        }
    });
    wait_until("the remote hundred", || seen.lock().unwrap().len() == 100);
    let t = target.clone();
    nodes[1].run(move |r| async move {
        for i in 100..200 {
            r.tell(&t, Numbered(i)).expect("delivered");
        }
    });
    let got = seen.lock().unwrap().clone();
    let expected: Vec<(u64, bool)> = (0..200).map(|i| (i, i >= 100)).collect();
    assert_eq!(got, expected);
    // Tells only: an ask is refused.
    let t = target.clone();
    let asked = nodes[0].run(move |r| async move { r.ask(&t, Numbered(0)).await });
    assert!(matches!(asked, Err(AskError::Rejected(_))), "{asked:?}");
    // Once `alive` answers false it is gone like a stopped actor.
    alive.store(false, Ordering::Relaxed);
    wait_until("gone", || {
        let t = target.clone();
        nodes[1].run(move |r| async move { r.tell(&t, Numbered(0)) }) == Err(AskError::NoSuchActor)
    });
}
