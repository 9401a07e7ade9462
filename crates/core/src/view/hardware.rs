//! The hardware screen: this machine's CPU, memory and the device models
//! run on.

use serde::{Deserialize, Serialize};

use crate::App;

/// This machine.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "camelCase")]
pub struct HardwareView {
    pub cpu: String,
    pub cores: u32,
    #[cfg_attr(feature = "specta", specta(type = u32))]
    pub ram_total: u64,
    #[cfg_attr(feature = "specta", specta(type = u32))]
    pub ram_available: u64,
    pub gpu: Option<String>,
    #[cfg_attr(feature = "specta", specta(type = Option<u32>))]
    pub vram: Option<u64>,
    pub device: String,
    pub bandwidth: f64,
}

impl App {
    /// This machine: CPU, cores, memory, the device models run on, bandwidth.
    pub fn hardware_view(&self) -> HardwareView {
        let machine = self.models().machine();
        let (cpu, cores) = match sysinfo::System::new() {
            Ok(mut sys) => {
                sys.refresh_cpu_list(sysinfo::CpuRefreshKind::nothing());
                let brand = sys
                    .cpus()
                    .first()
                    .map(|c| c.brand().trim().to_owned())
                    .filter(|b| !b.is_empty())
                    .unwrap_or_else(|| "unknown CPU".into());
                (brand, u32::try_from(sys.cpus().len()).unwrap_or(0))
            }
            Err(_) => ("unknown CPU".into(), 0),
        };
        HardwareView {
            cpu,
            cores,
            ram_total: machine.total_ram,
            ram_available: machine.available_ram,
            gpu: None,
            vram: None,
            device: if cfg!(feature = "cuda") {
                "cuda".into()
            } else if cfg!(feature = "metal") {
                "metal".into()
            } else {
                "cpu".into()
            },
            bandwidth: machine.bandwidth.unwrap_or(0.0),
        }
    }
}
