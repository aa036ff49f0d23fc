//! Every configuration in `configs/` parses and names a valid preset (the data path pointed at
//! a file that exists, since CI has no datasets).

#[test]
fn every_shipped_config_parses() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../configs");
    let exists = std::env::temp_dir();
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).unwrap().flatten() {
        let path = entry.path();
        if path.extension().is_some_and(|e| e == "toml") {
            let set = vec![format!("data.path=\"{}\"", exists.display())];
            let cfg = trainer::config::RunConfig::load(&path, &set).unwrap_or_else(|e| panic!("{e}"));
            cfg.model_config().validate().unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            n += 1;
        }
    }
    assert!(n >= 7, "{n} configs");
}
