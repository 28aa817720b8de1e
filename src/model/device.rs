//! Which device runs the model: CUDA, then Metal, then the CPU. Also the
//! CPU thread count and the memory this machine has free.
use candle_core::Device;
use serde::Serialize;

/// The kind of device the engine picked, for the UI and the CLI to report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DeviceKind {
    Cuda,
    Metal,
    Cpu,
}

impl std::fmt::Display for DeviceKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            DeviceKind::Cuda => "cuda",
            DeviceKind::Metal => "metal",
            DeviceKind::Cpu => "cpu",
        })
    }
}

/// The best device this build and machine offer: CUDA (feature `cuda`), then
/// Metal (feature `metal`), then the CPU. `force_cpu` skips the GPUs. A GPU
/// that is compiled in but fails to start falls back to the CPU.
pub fn select_device(force_cpu: bool) -> (Device, DeviceKind) {
    if !force_cpu {
        if candle_core::utils::cuda_is_available() {
            if let Ok(d) = Device::new_cuda(0) {
                return (d, DeviceKind::Cuda);
            }
        }
        if candle_core::utils::metal_is_available() {
            if let Ok(d) = Device::new_metal(0) {
                return (d, DeviceKind::Metal);
            }
        }
    }
    (Device::Cpu, DeviceKind::Cpu)
}

/// The kind of an existing device.
pub fn device_kind(device: &Device) -> DeviceKind {
    if device.is_cuda() {
        DeviceKind::Cuda
    } else if device.is_metal() {
        DeviceKind::Metal
    } else {
        DeviceKind::Cpu
    }
}

/// Set how many CPU threads candle's kernels use. candle sizes its thread
/// pools once, on first use, from `CANDLE_NUM_THREADS`/`RAYON_NUM_THREADS`,
/// so this must run before any model is loaded; later calls have no effect
/// on pools already started. Without it candle uses every physical core.
pub fn set_cpu_threads(n: usize) {
    if n == 0 {
        return;
    }
    // Single-threaded at this point (before candle starts its pools).
    std::env::set_var("CANDLE_NUM_THREADS", n.to_string());
    std::env::set_var("RAYON_NUM_THREADS", n.to_string());
}

/// The number of CPU threads candle will use.
pub fn cpu_threads() -> usize {
    candle_core::utils::get_num_threads()
}

/// Bytes of memory available for new allocations (`MemAvailable` of
/// /proc/meminfo). `None` where that is unknown (non-Linux systems).
pub fn available_memory() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    meminfo_field(&text, "MemAvailable")
}

/// Peak resident memory of this process (`VmHWM` of /proc/self/status).
pub fn peak_rss() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/self/status").ok()?;
    meminfo_field(&text, "VmHWM")
}

/// A `Name:   1234 kB` field of a /proc file, in bytes.
fn meminfo_field(text: &str, name: &str) -> Option<u64> {
    text.lines().find_map(|line| {
        let rest = line.strip_prefix(name)?.strip_prefix(':')?;
        let kb: u64 = rest.trim().trim_end_matches("kB").trim().parse().ok()?;
        Some(kb * 1024)
    })
}

/// `1.23 GiB`-style sizes for messages.
pub fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["B", "KiB", "MiB", "GiB"];
    let mut v = bytes as f64;
    let mut unit = 0;
    while v >= 1024.0 && unit + 1 < UNITS.len() {
        v /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{v:.2} {}", UNITS[unit])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_meminfo_fields() {
        let text = "MemTotal:       16316412 kB\nMemFree:  100 kB\nMemAvailable:    8000 kB\n";
        assert_eq!(meminfo_field(text, "MemAvailable"), Some(8000 * 1024));
        assert_eq!(meminfo_field(text, "MemFree"), Some(100 * 1024));
        assert_eq!(meminfo_field(text, "Missing"), None);
    }

    #[test]
    fn formats_sizes() {
        assert_eq!(human_bytes(512), "512 B");
        assert_eq!(human_bytes(9 * 1024 * 1024 * 1024), "9.00 GiB");
        assert_eq!(human_bytes(1536), "1.50 KiB");
    }

    #[test]
    fn cpu_is_always_available() {
        let (d, kind) = select_device(true);
        assert!(d.is_cpu());
        assert_eq!(kind, DeviceKind::Cpu);
    }
}
