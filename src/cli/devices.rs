//! `medgpu devices`: every adapter with its limits and features.

use medgpu::gpu::{list_adapters, DeviceOptions};
use medgpu::{Error, Result};

/// Prints the adapters as a table or JSON.
pub fn run(opts: &DeviceOptions, json: bool) -> Result<()> {
    let list = list_adapters(opts)?;
    if list.is_empty() {
        return Err(Error::NoAdapter {
            detail: String::new(),
            hint: "Install a Vulkan driver (on headless Linux: `apt-get install mesa-vulkan-drivers`)".into(),
        });
    }
    if json {
        let s = serde_json::to_string_pretty(&list).map_err(|e| Error::Gpu(e.to_string()))?;
        println!("{s}");
        return Ok(());
    }
    for a in list {
        println!("{} [{}] {} | driver: {} {}", a.name, a.backend, a.device_type, a.driver, a.driver_info);
        for (k, v) in &a.limits {
            println!("    {k:<40} {v}");
        }
        println!("    features: {}", if a.features.is_empty() { "-".into() } else { a.features.join(", ") });
    }
    Ok(())
}
