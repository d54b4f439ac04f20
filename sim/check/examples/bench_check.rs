fn main() {
    let f = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/testdata/porcupine/kv/c01-ok.txt");
    let text = std::fs::read_to_string(&f).unwrap();
    for _ in 0..3 {
        let t = std::time::Instant::now();
        let h = detcd_check::formats::porcupine_kv::parse(&text).unwrap();
        let t1 = t.elapsed();
        let v = detcd_check::linearizability::check(&detcd_check::models::kv_append::KvAppend, &h, &detcd_check::linearizability::NoDeadline);
        println!("parse {:?} check {:?} {:?}", t1, t.elapsed() - t1, v.exit_code());
    }
}
