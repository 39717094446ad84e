//! rcrun's built-in network driver: docker0-style bridge networks with IPAM,
//! veth endpoints in sandbox network namespaces and kernel (nftables) port
//! publishing. It knows nothing of images or containers beyond a netns path.
//!
//! The model is CNM's: a [`Network`] (bridge, subnets, IPAM), an
//! [`Endpoint`] (veth pair, addresses, MAC, published ports) and a
//! [`Sandbox`] (netns path). [`BridgeDriver`] implements
//! [`rcrun_netapi::NetworkBackend`]; state lives under the data root
//! (`networks/`, `ipam/`) and the run root (`endpoints/`) so detach, reload
//! and gc work from disk after a crash. Not here: DNS service, overlay/multi-host networks.
//!
//! ```no_run
//! use rcrun_netdriver::{BridgeDriver, DriverConfig, NftFirewall, Sandbox};
//! let drv = BridgeDriver::new(DriverConfig::new("/var/lib/rcrun".as_ref(), "/run/rcrun".as_ref()), Box::new(NftFirewall::default()));
//! let sb = Sandbox { id: "c1".into(), netns: "/run/netns/c1".into() };
//! let att = drv.attach_sandbox("bridge", &sb, &Default::default())?;
//! println!("{:?}", att.ips);
//! drv.detach_sandbox("bridge", "c1")?;
//! # Ok::<(), rcrun_netdriver::NetError>(())
//! ```

mod driver;
mod error;
pub mod fault;
pub mod files;
pub mod firewall;
pub mod ipam;
pub mod model;
mod netlink;
pub mod netns;
pub mod store;
pub mod subnet;
mod sysctl;

pub use driver::{BridgeDriver, CreateNetwork, DriverConfig, GcReport, SubnetRequest};
pub use error::{NetError, Result};
pub use firewall::{FirewallDriver, NftFirewall, NoneFirewall};
pub use model::{Endpoint, EndpointState, Network, Sandbox, Subnet};
pub use netlink::HostRoute;
