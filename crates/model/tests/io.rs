//! Parameters round-trip through safetensors; bad files are clear errors.

use model::{Config, Transformer};
use tensor::{DType, Device};

#[test]
fn save_load_round_trip_and_errors() {
    let dir = std::env::temp_dir().join(format!("st-io-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("tiny.safetensors");
    let a = Transformer::new(Config::tiny(), DType::F32, Device::Cpu).unwrap();
    a.save(&path).unwrap();
    let b = Transformer::new(Config { seed: 99, ..Config::tiny() }, DType::F32, Device::Cpu).unwrap();
    b.load(&path).unwrap();
    for (p, q) in a.params().iter().zip(b.params()) {
        assert_eq!(p.var.value().to_vec::<f32>().unwrap(), q.var.value().to_vec::<f32>().unwrap(), "{}", p.name);
    }
    // A model of another shape: the error names the file and the tensor.
    let c = Transformer::new(Config { d_model: 32, d_qk: 32, ..Config::tiny() }, DType::F32, Device::Cpu).unwrap();
    let e = c.load(&path).unwrap_err().to_string();
    assert!(e.contains("tiny.safetensors") && e.contains("has shape"), "{e}");
    // A truncated file.
    let bytes = std::fs::read(&path).unwrap();
    let bad = dir.join("truncated.safetensors");
    std::fs::write(&bad, &bytes[..bytes.len() / 2]).unwrap();
    let e = b.load(&bad).unwrap_err().to_string();
    assert!(e.contains("truncated.safetensors") && e.contains("not a valid safetensors"), "{e}");
    let e = b.load(&dir.join("missing.safetensors")).unwrap_err().to_string();
    assert!(e.contains("missing.safetensors"), "{e}");
    std::fs::remove_dir_all(&dir).unwrap();
}
