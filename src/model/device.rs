//! Which device runs the model: the user's choice, or CUDA, then Metal, then
//! the CPU. Also the CPU thread count and the memory the device has free.
use std::str::FromStr;

use candle_core::Device;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

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

/// The device the user asks for: `auto`, `cpu`, `cuda` (`cuda:N` for the
/// Nth GPU) or `metal`. Written the same way in settings and on the command
/// line (`--device`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DeviceChoice {
    /// The best available: CUDA, then Metal, then the CPU.
    #[default]
    Auto,
    Cpu,
    Cuda(usize),
    Metal,
}

impl std::fmt::Display for DeviceChoice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DeviceChoice::Auto => f.write_str("auto"),
            DeviceChoice::Cpu => f.write_str("cpu"),
            DeviceChoice::Cuda(0) => f.write_str("cuda"),
            DeviceChoice::Cuda(n) => write!(f, "cuda:{n}"),
            DeviceChoice::Metal => f.write_str("metal"),
        }
    }
}

impl FromStr for DeviceChoice {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim().to_ascii_lowercase();
        match s.as_str() {
            "auto" => Ok(DeviceChoice::Auto),
            "cpu" => Ok(DeviceChoice::Cpu),
            "cuda" | "gpu" => Ok(DeviceChoice::Cuda(0)),
            "metal" => Ok(DeviceChoice::Metal),
            _ => match s.strip_prefix("cuda:").map(str::parse::<usize>) {
                Some(Ok(n)) => Ok(DeviceChoice::Cuda(n)),
                _ => Err(format!(
                    "unknown device `{s}`: use auto, cpu, cuda, cuda:N (the Nth GPU) or metal"
                )),
            },
        }
    }
}

impl Serialize for DeviceChoice {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for DeviceChoice {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

/// Why the device asked for cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DeviceError {
    #[error(
        "this build of ReportLens has no {0} support; build it with `./dev cuda` (NVIDIA) or \
         `--features metal` (Apple), or choose the CPU"
    )]
    NotBuilt(&'static str),
    #[error("{device} is not available: {reason}; choose another device or the CPU")]
    Unavailable { device: String, reason: String },
}

/// The device for `choice`. `Auto` takes the best this build and machine
/// offer (CUDA with feature `cuda`, then Metal with feature `metal`, then
/// the CPU), falling back past a GPU that fails to start; an explicit GPU
/// that is missing is an error, never a silent CPU run.
pub fn select_device(choice: DeviceChoice) -> Result<(Device, DeviceKind), DeviceError> {
    match choice {
        DeviceChoice::Cpu => Ok((Device::Cpu, DeviceKind::Cpu)),
        DeviceChoice::Auto => {
            if candle_core::utils::cuda_is_available() {
                if let Ok(d) = Device::new_cuda(0) {
                    return Ok((d, DeviceKind::Cuda));
                }
            }
            if candle_core::utils::metal_is_available() {
                if let Ok(d) = Device::new_metal(0) {
                    return Ok((d, DeviceKind::Metal));
                }
            }
            Ok((Device::Cpu, DeviceKind::Cpu))
        }
        DeviceChoice::Cuda(n) => {
            if !candle_core::utils::cuda_is_available() && !cfg!(feature = "cuda") {
                return Err(DeviceError::NotBuilt("CUDA"));
            }
            Device::new_cuda(n)
                .map(|d| (d, DeviceKind::Cuda))
                .map_err(|e| DeviceError::Unavailable {
                    device: choice.to_string(),
                    reason: first_line(&e.to_string()),
                })
        }
        DeviceChoice::Metal => {
            if !cfg!(feature = "metal") {
                return Err(DeviceError::NotBuilt("Metal"));
            }
            Device::new_metal(0)
                .map(|d| (d, DeviceKind::Metal))
                .map_err(|e| DeviceError::Unavailable {
                    device: choice.to_string(),
                    reason: first_line(&e.to_string()),
                })
        }
    }
}

fn first_line(s: &str) -> String {
    s.lines().next().unwrap_or(s).to_string()
}

/// Bytes free for new allocations on `device`: the driver's free memory on
/// a CUDA GPU, `MemAvailable` on the CPU (and on Metal, whose memory is the
/// system's). `None` where that is unknown.
pub fn free_memory(device: &Device) -> Option<u64> {
    #[cfg(feature = "cuda")]
    if let Device::Cuda(d) = device {
        return d
            .cuda_stream()
            .context()
            .mem_get_info()
            .ok()
            .map(|(free, _total)| free as u64);
    }
    let _ = device;
    available_memory()
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
        let (d, kind) = select_device(DeviceChoice::Cpu).unwrap();
        assert!(d.is_cpu());
        assert_eq!(kind, DeviceKind::Cpu);
        assert!(free_memory(&d).is_some_and(|b| b > 0));
    }

    #[test]
    fn device_choices_read_and_write_as_the_user_types_them() {
        for (text, choice) in [
            ("auto", DeviceChoice::Auto),
            ("cpu", DeviceChoice::Cpu),
            ("cuda", DeviceChoice::Cuda(0)),
            ("cuda:1", DeviceChoice::Cuda(1)),
            ("metal", DeviceChoice::Metal),
        ] {
            assert_eq!(text.parse::<DeviceChoice>().unwrap(), choice);
            assert_eq!(choice.to_string(), text);
            let json = serde_json::to_string(&choice).unwrap();
            assert_eq!(json, format!("\"{text}\""));
            assert_eq!(serde_json::from_str::<DeviceChoice>(&json).unwrap(), choice);
        }
        assert_eq!(
            " CUDA:0 ".parse::<DeviceChoice>().unwrap(),
            DeviceChoice::Cuda(0)
        );
        let err = "tpu".parse::<DeviceChoice>().unwrap_err();
        assert!(err.contains("cuda:N"), "{err}");
        assert!("cuda:x".parse::<DeviceChoice>().is_err());
    }

    #[test]
    fn a_gpu_this_build_lacks_is_an_error_not_a_cpu_run() {
        if cfg!(feature = "cuda") {
            return;
        }
        let err = select_device(DeviceChoice::Cuda(0)).unwrap_err();
        assert_eq!(err, DeviceError::NotBuilt("CUDA"));
        assert!(err.to_string().contains("./dev cuda"), "{err}");
        if !cfg!(feature = "metal") {
            assert!(select_device(DeviceChoice::Metal).is_err());
        }
        // Auto never fails: the CPU is always there.
        assert!(select_device(DeviceChoice::Auto).is_ok());
    }
}
