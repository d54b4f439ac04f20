#[path = "../tests/common/mod.rs"]
mod common;
use common::{generate, EtcdSpec, KvSpec, Shape};
use detcd_check::linearizability::{check, NoDeadline};
use detcd_check::models::etcd::Etcd;
use detcd_check::models::kv_append::KvAppend;
use rand::{rngs::StdRng, SeedableRng};
fn main() {
    let args: Vec<String> = std::env::args().collect();
    let n: usize = args[1].parse().unwrap();
    let clients: usize = args[2].parse().unwrap();
    let to: f64 = args[3].parse().unwrap();
    let which = &args[4];
    for seed in 0..3 {
        let shape = Shape { clients, operations: n, timeout_chance: to };
        let t = std::time::Instant::now();
        let v = if which == "etcd" {
            let h = generate(&EtcdSpec { keys: 10 }, shape, &mut StdRng::seed_from_u64(seed));
            check(&Etcd, &h, &NoDeadline)
        } else {
            let h = generate(&KvSpec { keys: 10 }, shape, &mut StdRng::seed_from_u64(seed));
            check(&KvAppend, &h, &NoDeadline)
        };
        println!("seed {seed}: {:?} {}", t.elapsed(), v.exit_code());
    }
}
