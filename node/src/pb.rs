//! Generated protobuf/gRPC code (see `build.rs` and `proto/`).
//!
//! Modules are siblings named after their proto packages, so prost's
//! cross-package paths (`super::mvccpb::KeyValue`) resolve. In sim builds
//! (`--cfg madsim`) `tonic::include_proto!` reads the simulated services
//! from OUT_DIR/sim instead.

/// etcd `mvccpb`: KeyValue, Event.
#[allow(clippy::all, clippy::pedantic, missing_docs)]
pub mod mvccpb {
    tonic::include_proto!("mvccpb");
}

/// etcd `authpb`: User, Role, Permission.
#[allow(clippy::all, clippy::pedantic, missing_docs)]
pub mod authpb {
    tonic::include_proto!("authpb");
}

/// etcd `etcdserverpb`: KV, Watch, Lease, Cluster, Maintenance, Auth.
#[allow(clippy::all, clippy::pedantic, missing_docs)]
pub mod etcdserverpb {
    tonic::include_proto!("etcdserverpb");
}

/// etcd `v3lockpb`: Lock service.
#[allow(clippy::all, clippy::pedantic, missing_docs)]
pub mod v3lockpb {
    tonic::include_proto!("v3lockpb");
}

/// etcd `v3electionpb`: Election service.
#[allow(clippy::all, clippy::pedantic, missing_docs)]
pub mod v3electionpb {
    tonic::include_proto!("v3electionpb");
}

/// detcd's peer transport (`detcd.peer`): raft messages between members.
#[allow(clippy::all, clippy::pedantic, missing_docs)]
pub mod peer {
    tonic::include_proto!("detcd.peer");
}

#[cfg(test)]
mod tests {
    use super::etcdserverpb::{PutRequest, RangeResponse, ResponseHeader};
    use super::mvccpb::KeyValue;
    use prost::Message;

    #[test]
    fn put_request_wire_bytes() {
        let req = PutRequest {
            key: b"foo".to_vec(),
            value: b"bar".to_vec(),
            ..Default::default()
        };
        let bytes = req.encode_to_vec();
        assert_eq!(
            bytes,
            vec![0x0a, 3, b'f', b'o', b'o', 0x12, 3, b'b', b'a', b'r']
        );
        assert_eq!(PutRequest::decode(bytes.as_slice()).unwrap(), req);
    }

    #[test]
    fn range_response_round_trip() {
        let resp = RangeResponse {
            header: Some(ResponseHeader {
                cluster_id: 7,
                member_id: 1,
                revision: 42,
                raft_term: 3,
            }),
            kvs: vec![KeyValue {
                key: b"k".to_vec(),
                create_revision: 2,
                mod_revision: 41,
                version: 5,
                value: b"v".to_vec(),
                lease: 0x1234,
            }],
            more: true,
            count: 9,
        };
        let bytes = resp.encode_to_vec();
        assert_eq!(RangeResponse::decode(bytes.as_slice()).unwrap(), resp);
    }
}
