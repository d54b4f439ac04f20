//! One seed drives everything (STYLE.md habit 1): a run's seed feeds one RNG, which derives a child
//! seed per component in a fixed order. Adding a component appends to the order, so existing child
//! seeds keep their values.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// The seeds of one run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Seeds {
    /// The run's seed, as the user typed it.
    pub run: u64,
    /// madsim's runtime seed (network latency draws, task scheduling).
    pub runtime: u64,
    /// The fault schedule (nemesis draws, flapping partitions, swizzle orders).
    pub faults: u64,
    /// The client workload (each client derives its own from it).
    pub workload: u64,
    /// One per node, in node order: election timeouts.
    pub nodes: Vec<u64>,
}

impl Seeds {
    pub fn derive(run: u64, nodes: usize) -> Seeds {
        let mut rng = StdRng::seed_from_u64(run);
        // Fixed-position children first, then one per node: adding a node never changes the others.
        let runtime = rng.gen();
        let faults = rng.gen();
        let workload = rng.gen();
        let nodes = (0..nodes).map(|_| rng.gen()).collect();
        Seeds { run, runtime, faults, workload, nodes }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_children_and_different_seeds_differ() {
        assert_eq!(Seeds::derive(42, 3), Seeds::derive(42, 3));
        assert_ne!(Seeds::derive(42, 3).nodes, Seeds::derive(43, 3).nodes);
        // Node seeds do not depend on how many nodes follow.
        assert_eq!(Seeds::derive(7, 5).nodes[..3], Seeds::derive(7, 3).nodes[..]);
    }
}
