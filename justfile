# detcd tasks. Each recipe calls a plain script or cargo command, so nothing here needs `just`.

# Run a simulation scenario: just sim split-brain 42
sim scenario="split-brain" seed="42":
    cargo sim run {{scenario}} --seed {{seed}}

# Every test, both builds (what CI runs)
test:
    scripts/test-all.sh

# A local 3-member detcd cluster on 127.0.0.1 (client 2379/22379/32379, peer 2380/22380/32380)
cluster bin="target/release/detcd":
    scripts/local-cluster.sh {{bin}}

# The same cluster layout with Debian's etcd 3.4.23, for comparison
etcd-cluster:
    scripts/install-test-deps.sh
    scripts/local-cluster.sh /usr/bin/etcd

# Regenerate tests/golden/etcd-3.4.23 from a fresh Debian etcd cluster
golden:
    scripts/etcd-reference.sh
