//! madsim's own determinism check (`MADSIM_TEST_CHECK_DETERMINISM=1`, set by scripts/test-all.sh)
//! over a full split-brain run with clients: it replays each seed and compares every random draw
//! and scheduling decision. `MADSIM_TEST_SEED` / `MADSIM_TEST_NUM` pick the seeds.
#![cfg(madsim)]

use detcd_node::config::RaftTiming;
use detcd_sim::cluster::SimCluster;
use detcd_sim::faults::Schedule;
use detcd_sim::inject::Injector;
use detcd_sim::scenario::find;
use detcd_sim::seeds::Seeds;
use detcd_sim::workload;
use std::time::Duration;

#[madsim::test]
async fn split_brain_with_clients_is_deterministic() {
    let s = find("split-brain").unwrap();
    let seeds = Seeds::derive(madsim::runtime::Handle::current().seed(), s.nodes);
    let cluster = SimCluster::start(&seeds.nodes, RaftTiming::default());
    let w = s.workload.clone().unwrap();
    let clients = workload::start(&w, seeds.workload, s.nodes, cluster.start_instant(), Duration::from_secs(11));
    let mut injector = Injector::new(&cluster);
    for (at, action) in &Schedule::compile(&s, seeds.faults).steps {
        madsim::time::sleep(at.saturating_sub(cluster.elapsed())).await;
        injector.apply(action);
    }
    madsim::time::sleep(s.duration().saturating_sub(cluster.elapsed())).await;
    let history = clients.finish().await;
    assert!(history.all().count() > 100, "the clients ran");
}
