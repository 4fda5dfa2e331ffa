//! A long run keeps GPU and host memory flat: nothing is allocated per step
//! or per epoch. (Its own test binary, so no other test shares the process.)

mod common;
use medgpu::train::{train, DataSource, Hooks, TrainConfig};

#[test]
fn two_hundred_epochs_allocate_nothing_after_the_first() {
    let dir = std::env::temp_dir().join(format!("medgpu-mem-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let cfg = TrainConfig { epochs: 200, batch_size: 64, early_stopping: None, ..TrainConfig::default() };
    let mut logs = Vec::new();
    let hooks = Hooks { progress: &mut |e| logs.push(e.clone()), stop_after_epoch: None };
    train(common::gpu(), &DataSource::builtin("breast_cancer"), &cfg, &dir, false, hooks).unwrap();
    let (first, last) = (&logs[0], &logs[199]);
    eprintln!(
        "GPU buffers: {} bytes at epoch 1, {} at epoch 200; host RSS: {:.1} MB at epoch 1, {:.1} MB at epoch 200",
        first.gpu_bytes,
        last.gpu_bytes,
        first.host_rss_bytes as f64 / 1e6,
        last.host_rss_bytes as f64 / 1e6
    );
    assert_eq!(first.gpu_bytes, last.gpu_bytes, "GPU buffers were created after the first epoch");
    assert!(first.gpu_bytes > 0);
    if first.host_rss_bytes > 0 {
        let growth = last.host_rss_bytes as f64 - first.host_rss_bytes as f64;
        assert!(growth < 8e6, "host memory grew by {:.1} MB over 199 epochs", growth / 1e6);
    }
}
