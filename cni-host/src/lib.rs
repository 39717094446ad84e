//! The runtime side of the Container Network Interface (CNI spec 1.1,
//! driving plugins written to 0.3.0, 0.3.1, 0.4.0, 1.0.0 or 1.1.0), built to
//! follow libcni: configuration loading ([`ConfDir`]), plugin chain execution
//! with `prevResult` chaining and capability filtering ([`CniHost`]), the
//! libcni-compatible result cache ([`Cache`]), CHECK/STATUS/GC/VERSION, and
//! rcrun's [`rcrun_netapi::NetworkBackend`] over it ([`CniBackend`]).
//!
//! It is synchronous (plugins run as child processes in their own process
//! group, with a per-call timeout) so it fits short commands, the container
//! monitor and a CRI server alike. It does not create network namespaces,
//! parse CLI arguments or know about images.
//!
//! ```no_run
//! use rcrun_cni_host::{CniHost, ConfDir, PluginPath, RuntimeConf};
//! let host = CniHost::new(PluginPath::from_env(), "/var/lib/cni");
//! let dir = ConfDir::load("/etc/cni/net.d".as_ref(), host.plugin_path())?;
//! let net = dir.get("mynet")?;
//! let rt = RuntimeConf {
//!     container_id: "c1".into(),
//!     netns: "/run/netns/c1".into(),
//!     ifname: "eth0".into(),
//!     ..RuntimeConf::default()
//! };
//! let result = host.add(net, &rt)?;
//! println!("{:?}", result.ips);
//! host.del(net, &rt)?;
//! # Ok::<(), rcrun_cni_host::CniError>(())
//! ```

mod backend;
mod cache;
mod capabilities;
mod conf_dir;
mod config;
mod error;
mod exec;
mod host;
mod network_ops;
mod plugin_path;
mod result;
pub mod validate;
mod version;

pub use backend::{attachment_from_result, CniBackend, DEFAULT_IFNAME};
pub use cache::{join_cni_args, Cache, CachedAttachment, CACHE_KIND, DEFAULT_CACHE_DIR};
pub use capabilities::CapabilityArgs;
pub use conf_dir::{load_file, ConfDir, DEFAULT_CONF_DIR};
pub use config::{NetworkConfigList, PluginConfig};
pub use error::{well_known_code, CniError, PluginErrorObject, PluginFailure};
pub use exec::{run_plugin, PluginEnv, DEFAULT_TIMEOUT};
pub use host::{CniHost, RuntimeConf};
pub use network_ops::GcAttachment;
pub use plugin_path::{PluginPath, DEFAULT_CNI_PATH};
pub use result::{parse_cidr, CniResult, Dns, Interface, IpConfig, Route};
pub use version::{negotiate_list_version, SpecVersion, VersionInfo};
