use super::*;

const IDLE: Duration = Duration::from_secs(60);

fn client(port: u16) -> SocketAddr {
    SocketAddr::from(([192, 0, 2, 1], port))
}

#[test]
fn a_client_keeps_its_flow_while_active_and_loses_it_once_idle() {
    let t0 = Instant::now();
    let mut table = FlowTable::new(IDLE, 8);
    assert!(table.insert(client(1), "task-a", t0).is_empty());
    assert_eq!(
        table.get(&client(1), t0 + Duration::from_secs(59)),
        Some(&"task-a")
    );
    // The datagram at 59 s restarted the idle clock.
    assert_eq!(
        table.get(&client(1), t0 + Duration::from_secs(100)),
        Some(&"task-a")
    );
    assert_eq!(table.get(&client(1), t0 + Duration::from_secs(160)), None);
    assert_eq!(table.get(&client(2), t0), None);
}

#[test]
fn replies_keep_a_flow_alive() {
    let t0 = Instant::now();
    let mut table = FlowTable::new(IDLE, 8);
    table.insert(client(1), "task-a", t0);
    table.touch(&client(1), t0 + Duration::from_secs(50));
    assert!(table.expire(t0 + Duration::from_secs(70)).is_empty());
    assert_eq!(table.expire(t0 + Duration::from_secs(110)), vec!["task-a"]);
    assert!(table.is_empty());
}

#[test]
fn drain_hands_back_every_flow() {
    let t0 = Instant::now();
    let mut table = FlowTable::new(IDLE, 8);
    table.insert(client(1), "one", t0);
    table.insert(client(2), "two", t0);
    let mut all = table.drain();
    all.sort();
    assert_eq!(all, vec!["one", "two"]);
    assert!(table.is_empty());
}

#[test]
fn expire_removes_only_idle_flows() {
    let t0 = Instant::now();
    let mut table = FlowTable::new(IDLE, 8);
    table.insert(client(1), "old", t0);
    table.insert(client(2), "fresh", t0 + Duration::from_secs(30));
    assert_eq!(table.expire(t0 + Duration::from_secs(60)), vec!["old"]);
    assert_eq!(table.len(), 1);
    assert_eq!(
        table.get(&client(2), t0 + Duration::from_secs(61)),
        Some(&"fresh")
    );
}

#[test]
fn a_full_table_drops_the_least_recently_active_flow() {
    let t0 = Instant::now();
    let mut table = FlowTable::new(IDLE, 2);
    table.insert(client(1), "one", t0);
    table.insert(client(2), "two", t0 + Duration::from_secs(1));
    // Client 1 is active again: client 2 is now the least recent.
    table.get(&client(1), t0 + Duration::from_secs(2));
    let gone = table.insert(client(3), "three", t0 + Duration::from_secs(3));
    assert_eq!(gone, vec!["two"]);
    assert_eq!(table.len(), 2);
    assert_eq!(
        table.get(&client(1), t0 + Duration::from_secs(4)),
        Some(&"one")
    );
    assert_eq!(
        table.get(&client(3), t0 + Duration::from_secs(4)),
        Some(&"three")
    );
}

#[test]
fn a_new_flow_of_a_client_replaces_its_old_one() {
    let t0 = Instant::now();
    let mut table = FlowTable::new(IDLE, 2);
    table.insert(client(1), "first", t0);
    table.insert(client(2), "other", t0);
    assert_eq!(table.insert(client(1), "second", t0), vec!["first"]);
    assert_eq!(table.len(), 2);
    assert_eq!(table.remove_if(&client(1), |f| *f == "first"), None);
    assert_eq!(
        table.remove_if(&client(1), |f| *f == "second"),
        Some("second")
    );
}
