//! Raft elections in the simulated cluster.
#![cfg(madsim)]

use detcd_node::events::Role;
use detcd_sim::eventlog::Entry;
use detcd_sim::run::run_log;
use detcd_sim::scenario::find;
use std::collections::BTreeMap;
use std::time::Duration;

/// With no faults, a leader is elected within 1.5 s of simulated time (five maximal election
/// timeouts) for every seed in 1..=50, and never two leaders in one term.
#[test]
fn leader_is_elected_within_bound_for_seeds_1_to_50() {
    let s = find("happy-path").unwrap();
    for seed in 1..=50 {
        let log = run_log(&s, seed);
        let first = log.lines.iter().find(|(_, e)| matches!(e, Entry::Role { role: Role::Leader, .. }));
        let Some((at, _)) = first else { panic!("seed {seed}: no leader in {:?}\n{}", s.duration(), log.render()) };
        assert!(*at < Duration::from_millis(1500), "seed {seed}: first leader only at {at:?}\n{}", log.render());
        assert_one_leader_per_term(seed, &log.lines);
    }
}

fn assert_one_leader_per_term(seed: u64, lines: &[(Duration, Entry)]) {
    let mut leaders = BTreeMap::new();
    for (_, e) in lines {
        if let Entry::Role { node, term, role: Role::Leader, .. } = e {
            let prev = leaders.insert(*term, *node);
            assert!(prev.is_none() || prev == Some(*node), "seed {seed}: two leaders in term {term:?}: n{} and n{}", prev.unwrap() + 1, node + 1);
        }
    }
}

/// split-brain: the isolated old leader steps down, the majority elects a new leader in a higher
/// term while the partition lasts, and after healing the old leader follows the new one.
#[test]
fn split_brain_majority_elects_new_leader_and_old_leader_steps_down() {
    let s = find("split-brain").unwrap();
    for seed in [42, 1, 2, 3] {
        let log = run_log(&s, seed);
        let story = log.render();
        let (isolated_at, old) = log
            .lines
            .iter()
            .find_map(|(at, e)| match e {
                Entry::Fault(f) if f.starts_with("isolate the leader with a minority: [n") => Some((*at, f.clone())),
                _ => None,
            })
            .unwrap_or_else(|| panic!("seed {seed}: no isolation\n{story}"));
        let digits: String = old["isolate the leader with a minority: [n".len()..].chars().take_while(char::is_ascii_digit).collect();
        let old_node: usize = digits.parse::<usize>().unwrap() - 1;
        let old_term = log
            .lines
            .iter()
            .filter(|(at, _)| *at < isolated_at)
            .rev()
            .find_map(|(_, e)| match e {
                Entry::Role { node, term, role: Role::Leader, .. } if *node == old_node => Some(*term),
                _ => None,
            })
            .unwrap_or_else(|| panic!("seed {seed}: isolated node was not leader\n{story}"));
        let heal_at = Duration::from_secs(8);
        let new_leader = log.lines.iter().find_map(|(at, e)| match e {
            Entry::Role { node, term, role: Role::Leader, .. } if *at > isolated_at && *at < heal_at && *node != old_node => {
                Some((*node, *term))
            }
            _ => None,
        });
        let (new_node, new_term) = new_leader.unwrap_or_else(|| panic!("seed {seed}: majority elected no leader\n{story}"));
        assert!(new_term > old_term, "seed {seed}: new leader's term must be higher\n{story}");
        let roles = log.latest_roles();
        let (t, role, leader) = roles[&old_node];
        assert_eq!(role, Role::Follower, "seed {seed}: old leader did not step down\n{story}");
        assert!(t >= new_term, "seed {seed}: old leader still in an old term\n{story}");
        assert_eq!(leader, Some(new_node), "seed {seed}: old leader does not follow the new one\n{story}");
        assert_one_leader_per_term(seed, &log.lines);
    }
}
