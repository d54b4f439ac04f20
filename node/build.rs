//! Compiles the .proto files under `proto/` without a system `protoc`:
//! `protox` parses them into a FileDescriptorSet, and `madsim-tonic-build`
//! generates prost messages plus tonic servers/clients from it, twice:
//! real code in OUT_DIR and simulated code in OUT_DIR/sim (read by
//! `tonic::include_proto!` under `--cfg madsim`).

use std::path::PathBuf;

use prost::Message;

/// Proto files, relative to `proto/` (also their import names).
const PROTOS: &[&str] = &[
    "mvccpb/kv.proto",
    "authpb/auth.proto",
    "etcdserverpb/rpc.proto",
    "v3lockpb/v3lock.proto",
    "v3electionpb/v3election.proto",
    "detcd/peer.proto",
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let manifest_dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR")?);
    let proto_dir = manifest_dir.join("proto");
    let out_dir = PathBuf::from(std::env::var("OUT_DIR")?);

    // Cargo watches a directory recursively.
    println!("cargo:rerun-if-changed=proto");
    println!("cargo:rerun-if-changed=build.rs");

    let fds = protox::compile(PROTOS, [&proto_dir])?;
    let fds_path = out_dir.join("detcd_descriptor.bin");
    std::fs::write(&fds_path, fds.encode_to_vec())?;

    // With skip_protoc_run, prost-build reads the descriptor set from
    // file_descriptor_set_path and ignores the proto/include arguments.
    let protos: Vec<PathBuf> = PROTOS.iter().map(|p| proto_dir.join(p)).collect();
    tonic_build::configure()
        .build_server(true)
        .build_client(true)
        .emit_rerun_if_changed(false)
        .file_descriptor_set_path(&fds_path)
        .skip_protoc_run()
        .compile_protos(&protos, &[proto_dir])?;
    Ok(())
}
